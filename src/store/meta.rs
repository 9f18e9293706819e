//! Metadata in sled: one db under `<root>/meta`, a handful of trees, big-endian integer keys,
//! a version byte in front of every record.
use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::sync::RwLock;

use serde::{de::DeserializeOwned, Deserialize, Serialize};

use super::StoreError;

const VERSION: u8 = 1;
const SEP: u8 = 0;

/// A topic's configuration (RocketMQ TopicConfig).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TopicConfig {
    pub topic_name: String,
    pub read_queue_nums: i32,
    pub write_queue_nums: i32,
    pub perm: i32,
    pub topic_filter_type: String,
    pub topic_sys_flag: i32,
    pub order: bool,
    /// The 5.x `message.type` attribute (NORMAL, FIFO, DELAY, TRANSACTION, MIXED); `None` when
    /// the topic has none (records written before it existed have none).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message_type: Option<String>,
}

/// A consumer group's configuration (RocketMQ SubscriptionGroupConfig).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct GroupConfig {
    pub group_name: String,
    pub consume_enable: bool,
    pub consume_from_min_enable: bool,
    pub consume_broadcast_enable: bool,
    pub retry_queue_nums: i32,
    pub retry_max_times: i32,
    pub broker_id: i64,
    pub which_broker_when_consume_slowly: i64,
    pub notify_consumer_ids_changed_enable: bool,
    /// 5.x `consumeMessageOrderly`: gRPC consumers of the group receive in order (FIFO).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub consume_message_orderly: bool,
}

/// A group as the admin codes send it (UPDATE_AND_CREATE_SUBSCRIPTIONGROUP, a master's
/// GET_ALL_SUBSCRIPTIONGROUP_CONFIG answer).
impl From<crate::codec::body::SubscriptionGroupConfigWire> for GroupConfig {
    fn from(w: crate::codec::body::SubscriptionGroupConfigWire) -> GroupConfig {
        GroupConfig {
            group_name: w.group_name,
            consume_enable: w.consume_enable,
            consume_from_min_enable: w.consume_from_min_enable,
            consume_broadcast_enable: w.consume_broadcast_enable,
            retry_queue_nums: w.retry_queue_nums,
            retry_max_times: w.retry_max_times,
            broker_id: w.broker_id,
            which_broker_when_consume_slowly: w.which_broker_when_consume_slowly,
            notify_consumer_ids_changed_enable: w.notify_consumer_ids_changed_enable,
            consume_message_orderly: w.consume_message_orderly,
        }
    }
}

/// Consumer offsets mirrored in memory: group -> topic -> queue -> offset. Sled holds them on disk;
/// reads (pulls, admin, metrics, the console) never touch sled, and a scrape over thousands of
/// groups does not iterate a tree.
type OffsetMirror = HashMap<String, HashMap<String, BTreeMap<i32, i64>>>;

/// Small keyed state: topics, groups, consumer offsets, generic kv (and the key index tree).
pub struct MetaStore {
    db: sled::Db,
    topics: sled::Tree,
    groups: sled::Tree,
    offsets: sled::Tree,
    /// Written under this lock together with `offsets`, so both always agree.
    offsets_mem: RwLock<OffsetMirror>,
    kv: sled::Tree,
}

/// (group, topic, queue, offset) of an `offsets` entry.
fn decode_offset_entry(k: &[u8], v: &[u8]) -> Option<(String, String, i32, i64)> {
    let off = decode_offset(v)?;
    if k.len() < 6 {
        return None;
    }
    let (names, q) = k.split_at(k.len() - 5);
    let qid = (u32::from_be_bytes([q[1], q[2], q[3], q[4]]) ^ 0x8000_0000) as i32;
    let mut parts = names.splitn(2, |b| *b == SEP);
    let (Some(g), Some(t)) = (parts.next(), parts.next()) else { return None };
    Some((String::from_utf8_lossy(g).into_owned(), String::from_utf8_lossy(t).into_owned(), qid, off))
}

fn meta_err(e: sled::Error) -> StoreError {
    StoreError::Meta(e.to_string())
}

fn enc_json<T: Serialize>(v: &T) -> Result<Vec<u8>, StoreError> {
    let mut out = vec![VERSION];
    serde_json::to_writer(&mut out, v).map_err(|e| StoreError::Meta(e.to_string()))?;
    Ok(out)
}

fn dec_json<T: DeserializeOwned>(b: &[u8]) -> Option<T> {
    match b.split_first() {
        Some((&VERSION, rest)) => serde_json::from_slice(rest).ok(),
        _ => None,
    }
}

fn key2(a: &str, b: &str) -> Vec<u8> {
    let mut k = Vec::with_capacity(a.len() + b.len() + 1);
    k.extend_from_slice(a.as_bytes());
    k.push(SEP);
    k.extend_from_slice(b.as_bytes());
    k
}

fn offset_key(group: &str, topic: &str, queue_id: i32) -> Vec<u8> {
    let mut k = key2(group, topic);
    k.push(SEP);
    k.extend_from_slice(&((queue_id as u32) ^ 0x8000_0000).to_be_bytes());
    k
}

impl MetaStore {
    pub(crate) fn open(dir: &Path, cache_bytes: u64, flush_every_ms: u64) -> Result<MetaStore, StoreError> {
        let open_failed = |e: sled::Error| StoreError::OpenFailed { dir: dir.to_path_buf(), reason: e.to_string() };
        let config = sled::Config::new()
            .path(dir)
            .cache_capacity(cache_bytes)
            .flush_every_ms(if flush_every_ms == 0 { None } else { Some(flush_every_ms) });
        // A store closed a moment ago in this process (restart, tests) may still be releasing
        // sled's file lock from a background thread: retry that one error for a few seconds.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
        let db = loop {
            match config.open() {
                Ok(db) => break db,
                Err(sled::Error::Io(e))
                    if e.to_string().contains("could not acquire lock") && std::time::Instant::now() < deadline =>
                {
                    std::thread::sleep(std::time::Duration::from_millis(20));
                }
                Err(e) => return Err(open_failed(e)),
            }
        };
        // Key index entries lived in sled before the index files (`index/`): drop that tree.
        let _ = db.drop_tree("keys");
        let tree = |n: &str| db.open_tree(n).map_err(open_failed);
        let offsets = tree("offsets")?;
        let mut mirror = OffsetMirror::new();
        for (k, v) in offsets.iter().filter_map(|r| r.ok()) {
            if let Some((g, t, q, o)) = decode_offset_entry(&k, &v) {
                mirror.entry(g).or_default().entry(t).or_default().insert(q, o);
            }
        }
        Ok(MetaStore {
            topics: tree("topics")?,
            groups: tree("groups")?,
            offsets,
            offsets_mem: RwLock::new(mirror),
            kv: tree("kv")?,
            db,
        })
    }

    fn all<T: DeserializeOwned>(tree: &sled::Tree) -> Vec<T> {
        tree.iter().filter_map(|r| r.ok()).filter_map(|(_, v)| dec_json(&v)).collect()
    }

    pub fn put_topic(&self, t: &TopicConfig) -> Result<(), StoreError> {
        self.topics.insert(t.topic_name.as_bytes(), enc_json(t)?).map_err(meta_err)?;
        Ok(())
    }
    pub fn delete_topic(&self, name: &str) -> Result<(), StoreError> {
        self.topics.remove(name.as_bytes()).map_err(meta_err)?;
        Ok(())
    }
    pub fn topics(&self) -> Vec<TopicConfig> {
        Self::all(&self.topics)
    }

    pub fn put_group(&self, g: &GroupConfig) -> Result<(), StoreError> {
        self.groups.insert(g.group_name.as_bytes(), enc_json(g)?).map_err(meta_err)?;
        Ok(())
    }
    pub fn delete_group(&self, name: &str) -> Result<(), StoreError> {
        self.groups.remove(name.as_bytes()).map_err(meta_err)?;
        Ok(())
    }
    pub fn groups(&self) -> Vec<GroupConfig> {
        Self::all(&self.groups)
    }

    fn mirror(&self) -> std::sync::RwLockReadGuard<'_, OffsetMirror> {
        self.offsets_mem.read().unwrap_or_else(|e| e.into_inner())
    }

    pub fn set_consumer_offset(&self, group: &str, topic: &str, queue_id: i32, offset: i64) -> Result<(), StoreError> {
        let mut v = vec![VERSION];
        v.extend_from_slice(&offset.to_be_bytes());
        let mut mirror = self.offsets_mem.write().unwrap_or_else(|e| e.into_inner());
        self.offsets.insert(offset_key(group, topic, queue_id), v).map_err(meta_err)?;
        let topics = match mirror.get_mut(group) {
            Some(t) => t,
            None => mirror.entry(group.to_string()).or_default(),
        };
        let queues = match topics.get_mut(topic) {
            Some(q) => q,
            None => topics.entry(topic.to_string()).or_default(),
        };
        queues.insert(queue_id, offset);
        Ok(())
    }

    pub fn consumer_offset(&self, group: &str, topic: &str, queue_id: i32) -> Option<i64> {
        self.mirror().get(group)?.get(topic)?.get(&queue_id).copied()
    }

    /// Every stored offset: (group, topic, queue, offset).
    pub fn consumer_offsets(&self) -> Vec<(String, String, i32, i64)> {
        let m = self.mirror();
        m.iter()
            .flat_map(|(g, topics)| topics.iter().flat_map(move |(t, qs)| qs.iter().map(move |(q, o)| (g.clone(), t.clone(), *q, *o))))
            .collect()
    }

    /// The topics `group` has offsets for.
    pub fn topics_with_offsets(&self, group: &str) -> Vec<String> {
        self.mirror().get(group).map(|t| t.keys().cloned().collect()).unwrap_or_default()
    }

    /// The (queue, offset) pairs of each (group, topic) asked for, in order (one lock).
    pub fn offset_tables<'a>(&self, pairs: impl Iterator<Item = (&'a str, &'a str)>) -> Vec<Vec<(i32, i64)>> {
        let m = self.mirror();
        pairs.map(|(g, t)| m.get(g).and_then(|ts| ts.get(t)).map(|qs| qs.iter().map(|(q, o)| (*q, *o)).collect()).unwrap_or_default()).collect()
    }

    pub fn delete_consumer_offsets(&self, group: &str, topic: Option<&str>) -> Result<(), StoreError> {
        let prefix = match topic {
            Some(t) => {
                let mut k = key2(group, t);
                k.push(SEP);
                k
            }
            None => {
                let mut k = group.as_bytes().to_vec();
                k.push(SEP);
                k
            }
        };
        let mut mirror = self.offsets_mem.write().unwrap_or_else(|e| e.into_inner());
        let mut batch = sled::Batch::default();
        for r in self.offsets.scan_prefix(&prefix) {
            let (k, _) = r.map_err(meta_err)?;
            batch.remove(k);
        }
        self.offsets.apply_batch(batch).map_err(meta_err)?;
        match topic {
            Some(t) => {
                if let Some(ts) = mirror.get_mut(group) {
                    ts.remove(t);
                    if ts.is_empty() {
                        mirror.remove(group);
                    }
                }
            }
            None => {
                mirror.remove(group);
            }
        }
        Ok(())
    }

    pub fn put_kv(&self, ns: &str, key: &str, value: &[u8]) -> Result<(), StoreError> {
        let mut v = Vec::with_capacity(value.len() + 1);
        v.push(VERSION);
        v.extend_from_slice(value);
        self.kv.insert(key2(ns, key), v).map_err(meta_err)?;
        Ok(())
    }
    pub fn get_kv(&self, ns: &str, key: &str) -> Option<Vec<u8>> {
        let v = self.kv.get(key2(ns, key)).ok()??;
        v.split_first().filter(|(ver, _)| **ver == VERSION).map(|(_, rest)| rest.to_vec())
    }
    /// Compare-and-swap one entry of namespace `ns` (None: absent). True when it was `old`.
    pub fn cas_kv(&self, ns: &str, key: &str, old: Option<&[u8]>, new: Option<&[u8]>) -> Result<bool, StoreError> {
        let versioned = |v: &[u8]| {
            let mut out = Vec::with_capacity(v.len() + 1);
            out.push(VERSION);
            out.extend_from_slice(v);
            out
        };
        let (old, new) = (old.map(versioned), new.map(versioned));
        match self.kv.compare_and_swap(key2(ns, key), old, new).map_err(meta_err)? {
            Ok(()) => Ok(true),
            Err(_) => Ok(false),
        }
    }
    pub fn delete_kv(&self, ns: &str, key: &str) -> Result<(), StoreError> {
        self.kv.remove(key2(ns, key)).map_err(meta_err)?;
        Ok(())
    }
    pub fn scan_kv(&self, ns: &str) -> Vec<(String, Vec<u8>)> {
        let prefix = key2(ns, "");
        self.kv
            .scan_prefix(&prefix)
            .filter_map(|r| r.ok())
            .filter_map(|(k, v)| {
                let key = String::from_utf8_lossy(&k[prefix.len()..]).into_owned();
                let (ver, rest) = v.split_first()?;
                (*ver == VERSION).then(|| (key, rest.to_vec()))
            })
            .collect()
    }

    /// Entries of namespace `ns` whose key sorts before `upto`, in key order, at most `limit`
    /// (keys are compared as bytes: zero-padded numbers sort numerically).
    pub fn scan_kv_before(&self, ns: &str, upto: &str, limit: usize) -> Vec<(String, Vec<u8>)> {
        let prefix = key2(ns, "");
        self.kv
            .range(key2(ns, "")..key2(ns, upto))
            .filter_map(|r| r.ok())
            .take(limit)
            .filter_map(|(k, v)| {
                let key = String::from_utf8_lossy(&k[prefix.len()..]).into_owned();
                let (ver, rest) = v.split_first()?;
                (*ver == VERSION).then(|| (key, rest.to_vec()))
            })
            .collect()
    }

    /// Durably flush every tree (blocking).
    pub fn flush(&self) -> Result<(), StoreError> {
        self.db.flush().map_err(meta_err)?;
        Ok(())
    }
}

fn decode_offset(v: &[u8]) -> Option<i64> {
    if v.len() != 9 || v[0] != VERSION {
        return None;
    }
    let mut a = [0u8; 8];
    a.copy_from_slice(&v[1..]);
    Some(i64::from_be_bytes(a))
}
