//! Traffic counters for metrics: messages and bytes stored per topic (with the message size
//! histogram per message type), handed out per (group, topic), moved to the dead-letter queue per
//! group, and the remoting RPC latency histogram per (request code, response code). Cheap on the
//! hot path: each thread counts into its own copy of a key's counters (see [`Table`]), with plain
//! loads and stores; a read adds the copies up.
use std::any::Any;
use std::borrow::Borrow;
use std::cell::RefCell;
use std::collections::HashMap;
use std::hash::Hash;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

/// A count written by one thread only (the owner of the copy it is part of) and read by any: an
/// add is a load and a store, not a locked read-modify-write (a send made ~16 of those).
#[derive(Default)]
struct Count(AtomicU64);

impl Count {
    #[inline]
    fn add(&self, n: u64) {
        self.0.store(self.0.load(Ordering::Relaxed).wrapping_add(n), Ordering::Relaxed);
    }
    fn get(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }
}

#[derive(Default)]
pub struct Counter2 {
    msgs: Count,
    bytes: Count,
}

impl Counter2 {
    fn add(&self, msgs: u64, bytes: u64) {
        self.msgs.add(msgs);
        self.bytes.add(bytes);
    }
    fn get(&self) -> (u64, u64) {
        (self.msgs.get(), self.bytes.get())
    }
}

/// Counters by key, kept per thread: a thread counts into its own copy of a key's counters (made
/// on its first count there, the key copied only then), found in a thread-local map without a
/// lock; every copy is also listed in the table, where reads find and add them up. Counted on
/// every send (by topic, by request and response code): hashed with foldhash, not SipHash.
pub struct Table<K, V = Counter2> {
    /// This table's place in each thread's list of copies ([`LOCAL`]).
    id: usize,
    copies: Mutex<Vec<(K, Arc<V>)>>,
}

type Copies<K, V> = HashMap<K, Arc<V>, foldhash::fast::RandomState>;

static NEXT_TABLE: AtomicUsize = AtomicUsize::new(0);

thread_local! {
    /// This thread's copies of counters, per table (by [`Table::id`]): a `Copies<K, V>` each.
    static LOCAL: RefCell<Vec<Option<Box<dyn Any>>>> = const { RefCell::new(Vec::new()) };
}

impl<K, V> Default for Table<K, V> {
    fn default() -> Self {
        Table { id: NEXT_TABLE.fetch_add(1, Ordering::Relaxed), copies: Mutex::new(Vec::new()) }
    }
}

impl<K: Hash + Eq + Clone + 'static, V: Default + 'static> Table<K, V> {
    /// Count into this thread's copy of `key`'s counters.
    fn with<Q>(&self, key: &Q, count: impl FnOnce(&V))
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ToOwned<Owned = K> + ?Sized,
    {
        // (no thread-local left: a thread being torn down; nothing to count into)
        let _ = LOCAL.try_with(|local| {
            let mut local = local.borrow_mut();
            if local.len() <= self.id {
                local.resize_with(self.id + 1, || None);
            }
            let slot = local[self.id].get_or_insert_with(|| Box::new(Copies::<K, V>::default()));
            let Some(mine) = slot.downcast_mut::<Copies<K, V>>() else { return };
            if let Some(v) = mine.get(key) {
                return count(v);
            }
            let v = Arc::new(V::default());
            count(&v);
            self.copies.lock().unwrap_or_else(|e| e.into_inner()).push((key.to_owned(), v.clone()));
            mine.insert(key.to_owned(), v);
        });
    }

    /// Every thread's copies, added up per key by `merge` into `A`.
    fn sum<A: Default>(&self, mut merge: impl FnMut(&mut A, &V)) -> HashMap<K, A> {
        let copies = self.copies.lock().unwrap_or_else(|e| e.into_inner());
        let mut out: HashMap<K, A> = HashMap::new();
        for (k, v) in copies.iter() {
            merge(out.entry(k.clone()).or_default(), v);
        }
        out
    }
}

/// Add one copy's two counts.
fn add2(into: &mut (u64, u64), c: &Counter2) {
    let (m, b) = c.get();
    into.0 += m;
    into.1 += b;
}

/// Upper bounds of `rocketmq_message_size` (bytes), as RocketMQ 5: 1 KiB, 4 KiB, 512 KiB, 1, 2, 4 MiB.
pub const MESSAGE_SIZE_BOUNDS: [f64; 6] = [1024.0, 4096.0, 524_288.0, 1_048_576.0, 2_097_152.0, 4_194_304.0];
/// Upper bounds of `rocketmq_rpc_latency` (ms), as RocketMQ 5.
pub const RPC_LATENCY_BOUNDS: [f64; 9] = [1.0, 3.0, 5.0, 7.0, 10.0, 100.0, 1000.0, 2000.0, 3000.0];

/// A fixed-bucket histogram: per-bucket counts (the last one above every bound) and the sum.
pub struct Hist<const N: usize> {
    buckets: [Count; N],
    sum: Count,
}

impl<const N: usize> Default for Hist<N> {
    fn default() -> Self {
        Hist { buckets: std::array::from_fn(|_| Count::default()), sum: Count::default() }
    }
}

impl<const N: usize> Hist<N> {
    fn observe(&self, bounds: &[f64], v: u64) {
        let i = bounds.iter().position(|b| v as f64 <= *b).unwrap_or(N - 1);
        self.buckets[i].add(1);
        self.sum.add(v);
    }

    /// Add this copy into `into` (sum, count, counts per bucket: one per bound, the last one
    /// above them all).
    fn add_to(&self, into: &mut HistSnapshot) {
        into.2.resize(N, 0);
        for (c, b) in into.2.iter_mut().zip(&self.buckets) {
            *c += b.get();
        }
        into.0 += self.sum.get();
        into.1 = into.2.iter().sum();
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

impl Stats {
    /// Messages stored on `topic` (every append: sends, retries, deliveries of delayed messages):
    /// their count, record bytes, and body sizes (of type `mtype`).
    pub fn stored(&self, topic: &str, msgs: u64, bytes: u64, mtype: MessageType, body_sizes: impl Iterator<Item = usize>) {
        self.stored.with(topic, |t| {
            t.count.add(msgs, bytes);
            let h = &t.sizes[mtype as usize];
            for n in body_sizes {
                h.observe(&MESSAGE_SIZE_BOUNDS, n as u64);
            }
        });
    }

    /// One remoting request answered (`result`: "success" or "oneway") after `ms`.
    pub fn rpc(&self, request_code: i32, response_code: i32, result: &'static str, ms: u64) {
        self.rpc.with(&(request_code, response_code, result), |h| h.observe(&RPC_LATENCY_BOUNDS, ms));
    }

    /// ((topic, type), (sum, count, buckets)) of every size histogram with samples.
    pub fn message_sizes(&self) -> Vec<((String, MessageType), HistSnapshot)> {
        let per_topic = self.stored.sum(|into: &mut [HistSnapshot; 4], t| {
            for (h, copy) in into.iter_mut().zip(&t.sizes) {
                copy.add_to(h);
            }
        });
        per_topic
            .into_iter()
            .flat_map(|(t, hs)| MessageType::ALL.into_iter().zip(hs).map(move |(ty, h)| ((t.clone(), ty), h)))
            .filter(|(_, (_, n, _))| *n > 0)
            .collect()
    }

    /// ((request code, response code, result), (sum, count, buckets)).
    pub fn rpc_latencies(&self) -> Vec<(RpcKey, HistSnapshot)> {
        self.rpc.sum(|into, h| h.add_to(into)).into_iter().collect()
    }

    /// Messages handed to `group` from `topic` (pulls and pops).
    pub fn handed_out(&self, group: &str, topic: &str, msgs: u64, bytes: u64) {
        self.out.with(&(group.to_string(), topic.to_string()), |c| c.add(msgs, bytes));
    }

    /// A message of `group` moved to its dead-letter queue.
    pub fn to_dlq(&self, group: &str) {
        self.dlq.with(group, |c| c.add(1, 0));
    }

    /// (topic, messages, bytes) stored so far.
    pub fn stored_snapshot(&self) -> Vec<(String, u64, u64)> {
        self.stored.sum(|into, t| add2(into, &t.count)).into_iter().map(|(k, (m, b))| (k, m, b)).collect()
    }

    /// ((group, topic), messages, bytes) handed out so far.
    pub fn out_snapshot(&self) -> Vec<((String, String), u64, u64)> {
        self.out.sum(add2).into_iter().map(|(k, (m, b))| (k, m, b)).collect()
    }

    /// (group, messages) moved to the DLQ so far.
    pub fn dlq_snapshot(&self) -> Vec<(String, u64)> {
        self.dlq.sum(add2).into_iter().map(|(g, (n, _))| (g, n)).collect()
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
    fn counts_of_every_thread_add_up_and_tables_do_not_mix() {
        let (s, other) = (Arc::new(Stats::default()), Stats::default());
        other.stored("T", 100, 100, MessageType::Normal, [1usize].into_iter());
        let threads: Vec<_> = (0..4)
            .map(|i| {
                let s = s.clone();
                std::thread::spawn(move || {
                    for _ in 0..1000 {
                        s.stored("T", 1, 10, MessageType::Normal, [i * 2000usize].into_iter());
                        s.rpc(10, 0, "success", i as u64);
                    }
                    s.to_dlq(if i % 2 == 0 { "even" } else { "odd" });
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        s.stored("U", 1, 1, MessageType::Fifo, [].into_iter());
        let mut stored = s.stored_snapshot();
        stored.sort();
        assert_eq!(stored, vec![("T".to_string(), 4000, 40_000), ("U".to_string(), 1, 1)]);
        let mut dlq = s.dlq_snapshot();
        dlq.sort();
        assert_eq!(dlq, vec![("even".to_string(), 2), ("odd".to_string(), 2)]);
        // bodies of 0 B (bucket <= 1 KiB), 2000 and 4000 B (<= 4 KiB), 6000 B (<= 512 KiB)
        assert_eq!(s.message_sizes(), vec![(("T".to_string(), MessageType::Normal), (12_000_000, 4000, vec![1000, 2000, 1000, 0, 0, 0, 0]))]);
        // latencies 0..=3 ms: buckets <= 1 ms (0 and 1) and <= 3 ms (2 and 3)
        assert_eq!(s.rpc_latencies(), vec![((10, 0, "success"), (6000, 4000, vec![2000, 2000, 0, 0, 0, 0, 0, 0, 0, 0]))]);
        assert_eq!(other.stored_snapshot(), vec![("T".to_string(), 100, 100)], "another broker's table is its own");
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
