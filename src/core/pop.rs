//! POP consumption (RocketMQ 5): messages handed out with an invisible time, acked one by one,
//! brought back when not acked in time.
//!
//! State per (group, topic, queue): a pop cursor (the next offset to hand out) and the in-flight
//! messages (offset -> pop time, visible-again time, attempts). Every change is one record in the
//! store's POP journal ([`crate::store::Journal`]) before it is applied, so after `kill -9` the
//! replayed journal gives the same state: an un-acked message comes back, an acked one does not.
//! The journal is rewritten as a snapshot of the live state when it grows past
//! [`JOURNAL_COMPACT_BYTES`].
//!
//! * **Pop** reads up to N messages from one queue, or from every queue of the topic in turn
//!   (queueId -1, starting one further each time), retry messages of the group first; each gets a
//!   receipt ([`Receipt`], the Java broker's `extraInfo`).
//! * **Ack** removes an in-flight message whose pop time matches the receipt; a stale receipt
//!   (after a change of invisible time, or a revive) is ignored, as in Java.
//! * **Revive** ([`Core::pop_revive`]): a message still in flight when its invisible time ends is
//!   stored again on the group's POP retry topic `%RETRY%<group>_<topic>` with `reconsumeTimes + 1`,
//!   or in `%DLQ%<group>` once it was delivered `retryMaxTimes + 1` times.
//! * **FIFO** (`order`): a queue with a message in flight hands out nothing more; when the invisible
//!   time ends the same messages come again, in place, with their attempt count (then the DLQ).
//! * A queue with [`PopLimits::inflight_per_queue`] messages in flight hands out nothing more
//!   until some are acked or revived (memory stays bounded).
use super::pull::Filter;
use super::topics::{DLQ_PREFIX, RETRY_PREFIX};
use super::Core;
use crate::codec::message::{offset_msg_id, parse_properties, prop};
use crate::codec::stored::{decode_stored, encode_stored_with, QUEUE_OFFSET_POS};
use crate::store::{GetStatus, Journal, MessageStore, StoreError};
use bytes::{Bytes, BytesMut};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;
use std::time::Instant;

/// Revive queue id of FIFO receipts (Java's `POP_ORDER_REVIVE_QUEUE`).
pub const ORDER_REVIVE_QID: i32 = 999;
/// Receipt and message property: the receipt of a message popped from a retry topic.
pub const PROP_POP_CK: &str = "POP_CK";
/// Message property: when the message was first popped.
pub const PROP_FIRST_POP_TIME: &str = "1ST_POP_TIME";
/// The journal is compacted once it is this large.
pub const JOURNAL_COMPACT_BYTES: u64 = 64 << 20;
/// Largest batch of one pop (Java refuses more than 32).
pub const MAX_POP_NUMS: usize = 32;
const MAX_POP_BYTES: usize = 4 << 20;

/// The POP retry topic of a group and topic (Java's v1 naming, its default).
pub fn retry_topic(group: &str, topic: &str) -> String {
    format!("{RETRY_PREFIX}{group}_{topic}")
}

/// The POP retry topic in Java's v2 naming (`enableRetryTopicV2`): accepted in acks.
pub fn retry_topic_v2(group: &str, topic: &str) -> String {
    format!("{RETRY_PREFIX}{group}+{topic}")
}

/// The retry mark of a topic in receipts: 0 normal, 1 retry (v1), 2 retry (v2).
pub fn retry_mark(group: &str, topic: &str) -> &'static str {
    if topic.starts_with(&format!("{RETRY_PREFIX}{group}+")) {
        "2"
    } else if topic.starts_with(RETRY_PREFIX) {
        "1"
    } else {
        "0"
    }
}

/// The topic a receipt's retry mark names, given the topic the client popped.
pub fn topic_of_mark(group: &str, topic: &str, mark: &str) -> String {
    match mark {
        "1" if !topic.starts_with(RETRY_PREFIX) => retry_topic(group, topic),
        "2" if !topic.starts_with(RETRY_PREFIX) => retry_topic_v2(group, topic),
        _ => topic.to_string(),
    }
}

/// The normal topic behind a group's POP retry topic (itself when it is not one).
pub fn origin_topic<'a>(group: &str, topic: &'a str) -> &'a str {
    let v1 = format!("{RETRY_PREFIX}{group}_");
    let v2 = format!("{RETRY_PREFIX}{group}+");
    topic.strip_prefix(v1.as_str()).or_else(|| topic.strip_prefix(v2.as_str())).unwrap_or(topic)
}

/// A message's receipt: `ckOffset popTime invisibleTime reviveQid retry brokerName queueId offset`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Receipt {
    pub ck_offset: i64,
    pub pop_time: i64,
    pub invisible_time: i64,
    pub revive_qid: i32,
    pub retry: String,
    pub broker_name: String,
    pub queue_id: i32,
    /// Absent in receipts of old clients (then the ack header's `offset` counts).
    pub offset: Option<i64>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PopError {
    #[error("illegal receipt (extraInfo) [{0}]")]
    BadReceipt(String),
    #[error("the POP journal cannot be written: {0}")]
    Journal(String),
    #[error("store error: {0}")]
    Store(String),
}

impl From<StoreError> for PopError {
    fn from(e: StoreError) -> Self {
        PopError::Journal(e.to_string())
    }
}

impl Receipt {
    pub fn parse(s: &str) -> Result<Receipt, PopError> {
        let bad = || PopError::BadReceipt(s.chars().take(200).collect());
        let f: Vec<&str> = s.split(' ').collect();
        if f.len() < 7 {
            return Err(bad());
        }
        let num = |i: usize| f[i].trim().parse::<i64>().map_err(|_| bad());
        Ok(Receipt {
            ck_offset: num(0)?,
            pop_time: num(1)?,
            invisible_time: num(2)?,
            revive_qid: num(3)? as i32,
            retry: f[4].to_string(),
            broker_name: f[5].to_string(),
            queue_id: num(6)? as i32,
            offset: if f.len() > 7 { Some(num(7)?) } else { None },
        })
    }

    pub fn is_order(&self) -> bool {
        self.revive_qid == ORDER_REVIVE_QID
    }
}

impl std::fmt::Display for Receipt {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} {} {} {} {} {} {}",
            self.ck_offset, self.pop_time, self.invisible_time, self.revive_qid, self.retry, self.broker_name, self.queue_id
        )?;
        if let Some(o) = self.offset {
            write!(f, " {o}")?;
        }
        Ok(())
    }
}

/// One pop request, whatever the front end.
#[derive(Clone, Debug)]
pub struct PopRequest {
    pub group: String,
    pub topic: String,
    /// -1: every queue of the topic.
    pub queue_id: i32,
    pub max: usize,
    pub invisible_ms: i64,
    pub order: bool,
    pub filter: Filter,
    /// 0: a new group starts at the queue's first message, 1: at its end (the first when the
    /// queue was never trimmed).
    pub init_mode: i32,
    /// Attempt budget: deliveries beyond `retry_max + 1` go to the DLQ.
    pub retry_max: i32,
}

/// What one pop handed out of one queue.
#[derive(Clone, Debug)]
pub struct Popped {
    /// The queue's topic (the POP retry topic for revived messages).
    pub topic: String,
    pub queue_id: i32,
    /// First offset looked at (the receipts' checkpoint offset).
    pub ck_offset: i64,
    pub offsets: Vec<i64>,
    /// Stored records, ready to send (retry ones carry the original topic and `POP_CK`).
    pub messages: Vec<Bytes>,
    /// FIFO: earlier deliveries of each message (empty otherwise).
    pub attempts: Vec<i32>,
}

/// The answer to a pop.
#[derive(Clone, Debug, Default)]
pub struct PopBatch {
    pub pop_time: i64,
    pub invisible_ms: i64,
    pub revive_qid: i32,
    /// Messages left behind in the queues looked at.
    pub rest: i64,
    pub queues: Vec<Popped>,
}

impl PopBatch {
    pub fn is_empty(&self) -> bool {
        self.queues.iter().all(|q| q.messages.is_empty())
    }

    pub fn count(&self) -> usize {
        self.queues.iter().map(|q| q.messages.len()).sum()
    }

    /// `startOffsetInfo`: `retry queueId ckOffset` per queue, `;`-separated.
    pub fn start_offset_info(&self, group: &str) -> String {
        self.queues
            .iter()
            .map(|q| format!("{} {} {}", retry_mark(group, &q.topic), q.queue_id, q.ck_offset))
            .collect::<Vec<_>>()
            .join(";")
    }

    /// `msgOffsetInfo`: `retry queueId o1,o2,...` per queue.
    pub fn msg_offset_info(&self, group: &str) -> String {
        self.queues
            .iter()
            .map(|q| {
                let offs: Vec<String> = q.offsets.iter().map(|o| o.to_string()).collect();
                format!("{} {} {}", retry_mark(group, &q.topic), q.queue_id, offs.join(","))
            })
            .collect::<Vec<_>>()
            .join(";")
    }

    /// `orderCountInfo` (FIFO): `retry qo<qid>%<offset> attempts` per message, then
    /// `retry qid minAttempts` per queue.
    pub fn order_count_info(&self, group: &str) -> String {
        let mut parts = Vec::new();
        for q in &self.queues {
            let mark = retry_mark(group, &q.topic);
            for (o, a) in q.offsets.iter().zip(&q.attempts) {
                parts.push(format!("{mark} qo{}%{o} {a}", q.queue_id));
            }
            let min = q.attempts.iter().copied().min().unwrap_or(0);
            parts.push(format!("{mark} {} {min}", q.queue_id));
        }
        parts.join(";")
    }

    /// Each message's receipt, in the order of `queues` and their messages.
    pub fn receipts(&self, broker_name: &str, group: &str) -> Vec<Receipt> {
        let mut out = Vec::with_capacity(self.count());
        for q in &self.queues {
            for o in &q.offsets {
                out.push(Receipt {
                    ck_offset: q.ck_offset,
                    pop_time: self.pop_time,
                    invisible_time: self.invisible_ms,
                    revive_qid: self.revive_qid,
                    retry: retry_mark(group, &q.topic).to_string(),
                    broker_name: broker_name.to_string(),
                    queue_id: q.queue_id,
                    offset: Some(*o),
                });
            }
        }
        out
    }
}

/// A change of invisible time: which message (by its receipt's pop time) and for how long.
#[derive(Clone, Debug)]
pub struct ChangeInvisible {
    pub group: String,
    pub topic: String,
    pub queue_id: i32,
    pub offset: i64,
    /// The pop time of the receipt presented.
    pub pop_time: i64,
    pub invisible_ms: i64,
    /// A FIFO receipt (revive queue 999): the pop time is kept.
    pub order: bool,
}

/// Limits of the engine (broker.conf keys, see `docs/pop.md`).
#[derive(Clone, Copy, Debug)]
pub struct PopLimits {
    /// `popInflightMessageThreshold`: in-flight messages per (group, topic, queue) before the
    /// queue stops handing out more.
    pub inflight_per_queue: usize,
}

impl Default for PopLimits {
    fn default() -> Self {
        PopLimits { inflight_per_queue: 10_000 }
    }
}

// --- state ----------------------------------------------------------------------------------

#[derive(Clone, Copy, Debug)]
struct Entry {
    ck: i64,
    pop_time: i64,
    visible_at: i64,
    /// Earlier deliveries (FIFO; normal messages count theirs in `reconsumeTimes`).
    attempts: i32,
    /// Popped with `order` (FIFO): comes back in place, not through the retry topic.
    order: bool,
}

struct PopQueue {
    /// Next offset to hand out; -1 until first known.
    cursor: i64,
    inflight: BTreeMap<i64, Entry>,
    /// No in-flight message is due before this (may be early: then a scan finds nothing).
    next_due: i64,
    /// The consumer offset last written for this queue.
    committed: i64,
}

impl Default for PopQueue {
    fn default() -> Self {
        PopQueue { cursor: -1, inflight: BTreeMap::new(), next_due: i64::MAX, committed: -1 }
    }
}

impl PopQueue {
    /// Offset below which everything is acked (what consumer progress shows).
    fn committed_offset(&self) -> i64 {
        self.inflight.keys().next().copied().unwrap_or(self.cursor).min(self.cursor.max(0))
    }
}

type Key = (String, String, i32);

#[derive(Default)]
struct PopState {
    queues: HashMap<Key, PopQueue>,
    /// Where the next all-queue pop of (group, topic) starts.
    rotation: HashMap<(String, String), usize>,
}

/// A journal record: one change of the state.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
#[serde(tag = "e")]
enum Event {
    /// Messages handed out (offsets `o`, attempts `a` for FIFO), the cursor moved to `c`.
    #[serde(rename = "p")]
    Pop {
        g: String,
        t: String,
        q: i32,
        ck: i64,
        pt: i64,
        v: i64,
        o: Vec<i64>,
        #[serde(default)]
        a: Vec<i32>,
        c: i64,
        #[serde(default)]
        f: bool,
    },
    /// Acks (and revives) of messages popped at `pt`.
    #[serde(rename = "a")]
    Ack { g: String, t: String, q: i32, pt: i64, o: Vec<i64> },
    /// A new invisible time: popped at `pt`, now `npt`, visible again at `v`.
    #[serde(rename = "x")]
    Change { g: String, t: String, q: i32, o: i64, pt: i64, npt: i64, v: i64 },
    /// The cursor moved past messages no one gets (filtered out, or an offset out of range).
    #[serde(rename = "c")]
    Cursor { g: String, t: String, q: i32, c: i64 },
}

impl PopState {
    /// Apply one change; returns how many in-flight messages it removed or changed.
    fn apply(&mut self, ev: &Event) -> usize {
        match ev {
            Event::Pop { g, t, q, ck, pt, v, o, a, c, f } => {
                let pq = self.queues.entry((g.clone(), t.clone(), *q)).or_default();
                for (i, off) in o.iter().enumerate() {
                    let attempts = a.get(i).copied().unwrap_or(0);
                    pq.inflight.insert(*off, Entry { ck: *ck, pop_time: *pt, visible_at: *v, attempts, order: *f });
                }
                pq.cursor = pq.cursor.max(*c);
                if !o.is_empty() {
                    pq.next_due = pq.next_due.min(*v);
                }
                o.len()
            }
            Event::Ack { g, t, q, pt, o } => {
                let Some(pq) = self.queues.get_mut(&(g.clone(), t.clone(), *q)) else { return 0 };
                let mut n = 0;
                for off in o {
                    if pq.inflight.get(off).is_some_and(|e| e.pop_time == *pt) {
                        pq.inflight.remove(off);
                        n += 1;
                    }
                }
                n
            }
            Event::Change { g, t, q, o, pt, npt, v } => {
                let Some(pq) = self.queues.get_mut(&(g.clone(), t.clone(), *q)) else { return 0 };
                match pq.inflight.get_mut(o) {
                    Some(e) if e.pop_time == *pt => {
                        e.pop_time = *npt;
                        e.visible_at = *v;
                        pq.next_due = pq.next_due.min(*v);
                        1
                    }
                    _ => 0,
                }
            }
            Event::Cursor { g, t, q, c } => {
                let pq = self.queues.entry((g.clone(), t.clone(), *q)).or_default();
                pq.cursor = *c;
                0
            }
        }
    }

    /// The live state as records (a journal snapshot).
    fn snapshot(&self) -> Vec<Event> {
        let mut out = Vec::new();
        for ((g, t, q), pq) in &self.queues {
            out.push(Event::Cursor { g: g.clone(), t: t.clone(), q: *q, c: pq.cursor });
            // One record per (pop time, visible time, checkpoint) group of messages.
            // (pop time, visible time, checkpoint, FIFO) -> (offsets, attempts)
            type Slot = (Vec<i64>, Vec<i32>);
            let mut groups: BTreeMap<(i64, i64, i64, bool), Slot> = BTreeMap::new();
            for (o, e) in &pq.inflight {
                let slot = groups.entry((e.pop_time, e.visible_at, e.ck, e.order)).or_default();
                slot.0.push(*o);
                slot.1.push(e.attempts);
            }
            for ((pt, v, ck, f), (o, a)) in groups {
                out.push(Event::Pop { g: g.clone(), t: t.clone(), q: *q, ck, pt, v, o, a, c: pq.cursor, f });
            }
        }
        out
    }
}

/// Is a (group, topic) parked with long polling: counted per (group, topic, queue).
type PollingCounts = HashMap<Key, usize>;

/// The POP engine: state, journal and the count of parked pops.
pub struct PopEngine {
    state: Mutex<PopState>,
    journal: Option<Journal>,
    journal_error: Option<String>,
    polling: Mutex<PollingCounts>,
    pub limits: PopLimits,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl PopEngine {
    /// Open the engine over the store's POP journal (replayed, then compacted).
    pub fn open(store: &MessageStore, limits: PopLimits) -> PopEngine {
        let mut state = PopState::default();
        let (journal, journal_error) = match store.open_pop_journal() {
            Ok((j, lines)) => {
                let mut bad = 0usize;
                for l in &lines {
                    match serde_json::from_slice::<Event>(l) {
                        Ok(ev) => {
                            state.apply(&ev);
                        }
                        Err(_) => bad += 1,
                    }
                }
                if bad > 0 {
                    tracing::warn!(records = bad, "POP journal: unreadable records skipped");
                }
                (Some(j), None)
            }
            Err(e) => {
                tracing::error!(error = %e, "POP journal cannot be opened: POP consumption is refused");
                (None, Some(e.to_string()))
            }
        };
        let engine = PopEngine { state: Mutex::new(state), journal, journal_error, polling: Mutex::default(), limits };
        if let Some(j) = &engine.journal {
            if j.len_bytes() > 0 {
                let st = lock(&engine.state);
                if let Err(e) = engine.compact(&st) {
                    tracing::warn!(error = %e, "POP journal compaction failed");
                }
            }
        }
        engine
    }

    fn compact(&self, st: &PopState) -> Result<(), StoreError> {
        let Some(j) = &self.journal else { return Ok(()) };
        let recs = st.snapshot().into_iter().filter_map(|ev| serde_json::to_vec(&ev).ok());
        j.rewrite(recs)
    }

    /// Journal then apply changes.
    fn commit(&self, st: &mut PopState, events: &[Event]) -> Result<usize, PopError> {
        if events.is_empty() {
            return Ok(0);
        }
        let Some(j) = &self.journal else {
            return Err(PopError::Journal(self.journal_error.clone().unwrap_or_default()));
        };
        let recs: Vec<Vec<u8>> = events.iter().filter_map(|e| serde_json::to_vec(e).ok()).collect();
        let refs: Vec<&[u8]> = recs.iter().map(|r| r.as_slice()).collect();
        j.append(&refs)?;
        Ok(events.iter().map(|e| st.apply(e)).sum())
    }

    /// Messages in flight in one queue, and its pop cursor (-1: never popped).
    pub fn inflight(&self, group: &str, topic: &str, queue_id: i32) -> (usize, i64) {
        let st = lock(&self.state);
        st.queues.get(&(group.into(), topic.into(), queue_id)).map(|q| (q.inflight.len(), q.cursor)).unwrap_or((0, -1))
    }

    /// Messages in flight per (group, topic), every queue summed (one lock for a metrics scrape).
    pub fn inflight_by_group_topic(&self) -> HashMap<(String, String), usize> {
        let st = lock(&self.state);
        let mut out: HashMap<(String, String), usize> = HashMap::new();
        for ((g, t, _), q) in &st.queues {
            if !q.inflight.is_empty() {
                *out.entry((g.clone(), t.clone())).or_default() += q.inflight.len();
            }
        }
        out
    }

    /// Messages in flight in every queue.
    pub fn inflight_total(&self) -> usize {
        lock(&self.state).queues.values().map(|q| q.inflight.len()).sum()
    }

    /// Long-polling pops parked for (group, topic, queue): add `delta`.
    pub fn polling_add(&self, group: &str, topic: &str, queue_id: i32, delta: isize) {
        let mut m = lock(&self.polling);
        let key = (group.to_string(), topic.to_string(), queue_id);
        let n = m.entry(key.clone()).or_insert(0);
        *n = (*n as isize + delta).max(0) as usize;
        if *n == 0 {
            m.remove(&key);
        }
    }

    pub fn polling(&self, group: &str, topic: &str, queue_id: i32) -> usize {
        lock(&self.polling).get(&(group.to_string(), topic.to_string(), queue_id)).copied().unwrap_or(0)
    }

    pub fn polling_total(&self) -> usize {
        lock(&self.polling).values().sum()
    }
}

// --- pop ------------------------------------------------------------------------------------

fn queue_offset_of(record: &[u8]) -> i64 {
    record
        .get(QUEUE_OFFSET_POS..QUEUE_OFFSET_POS + 8)
        .and_then(|b| b.try_into().ok())
        .map(i64::from_be_bytes)
        .unwrap_or(-1)
}

/// Start offset of a queue never popped by this group.
fn initial_offset(store: &MessageStore, group: &str, topic: &str, queue_id: i32, init_mode: i32) -> i64 {
    if let Some(o) = store.meta().consumer_offset(group, topic, queue_id).filter(|o| *o >= 0) {
        return o;
    }
    let min = store.min_offset(topic, queue_id);
    if init_mode == 0 || topic.starts_with(RETRY_PREFIX) || min <= 0 {
        min
    } else {
        store.max_offset(topic, queue_id)
    }
}

/// One message of a queue, read by offset.
pub(crate) fn read_one(store: &MessageStore, topic: &str, queue_id: i32, offset: i64) -> Option<Bytes> {
    let r = store.get(topic, queue_id, offset, 1, MAX_POP_BYTES, &|_| true);
    (r.status == GetStatus::Found).then(|| r.messages.into_iter().next()).flatten().filter(|m| queue_offset_of(m) == offset)
}

/// A record of a retry topic as its consumer sees it: the original topic, and its receipt.
fn as_popped_from_retry(raw: &Bytes, origin: &str, receipt: &Receipt) -> Bytes {
    let Ok((m, _)) = decode_stored(raw) else { return raw.clone() };
    let mut props = parse_properties(&m.properties);
    if props.get(PROP_POP_CK).is_none() {
        props.insert(PROP_POP_CK, receipt.to_string());
    }
    let mut out = BytesMut::new();
    encode_stored_with(&m, &m.body, origin, &props.encode(), &mut out);
    out.freeze()
}

impl Core {
    /// Pop for `req` at `now` (ms).
    pub fn pop(&self, req: &PopRequest, now: i64) -> Result<PopBatch, PopError> {
        let engine = &self.pop;
        let mut batch = PopBatch {
            pop_time: now,
            invisible_ms: req.invisible_ms,
            revive_qid: if req.order { ORDER_REVIVE_QID } else { 0 },
            rest: 0,
            queues: Vec::new(),
        };
        let max = req.max.clamp(1, MAX_POP_NUMS);
        let queue_nums = self.topics.get(&req.topic).map(|t| t.read_queue_nums).unwrap_or(0).max(0);
        let mut st = lock(&engine.state);
        let mut events = Vec::new();
        // Retry messages of the group first (never for FIFO: its messages come back in place).
        if !req.order {
            let retry = retry_topic(&req.group, &req.topic);
            if self.store.max_offset(&retry, 0) > 0 {
                self.pop_queue(&mut st, req, &retry, 0, max, now, &mut batch, &mut events)?;
            }
        }
        let queues: Vec<i32> = if req.queue_id >= 0 {
            vec![req.queue_id]
        } else {
            let start = {
                let r = st.rotation.entry((req.group.clone(), req.topic.clone())).or_insert(0);
                let s = *r;
                *r = r.wrapping_add(1);
                s
            };
            (0..queue_nums).map(|i| ((start + i as usize) % queue_nums as usize) as i32).collect()
        };
        for qid in queues {
            let left = max - batch.count();
            if left == 0 {
                let cursor = st.queues.get(&(req.group.clone(), req.topic.clone(), qid)).map(|q| q.cursor).unwrap_or(0);
                batch.rest += (self.store.max_offset(&req.topic, qid) - cursor.max(0)).max(0);
                continue;
            }
            self.pop_queue(&mut st, req, &req.topic, qid, left, now, &mut batch, &mut events)?;
        }
        drop(st);
        self.pop_commit_offsets(req.group.as_str(), &batch);
        for q in &batch.queues {
            let bytes: usize = q.messages.iter().map(|m| m.len()).sum();
            self.stats.handed_out(&req.group, &req.topic, q.messages.len() as u64, bytes as u64);
        }
        Ok(batch)
    }

    /// Pop from one queue into `batch`.
    #[allow(clippy::too_many_arguments)]
    fn pop_queue(
        &self,
        st: &mut PopState,
        req: &PopRequest,
        topic: &str,
        qid: i32,
        max: usize,
        now: i64,
        batch: &mut PopBatch,
        events: &mut Vec<Event>,
    ) -> Result<(), PopError> {
        let engine = &self.pop;
        let key: Key = (req.group.clone(), topic.to_string(), qid);
        let store = &self.store;
        let (cursor, blocked_until, redeliver, inflight_n) = {
            let pq = st.queues.entry(key.clone()).or_default();
            if pq.cursor < 0 {
                pq.cursor = initial_offset(store, &req.group, topic, qid, req.init_mode);
            }
            // Only FIFO needs the latest visible time (a scan of the queue's in-flight entries,
            // which FIFO keeps few: nothing new is handed out while any is in flight).
            let blocked = if req.order { pq.inflight.values().map(|e| e.visible_at).max() } else { None };
            let redeliver: Vec<(i64, Entry)> =
                if req.order { pq.inflight.iter().take(max).map(|(o, e)| (*o, *e)).collect() } else { Vec::new() };
            (pq.cursor, blocked, redeliver, pq.inflight.len())
        };
        let visible_at = now.saturating_add(req.invisible_ms.max(0));
        let max_offset = store.max_offset(topic, qid);
        if req.order && inflight_n > 0 {
            // FIFO: nothing new while messages are in flight; once visible again they come back
            // in place (those past their attempt budget are left to the revive, which moves them
            // to the DLQ).
            if blocked_until.unwrap_or(0) > now {
                return Ok(());
            }
            let mut offsets = Vec::new();
            let mut attempts = Vec::new();
            let mut messages = Vec::new();
            for (o, e) in redeliver {
                if e.attempts >= req.retry_max {
                    break;
                }
                let Some(raw) = read_one(store, topic, qid, o) else { break };
                if !matches_message(&req.filter, &raw) {
                    break;
                }
                offsets.push(o);
                attempts.push(e.attempts + 1);
                messages.push(raw);
            }
            if offsets.is_empty() {
                return Ok(());
            }
            let ev = Event::Pop {
                g: req.group.clone(),
                t: topic.to_string(),
                q: qid,
                ck: offsets[0],
                pt: now,
                v: visible_at,
                o: offsets.clone(),
                a: attempts.clone(),
                c: cursor,
                f: true,
            };
            engine.commit(st, std::slice::from_ref(&ev))?;
            events.push(ev);
            batch.rest += (max_offset - cursor).max(0);
            batch.queues.push(Popped { topic: topic.to_string(), queue_id: qid, ck_offset: offsets[0], offsets, messages, attempts });
            return Ok(());
        }
        if inflight_n >= engine.limits.inflight_per_queue {
            batch.rest += (max_offset - cursor).max(0);
            return Ok(());
        }
        let max = max.min(engine.limits.inflight_per_queue - inflight_n);
        let filter = &req.filter;
        let mut from = cursor;
        let mut res = store.get(topic, qid, from, max, MAX_POP_BYTES, &|code| filter.matches(code, None));
        if matches!(res.status, GetStatus::OffsetTooSmall | GetStatus::OffsetOverflowBadly) {
            from = res.next_begin_offset;
            res = store.get(topic, qid, from, max, MAX_POP_BYTES, &|code| filter.matches(code, None));
        }
        let mut messages = res.messages;
        if let Filter::Sql(_) = filter {
            messages.retain(|m| matches_message(filter, m));
        }
        let next = res.next_begin_offset.max(from);
        batch.rest += (res.max_offset - next).max(0);
        if messages.is_empty() {
            if next != cursor && res.status != GetStatus::NoMatchedLogicQueue {
                let ev = Event::Cursor { g: req.group.clone(), t: topic.to_string(), q: qid, c: next };
                engine.commit(st, std::slice::from_ref(&ev))?;
                events.push(ev);
            }
            return Ok(());
        }
        let offsets: Vec<i64> = messages.iter().map(|m| queue_offset_of(m)).collect();
        let ev = Event::Pop {
            g: req.group.clone(),
            t: topic.to_string(),
            q: qid,
            ck: from,
            pt: now,
            v: visible_at,
            o: offsets.clone(),
            a: Vec::new(),
            c: next,
            f: req.order,
        };
        engine.commit(st, std::slice::from_ref(&ev))?;
        events.push(ev);
        let is_retry = topic != req.topic;
        if is_retry {
            let mark = retry_mark(&req.group, topic).to_string();
            messages = messages
                .iter()
                .zip(&offsets)
                .map(|(m, o)| {
                    let r = Receipt {
                        ck_offset: from,
                        pop_time: now,
                        invisible_time: req.invisible_ms,
                        revive_qid: batch.revive_qid,
                        retry: mark.clone(),
                        broker_name: self.identity.broker_name.clone(),
                        queue_id: qid,
                        offset: Some(*o),
                    };
                    as_popped_from_retry(m, &req.topic, &r)
                })
                .collect();
        }
        let attempts = if req.order { vec![0; offsets.len()] } else { Vec::new() };
        batch.queues.push(Popped { topic: topic.to_string(), queue_id: qid, ck_offset: from, offsets, messages, attempts });
        Ok(())
    }

    /// Keep the group's consumer offsets (what consumer progress shows) at the first un-acked
    /// message of each queue touched.
    fn pop_commit_offsets(&self, group: &str, batch: &PopBatch) {
        let keys: Vec<(String, i32)> = batch.queues.iter().map(|q| (q.topic.clone(), q.queue_id)).collect();
        for (t, q) in keys {
            self.pop_commit_offset(group, &t, q);
        }
    }

    fn pop_commit_offset(&self, group: &str, topic: &str, queue_id: i32) {
        let offset = {
            let mut st = lock(&self.pop.state);
            let Some(pq) = st.queues.get_mut(&(group.to_string(), topic.to_string(), queue_id)) else { return };
            let c = pq.committed_offset();
            if c == pq.committed {
                return;
            }
            pq.committed = c;
            c
        };
        if let Err(e) = self.store.meta().set_consumer_offset(group, topic, queue_id, offset) {
            tracing::warn!(error = %e, "failed to store a POP consumer offset");
        }
    }

    /// Whether a pop for `req` would find something now (NOTIFICATION; filters not applied).
    pub fn pop_has_message(&self, req: &PopRequest, now: i64) -> bool {
        let st = lock(&self.pop.state);
        let ready = |topic: &str, qid: i32| {
            let key = (req.group.clone(), topic.to_string(), qid);
            match st.queues.get(&key) {
                Some(pq) if req.order && !pq.inflight.is_empty() => pq.inflight.values().all(|e| e.visible_at <= now),
                Some(pq) if pq.cursor >= 0 => self.store.max_offset(topic, qid) > pq.cursor,
                _ => self.store.max_offset(topic, qid) > initial_offset(&self.store, &req.group, topic, qid, req.init_mode),
            }
        };
        if !req.order && ready(&retry_topic(&req.group, &req.topic), 0) {
            return true;
        }
        if req.queue_id >= 0 {
            return ready(&req.topic, req.queue_id);
        }
        let n = self.topics.get(&req.topic).map(|t| t.read_queue_nums).unwrap_or(0);
        (0..n).any(|q| ready(&req.topic, q))
    }

    // --- ack, change --------------------------------------------------------------------------

    /// Ack messages of one queue: (offset, pop time of the receipt). Returns how many were in
    /// flight with that receipt (stale receipts count 0 and change nothing).
    pub fn pop_ack(&self, group: &str, topic: &str, queue_id: i32, acks: &[(i64, i64)]) -> Result<usize, PopError> {
        let mut by_time: BTreeMap<i64, Vec<i64>> = BTreeMap::new();
        for (o, pt) in acks {
            by_time.entry(*pt).or_default().push(*o);
        }
        let events: Vec<Event> = by_time
            .into_iter()
            .map(|(pt, o)| Event::Ack { g: group.to_string(), t: topic.to_string(), q: queue_id, pt, o })
            .collect();
        let n = {
            let mut st = lock(&self.pop.state);
            let key = (group.to_string(), topic.to_string(), queue_id);
            // Nothing to journal for a queue this broker never popped.
            if !st.queues.contains_key(&key) {
                return Ok(0);
            }
            self.pop.commit(&mut st, &events)?
        };
        if n > 0 {
            self.pop_commit_offset(group, topic, queue_id);
            // A FIFO queue may be free again.
            self.wake_pops(vec![origin_topic(group, topic).to_string()]);
        }
        Ok(n)
    }

    /// Give a message a new invisible time (from `now`). Returns the new pop time and the
    /// invisible time of the new receipt, or `None` when the receipt is stale (no effect).
    pub fn pop_change_invisible(&self, c: &ChangeInvisible, now: i64) -> Result<Option<(i64, i64)>, PopError> {
        let ChangeInvisible { group, topic, queue_id, offset, pop_time, invisible_ms, order } = c;
        let (group, topic, queue_id, offset, pop_time, invisible_ms, order) =
            (group.as_str(), topic.as_str(), *queue_id, *offset, *pop_time, *invisible_ms, *order);
        let mut st = lock(&self.pop.state);
        let key = (group.to_string(), topic.to_string(), queue_id);
        let Some(e) = st.queues.get(&key).and_then(|q| q.inflight.get(&offset)).copied() else { return Ok(None) };
        if e.pop_time != pop_time {
            return Ok(None);
        }
        let visible = now.saturating_add(invisible_ms.max(0));
        // FIFO keeps its pop time (the client's attempt bookkeeping hangs on it).
        let new_pt = if order { pop_time } else { now.max(pop_time + 1) };
        let ev = Event::Change { g: group.into(), t: topic.into(), q: queue_id, o: offset, pt: pop_time, npt: new_pt, v: visible };
        self.pop.commit(&mut st, &[ev])?;
        Ok(Some((new_pt, visible - new_pt)))
    }

    // --- revive ---------------------------------------------------------------------------------

    /// Bring back what was not acked in time: un-acked normal messages go to the group's retry
    /// topic (or the DLQ), FIFO messages become visible in place (or go to the DLQ). Returns the
    /// topics whose parked pops should look again. `retry_max(group)` is the group's budget.
    pub fn pop_revive(&self, now: i64, retry_max: &dyn Fn(&str) -> i32) -> Vec<String> {
        struct Due {
            key: Key,
            offset: i64,
            entry: Entry,
        }
        let mut due = Vec::new();
        let mut fifo_ready = Vec::new();
        {
            let mut st = lock(&self.pop.state);
            for (key, pq) in st.queues.iter_mut() {
                if pq.next_due > now {
                    continue;
                }
                let budget = retry_max(&key.0);
                let mut next = i64::MAX;
                for (o, e) in pq.inflight.iter_mut() {
                    if e.visible_at > now {
                        next = next.min(e.visible_at);
                        continue;
                    }
                    if e.order && e.attempts < budget {
                        fifo_ready.push(origin_topic(&key.0, &key.1).to_string());
                        continue;
                    }
                    due.push(Due { key: key.clone(), offset: *o, entry: *e });
                    // Not picked twice while it is moved (outside the lock).
                    e.visible_at = i64::MAX;
                }
                pq.next_due = next;
            }
        }
        let mut wake = fifo_ready;
        for d in due {
            let (g, t, q) = &d.key;
            let budget = retry_max(g);
            match self.revive_one(g, t, *q, d.offset, &d.entry, budget) {
                Ok(()) => {
                    let ev = Event::Ack { g: g.clone(), t: t.clone(), q: *q, pt: d.entry.pop_time, o: vec![d.offset] };
                    let mut st = lock(&self.pop.state);
                    if let Err(e) = self.pop.commit(&mut st, &[ev]) {
                        tracing::warn!(error = %e, "POP revive: ack not journaled");
                    }
                    drop(st);
                    self.pop_commit_offset(g, t, *q);
                    wake.push(origin_topic(g, t).to_string());
                }
                Err(e) => {
                    tracing::warn!(group = %g, topic = %t, queue = q, offset = d.offset, error = %e, "POP revive failed; retried later");
                    let mut st = lock(&self.pop.state);
                    if let Some(pq) = st.queues.get_mut(&d.key) {
                        if let Some(en) = pq.inflight.get_mut(&d.offset) {
                            en.visible_at = now + 1000;
                            pq.next_due = pq.next_due.min(now + 1000);
                        }
                    }
                }
            }
        }
        // Keep the journal bounded.
        if self.pop.journal.as_ref().is_some_and(|j| j.len_bytes() > JOURNAL_COMPACT_BYTES) {
            let st = lock(&self.pop.state);
            if let Err(e) = self.pop.compact(&st) {
                tracing::warn!(error = %e, "POP journal compaction failed");
            }
        }
        wake.sort();
        wake.dedup();
        wake
    }

    /// Store one un-acked message again: retry topic, or DLQ past its budget.
    fn revive_one(&self, group: &str, topic: &str, qid: i32, offset: i64, e: &Entry, budget: i32) -> Result<(), PopError> {
        let Some(raw) = read_one(&self.store, topic, qid, offset) else {
            // Gone (retention): nothing to bring back.
            return Ok(());
        };
        let (m, _) = decode_stored(&raw).map_err(|e| PopError::Store(e.to_string()))?;
        let origin = origin_topic(group, topic).to_string();
        let mut props = parse_properties(&m.properties);
        props.remove(PROP_POP_CK);
        if props.get(PROP_FIRST_POP_TIME).is_none() {
            props.insert(PROP_FIRST_POP_TIME, e.pop_time.to_string());
        }
        if props.get(prop::ORIGIN_MESSAGE_ID).is_none() {
            props.insert(prop::ORIGIN_MESSAGE_ID, offset_msg_id(m.store_host, m.commit_log_offset));
        }
        if props.get(prop::RETRY_TOPIC).is_none() {
            props.insert(prop::RETRY_TOPIC, origin.as_str());
        }
        let delivered = if e.order { e.attempts } else { m.reconsume_times };
        let (dest, reconsume) = if delivered >= budget {
            let dlq = format!("{DLQ_PREFIX}{group}");
            self.ensure_topic(&dlq, 1);
            tracing::info!(group, topic = %origin, offset, deliveries = delivered + 1, "POP message moved to the dead-letter queue");
            self.stats.to_dlq(group);
            (dlq, delivered)
        } else {
            let retry = retry_topic(group, &origin);
            self.ensure_topic(&retry, 1);
            (retry, m.reconsume_times + 1)
        };
        let mut msg = super::message::restore(&m, dest, 0, &props);
        msg.reconsume_times = reconsume;
        msg.prepared_transaction_offset = 0;
        self.append(vec![msg]).map_err(|e| PopError::Store(e.to_string()))?;
        Ok(())
    }
}

fn matches_message(filter: &Filter, raw: &[u8]) -> bool {
    match filter {
        Filter::All => true,
        _ => match decode_stored(raw) {
            Ok((m, _)) => {
                let props = parse_properties(&m.properties);
                let code = props.get(prop::TAGS).map(crate::codec::message::tag_hash_code).unwrap_or(0);
                filter.matches(code, Some(&m.properties))
            }
            Err(_) => true,
        },
    }
}

/// How a parked pop is answered.
pub enum PopAnswer {
    Batch(PopBatch),
    /// NOTIFICATION: whether a message is there.
    Notified(bool),
    Failed(PopError),
}

/// The front end's way back to a parked pop's client.
pub trait PopReply: Send {
    fn answer(self: Box<Self>, a: PopAnswer);
    fn alive(&self) -> bool;
}

/// A pop (or NOTIFICATION) waiting for a message.
pub struct ParkedPop {
    pub req: PopRequest,
    pub notify_only: bool,
    pub deadline: Instant,
    pub reply: Box<dyn PopReply>,
}

impl Core {
    /// Hold a pop until a message arrives in its topic (or its deadline passes); false when it
    /// cannot be parked (not wired).
    pub fn park_pop(&self, p: Box<ParkedPop>) -> bool {
        match self.hooks.get() {
            Some(h) => {
                self.pop.polling_add(&p.req.group, &p.req.topic, p.req.queue_id, 1);
                self.waiters.add(&p.req.topic, -1);
                h.park_pop(p);
                true
            }
            None => false,
        }
    }

    /// A parked pop leaves (answered or dropped).
    pub fn unpark_pop(&self, req: &PopRequest) {
        self.pop.polling_add(&req.group, &req.topic, req.queue_id, -1);
        self.waiters.remove(&req.topic, -1);
    }

    /// Parked pops of these topics should look again (revive, ack of a FIFO message).
    pub fn wake_pops(&self, topics: Vec<String>) {
        if topics.is_empty() || self.pop.polling_total() == 0 {
            return;
        }
        if let Some(h) = self.hooks.get() {
            h.wake_pops(topics);
        }
    }

    /// Answer a parked pop now, or hand it back to keep waiting (`Err(p)`).
    pub fn try_answer_pop(&self, p: Box<ParkedPop>, now: i64, deadline_passed: bool) -> Result<(), Box<ParkedPop>> {
        let answer = if p.notify_only {
            let has = self.pop_has_message(&p.req, now);
            if !has && !deadline_passed {
                return Err(p);
            }
            PopAnswer::Notified(has)
        } else {
            match self.pop(&p.req, now) {
                Ok(b) if b.is_empty() && !deadline_passed => return Err(p),
                Ok(b) => PopAnswer::Batch(b),
                Err(e) => PopAnswer::Failed(e),
            }
        };
        let ParkedPop { req, reply, .. } = *p;
        self.unpark_pop(&req);
        reply.answer(answer);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codec::message::Properties;
    use crate::core::tests::{message, test_core};
    use crate::store::FlushMode;

    fn req(group: &str, order: bool) -> PopRequest {
        PopRequest {
            group: group.into(),
            topic: "T".into(),
            queue_id: 0,
            max: 32,
            invisible_ms: 500,
            order,
            filter: Filter::All,
            init_mode: 0,
            retry_max: 2,
        }
    }

    fn send(core: &Core, n: usize) {
        for i in 0..n {
            core.append(vec![message("T", 0, &format!("m{i}"), &Properties::new())]).unwrap();
        }
    }

    fn bodies(b: &PopBatch) -> Vec<String> {
        b.queues
            .iter()
            .flat_map(|q| q.messages.iter())
            .map(|m| String::from_utf8_lossy(&decode_stored(m).unwrap().0.body).into_owned())
            .collect()
    }

    #[test]
    fn pop_ack_revive_with_time_passed_in() {
        let dir = tempfile::tempdir().unwrap();
        let core = test_core(dir.path(), FlushMode::Async);
        send(&core, 3);
        let b = core.pop(&req("g", false), 1_000).unwrap();
        assert_eq!(bodies(&b), ["m0", "m1", "m2"]);
        assert_eq!(b.msg_offset_info("g"), "0 0 0,1,2");
        assert_eq!(b.start_offset_info("g"), "0 0 0");
        assert!(core.pop(&req("g", false), 1_001).unwrap().is_empty(), "invisible messages are not handed out again");
        assert_eq!(core.pop_ack("g", "T", 0, &[(1, 1_000)]).unwrap(), 1);
        assert_eq!(core.pop_ack("g", "T", 0, &[(2, 999)]).unwrap(), 0, "a stale receipt acks nothing");
        assert!(core.pop_revive(1_400, &|_| 16).is_empty(), "nothing due before the invisible time ends");
        assert_eq!(core.pop_revive(1_600, &|_| 16), ["T"]);
        let again = core.pop(&req("g", false), 1_700).unwrap();
        assert_eq!(bodies(&again), ["m0", "m2"]);
        assert_eq!(again.queues[0].topic, retry_topic("g", "T"));
        let m = decode_stored(&again.queues[0].messages[0]).unwrap().0;
        assert_eq!((m.topic.as_str(), m.reconsume_times), ("T", 1));
        let ck = parse_properties(&m.properties).get(PROP_POP_CK).map(String::from).unwrap();
        assert!(Receipt::parse(&ck).unwrap().retry == "1");
        // The consumer offset of the normal queue is past everything now (all acked or moved).
        assert_eq!(core.store.meta().consumer_offset("g", "T", 0), Some(3));
    }

    #[test]
    fn deliveries_past_the_budget_go_to_the_dlq() {
        let dir = tempfile::tempdir().unwrap();
        let core = test_core(dir.path(), FlushMode::Async);
        send(&core, 1);
        let mut now = 10_000;
        for attempt in 0..=2 {
            let b = core.pop(&req("g", false), now).unwrap();
            assert_eq!(b.count(), 1, "delivery {attempt}");
            now += 1_000;
            core.pop_revive(now, &|_| 2);
        }
        assert!(core.pop(&req("g", false), now + 1).unwrap().is_empty());
        assert_eq!(core.store.max_offset("%DLQ%g", 0), 1);
    }

    #[test]
    fn fifo_blocks_then_redelivers_in_place() {
        let dir = tempfile::tempdir().unwrap();
        let core = test_core(dir.path(), FlushMode::Async);
        send(&core, 3);
        let mut r = req("g", true);
        r.max = 2;
        let b = core.pop(&r, 1_000).unwrap();
        assert_eq!(bodies(&b), ["m0", "m1"]);
        assert_eq!(b.revive_qid, ORDER_REVIVE_QID);
        core.pop_ack("g", "T", 0, &[(1, 1_000)]).unwrap();
        assert!(core.pop(&r, 1_200).unwrap().is_empty(), "blocked while m0 is in flight");
        let again = core.pop(&r, 1_600).unwrap();
        assert_eq!(bodies(&again), ["m0"]);
        assert_eq!(again.order_count_info("g"), "0 qo0%0 1;0 0 1");
        core.pop_ack("g", "T", 0, &[(0, 1_600)]).unwrap();
        assert_eq!(bodies(&core.pop(&r, 1_700).unwrap()), ["m2"]);
    }

    #[test]
    fn state_survives_reopen_and_compaction() {
        let dir = tempfile::tempdir().unwrap();
        {
            let core = test_core(dir.path(), FlushMode::Async);
            send(&core, 4);
            core.pop(&req("g", false), 1_000).unwrap();
            core.pop_ack("g", "T", 0, &[(0, 1_000), (2, 1_000)]).unwrap();
            let c = ChangeInvisible {
                group: "g".into(),
                topic: "T".into(),
                queue_id: 0,
                offset: 3,
                pop_time: 1_000,
                invisible_ms: 5_000,
                order: false,
            };
            core.pop_change_invisible(&c, 1_100).unwrap().unwrap();
        }
        // Reopen (the journal is replayed, then compacted).
        let core = test_core(dir.path(), FlushMode::Async);
        assert_eq!(core.pop.inflight("g", "T", 0), (2, 4));
        core.pop_revive(2_000, &|_| 16);
        assert_eq!(bodies(&core.pop(&req("g", false), 2_100).unwrap()), ["m1"], "only m1 is due; m3 was extended");
        drop(core);
        let core = test_core(dir.path(), FlushMode::Async);
        assert_eq!(core.pop.inflight("g", "T", 0), (1, 4), "m3 still in flight after a second reopen");
    }

    #[test]
    fn in_flight_cap_stops_a_queue() {
        let dir = tempfile::tempdir().unwrap();
        let mut core = test_core(dir.path(), FlushMode::Async);
        core.pop.limits.inflight_per_queue = 2;
        send(&core, 5);
        assert_eq!(core.pop(&req("g", false), 1).unwrap().count(), 2);
        let b = core.pop(&req("g", false), 2).unwrap();
        assert!(b.is_empty());
        assert_eq!(b.rest, 3, "the backlog is reported");
        core.pop_ack("g", "T", 0, &[(0, 1)]).unwrap();
        assert_eq!(core.pop(&req("g", false), 3).unwrap().count(), 1);
    }

    #[test]
    fn receipts_round_trip() {
        let r = Receipt::parse("12 1700000000000 60000 0 1 broker-a 3 15").unwrap();
        assert_eq!(r.to_string(), "12 1700000000000 60000 0 1 broker-a 3 15");
        assert!(Receipt::parse("1 2 3").is_err());
        assert!(Receipt::parse("a b c d e f g").is_err());
        assert_eq!(origin_topic("g", "%RETRY%g_T"), "T");
        assert_eq!(topic_of_mark("g", "T", "2"), "%RETRY%g+T");
    }
}
