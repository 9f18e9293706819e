//! Key index (KEYS and UNIQ_KEY) kept off the put path: puts send entries to a channel; a background
//! thread batches them into the sled `keys` tree. Key layout: `topic 0 key 0 storeTime(u64 BE) offset(u64 BE)`.
use std::sync::mpsc::{self, Receiver, Sender, SyncSender};
use std::sync::Mutex;

pub(crate) struct KeyEntry {
    pub topic: String,
    pub key: String,
    pub store_time: i64,
    pub offset: i64,
}

pub(crate) enum Cmd {
    Add(Vec<KeyEntry>),
    Barrier(SyncSender<()>),
}

pub(crate) fn prefix(topic: &str, key: &str) -> Vec<u8> {
    let mut k = Vec::with_capacity(topic.len() + key.len() + 2);
    k.extend_from_slice(topic.as_bytes());
    k.push(0);
    k.extend_from_slice(key.as_bytes());
    k.push(0);
    k
}

fn full_key(e: &KeyEntry) -> Vec<u8> {
    let mut k = prefix(&e.topic, &e.key);
    k.extend_from_slice(&(e.store_time.max(0) as u64).to_be_bytes());
    k.extend_from_slice(&(e.offset.max(0) as u64).to_be_bytes());
    k
}

/// Decode (store time, commit-log offset) from the tail of an index key.
pub(crate) fn decode_tail(k: &[u8]) -> Option<(i64, i64)> {
    if k.len() < 16 {
        return None;
    }
    let t = &k[k.len() - 16..];
    let mut a = [0u8; 8];
    a.copy_from_slice(&t[..8]);
    let time = u64::from_be_bytes(a) as i64;
    a.copy_from_slice(&t[8..]);
    Some((time, u64::from_be_bytes(a) as i64))
}

pub(crate) struct KeyIndex {
    tx: Mutex<Option<Sender<Cmd>>>,
    thread: Mutex<Option<std::thread::JoinHandle<()>>>,
}

impl KeyIndex {
    pub fn start(tree: sled::Tree) -> KeyIndex {
        let (tx, rx) = mpsc::channel();
        let spawned = std::thread::Builder::new().name("store-keyindex".into()).spawn(move || run(tree, rx));
        let thread = match spawned {
            Ok(h) => Some(h),
            Err(e) => {
                tracing::warn!(error = %e, "cannot start key index thread; key queries will find nothing new");
                None
            }
        };
        KeyIndex { tx: Mutex::new(Some(tx)), thread: Mutex::new(thread) }
    }

    pub fn send(&self, entries: Vec<KeyEntry>) {
        if entries.is_empty() {
            return;
        }
        if let Some(tx) = self.tx.lock().unwrap_or_else(|e| e.into_inner()).as_ref() {
            let _ = tx.send(Cmd::Add(entries));
        }
    }

    /// Wait until everything sent so far is in the tree.
    pub fn barrier(&self) {
        let (tx, rx) = mpsc::sync_channel(1);
        let sent = match self.tx.lock().unwrap_or_else(|e| e.into_inner()).as_ref() {
            Some(s) => s.send(Cmd::Barrier(tx)).is_ok(),
            None => false,
        };
        if sent {
            let _ = rx.recv();
        }
    }

    /// Stop the thread (after it applied what was sent) and wait for it.
    pub fn stop(&self) {
        self.tx.lock().unwrap_or_else(|e| e.into_inner()).take();
        if let Some(h) = self.thread.lock().unwrap_or_else(|e| e.into_inner()).take() {
            let _ = h.join();
        }
    }
}

fn run(tree: sled::Tree, rx: Receiver<Cmd>) {
    while let Ok(first) = rx.recv() {
        let mut batch = sled::Batch::default();
        let mut barriers = Vec::new();
        let mut n = 0usize;
        let mut cmd = Some(first);
        while let Some(c) = cmd.take() {
            match c {
                Cmd::Add(es) => {
                    for e in &es {
                        batch.insert(full_key(e), &[1u8][..]);
                        n += 1;
                    }
                }
                Cmd::Barrier(b) => barriers.push(b),
            }
            if n < 10_000 {
                cmd = rx.try_recv().ok();
            }
        }
        if let Err(e) = tree.apply_batch(batch) {
            tracing::warn!(error = %e, "key index batch failed");
        }
        for b in barriers {
            let _ = b.send(());
        }
    }
}
