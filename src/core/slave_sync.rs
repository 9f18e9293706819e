//! A slave's copy of its master's metadata (Java's SlaveSynchronize): topic configs,
//! subscription groups, consumer offsets and delay-level cursors, fetched every few seconds by
//! `actors/slave_sync.rs` and applied here. The master's copy wins, as in Java: an offset
//! committed on the slave while the master was away is overwritten once the master is back, and
//! the consumers report their own (newer) offsets to the master again.
use std::collections::BTreeMap;

use super::Core;
use crate::codec::body::{SubscriptionGroupWrapper, TopicConfigSerializeWrapper};
use crate::codec::json::parse_lenient;
use crate::store::{GroupConfig, TopicConfig};

fn parse<T: serde::de::DeserializeOwned>(body: &[u8]) -> Result<T, String> {
    let v = parse_lenient(body).map_err(|e| e.to_string())?;
    serde_json::from_value(v).map_err(|e| e.to_string())
}

#[derive(serde::Deserialize, Default)]
#[serde(rename_all = "camelCase", default)]
struct OffsetTable<K: Ord> {
    offset_table: BTreeMap<K, serde_json::Value>,
}

impl Core {
    /// GET_ALL_TOPIC_CONFIG's answer: topics the master has are put here (registered at once
    /// when something changed). Returns how many changed.
    pub fn sync_topics(&self, body: &[u8]) -> Result<usize, String> {
        let w: TopicConfigSerializeWrapper = parse(body)?;
        let mut changed = 0;
        for t in w.topic_config_table.into_values() {
            let old = self.topics.get(&t.topic_name);
            let tc = TopicConfig {
                message_type: old.as_ref().and_then(|o| o.message_type.clone()),
                topic_name: t.topic_name,
                read_queue_nums: t.read_queue_nums,
                write_queue_nums: t.write_queue_nums,
                perm: t.perm,
                topic_filter_type: t.topic_filter_type,
                topic_sys_flag: t.topic_sys_flag,
                order: t.order,
            };
            if old.as_ref() != Some(&tc) {
                self.topics.put(tc);
                changed += 1;
            }
        }
        if changed > 0 {
            drop(self.announce());
        }
        Ok(changed)
    }

    /// GET_ALL_SUBSCRIPTIONGROUP_CONFIG's answer.
    pub fn sync_groups(&self, body: &[u8]) -> Result<usize, String> {
        let w: SubscriptionGroupWrapper = parse(body)?;
        let n = w.subscription_group_table.len();
        for g in w.subscription_group_table.into_values() {
            let gc = GroupConfig::from(g);
            if self.groups.get(&gc.group_name).as_ref() != Some(&gc) {
                self.groups.put(gc);
            }
        }
        Ok(n)
    }

    /// GET_ALL_CONSUMER_OFFSET's answer (`topic@group` → queue → offset).
    pub fn sync_consumer_offsets(&self, body: &[u8]) -> Result<usize, String> {
        let w: OffsetTable<String> = parse(body)?;
        let mut n = 0;
        for (key, queues) in w.offset_table {
            let Some((topic, group)) = key.split_once('@') else { continue };
            let Some(queues) = queues.as_object() else { continue };
            for (q, off) in queues {
                let (Ok(q), Some(off)) = (q.parse::<i32>(), off.as_i64()) else { continue };
                if self.store.meta().consumer_offset(group, topic, q) != Some(off) {
                    self.store.meta().set_consumer_offset(group, topic, q, off).map_err(|e| e.to_string())?;
                    n += 1;
                }
            }
        }
        Ok(n)
    }

    /// GET_ALL_DELAY_OFFSET's answer (delay level → next schedule-topic offset).
    pub fn sync_delay_offsets(&self, body: &[u8]) -> Result<usize, String> {
        let w: OffsetTable<String> = parse(body)?;
        let mut n = 0;
        for (level, off) in w.offset_table {
            let (Ok(level), Some(off)) = (level.parse::<usize>(), off.as_i64()) else { continue };
            self.store.meta().set_delay_cursor(level, off).map_err(|e| e.to_string())?;
            n += 1;
        }
        Ok(n)
    }
}
