//! Traffic counters for metrics: messages and bytes stored per topic (with the message size
//! histogram per message type), handed out per (group, topic), moved to the dead-letter queue per
//! group, and the remoting RPC latency histogram per (request code, response code). Cheap on the
//! hot path: a read lock and a few atomic adds per append or request once its key is known.
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};

#[derive(Default)]
pub struct Counter2 {
    pub msgs: AtomicU64,
    pub bytes: AtomicU64,
}

impl Counter2 {
    fn add(&self, msgs: u64, bytes: u64) {
        self.msgs.fetch_add(msgs, Ordering::Relaxed);
        self.bytes.fetch_add(bytes, Ordering::Relaxed);
    }
    fn get(&self) -> (u64, u64) {
        (self.msgs.load(Ordering::Relaxed), self.bytes.load(Ordering::Relaxed))
    }
}

/// Counted on every send (by topic, by request and response code): hashed with foldhash, not
/// SipHash (~4 % of a send's instructions); the keys are stored topics and codes the broker answered.
type Table<K, V = Counter2> = RwLock<HashMap<K, Arc<V>, foldhash::fast::RandomState>>;

/// Upper bounds of `rocketmq_message_size` (bytes), as RocketMQ 5: 1 KiB, 4 KiB, 512 KiB, 1, 2, 4 MiB.
pub const MESSAGE_SIZE_BOUNDS: [f64; 6] = [1024.0, 4096.0, 524_288.0, 1_048_576.0, 2_097_152.0, 4_194_304.0];
/// Upper bounds of `rocketmq_rpc_latency` (ms), as RocketMQ 5.
pub const RPC_LATENCY_BOUNDS: [f64; 9] = [1.0, 3.0, 5.0, 7.0, 10.0, 100.0, 1000.0, 2000.0, 3000.0];

/// A fixed-bucket histogram: per-bucket counts (the last one above every bound) and the sum.
pub struct Hist<const N: usize> {
    buckets: [AtomicU64; N],
    sum: AtomicU64,
}

impl<const N: usize> Default for Hist<N> {
    fn default() -> Self {
        Hist { buckets: std::array::from_fn(|_| AtomicU64::new(0)), sum: AtomicU64::new(0) }
    }
}

impl<const N: usize> Hist<N> {
    fn observe(&self, bounds: &[f64], v: u64) {
        let i = bounds.iter().position(|b| v as f64 <= *b).unwrap_or(N - 1);
        self.buckets[i].fetch_add(1, Ordering::Relaxed);
        self.sum.fetch_add(v, Ordering::Relaxed);
    }
    /// (sum, count, counts per bucket: one per bound, the last one above them all).
    pub fn snapshot(&self) -> HistSnapshot {
        let counts: Vec<u64> = self.buckets.iter().map(|b| b.load(Ordering::Relaxed)).collect();
        (self.sum.load(Ordering::Relaxed), counts.iter().sum(), counts)
    }
}

/// RocketMQ 5's message types (label `message_type`, lower case as `TopicMessageType.getMetricsValue`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum MessageType {
    Normal,
    Fifo,
    Delay,
    Transaction,
}

impl MessageType {
    pub const ALL: [MessageType; 4] = [MessageType::Normal, MessageType::Fifo, MessageType::Delay, MessageType::Transaction];
    pub fn as_str(self) -> &'static str {
        match self {
            MessageType::Normal => "normal",
            MessageType::Fifo => "fifo",
            MessageType::Delay => "delay",
            MessageType::Transaction => "transaction",
        }
    }
}

/// Per stored topic: messages, bytes, and body sizes per message type.
#[derive(Default)]
pub struct TopicTraffic {
    count: Counter2,
    sizes: [Hist<7>; 4],
}

type RpcKey = (i32, i32, &'static str);

/// A histogram read out: (sum, count, counts per bucket).
pub type HistSnapshot = (u64, u64, Vec<u64>);

/// Whether stored properties carry a message group (`__SHARDINGKEY`); the searcher is built once.
fn is_fifo(properties: &str) -> bool {
    static GROUP: std::sync::LazyLock<memchr::memmem::Finder<'static>> = std::sync::LazyLock::new(|| memchr::memmem::Finder::new("__SHARDINGKEY\u{1}"));
    GROUP.find(properties.as_bytes()).is_some()
}

/// A message's type as RocketMQ 5 labels it: a transaction half, a delayed or timed message (held
/// in the schedule or timer topic), a FIFO message (a message group, `__SHARDINGKEY`), or normal.
pub fn message_type(m: &crate::store::NewMessage) -> MessageType {
    use crate::codec::message::sys_flag::{TRANSACTION_MASK, TRANSACTION_PREPARED};
    if m.sys_flag & TRANSACTION_MASK == TRANSACTION_PREPARED {
        MessageType::Transaction
    } else if m.topic == super::topics::SCHEDULE_TOPIC || m.topic == super::redirect::TIMER_TOPIC {
        MessageType::Delay
    } else if is_fifo(&m.properties) {
        MessageType::Fifo
    } else {
        MessageType::Normal
    }
}

/// The counters (never reset while the broker runs).
#[derive(Default)]
pub struct Stats {
    stored: Table<String, TopicTraffic>,
    rpc: Table<RpcKey, Hist<10>>,
    out: Table<(String, String)>,
    dlq: Table<String>,
}

/// The entry under `key`, made the first time (the key is copied only then).
fn entry<K, Q, V: Default>(t: &Table<K, V>, key: &Q) -> Option<Arc<V>>
where
    K: std::hash::Hash + Eq + std::borrow::Borrow<Q>,
    Q: std::hash::Hash + Eq + ToOwned<Owned = K> + ?Sized,
{
    if let Some(c) = t.read().ok().and_then(|m| m.get(key).cloned()) {
        return Some(c);
    }
    t.write().ok().map(|mut m| m.entry(key.to_owned()).or_default().clone())
}

/// Count under `key`.
fn add<K, Q>(t: &Table<K>, key: &Q, msgs: u64, bytes: u64)
where
    K: std::hash::Hash + Eq + std::borrow::Borrow<Q>,
    Q: std::hash::Hash + Eq + ToOwned<Owned = K> + ?Sized,
{
    if let Some(c) = entry(t, key) {
        c.add(msgs, bytes);
    }
}

fn snapshot<K: Clone>(t: &Table<K>) -> Vec<(K, u64, u64)> {
    t.read().map(|m| m.iter().map(|(k, c)| {
        let (a, b) = c.get();
        (k.clone(), a, b)
    }).collect()).unwrap_or_default()
}

impl Stats {
    /// Messages stored on `topic` (every append: sends, retries, deliveries of delayed messages):
    /// their count, record bytes, and body sizes (of type `mtype`).
    pub fn stored(&self, topic: &str, msgs: u64, bytes: u64, mtype: MessageType, body_sizes: impl Iterator<Item = usize>) {
        if let Some(t) = entry(&self.stored, topic) {
            t.count.add(msgs, bytes);
            let h = &t.sizes[mtype as usize];
            for n in body_sizes {
                h.observe(&MESSAGE_SIZE_BOUNDS, n as u64);
            }
        }
    }

    /// One remoting request answered (`result`: "success" or "oneway") after `ms`.
    pub fn rpc(&self, request_code: i32, response_code: i32, result: &'static str, ms: u64) {
        if let Some(h) = entry(&self.rpc, &(request_code, response_code, result)) {
            h.observe(&RPC_LATENCY_BOUNDS, ms);
        }
    }

    /// ((topic, type), (sum, count, buckets)) of every size histogram with samples.
    pub fn message_sizes(&self) -> Vec<((String, MessageType), HistSnapshot)> {
        let m = self.stored.read().map(|m| m.iter().map(|(k, v)| (k.clone(), v.clone())).collect::<Vec<_>>()).unwrap_or_default();
        m.into_iter()
            .flat_map(|(t, v)| MessageType::ALL.into_iter().map(move |ty| ((t.clone(), ty), v.sizes[ty as usize].snapshot())))
            .filter(|(_, (_, n, _))| *n > 0)
            .collect()
    }

    /// ((request code, response code, result), (sum, count, buckets)).
    pub fn rpc_latencies(&self) -> Vec<(RpcKey, HistSnapshot)> {
        self.rpc.read().map(|m| m.iter().map(|(k, h)| (*k, h.snapshot())).collect()).unwrap_or_default()
    }

    /// Messages handed to `group` from `topic` (pulls and pops).
    pub fn handed_out(&self, group: &str, topic: &str, msgs: u64, bytes: u64) {
        add(&self.out, &(group.to_string(), topic.to_string()), msgs, bytes);
    }

    /// A message of `group` moved to its dead-letter queue.
    pub fn to_dlq(&self, group: &str) {
        add(&self.dlq, group, 1, 0);
    }

    /// (topic, messages, bytes) stored so far.
    pub fn stored_snapshot(&self) -> Vec<(String, u64, u64)> {
        self.stored.read().map(|m| m.iter().map(|(k, t)| {
            let (a, b) = t.count.get();
            (k.clone(), a, b)
        }).collect()).unwrap_or_default()
    }

    /// ((group, topic), messages, bytes) handed out so far.
    pub fn out_snapshot(&self) -> Vec<((String, String), u64, u64)> {
        snapshot(&self.out)
    }

    /// (group, messages) moved to the DLQ so far.
    pub fn dlq_snapshot(&self) -> Vec<(String, u64)> {
        snapshot(&self.dlq).into_iter().map(|(g, n, _)| (g, n)).collect()
    }
}

/// Messages the broker holds back for later, by mechanism.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Backlogs {
    /// Delay-level messages in `SCHEDULE_TOPIC_XXXX` past each level's delivery cursor.
    pub delay_levels: i64,
    /// Half messages past the transaction checker's cursor (undecided, or decided after it).
    pub half: i64,
    /// Timer messages (5.x delivery times): waiting in the wheel, plus stored on the timer topic
    /// and not yet indexed into it.
    pub timers: i64,
}

impl super::Core {
    /// The delay-level and half-message backlogs (a few offset reads, no scan).
    pub fn backlogs(&self) -> Backlogs {
        let meta = self.store.meta();
        let levels = self.topics.get(super::topics::SCHEDULE_TOPIC).map(|t| t.write_queue_nums.max(t.read_queue_nums)).unwrap_or(0);
        let delay_levels = (1..=levels as usize)
            .map(|l| (self.store.max_offset(super::topics::SCHEDULE_TOPIC, l as i32 - 1) - meta.delay_cursor(l)).max(0))
            .sum();
        let half = (self.store.max_offset(super::topics::TRANS_HALF_TOPIC, 0) - meta.tx_cursor()).max(0);
        let timers = self.timers.pending() as i64 + self.timers.status(&self.store, super::now_ms()).offset_behind;
        Backlogs { delay_levels, half, timers }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counters_add_up() {
        let s = Stats::default();
        s.stored("T", 2, 10, MessageType::Normal, [3usize, 2000].into_iter());
        s.stored("T", 1, 5, MessageType::Normal, [5usize << 20].into_iter());
        s.rpc(10, 0, "success", 4);
        s.handed_out("g", "T", 3, 15);
        s.to_dlq("g");
        assert_eq!(s.stored_snapshot(), vec![("T".to_string(), 3, 15)]);
        assert_eq!(s.out_snapshot(), vec![(("g".to_string(), "T".to_string()), 3, 15)]);
        assert_eq!(s.dlq_snapshot(), vec![("g".to_string(), 1)]);
        assert_eq!(s.message_sizes(), vec![(("T".to_string(), MessageType::Normal), (2003 + (5 << 20), 3, vec![1, 1, 0, 0, 0, 0, 1]))]);
        assert_eq!(s.rpc_latencies(), vec![((10, 0, "success"), (4, 1, vec![0, 0, 1, 0, 0, 0, 0, 0, 0, 0]))]);
    }

    #[test]
    fn message_types_from_the_stored_message() {
        use crate::codec::message::{prop, sys_flag, Properties};
        let with = |topic: &str, pairs: &[(&str, &str)], flag: i32| {
            let mut p = Properties::new();
            for (k, v) in pairs {
                p.insert(*k, *v);
            }
            let mut m = crate::core::tests::message(topic, 0, "b", &p);
            m.sys_flag = flag;
            message_type(&m)
        };
        assert_eq!(with("T", &[(prop::UNIQ_KEY, "X")], 0), MessageType::Normal);
        assert_eq!(with("T", &[(prop::UNIQ_KEY, "X"), ("__SHARDINGKEY", "g1")], 0), MessageType::Fifo);
        assert_eq!(with("T", &[("__SHARDINGKEYS", "g1")], 0), MessageType::Normal);
        assert_eq!(with("T", &[("X", "__SHARDINGKEY")], 0), MessageType::Normal);
        assert_eq!(with(super::super::topics::SCHEDULE_TOPIC, &[], 0), MessageType::Delay);
        assert_eq!(with("T", &[], sys_flag::TRANSACTION_PREPARED), MessageType::Transaction);
    }
}
