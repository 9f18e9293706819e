//! Traffic counters for metrics: messages and bytes stored per topic, handed out per (group,
//! topic), and moved to the dead-letter queue per group. Cheap on the hot path: a read lock and
//! two atomic adds per append once a topic is known.
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

type Table<K> = RwLock<HashMap<K, Arc<Counter2>>>;

/// The counters (never reset while the broker runs).
#[derive(Default)]
pub struct Stats {
    stored: Table<String>,
    out: Table<(String, String)>,
    dlq: Table<String>,
}

/// Count under `key`; the key is copied only the first time it is seen.
fn add<K, Q>(t: &Table<K>, key: &Q, msgs: u64, bytes: u64)
where
    K: std::hash::Hash + Eq + std::borrow::Borrow<Q>,
    Q: std::hash::Hash + Eq + ToOwned<Owned = K> + ?Sized,
{
    if let Some(c) = t.read().ok().and_then(|m| m.get(key).cloned()) {
        c.add(msgs, bytes);
        return;
    }
    if let Ok(mut m) = t.write() {
        m.entry(key.to_owned()).or_default().add(msgs, bytes);
    }
}

fn snapshot<K: Clone>(t: &Table<K>) -> Vec<(K, u64, u64)> {
    t.read().map(|m| m.iter().map(|(k, c)| {
        let (a, b) = c.get();
        (k.clone(), a, b)
    }).collect()).unwrap_or_default()
}

impl Stats {
    /// Messages stored on `topic` (every append: sends, retries, deliveries of delayed messages).
    pub fn stored(&self, topic: &str, msgs: u64, bytes: u64) {
        add(&self.stored, topic, msgs, bytes);
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
        snapshot(&self.stored)
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counters_add_up() {
        let s = Stats::default();
        s.stored("T", 2, 10);
        s.stored("T", 1, 5);
        s.handed_out("g", "T", 3, 15);
        s.to_dlq("g");
        assert_eq!(s.stored_snapshot(), vec![("T".to_string(), 3, 15)]);
        assert_eq!(s.out_snapshot(), vec![(("g".to_string(), "T".to_string()), 3, 15)]);
        assert_eq!(s.dlq_snapshot(), vec![("g".to_string(), 1)]);
    }
}
