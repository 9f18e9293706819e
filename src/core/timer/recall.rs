//! Recall of a waiting timer message by its handle (RECALL_MESSAGE 370, gRPC RecallMessage), and
//! the handle a send result carries.
use super::{delete_key, due_of, is_message, key_hash, lock, Timers, Wheel, TIMER_DEL_UNIQKEY};
use crate::codec::message::{parse_properties, prop, Properties};
use crate::codec::recall::RecallHandle;
use crate::codec::stored::decode_stored;
use crate::core::redirect::{TIMER_OUT_MS, TIMER_TOPIC};
use crate::core::Core;
use crate::store::timer::{Entry, FLAG_DELETED, FLAG_ROLL};
use crate::store::{NewMessage, StoreError};
use std::time::{Duration, Instant};

/// Why a recall was refused.
#[derive(Debug, thiserror::Error)]
pub enum RecallError {
    #[error("recall failed, {0}")]
    Invalid(String),
    #[error("recall failed, {0}")]
    NotPending(String),
    #[error("recall failed, the timer store is unavailable: {0}")]
    Unavailable(String),
    #[error("recall failed, {0}")]
    Store(#[from] StoreError),
}

/// Where a recall found its message.
pub(super) enum Found {
    Pending(i64),
    Delivered,
    Recalled,
    Missing,
}

impl Timers {
    /// Cancel a waiting timer message by its recall handle; returns its message id (UNIQ_KEY).
    pub fn recall(&self, core: &Core, topic: &str, handle: &str, now_ms: i64) -> Result<String, RecallError> {
        let h = RecallHandle::decode(handle).map_err(|e| RecallError::Invalid(e.to_string()))?;
        if h.topic != topic {
            return Err(RecallError::Invalid("topic not match".into()));
        }
        let cfg = core.config();
        if h.broker_name != cfg.broker_name {
            return Err(RecallError::Invalid(format!("the handle belongs to broker {}", h.broker_name)));
        }
        let due = h.timestamp.parse::<i64>().map_err(|_| RecallError::Invalid("timestamp invalid".into()))? - 1;
        if due <= now_ms {
            return Err(RecallError::NotPending("the message is already due (delivered or being delivered)".into()));
        }
        if due - now_ms > cfg.timer_max_delay.as_millis() as i64 {
            return Err(RecallError::Invalid("timestamp invalid".into()));
        }
        let mut guard = lock(&self.wheel);
        let w = guard.as_mut().ok_or_else(|| RecallError::Unavailable(self.error.clone().unwrap_or_default()))?;
        // index what was sent just before (the send answered before the next tick)
        w.enqueue(core, now_ms, Instant::now() + Duration::from_secs(2))?;
        let uniq = h.message_id.as_str();
        match w.find(core, topic, uniq, due)? {
            Found::Pending(pos) => w.tombstone(pos, now_ms)?,
            Found::Delivered => return Err(RecallError::NotPending("the message was already delivered".into())),
            Found::Recalled => return Err(RecallError::NotPending("the message was already recalled".into())),
            Found::Missing => {
                let key = delete_key(topic, uniq);
                if core.store.meta().timer_recalled(&key) {
                    return Err(RecallError::NotPending("the message was already recalled".into()));
                }
                if !waits_in_roll(core, topic, uniq, due, &cfg, now_ms) {
                    return Err(RecallError::NotPending(format!(
                        "no timer message {uniq} waits for {due} on topic {topic} (unknown, delivered or recalled)"
                    )));
                }
                core.store.meta().set_timer_recalled(&key, due)?;
            }
        }
        // the marker makes the recall part of the timer topic, so a rebuild applies it again
        let marker = recall_marker(core, topic, uniq, due, now_ms);
        core.append(vec![marker])?;
        w.checkpoint(now_ms)?;
        self.publish(w);
        Ok(uniq.to_string())
    }
}

/// Whether a timer message (not a marker) with this UNIQ_KEY and due time is in the timer topic
/// (it then waits in a roll entry: rolls are not found by their due time).
fn waits_in_roll(core: &Core, topic: &str, uniq: &str, due: i64, cfg: &crate::config::BrokerConfig, now_ms: i64) -> bool {
    let since = due - cfg.timer_max_delay.as_millis() as i64 - 86_400_000;
    core.store.query_by_key(TIMER_TOPIC, uniq, 32, since, now_ms).iter().any(|raw| {
        let Ok((m, _)) = decode_stored(raw) else { return false };
        let p = parse_properties(&m.properties);
        p.get(TIMER_DEL_UNIQKEY).is_none() && p.get(prop::REAL_TOPIC) == Some(topic) && due_of(&m, p.get(TIMER_OUT_MS)) == due
    })
}

fn recall_marker(core: &Core, topic: &str, uniq: &str, due: i64, now_ms: i64) -> NewMessage {
    let mut p = Properties::new();
    p.insert(prop::REAL_TOPIC, topic);
    p.insert(prop::REAL_QID, "0");
    p.insert(TIMER_OUT_MS, due.to_string());
    p.insert(TIMER_DEL_UNIQKEY, delete_key(topic, uniq));
    NewMessage {
        topic: bytestring::ByteString::from_static(TIMER_TOPIC),
        queue_id: 0,
        flag: 0,
        sys_flag: 0,
        born_timestamp: now_ms,
        born_host: core.store_host,
        reconsume_times: 0,
        prepared_transaction_offset: 0,
        body: bytes::Bytes::from_static(b"0"),
        properties: p.encode(),
        tags_code: due,
        keys: vec![],
        uniq_key: None,
    }
}

impl Wheel {
    /// Look for the entry of a waiting timer message in the slot its due time maps to.
    pub(super) fn find(&mut self, core: &Core, topic: &str, uniq: &str, due: i64) -> Result<Found, StoreError> {
        let slot_ms = self.slot_of(due).max(self.cursor_ms);
        let hash = key_hash(uniq);
        let matches = |e: &Entry| e.key_hash == hash && e.due_ms == due && e.flags & FLAG_ROLL == 0;
        let (entries, delivered_below) = match self.current.as_ref().filter(|c| c.slot_ms == slot_ms) {
            Some(c) => (c.entries.clone(), c.next),
            None => (self.store.slot_entries(slot_ms)?, 0),
        };
        for (i, (pos, e)) in entries.iter().enumerate() {
            if !matches(e) || !is_message(core, e.commit_log_offset, topic, uniq) {
                continue;
            }
            return Ok(if e.flags & FLAG_DELETED != 0 {
                Found::Recalled
            } else if i < delivered_below {
                Found::Delivered
            } else {
                Found::Pending(*pos)
            });
        }
        Ok(Found::Missing)
    }

    pub(super) fn tombstone(&mut self, pos: i64, now_ms: i64) -> Result<(), StoreError> {
        self.store.mark_deleted(pos, now_ms)?;
        if let Some(cur) = self.current.as_mut() {
            if let Some((_, e)) = cur.entries.iter_mut().find(|(p, _)| *p == pos) {
                e.flags |= FLAG_DELETED;
            }
        }
        Ok(())
    }
}

/// The recall handle of a message just redirected to the timer topic (none for `%RETRY%` topics).
pub fn recall_handle(msg: &NewMessage, broker_name: &str) -> Option<String> {
    if msg.topic != TIMER_TOPIC {
        return None;
    }
    let p = parse_properties(&msg.properties);
    let topic = p.get(prop::REAL_TOPIC)?;
    if topic.starts_with(crate::core::topics::RETRY_PREFIX) {
        return None;
    }
    let due = p.get(TIMER_OUT_MS)?.parse::<i64>().ok()?;
    let h = RecallHandle {
        topic: topic.to_string(),
        broker_name: broker_name.to_string(),
        timestamp: (due + 1).to_string(),
        message_id: msg.uniq_key.clone().or_else(|| p.get(prop::UNIQ_KEY).map(String::from))?,
    };
    Some(h.encode())
}
