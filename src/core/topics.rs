//! The broker's topic table, system topic names and permissions, and the REGISTER_BROKER request.
//!
//! Reads (every send and pull) go to [`TopicTable`] directly under a read lock; changes are
//! persisted in sled, raise the data version and are announced through [`super::Core::announce`]
//! to the registrar actor, which registers them with every name server at once (taking them with
//! [`TopicTable::take_registration`]) and re-registers everything periodically.
use crate::codec::body::{DataVersion, RegisterBrokerBody, TopicConfigSerializeWrapper, TopicConfigWire};
use crate::codec::codes::RequestCode;
use crate::codec::header::RegisterBrokerRequestHeader;
use crate::codec::RemotingCommand;
use crate::store::{MessageStore, TopicConfig};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::atomic::{AtomicI32, Ordering};
use std::sync::{Arc, RwLock};

pub mod perm {
    pub const INHERIT: i32 = 1;
    pub const WRITE: i32 = 2;
    pub const READ: i32 = 4;
    pub const READ_WRITE: i32 = 6;
}

pub const DEFAULT_TOPIC: &str = "TBW102";
pub const SCHEDULE_TOPIC: &str = "SCHEDULE_TOPIC_XXXX";
pub const TRANS_HALF_TOPIC: &str = "RMQ_SYS_TRANS_HALF_TOPIC";
pub const TRANS_OP_HALF_TOPIC: &str = "RMQ_SYS_TRANS_OP_HALF_TOPIC";
pub const RETRY_PREFIX: &str = "%RETRY%";
pub const DLQ_PREFIX: &str = "%DLQ%";

/// Topics producers may not send to directly.
pub const SEND_FORBIDDEN: [&str; 6] = [
    SCHEDULE_TOPIC,
    TRANS_HALF_TOPIC,
    TRANS_OP_HALF_TOPIC,
    "TRANS_CHECK_MAX_TIME_TOPIC",
    "SELF_TEST_TOPIC",
    "OFFSET_MOVED_EVENT",
];

/// Why a topic name is not acceptable; the text is the Java broker's wording.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TopicNameError {
    #[error("The specified topic is blank.")]
    Blank,
    #[error("The specified topic is longer than topic max length 127.")]
    TooLong,
    #[error("The specified topic[{0}] contains illegal characters, allowing only ^[%|a-zA-Z0-9_-]+$")]
    IllegalCharacters(String),
}

/// Whether `topic` is a legal topic name (it also names directories: no `/`, no `..`).
pub fn validate_topic_name(topic: &str) -> Result<(), TopicNameError> {
    if topic.trim().is_empty() {
        return Err(TopicNameError::Blank);
    }
    if topic.len() > 127 {
        return Err(TopicNameError::TooLong);
    }
    if !topic
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'%' || b == b'|' || b == b'_' || b == b'-')
    {
        return Err(TopicNameError::IllegalCharacters(topic.to_string()));
    }
    Ok(())
}

use super::now_ms;

/// The topic table, shared by every connection.
///
/// Every change bumps the data version and marks the topic as changed, under the one lock that
/// guards the table, so [`TopicTable::take_registration`] returns a version together with exactly
/// the changes it covers.
pub struct TopicTable {
    inner: RwLock<Inner>,
    store: Arc<MessageStore>,
}

struct Inner {
    /// Looked up on every send: foldhash (its quality variant: names can come from peers, through
    /// auto-creation) instead of SipHash, which was ~3 % of a send's instructions.
    topics: HashMap<String, TopicConfig, foldhash::quality::RandomState>,
    /// (timestamp, counter): strictly increasing with each change; the timestamp never goes back
    /// (a clock step back keeps the last one), so comparing the pair orders versions.
    version: (i64, i64),
    /// Topics changed since the last registration was taken.
    changed: BTreeSet<String>,
}

impl Inner {
    fn bump(&mut self, name: &str) {
        self.version = (now_ms().max(self.version.0), self.version.1 + 1);
        self.changed.insert(name.to_string());
    }
}

/// A data version and the topics a registration carries with it.
#[derive(Debug, Clone)]
pub struct RegistrationData {
    pub version: DataVersion,
    pub topics: Vec<TopicConfig>,
}

impl TopicTable {
    /// Load the persisted topics.
    pub fn load(store: Arc<MessageStore>) -> Self {
        let topics = store.meta().topics().into_iter().map(|t| (t.topic_name.clone(), t)).collect();
        TopicTable { inner: RwLock::new(Inner { topics, version: (now_ms(), 0), changed: BTreeSet::new() }), store }
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, Inner> {
        self.inner.read().unwrap_or_else(|e| e.into_inner())
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, Inner> {
        self.inner.write().unwrap_or_else(|e| e.into_inner())
    }

    pub fn get(&self, name: &str) -> Option<TopicConfig> {
        self.read().topics.get(name).cloned()
    }

    /// `f` of a topic's config, read in place (the send path: no copy of the config).
    pub fn with<R>(&self, name: &str, f: impl FnOnce(&TopicConfig) -> R) -> Option<R> {
        self.read().topics.get(name).map(f)
    }

    pub fn all(&self) -> Vec<TopicConfig> {
        let mut v: Vec<TopicConfig> = self.read().topics.values().cloned().collect();
        v.sort_by(|a, b| a.topic_name.cmp(&b.topic_name));
        v
    }

    pub fn data_version(&self) -> DataVersion {
        let (timestamp, counter) = self.read().version;
        DataVersion { timestamp, counter }
    }

    /// What the next registration carries: the current data version and every topic (`full`) or
    /// the topics changed since the last registration was taken. Either way the changed set is
    /// cleared: every change up to the returned version is in this registration or an earlier one.
    pub fn take_registration(&self, full: bool) -> RegistrationData {
        let mut inner = self.write();
        let changed = std::mem::take(&mut inner.changed);
        let mut topics: Vec<TopicConfig> = if full {
            inner.topics.values().cloned().collect()
        } else {
            changed.iter().filter_map(|n| inner.topics.get(n).cloned()).collect()
        };
        topics.sort_by(|a, b| a.topic_name.cmp(&b.topic_name));
        let (timestamp, counter) = inner.version;
        RegistrationData { version: DataVersion { timestamp, counter }, topics }
    }

    /// Create or replace a topic; returns true when something changed.
    pub fn put(&self, tc: TopicConfig) -> bool {
        {
            let mut inner = self.write();
            if inner.topics.get(&tc.topic_name) == Some(&tc) {
                return false;
            }
            inner.topics.insert(tc.topic_name.clone(), tc.clone());
            inner.bump(&tc.topic_name);
        }
        if let Err(e) = self.store.meta().put_topic(&tc) {
            tracing::error!(topic = %tc.topic_name, error = %e, "failed to persist topic config");
        }
        true
    }

    /// Create the topic if absent (system and retry topics); returns the config and whether it is new.
    pub fn ensure(&self, name: &str, queues: i32, perm: i32) -> (TopicConfig, bool) {
        if let Some(t) = self.get(name) {
            return (t, false);
        }
        let tc = new_topic(name, queues, perm);
        let created = self.put(tc.clone());
        (tc, created)
    }

    pub fn remove(&self, name: &str) -> bool {
        let removed = {
            let mut inner = self.write();
            let removed = inner.topics.remove(name).is_some();
            if removed {
                inner.bump(name);
            }
            removed
        };
        if removed {
            let _ = self.store.meta().delete_topic(name);
        }
        removed
    }
}

/// A topic config with RocketMQ's defaults.
pub fn new_topic(name: &str, queues: i32, perm: i32) -> TopicConfig {
    TopicConfig {
        topic_name: name.to_string(),
        read_queue_nums: queues,
        write_queue_nums: queues,
        perm,
        topic_filter_type: "SINGLE_TAG".into(),
        topic_sys_flag: 0,
        order: false,
        message_type: None,
    }
}

/// The values of the 5.x topic attribute `message.type`.
pub const MESSAGE_TYPES: &[&str] = &["NORMAL", "FIFO", "DELAY", "TRANSACTION", "MIXED"];

/// Apply an UPDATE_AND_CREATE_TOPIC `attributes` field (`+message.type=FIFO`, `-message.type`,
/// comma-separated, as mqadmin 5.x sends it) to a topic's message type. Other attributes are
/// refused: this broker keeps no others.
pub fn apply_attributes(current: Option<String>, attributes: &str) -> Result<Option<String>, String> {
    let mut out = current;
    for a in attributes.split(',').map(str::trim).filter(|a| !a.is_empty()) {
        if let Some(kv) = a.strip_prefix('+') {
            let (k, v) = kv.split_once('=').ok_or_else(|| format!("attribute {a}: expected +key=value"))?;
            if k != "message.type" {
                return Err(format!("unsupported topic attribute [{k}] (only message.type)"));
            }
            let v = v.to_ascii_uppercase();
            if !MESSAGE_TYPES.contains(&v.as_str()) {
                return Err(format!("value [{v}] of message.type is not one of {MESSAGE_TYPES:?}"));
            }
            out = Some(v);
        } else if let Some(k) = a.strip_prefix('-') {
            if k != "message.type" {
                return Err(format!("unsupported topic attribute [{k}] (only message.type)"));
            }
            out = None;
        } else {
            return Err(format!("attribute {a}: expected +key=value or -key"));
        }
    }
    Ok(out)
}

pub fn to_wire(t: &TopicConfig) -> TopicConfigWire {
    TopicConfigWire {
        topic_name: t.topic_name.clone(),
        read_queue_nums: t.read_queue_nums,
        write_queue_nums: t.write_queue_nums,
        perm: t.perm,
        topic_filter_type: t.topic_filter_type.clone(),
        topic_sys_flag: t.topic_sys_flag,
        order: t.order,
    }
}

// ---------------------------------------------------------------------------------------------
// Registration with the name servers.

/// Who this broker is, for registrations.
#[derive(Clone, Debug)]
pub struct BrokerIdentity {
    pub cluster: String,
    pub broker_name: String,
    pub broker_id: i64,
    pub broker_addr: String,
    pub ha_addr: String,
}

/// Build a REGISTER_BROKER request carrying `data` (see [`TopicTable::take_registration`]), with
/// the compressed body of `compressedRegister=true` when `compressed`.
pub fn registration(id: &BrokerIdentity, data: &RegistrationData, compressed: bool) -> RemotingCommand {
    let table: BTreeMap<String, TopicConfigWire> =
        data.topics.iter().map(|t| (t.topic_name.clone(), to_wire(t))).collect();
    let body = RegisterBrokerBody {
        topic_config_serialize_wrapper: TopicConfigSerializeWrapper {
            topic_config_table: table,
            data_version: data.version.clone(),
        },
        filter_server_list: vec![],
    };
    let body = if compressed { crate::codec::body::encode_compressed(&body) } else { body.to_json() };
    let crc = (crc32fast::hash(&body) & 0x7FFF_FFFF) as i32;
    let header = RegisterBrokerRequestHeader {
        broker_name: id.broker_name.clone(),
        broker_addr: id.broker_addr.clone(),
        cluster_name: id.cluster.clone(),
        ha_server_addr: id.ha_addr.clone(),
        broker_id: id.broker_id,
        compressed,
        body_crc32: crc,
    };
    let mut cmd = RemotingCommand::request(RequestCode::RegisterBroker.as_i32(), next_opaque());
    cmd.set_header(&header);
    cmd.body = body.into();
    cmd
}

/// Build an UNREGISTER_BROKER request.
pub fn unregistration(id: &BrokerIdentity) -> RemotingCommand {
    let mut cmd = RemotingCommand::request(RequestCode::UnregisterBroker.as_i32(), next_opaque());
    cmd.set_header(&crate::codec::header::UnregisterBrokerRequestHeader {
        broker_name: id.broker_name.clone(),
        broker_addr: id.broker_addr.clone(),
        cluster_name: id.cluster.clone(),
        broker_id: id.broker_id,
    });
    cmd
}

static OPAQUE: AtomicI32 = AtomicI32::new(1);

/// A process-wide opaque counter for requests ferrocket originates.
pub fn next_opaque() -> i32 {
    OPAQUE.fetch_add(1, Ordering::Relaxed) & 0x7FFF_FFFF
}


#[cfg(test)]
mod attribute_tests {
    use super::apply_attributes;

    #[test]
    fn message_type_attribute_is_set_kept_and_removed() {
        assert_eq!(apply_attributes(None, "+message.type=fifo"), Ok(Some("FIFO".into())));
        assert_eq!(apply_attributes(Some("DELAY".into()), ""), Ok(Some("DELAY".into())));
        assert_eq!(apply_attributes(Some("DELAY".into()), "-message.type"), Ok(None));
        assert!(apply_attributes(None, "+message.type=NOPE").is_err());
        assert!(apply_attributes(None, "+queue.type=Standard").is_err());
        assert!(apply_attributes(None, "message.type=FIFO").is_err());
    }
}
