//! Delivery of delayed messages (delay levels) and 5.x timer messages when they are due.
//!
//! A message with `DELAY=n` waits in `SCHEDULE_TOPIC_XXXX` queue n-1 (see [`super::redirect`]).
//! [`Scheduler::tick`] walks each level's queue from its cursor; entries of one level are in
//! delivery order, so it stops at the first one not yet due. A due message is stored again on its
//! real topic (same unique id, tags, keys, properties and body; a new store time) through
//! [`Core::append`], which wakes held pulls. Cursors are persisted after each step: a crash between
//! the re-store and the cursor write delivers that message twice (at-least-once), never loses it.
//!
//! Timer messages are indexed in sled by (due time, commit log offset) and delivered by a range
//! scan up to now, so the cost depends on what is due, not on how many are pending.
use super::redirect::{TIMER_OUT_MS, TIMER_TOPIC};
use super::topics::{SCHEDULE_TOPIC, TRANS_HALF_TOPIC};
use super::Core;
use crate::codec::message::{parse_properties, prop};
use crate::codec::stored::{decode_stored, StoredMessage};
use crate::store::GetStatus;
use std::time::{Duration, Instant};

/// The scheduler's state: the delay levels and each level's cursor.
pub struct Scheduler {
    levels: Vec<Duration>,
    cursors: Vec<i64>,
}

impl Scheduler {
    pub fn new(core: &Core, levels: Vec<Duration>) -> Self {
        let cursors = (1..=levels.len()).map(|l| core.store.meta().delay_cursor(l)).collect();
        Scheduler { levels, cursors }
    }

    /// One round: every due delayed message, new timer messages indexed, due timers delivered
    /// (for at most `budget` of wall time, so the actor's thread is not starved).
    pub fn tick(&mut self, core: &Core, now_ms: i64, budget: Duration) {
        for level in 1..=self.levels.len() {
            self.run_level(core, level, now_ms);
        }
        index_timers(core);
        let until = Instant::now() + budget;
        while Instant::now() < until {
            if deliver_timer_batch(core, now_ms) < 1000 {
                return;
            }
        }
    }

    fn save_cursor(&self, core: &Core, level: usize) {
        if let Err(e) = core.store.meta().set_delay_cursor(level, self.cursors[level - 1]) {
            tracing::warn!(level, error = %e, "failed to persist delay progress");
        }
    }

    /// Deliver every due message of one level; returns how many were delivered.
    pub fn run_level(&mut self, core: &Core, level: usize, now_ms: i64) -> usize {
        let delay = self.levels[level - 1].as_millis() as i64;
        let queue = level as i32 - 1;
        let mut delivered = 0;
        loop {
            let cursor = self.cursors[level - 1];
            let res = core.store.get(SCHEDULE_TOPIC, queue, cursor, 32, 4 << 20, &|_| true);
            if res.status != GetStatus::Found {
                if res.next_begin_offset > cursor && res.status != GetStatus::OffsetOverflowBadly {
                    self.cursors[level - 1] = res.next_begin_offset;
                    self.save_cursor(core, level);
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
                if due > now_ms || !deliver(core, &m) {
                    self.save_cursor(core, level);
                    return delivered;
                }
                self.cursors[level - 1] = m.queue_offset + 1;
                delivered += 1;
            }
            self.save_cursor(core, level);
        }
    }
}

/// Store a due message on its real topic. False when it should be tried again later.
fn deliver(core: &Core, m: &StoredMessage) -> bool {
    let mut props = parse_properties(&m.properties);
    let (Some(topic), Some(qid)) = (
        props.get(prop::REAL_TOPIC).map(String::from),
        props.get(prop::REAL_QID).and_then(|q| q.parse::<i32>().ok()),
    ) else {
        tracing::error!(offset = m.commit_log_offset, "scheduled message without REAL_TOPIC/REAL_QID dropped");
        return true;
    };
    if topic == TRANS_HALF_TOPIC {
        return true;
    }
    for k in [prop::DELAY, prop::TIMER_DELIVER_MS, prop::TIMER_DELAY_SEC, prop::TIMER_DELAY_MS, TIMER_OUT_MS] {
        props.remove(k);
    }
    let msg = super::message::restore(m, topic.clone(), qid, &props);
    match core.append(vec![msg]) {
        Ok(_) => true,
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

/// Index new timer messages by (due time, commit log offset). The cursor (next timer queue offset
/// to index) is persisted after the index entries, so a crash re-indexes (the same keys) rather
/// than forgetting a message.
fn index_timers(core: &Core) {
    let meta = core.store.meta();
    let mut cursor = meta.timer_cursor();
    loop {
        let res = core.store.get(TIMER_TOPIC, 0, cursor, 32, 4 << 20, &|_| true);
        if res.status != GetStatus::Found {
            if res.next_begin_offset > cursor && res.status != GetStatus::OffsetOverflowBadly {
                let _ = meta.set_timer_cursor(res.next_begin_offset);
            }
            return;
        }
        for raw in &res.messages {
            if let Ok((m, _)) = decode_stored(raw) {
                let due = parse_properties(&m.properties)
                    .get(TIMER_OUT_MS)
                    .and_then(|v| v.parse::<i64>().ok())
                    .unwrap_or(m.store_timestamp);
                let _ = meta.add_timer(due, m.commit_log_offset);
                cursor = m.queue_offset + 1;
            }
        }
        cursor = cursor.max(res.next_begin_offset);
        let _ = meta.set_timer_cursor(cursor);
    }
}

/// Deliver up to 1000 due timer messages; returns how many were due.
fn deliver_timer_batch(core: &Core, now_ms: i64) -> usize {
    let due = core.store.meta().due_timers(now_ms, 1000);
    let n = due.len();
    for (due_ms, offset) in due {
        let delivered = match core.store.read_message(offset).map(|raw| decode_stored(&raw)) {
            Some(Ok((m, _))) => deliver(core, &m),
            _ => {
                tracing::warn!(offset, "timer message no longer readable; dropped from the index");
                true
            }
        };
        if !delivered {
            return 0;
        }
        let _ = core.store.meta().remove_timer(due_ms, offset);
    }
    n
}
