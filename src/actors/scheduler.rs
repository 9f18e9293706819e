//! The scheduler actor: delayed messages (delay levels) and their delivery.
//!
//! A message with `DELAY=n` is stored in `SCHEDULE_TOPIC_XXXX`, queue n-1, with its real topic and
//! queue in `REAL_TOPIC`/`REAL_QID` and its delivery time as tags code ([`redirect_delayed`]).
//! Every 20 ms the actor walks each level's queue from its cursor; entries of one level are in
//! delivery order, so it stops at the first one not yet due. A due message is stored again on its
//! real topic (same unique id, tags, keys, properties and body; a new store time) and held pulls are
//! woken. Cursors are persisted in sled after each step: a crash between the re-store and the cursor
//! write delivers that message twice (at-least-once), never loses it.
use super::queue::{Arrived, QueueActor};
use super::topic::SCHEDULE_TOPIC;
use crate::codec::message::{parse_properties, prop};
use crate::codec::stored::decode_stored;
use crate::store::{GetStatus, MessageStore, NewMessage};
use actix::prelude::*;
use std::sync::Arc;
use std::time::Duration;

const CURSOR_NS: &str = "delay_offset";
const TIMER_INDEX_NS: &str = "timer_index";
const TIMER_CURSOR_NS: &str = "timer_cursor";
/// Where messages with a 5.x delivery time wait (queue 0), as in RocketMQ 5.
pub const TIMER_TOPIC: &str = "rmq_sys_wheel_timer";
const TIMER_OUT_MS: &str = "TIMER_OUT_MS";

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

/// Delivery time requested through the 5.x timer properties, if any.
fn timer_due(props: &crate::codec::message::Properties, now_ms: i64) -> Option<i64> {
    let num = |k: &str| props.get(k).and_then(|v| v.trim().parse::<i64>().ok());
    if let Some(at) = num(prop::TIMER_DELIVER_MS) {
        return Some(at);
    }
    if let Some(sec) = num(prop::TIMER_DELAY_SEC) {
        return Some(now_ms.saturating_add(sec.saturating_mul(1000)));
    }
    num(prop::TIMER_DELAY_MS).map(|ms| now_ms.saturating_add(ms))
}

/// Park a message carrying a 5.x delivery time (`TIMER_DELIVER_MS`, `TIMER_DELAY_SEC`,
/// `TIMER_DELAY_MS`) in the timer topic. Times already past are delivered at once (not
/// redirected); times beyond `max_delay` are refused with the reason.
pub fn redirect_timer(msg: &mut NewMessage, now_ms: i64, max_delay: Duration) -> Result<bool, String> {
    if !msg.properties.contains("TIMER_") {
        return Ok(false);
    }
    let mut props = parse_properties(&msg.properties);
    let Some(due) = timer_due(&props, now_ms) else { return Ok(false) };
    if due <= now_ms {
        return Ok(false);
    }
    if due - now_ms > max_delay.as_millis() as i64 {
        return Err(format!(
            "the delivery time is too far in the future: {} ms > timerMaxDelay {} ms",
            due - now_ms,
            max_delay.as_millis()
        ));
    }
    props.insert(prop::REAL_TOPIC, &msg.topic);
    props.insert(prop::REAL_QID, &msg.queue_id.to_string());
    props.insert(TIMER_OUT_MS, &due.to_string());
    msg.properties = props.encode();
    msg.topic = TIMER_TOPIC.to_string();
    msg.queue_id = 0;
    msg.tags_code = due;
    Ok(true)
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
        for k in [prop::TIMER_DELIVER_MS, prop::TIMER_DELAY_SEC, prop::TIMER_DELAY_MS, TIMER_OUT_MS] {
            props.remove(k);
        }
        let (tags_code, keys, uniq_key) = crate::actors::index_fields(&props);
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
            // A message the store refuses for itself would block its level (or the timer scan)
            // for ever: drop it, loudly. Anything else (disk full, I/O) is retried.
            Err(e) if e.is_permanent() => {
                tracing::error!(error = %e, topic = %topic, offset = m.commit_log_offset, "delayed message can never be delivered; dropped");
                true
            }
            Err(e) => {
                tracing::warn!(error = %e, "delayed delivery failed; will retry");
                false
            }
        }
    }
}

impl SchedulerActor {
    /// Index new timer messages in sled by (due time, commit log offset). The cursor (next timer
    /// queue offset to index) is persisted after the index entries, so a crash re-indexes (the
    /// same keys) rather than forgetting a message.
    fn index_timers(&mut self) {
        let meta = self.store.meta();
        let mut cursor = meta
            .get_kv(TIMER_CURSOR_NS, "0")
            .and_then(|v| v.try_into().ok().map(i64::from_be_bytes))
            .unwrap_or(0);
        loop {
            let res = self.store.get(TIMER_TOPIC, 0, cursor, 32, 4 << 20, &|_| true);
            if res.status != GetStatus::Found {
                if res.next_begin_offset > cursor && res.status != GetStatus::OffsetOverflowBadly {
                    let _ = meta.put_kv(TIMER_CURSOR_NS, "0", &res.next_begin_offset.to_be_bytes());
                }
                return;
            }
            for raw in &res.messages {
                if let Ok((m, _)) = decode_stored(raw) {
                    let due = parse_properties(&m.properties)
                        .get(TIMER_OUT_MS)
                        .and_then(|v| v.parse::<i64>().ok())
                        .unwrap_or(m.store_timestamp);
                    let key = format!("{:020}{:020}", due.max(0), m.commit_log_offset);
                    let _ = meta.put_kv(TIMER_INDEX_NS, &key, &[]);
                    cursor = m.queue_offset + 1;
                }
            }
            cursor = cursor.max(res.next_begin_offset);
            let _ = meta.put_kv(TIMER_CURSOR_NS, "0", &cursor.to_be_bytes());
        }
    }

    /// Deliver timer messages that are due: a range scan of the index up to now, so the cost
    /// depends on what is due, not on how many are pending.
    fn deliver_timers(&mut self, now_ms: i64) {
        // Deliver in batches until nothing is due, within a time budget so the other actors of
        // this thread are not starved; what is left goes in the next tick (100 ms later).
        let budget = std::time::Instant::now() + Duration::from_millis(250);
        while std::time::Instant::now() < budget {
            if self.deliver_timer_batch(now_ms) < 1000 {
                return;
            }
        }
    }

    fn deliver_timer_batch(&mut self, now_ms: i64) -> usize {
        let upto = format!("{:020}", now_ms.max(0) + 1);
        let due = self.store.meta().scan_kv_before(TIMER_INDEX_NS, &upto, 1000);
        let n = due.len();
        for (key, _) in due {
            let Some(offset) = key.get(20..).and_then(|o| o.parse::<i64>().ok()) else { continue };
            let delivered = match self.store.read_message(offset).map(|raw| decode_stored(&raw)) {
                Some(Ok((m, _))) => self.deliver(&m),
                _ => {
                    tracing::warn!(offset, "timer message no longer readable; dropped from the index");
                    true
                }
            };
            if !delivered {
                return 0;
            }
            let _ = self.store.meta().delete_kv(TIMER_INDEX_NS, &key);
        }
        n
    }
}

impl Actor for SchedulerActor {
    type Context = Context<Self>;
    fn started(&mut self, ctx: &mut Self::Context) {
        // 20 ms: the delivery error floor; a tick with nothing due costs one sled range probe
        // per timer scan and one index read per delay level.
        ctx.run_interval(Duration::from_millis(20), |act, _| {
            let now = now_ms();
            for level in 1..=act.levels.len() {
                act.run_level(level, now);
            }
            act.index_timers();
            act.deliver_timers(now);
        });
    }
}

pub fn now_ms() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_millis() as i64).unwrap_or(0)
}
