//! Delivery of delayed messages (delay levels) and 5.x timer messages when they are due.
//!
//! A message with `DELAY=n` waits in `SCHEDULE_TOPIC_XXXX` queue n-1 (see [`super::redirect`]).
//! [`Scheduler::tick`] walks each level's queue from its cursor; entries of one level are in
//! delivery order, so it stops at the first one not yet due. A due message is stored again on its
//! real topic (same unique id, tags, keys, properties and body; a new store time) through
//! [`Core::append`], which wakes held pulls. Cursors are persisted after each step: a crash between
//! the re-store and the cursor write delivers that message twice (at-least-once), never loses it.
//!
//! Timer messages (5.x delivery times) wait in the file-backed timing wheel of [`super::timer`];
//! [`Scheduler::tick`] ticks it too.
use super::redirect::TIMER_OUT_MS;
use super::topics::{SCHEDULE_TOPIC, TRANS_HALF_TOPIC};
use super::Core;
use crate::codec::message::{encode_pairs_without, property_pairs, prop};
use crate::codec::stored::{decode_stored, StoredMessage};
use crate::store::{GetStatus, NewMessage};
use std::time::Duration;

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

    /// One round: every due delayed message, then the timer wheel (new timer messages indexed,
    /// due ones delivered, for at most `budget` of wall time so the actor's thread is not starved).
    pub fn tick(&mut self, core: &Core, now_ms: i64, budget: Duration) {
        for level in 1..=self.levels.len() {
            self.run_level(core, level, now_ms);
        }
        core.timers.tick(core, now_ms, budget);
    }

    /// Backlog of each delay level: (level, next offset to deliver, queue's max offset).
    pub fn level_backlog(core: &Core, levels: usize) -> Vec<(usize, i64, i64)> {
        (1..=levels)
            .map(|l| (l, core.store.meta().delay_cursor(l), core.store.max_offset(SCHEDULE_TOPIC, l as i32 - 1)))
            .collect()
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

/// A due message as it is stored on its real topic; None when it is dropped (no real topic, or
/// a transaction half).
pub(super) fn delivery(m: &StoredMessage) -> Option<NewMessage> {
    // borrowed pairs: no allocation per property (a timer burst delivers a million of these)
    let pairs = property_pairs(&m.properties);
    let get = |k: &str| pairs.iter().find(|(n, _)| *n == k).map(|(_, v)| *v);
    let (Some(topic), Some(qid)) = (get(prop::REAL_TOPIC), get(prop::REAL_QID).and_then(|q| q.parse::<i32>().ok())) else {
        tracing::error!(offset = m.commit_log_offset, "scheduled message without REAL_TOPIC/REAL_QID dropped");
        return None;
    };
    if topic == TRANS_HALF_TOPIC {
        return None;
    }
    let drop = [prop::DELAY, prop::TIMER_DELIVER_MS, prop::TIMER_DELAY_SEC, prop::TIMER_DELAY_MS, TIMER_OUT_MS, prop::TIMER_ROLL_TIMES];
    let properties = encode_pairs_without(&pairs, &drop);
    Some(super::message::restore_encoded(m, topic.to_string(), qid, properties, super::message::index_fields_by(get)))
}

/// Store a due message on its real topic. False when it should be tried again later.
pub(super) fn deliver(core: &Core, m: &StoredMessage) -> bool {
    let Some(msg) = delivery(m) else { return true };
    let topic = msg.topic.clone();
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
