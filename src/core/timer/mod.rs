//! 5.x timer messages (`TIMER_DELIVER_MS`, `TIMER_DELAY_SEC`, `TIMER_DELAY_MS`): indexed in the
//! file-backed timing wheel of [`crate::store::timer`] and delivered when due; recall.
//!
//! A timer message is first stored in the timer topic (`rmq_sys_wheel_timer`, queue 0, see
//! [`super::redirect`]). Each [`Timers::tick`]:
//!
//! 1. **indexes** new timer-topic messages: one timer log entry in the slot of its due time (or,
//!    for a time already past, in the slot being delivered). A due time at least the roll window
//!    (`timerRollWindowSlot` slots) ahead gets a *roll* entry at the end of the window instead:
//!    when that slot comes, the message is stored again in the timer topic (`TIMER_ROLL_TIMES`
//!    plus one) and indexed again, so its body never sits in the commit log longer than the
//!    window (the commit log keeps `fileReservedTime`, 72 h by default, and the window is 2 days).
//! 2. **delivers** the slot under the cursor: its live entries sorted by (due time, commit log
//!    offset), each stored on its real topic (same unique id, properties and tags, via
//!    [`super::schedule::delivery`]) once its own due time has passed, never before. When the
//!    slot's time is over and its entries are delivered, the cursor moves to the next slot.
//!    Due entries go in runs of up to [`RUN`]: their records are read from the commit log
//!    together (neighbours in one `pread`, see [`MessageStore::read_messages`]), their properties
//!    rewritten without parsing them into owned strings, and each run of one real queue is
//!    stored with one append (one lock, one write).
//!
//! [`MessageStore::read_messages`]: crate::store::MessageStore::read_messages
//!
//! Both steps are bounded per tick (the budget), so a backlog (after downtime, or a million timers
//! due in one second) drains at full speed across ticks without holding the scheduler's thread.
//! While the cursor is more than (wheel span - roll window) behind, indexing waits: a new entry
//! could otherwise land in a slot of the wheel not yet delivered from the previous turn.
//!
//! # Crash safety
//! After each tick the timer store is checkpointed (log and wheel first; fsync every second). A
//! restart indexes again from the checkpointed timer-topic offset (so nothing acknowledged is
//! lost), and delivers again the whole slot that was in progress at the checkpoint: **duplicates
//! are possible only for that slot and for what the interrupted tick delivered after it** (a tick
//! moves into the next slot once the slot's time is over: when delivery keeps up, the next slot's
//! first due timers; while a backlog drains, up to one tick's budget of slots). Nothing
//! is delivered before its due time. Damaged timer files are rebuilt from the timer topic (see
//! [`crate::store::timer`]): messages due before the last checkpointed slot are skipped as
//! delivered.
use super::redirect::{TIMER_OUT_MS, TIMER_TOPIC};
use super::schedule::deliver;
use super::Core;
use crate::codec::message::{parse_properties, prop, property_pairs};
use crate::codec::stored::{decode_stored, StoredMessage};
use crate::store::timer::{Checkpoint, Entry, Opened, TimerConfig, TimerStore, FLAG_DELETED, FLAG_ROLL};
use crate::store::{GetStatus, MessageStore, NewMessage, StoreError};
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

mod recall;

pub use recall::{recall_handle, RecallError};
use recall::Found;

/// How many times a message was rolled (stored again in the timer topic).
pub use crate::codec::message::prop::TIMER_ROLL_TIMES;
/// A recall marker in the timer topic: `<real topic>+<UNIQ_KEY>` of the recalled message.
pub const TIMER_DEL_UNIQKEY: &str = "TIMER_DEL_UNIQKEY";
/// Slots in the wheel, as RocketMQ 5 (7 days of seconds); the span is this times the precision.
pub const WHEEL_SLOTS: u64 = 7 * 86400;
/// Due timers stored per run (read together from the commit log, one append per real queue).
const RUN: usize = 512;
/// fsync of the timer files (timerFlushIntervalMs).
const SYNC_EVERY_MS: i64 = 1000;

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// Backlog and rates of the timer wheel, readable without a lock (admin status, metrics).
#[derive(Default)]
struct Counters {
    pending: AtomicU64,
    enqueue_offset: AtomicI64,
    dequeue_ms: AtomicI64,
    enqueued: AtomicU64,
    dequeued: AtomicU64,
    /// f64 bits: messages per second over the last window of at least a second.
    enqueue_tps: AtomicU64,
    dequeue_tps: AtomicU64,
}

/// A snapshot of [`Timers`] for `brokerStatus` and metrics.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct TimerStatus {
    /// Timers waiting in the wheel (RocketMQ's `timerCongestNum`).
    pub pending: u64,
    /// Timer-topic messages not yet indexed (`timerOffsetBehind`).
    pub offset_behind: i64,
    /// How far delivery is behind the clock, ms (`timerReadBehind` is this in seconds).
    pub read_behind_ms: i64,
    pub enqueue_tps: f64,
    pub dequeue_tps: f64,
}

/// The timer wheel's shared state (the scheduler ticks it; recalls look into it).
pub struct Timers {
    wheel: Mutex<Option<Wheel>>,
    error: Option<String>,
    counters: Counters,
    rates: Mutex<(i64, u64, u64)>,
}

struct Current {
    slot_ms: i64,
    entries: Vec<(i64, Entry)>,
    next: usize,
}

struct Wheel {
    store: TimerStore,
    precision: i64,
    roll_window_ms: i64,
    enqueue_offset: i64,
    cursor_ms: i64,
    rebuild_upto: i64,
    rebuild_skip_ms: i64,
    current: Option<Current>,
    last_sync_ms: i64,
    last_expire_ms: i64,
}

fn key_hash(uniq: &str) -> u32 {
    crc32fast::hash(uniq.as_bytes())
}

/// The key of a recall marker and of the recalled set: `<real topic>+<UNIQ_KEY>`.
pub fn delete_key(topic: &str, uniq: &str) -> String {
    format!("{topic}+{uniq}")
}

/// The due time of a timer-topic message, from its `TIMER_OUT_MS` property (`timer_out`).
fn due_of(m: &StoredMessage, timer_out: Option<&str>) -> i64 {
    timer_out.and_then(|v| v.parse::<i64>().ok()).unwrap_or(m.store_timestamp)
}

impl Timers {
    /// Open the timer store under the store's root; migrate the sled timer index of earlier
    /// versions, or rebuild from the timer topic when the files are new or damaged.
    ///
    /// A slave (`follower`) indexes and delivers nothing: its master delivers, and the deliveries
    /// reach it through the log. Its timer files are dropped instead, so that the store, opened as
    /// a master after an operator's promotion, rebuilds the wheel from the replicated timer topic
    /// (skipping what the log shows delivered or rolled) rather than trusting a stale wheel.
    pub fn open(store: &MessageStore, precision_ms: i64, roll_window_slots: i64, now_ms: i64, follower: bool) -> Timers {
        let precision = precision_ms.clamp(1, 60_000);
        let cfg = TimerConfig {
            dir: store.root().join("timer"),
            precision_ms: precision,
            slots: WHEEL_SLOTS,
            entries_per_segment: 1 << 20,
        };
        let timers = |wheel: Option<Wheel>, error: Option<String>| Timers {
            wheel: Mutex::new(wheel),
            error,
            counters: Counters::default(),
            rates: Mutex::new((now_ms, 0, 0)),
        };
        if follower {
            if let Err(e) = crate::store::timer::forget(&cfg.dir) {
                tracing::warn!(error = %e, "slave: could not drop the timer files; a promotion will trust them");
            }
            return timers(None, None);
        }
        let (ts, opened) = match TimerStore::open(cfg) {
            Ok(o) => o,
            Err(e) => {
                tracing::error!(error = %e, "timer store cannot be opened: timer messages wait until it can");
                return timers(None, Some(e.to_string()));
            }
        };
        let ck = ts.checkpoint();
        let span = ts.span_ms();
        let roll_window_ms = (roll_window_slots.max(2) * precision).min(span - 2 * precision);
        let slot_now = now_ms / precision * precision;
        let mut w = Wheel {
            store: ts,
            precision,
            roll_window_ms,
            enqueue_offset: ck.enqueue_offset,
            cursor_ms: if ck.dequeue_ms > 0 { ck.dequeue_ms } else { slot_now },
            rebuild_upto: ck.rebuild_upto,
            rebuild_skip_ms: ck.rebuild_skip_ms,
            current: None,
            last_sync_ms: now_ms,
            last_expire_ms: 0,
        };
        let result = match opened {
            Opened::Recovered if ck.enqueue_offset >= 0 => {
                if store.meta().legacy_timer_cursor().is_some() {
                    let _ = store.meta().clear_legacy_timers();
                }
                Ok(())
            }
            Opened::Damaged { dequeue_ms, .. } => w.start_rebuild(store, dequeue_ms, slot_now, now_ms),
            _ => match store.meta().legacy_timer_cursor() {
                Some(cursor) => w.migrate(store, cursor, now_ms),
                None => w.start_rebuild(store, 0, slot_now, now_ms),
            },
        };
        if let Err(e) = result {
            tracing::error!(error = %e, "timer store could not be initialised");
            return timers(None, Some(e.to_string()));
        }
        let t = timers(Some(w), None);
        if let Some(w) = lock(&t.wheel).as_ref() {
            t.publish(w);
        }
        t
    }

    /// Index new timer messages and deliver due ones, for at most `budget` of wall time.
    pub fn tick(&self, core: &Core, now_ms: i64, budget: Duration) {
        let start = Instant::now();
        let mut guard = lock(&self.wheel);
        let Some(w) = guard.as_mut() else { return };
        let res = (|| -> Result<(u64, u64), StoreError> {
            let enq = w.enqueue(core, now_ms, start + budget / 2)?;
            let deq = w.dequeue(core, now_ms, start + budget)?;
            w.checkpoint(now_ms)?;
            Ok((enq, deq))
        })();
        match res {
            Ok((enq, deq)) => {
                self.counters.enqueued.fetch_add(enq, Ordering::Relaxed);
                self.counters.dequeued.fetch_add(deq, Ordering::Relaxed);
            }
            Err(e) => tracing::warn!(error = %e, "timer wheel: tick failed; will retry"),
        }
        self.publish(w);
        drop(guard);
        self.update_rates(now_ms);
    }

    fn publish(&self, w: &Wheel) {
        self.counters.pending.store(w.store.pending(), Ordering::Relaxed);
        self.counters.enqueue_offset.store(w.enqueue_offset, Ordering::Relaxed);
        self.counters.dequeue_ms.store(w.cursor_ms, Ordering::Relaxed);
    }

    fn update_rates(&self, now_ms: i64) {
        let mut r = lock(&self.rates);
        let elapsed = now_ms - r.0;
        if elapsed < 1000 {
            return;
        }
        let (enq, deq) = (self.counters.enqueued.load(Ordering::Relaxed), self.counters.dequeued.load(Ordering::Relaxed));
        let rate = |n: u64, before: u64| (n.saturating_sub(before)) as f64 * 1000.0 / elapsed as f64;
        self.counters.enqueue_tps.store(rate(enq, r.1).to_bits(), Ordering::Relaxed);
        self.counters.dequeue_tps.store(rate(deq, r.2).to_bits(), Ordering::Relaxed);
        *r = (now_ms, enq, deq);
    }

    /// Backlog and rates (no lock on the wheel).
    pub fn status(&self, store: &MessageStore, now_ms: i64) -> TimerStatus {
        let c = &self.counters;
        let enq = c.enqueue_offset.load(Ordering::Relaxed).max(0);
        TimerStatus {
            pending: c.pending.load(Ordering::Relaxed),
            offset_behind: (store.max_offset(TIMER_TOPIC, 0) - enq).max(0),
            read_behind_ms: (now_ms - c.dequeue_ms.load(Ordering::Relaxed)).max(0),
            enqueue_tps: f64::from_bits(c.enqueue_tps.load(Ordering::Relaxed)),
            dequeue_tps: f64::from_bits(c.dequeue_tps.load(Ordering::Relaxed)),
        }
    }

    /// Timers waiting in the wheel (cheap: one atomic load).
    pub fn pending(&self) -> u64 {
        self.counters.pending.load(Ordering::Relaxed)
    }

}

impl Wheel {
    fn slot_of(&self, ms: i64) -> i64 {
        ms.max(0) / self.precision * self.precision
    }

    /// Index the timer topic again from its first offset (new or damaged files). Messages due
    /// before `skip_ms` were delivered before.
    fn start_rebuild(&mut self, store: &MessageStore, skip_ms: i64, slot_now: i64, now_ms: i64) -> Result<(), StoreError> {
        self.enqueue_offset = store.min_offset(TIMER_TOPIC, 0);
        self.rebuild_upto = store.max_offset(TIMER_TOPIC, 0);
        self.rebuild_skip_ms = skip_ms;
        self.cursor_ms = if skip_ms > 0 { skip_ms.min(slot_now) } else { slot_now };
        if self.rebuild_upto > self.enqueue_offset {
            tracing::warn!(from = self.enqueue_offset, to = self.rebuild_upto, "timer store: indexing the timer topic again");
        }
        self.checkpoint_now(now_ms, true)
    }

    /// Move the sled timer index of earlier versions into the timer store, then drop it.
    fn migrate(&mut self, store: &MessageStore, cursor: i64, now_ms: i64) -> Result<(), StoreError> {
        let legacy = store.meta().legacy_timers();
        tracing::info!(timers = legacy.len(), "migrating pending timers from the sled index to the timer store");
        self.enqueue_offset = cursor;
        self.rebuild_upto = -1;
        for (due, offset) in &legacy {
            let Some(Ok((m, _))) = store.read_message(*offset).map(|raw| decode_stored(&raw)) else {
                tracing::warn!(offset, "timer message no longer readable; not migrated");
                continue;
            };
            let p = parse_properties(&m.properties);
            self.place(*due, *offset, p.get(prop::UNIQ_KEY).map(key_hash).unwrap_or(0), now_ms)?;
        }
        self.checkpoint_now(now_ms, true)?;
        store.meta().clear_legacy_timers()
    }

    fn ckpt(&self) -> Checkpoint {
        Checkpoint {
            enqueue_offset: self.enqueue_offset,
            log_end: 0,
            dequeue_ms: self.cursor_ms,
            rebuild_upto: self.rebuild_upto,
            rebuild_skip_ms: self.rebuild_skip_ms,
        }
    }

    fn checkpoint_now(&mut self, now_ms: i64, sync: bool) -> Result<(), StoreError> {
        self.store.save(self.ckpt(), now_ms, sync)
    }

    /// Checkpoint (fsync once a second); expire old timer log segments once a minute.
    fn checkpoint(&mut self, now_ms: i64) -> Result<(), StoreError> {
        let sync = now_ms - self.last_sync_ms >= SYNC_EVERY_MS;
        self.checkpoint_now(now_ms, sync)?;
        if sync {
            self.last_sync_ms = now_ms;
        }
        if now_ms - self.last_expire_ms >= 60_000 {
            self.last_expire_ms = now_ms;
            // an entry written at t sits in a slot before t + roll window + one slot
            let n = self.store.expire(self.cursor_ms - self.roll_window_ms - 60_000);
            if n > 0 {
                tracing::info!(segments = n, "timer log: delivered segments deleted");
            }
        }
        Ok(())
    }

    /// Index new timer-topic messages until `deadline`; returns how many were indexed.
    fn enqueue(&mut self, core: &Core, now_ms: i64, deadline: Instant) -> Result<u64, StoreError> {
        if self.cursor_ms + self.store.span_ms() - self.roll_window_ms - 2 * self.precision <= now_ms {
            return Ok(0); // delivery far behind: new entries could wrap onto undelivered slots
        }
        let mut n = 0;
        loop {
            let res = core.store.get(TIMER_TOPIC, 0, self.enqueue_offset, 256, 8 << 20, &|_| true);
            if res.status != GetStatus::Found {
                if res.next_begin_offset > self.enqueue_offset && res.status != GetStatus::OffsetOverflowBadly {
                    self.enqueue_offset = res.next_begin_offset;
                }
                return Ok(n);
            }
            for raw in &res.messages {
                match decode_stored(raw) {
                    Ok((m, _)) => {
                        self.index(core, &m, now_ms)?;
                        self.enqueue_offset = m.queue_offset + 1;
                        n += 1;
                    }
                    Err(e) => tracing::error!(offset = self.enqueue_offset, error = %e, "undecodable timer message skipped"),
                }
            }
            self.enqueue_offset = self.enqueue_offset.max(res.next_begin_offset);
            if Instant::now() >= deadline {
                return Ok(n);
            }
        }
    }

    /// Index one timer-topic message (a timer, or a recall marker).
    fn index(&mut self, core: &Core, m: &StoredMessage, now_ms: i64) -> Result<(), StoreError> {
        let pairs = property_pairs(&m.properties);
        let get = |k: &str| pairs.iter().find(|(n, _)| *n == k).map(|(_, v)| *v);
        let due = due_of(m, get(TIMER_OUT_MS));
        if let Some(key) = get(TIMER_DEL_UNIQKEY) {
            let (topic, uniq) = key.split_once('+').unwrap_or(("", key));
            match self.find(core, topic, uniq, due)? {
                Found::Pending(pos) => self.tombstone(pos, now_ms)?,
                Found::Missing if due > now_ms => core.store.meta().set_timer_recalled(key, due)?,
                _ => {}
            }
            return Ok(());
        }
        if m.queue_offset < self.rebuild_upto {
            let rolled_at = m.store_timestamp + self.roll_window_ms - self.precision;
            let was_rolled = due - m.store_timestamp >= self.roll_window_ms && self.slot_of(rolled_at) < self.rebuild_skip_ms;
            if due < self.rebuild_skip_ms || was_rolled || self.done_in_log(core, m, get(prop::REAL_TOPIC), get(prop::UNIQ_KEY), due, now_ms) {
                return Ok(()); // delivered (or stored again) before the rebuild
            }
        }
        self.place(due, m.commit_log_offset, get(prop::UNIQ_KEY).map(key_hash).unwrap_or(0), now_ms)
    }

    /// While rebuilding: whether the log shows what became of timer message `m` already: its
    /// delivery (a message with its UNIQ_KEY on its real topic, stored after it; possible only
    /// once it is due) or its roll (a later copy in the timer topic; possible only for a due time
    /// past the roll window). A key-index lookup for those cases only. This is what a promoted
    /// slave, whose wheel never ran, knows of its old master's deliveries.
    fn done_in_log(&self, core: &Core, m: &StoredMessage, real_topic: Option<&str>, uniq: Option<&str>, due: i64, now_ms: i64) -> bool {
        let Some(uniq) = uniq.filter(|u| !u.is_empty()) else { return false };
        let later_in = |topic: &str| {
            let found = core.store.query_by_key(topic, uniq, 8, m.store_timestamp, i64::MAX);
            found.iter().any(|raw| matches!(decode_stored(raw), Ok((c, _)) if c.commit_log_offset > m.commit_log_offset))
        };
        (due <= now_ms && real_topic.is_some_and(&later_in))
            || (due - m.store_timestamp >= self.roll_window_ms && later_in(TIMER_TOPIC))
    }

    /// Link an entry into the slot of its due time (or its roll slot, or the slot being delivered).
    fn place(&mut self, due: i64, offset: i64, hash: u32, now_ms: i64) -> Result<(), StoreError> {
        let (slot, flags) = if due - now_ms >= self.roll_window_ms {
            (self.slot_of(now_ms + self.roll_window_ms - self.precision), FLAG_ROLL)
        } else {
            (self.slot_of(due), 0)
        };
        let slot_ms = slot.max(self.cursor_ms);
        let e = Entry { flags, key_hash: hash, prev: -1, due_ms: due, slot_ms, commit_log_offset: offset };
        let pos = self.store.add(e, now_ms)?;
        if let Some(cur) = self.current.as_mut().filter(|c| c.slot_ms == slot_ms) {
            let key = fire_key(&e);
            let at = cur.next + cur.entries[cur.next..].partition_point(|(_, x)| fire_key(x) <= key);
            cur.entries.insert(at, (pos, e));
        }
        Ok(())
    }

    /// Deliver due entries of the slot under the cursor (moving it on) until `deadline`.
    fn dequeue(&mut self, core: &Core, now_ms: i64, deadline: Instant) -> Result<u64, StoreError> {
        let mut n = 0u64;
        loop {
            if self.current.is_none() {
                if self.cursor_ms > now_ms {
                    return Ok(n);
                }
                let mut entries = self.store.slot_entries(self.cursor_ms)?;
                entries.retain(|(_, e)| e.flags & FLAG_DELETED == 0);
                entries.sort_by_key(|(_, e)| fire_key(e));
                self.current = Some(Current { slot_ms: self.cursor_ms, entries, next: 0 });
            }
            let Some(cur) = self.current.as_mut() else { return Ok(n) };
            while cur.next < cur.entries.len() {
                // a run of due timers is stored with one append per real queue
                let mut run = Vec::new();
                let mut end = cur.next;
                while end < cur.entries.len() && run.len() < RUN {
                    let e = cur.entries[end].1;
                    if e.flags & FLAG_DELETED == 0 {
                        if e.flags & FLAG_ROLL != 0 || fire_key(&e).0 > now_ms {
                            break;
                        }
                        run.push((end, e));
                    }
                    end += 1;
                }
                if run.is_empty() && end == cur.next {
                    let e = cur.entries[cur.next].1;
                    if fire_key(&e).0 > now_ms || !fire(core, &e) {
                        return Ok(n);
                    }
                    self.store.delivered(1);
                    n += 1;
                    cur.next += 1;
                } else {
                    let done = deliver_run(core, &run);
                    self.store.delivered(done as u64);
                    n += done as u64;
                    if done < run.len() {
                        cur.next = run[done].0;
                        return Ok(n);
                    }
                    cur.next = end;
                }
                if Instant::now() >= deadline {
                    return Ok(n);
                }
            }
            if self.cursor_ms + self.precision > now_ms {
                return Ok(n); // the slot's time is not over: late entries may still join it
            }
            self.cursor_ms += self.precision;
            self.current = None;
            if self.rebuild_upto >= 0 && self.enqueue_offset >= self.rebuild_upto {
                self.rebuild_upto = -1;
            }
            if Instant::now() >= deadline {
                return Ok(n);
            }
        }
    }

}

/// When an entry fires (a roll when its slot comes, a timer at its due time), then its offset.
fn fire_key(e: &Entry) -> (i64, i64) {
    (if e.flags & FLAG_ROLL != 0 { e.slot_ms } else { e.due_ms }, e.commit_log_offset)
}

fn is_message(core: &Core, offset: i64, topic: &str, uniq: &str) -> bool {
    let Some(Ok((m, _))) = core.store.read_message(offset).map(|raw| decode_stored(&raw)) else { return false };
    let p = parse_properties(&m.properties);
    p.get(prop::UNIQ_KEY) == Some(uniq) && p.get(prop::REAL_TOPIC) == Some(topic)
}

/// Deliver a run of due timers, one append per run of the same real queue; returns how many
/// (from the front) are done (stored, or dropped for good). The rest are tried again later.
/// The run's records are read from the commit log in large pieces ([`MessageStore::read_messages`]).
///
/// [`MessageStore::read_messages`]: crate::store::MessageStore::read_messages
fn deliver_run(core: &Core, run: &[(usize, Entry)]) -> usize {
    let offsets: Vec<i64> = run.iter().map(|(_, e)| e.commit_log_offset).collect();
    let records = core.store.read_messages(&offsets);
    let mut msgs: Vec<(usize, NewMessage)> = Vec::with_capacity(run.len());
    for (i, ((_, e), raw)) in run.iter().zip(records).enumerate() {
        match raw.map(|raw| decode_stored(&raw)) {
            Some(Ok((m, _))) => {
                if let Some(msg) = super::schedule::delivery(&m) {
                    msgs.push((i, msg));
                }
            }
            _ => tracing::error!(offset = e.commit_log_offset, due = e.due_ms, "timer message no longer in the commit log; dropped"),
        }
    }
    let mut it = msgs.into_iter().peekable();
    while let Some((first, msg)) = it.next() {
        let (topic, queue_id) = (msg.topic.clone(), msg.queue_id);
        let mut last = first;
        let mut chunk = vec![msg];
        while let Some((i, next)) = it.next_if(|(_, m)| m.topic == topic && m.queue_id == queue_id) {
            last = i;
            chunk.push(next);
        }
        match core.append(chunk) {
            Ok(_) => {}
            // one message the store refuses for itself: the others one by one (read again: the
            // rare path), it dropped
            Err(e) if e.is_permanent() => {
                for (i, (_, e)) in run.iter().enumerate().take(last + 1).skip(first) {
                    if !fire(core, e) {
                        return i;
                    }
                }
            }
            Err(e) => {
                tracing::warn!(error = %e, "timer delivery failed; will retry");
                return first;
            }
        }
    }
    run.len()
}

/// Deliver (or roll) one entry. False when it should be tried again later.
fn fire(core: &Core, e: &Entry) -> bool {
    let Some(Ok((m, _))) = core.store.read_message(e.commit_log_offset).map(|raw| decode_stored(&raw)) else {
        tracing::error!(offset = e.commit_log_offset, due = e.due_ms, "timer message no longer in the commit log; dropped");
        return true;
    };
    if e.flags & FLAG_ROLL == 0 {
        return deliver(core, &m);
    }
    let mut p = parse_properties(&m.properties);
    let (topic, uniq) = (p.get(prop::REAL_TOPIC).unwrap_or(""), p.get(prop::UNIQ_KEY).unwrap_or(""));
    let key = delete_key(topic, uniq);
    if core.store.meta().timer_recalled(&key) {
        let _ = core.store.meta().clear_timer_recalled(&key);
        return true;
    }
    let times = p.get(TIMER_ROLL_TIMES).and_then(|v| v.parse::<i64>().ok()).unwrap_or(0) + 1;
    p.insert(TIMER_ROLL_TIMES, times.to_string());
    let mut again = super::message::restore(&m, TIMER_TOPIC.to_string(), 0, &p);
    again.tags_code = e.due_ms;
    match core.append(vec![again]) {
        Ok(_) => true,
        Err(err) if err.is_permanent() => {
            tracing::error!(error = %err, offset = e.commit_log_offset, "timer message cannot be stored again; dropped");
            true
        }
        Err(err) => {
            tracing::warn!(error = %err, "timer roll failed; will retry");
            false
        }
    }
}

