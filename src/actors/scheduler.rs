//! The scheduler actor: delayed messages (delay levels) and their delivery.
//!
//! A message with `DELAY=n` is stored in `SCHEDULE_TOPIC_XXXX`, queue n-1, with its real topic and
//! queue in `REAL_TOPIC`/`REAL_QID` and its delivery time as tags code ([`redirect_delayed`]).
//! Every 100 ms the actor walks each level's queue from its cursor; entries of one level are in
//! delivery order, so it stops at the first one not yet due. A due message is stored again on its
//! real topic (same unique id, tags, keys, properties and body; a new store time) and held pulls are
//! woken. Cursors are persisted in sled after each step: a crash between the re-store and the cursor
//! write delivers that message twice (at-least-once), never loses it.
use super::queue::{Arrived, QueueActor};
use super::topic::SCHEDULE_TOPIC;
use crate::codec::message::{parse_properties, prop, tag_hash_code};
use crate::codec::stored::decode_stored;
use crate::store::{GetStatus, MessageStore, NewMessage};
use actix::prelude::*;
use std::sync::Arc;
use std::time::Duration;

const CURSOR_NS: &str = "delay_offset";

/// Park a message for later if it has a delay level; returns true when redirected.
pub fn redirect_delayed(msg: &mut NewMessage, levels: &[Duration], now_ms: i64) -> bool {
    if !msg.properties.contains("DELAY\u{1}") || levels.is_empty() {
        return false;
    }
    let tx = msg.sys_flag & crate::codec::message::sys_flag::TRANSACTION_MASK;
    if tx == crate::codec::message::sys_flag::TRANSACTION_PREPARED
        || tx == crate::codec::message::sys_flag::TRANSACTION_ROLLBACK
    {
        return false;
    }
    let mut props = parse_properties(&msg.properties);
    let level = match props.get(prop::DELAY).and_then(|v| v.trim().parse::<i64>().ok()) {
        Some(l) if l > 0 => (l as usize).min(levels.len()),
        _ => return false,
    };
    props.insert(prop::REAL_TOPIC, &msg.topic);
    props.insert(prop::REAL_QID, &msg.queue_id.to_string());
    props.insert(prop::DELAY, &level.to_string());
    msg.properties = props.encode();
    msg.topic = SCHEDULE_TOPIC.to_string();
    msg.queue_id = level as i32 - 1;
    msg.tags_code = now_ms + levels[level - 1].as_millis() as i64;
    true
}

pub struct SchedulerActor {
    store: Arc<MessageStore>,
    queue_actor: Addr<QueueActor>,
    levels: Vec<Duration>,
    cursors: Vec<i64>,
}

impl SchedulerActor {
    pub fn new(store: Arc<MessageStore>, queue_actor: Addr<QueueActor>, levels: Vec<Duration>) -> Self {
        let cursors = (1..=levels.len())
            .map(|l| {
                store
                    .meta()
                    .get_kv(CURSOR_NS, &l.to_string())
                    .and_then(|v| v.try_into().ok().map(i64::from_be_bytes))
                    .unwrap_or(0)
            })
            .collect();
        SchedulerActor { store, queue_actor, levels, cursors }
    }

    fn save_cursor(&self, level: usize) {
        let v = self.cursors[level - 1].to_be_bytes();
        if let Err(e) = self.store.meta().put_kv(CURSOR_NS, &level.to_string(), &v) {
            tracing::warn!(level, error = %e, "failed to persist delay progress");
        }
    }

    /// Deliver every due message of one level; returns how many were delivered.
    fn run_level(&mut self, level: usize, now_ms: i64) -> usize {
        let delay = self.levels[level - 1].as_millis() as i64;
        let queue = level as i32 - 1;
        let mut delivered = 0;
        loop {
            let cursor = self.cursors[level - 1];
            let res = self.store.get(SCHEDULE_TOPIC, queue, cursor, 32, 4 << 20, &|_| true);
            if res.status != GetStatus::Found {
                if res.next_begin_offset > cursor && res.status != GetStatus::OffsetOverflowBadly {
                    self.cursors[level - 1] = res.next_begin_offset;
                    self.save_cursor(level);
                }
                return delivered;
            }
            for raw in &res.messages {
                let Ok((m, _)) = decode_stored(raw) else {
                    tracing::error!(level, cursor = self.cursors[level - 1], "undecodable scheduled message skipped");
                    self.cursors[level - 1] += 1;
                    continue;
                };
                let due = (m.store_timestamp + delay).min(now_ms + delay);
                if due > now_ms {
                    self.save_cursor(level);
                    return delivered;
                }
                if !self.deliver(&m) {
                    self.save_cursor(level);
                    return delivered;
                }
                self.cursors[level - 1] = m.queue_offset + 1;
                delivered += 1;
            }
            self.save_cursor(level);
        }
    }

    fn deliver(&self, m: &crate::codec::stored::StoredMessage) -> bool {
        let mut props = parse_properties(&m.properties);
        let (Some(topic), Some(qid)) = (
            props.get(prop::REAL_TOPIC).map(String::from),
            props.get(prop::REAL_QID).and_then(|q| q.parse::<i32>().ok()),
        ) else {
            tracing::error!(offset = m.commit_log_offset, "scheduled message without REAL_TOPIC/REAL_QID dropped");
            return true;
        };
        if topic == super::topic::TRANS_HALF_TOPIC {
            return true;
        }
        props.remove(prop::DELAY);
        let tags_code = props.get(prop::TAGS).map(tag_hash_code).unwrap_or(0);
        let keys = props
            .get(prop::KEYS)
            .map(|k| k.split(' ').filter(|s| !s.is_empty()).map(String::from).collect())
            .unwrap_or_default();
        let uniq_key = props.get(prop::UNIQ_KEY).map(String::from);
        let properties = props.encode();
        let msg = NewMessage {
            topic: topic.clone(),
            queue_id: qid,
            flag: m.flag,
            sys_flag: m.sys_flag,
            born_timestamp: m.born_timestamp,
            born_host: m.born_host,
            reconsume_times: m.reconsume_times,
            prepared_transaction_offset: m.prepared_transaction_offset,
            body: m.body.clone(),
            properties: properties.clone(),
            tags_code,
            keys,
            uniq_key,
        };
        match self.store.put(vec![msg]) {
            Ok(_) => {
                self.queue_actor.do_send(Arrived {
                    topic,
                    queue_id: qid,
                    tags_code,
                    properties: Some(Arc::from(properties.as_str())),
                });
                true
            }
            Err(e) => {
                tracing::warn!(error = %e, "delayed delivery failed; will retry");
                false
            }
        }
    }
}

impl Actor for SchedulerActor {
    type Context = Context<Self>;
    fn started(&mut self, ctx: &mut Self::Context) {
        ctx.run_interval(Duration::from_millis(100), |act, _| {
            let now = now_ms();
            for level in 1..=act.levels.len() {
                act.run_level(level, now);
            }
        });
    }
}

pub fn now_ms() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_millis() as i64).unwrap_or(0)
}
