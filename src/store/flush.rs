//! Flushing: a background thread fsyncs the log and indexes outside the append lock, writes the
//! checkpoint, and completes SYNC_FLUSH waiters (group commit: one fdatasync for all waiting puts).
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Condvar, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::oneshot;

use super::StoreError;

/// Completes when an fdatasync covered the put's bytes (SYNC_FLUSH only).
#[derive(Debug)]
pub struct FlushWait(pub(crate) oneshot::Receiver<Result<(), StoreError>>);

impl FlushWait {
    /// Wait for the fsync; [`StoreError::FlushTimeout`] after `sync_flush_timeout` (the message is kept).
    pub async fn wait(self) -> Result<(), StoreError> {
        self.0.await.unwrap_or(Err(StoreError::Shutdown))
    }

    /// Same as [`FlushWait::wait`], blocking the calling thread (not inside an async runtime).
    pub fn wait_blocking(self) -> Result<(), StoreError> {
        self.0.blocking_recv().unwrap_or(Err(StoreError::Shutdown))
    }
}

struct Waiter {
    target: i64,
    deadline: Instant,
    tx: oneshot::Sender<Result<(), StoreError>>,
}

#[derive(Default)]
struct Queue {
    waiters: Vec<Waiter>,
    shutdown: bool,
}

/// State shared by putters and the flusher thread.
pub(crate) struct FlushShared {
    q: Mutex<Queue>,
    cv: Condvar,
    /// Log offset below which everything (log and indexes) is fsynced.
    pub flushed: AtomicI64,
}

impl FlushShared {
    pub fn new(flushed: i64) -> FlushShared {
        FlushShared { q: Mutex::new(Queue::default()), cv: Condvar::new(), flushed: AtomicI64::new(flushed) }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Queue> {
        self.q.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Register a SYNC waiter for everything below `target`.
    pub fn request(&self, target: i64, timeout: Duration) -> FlushWait {
        let (tx, rx) = oneshot::channel();
        if self.flushed.load(Ordering::Acquire) >= target {
            let _ = tx.send(Ok(()));
            return FlushWait(rx);
        }
        let mut q = self.lock();
        // the flusher waits only while the queue is empty: the waiter that fills it wakes it,
        // later ones find it awake (a wake-up is a system call, paid otherwise by every put)
        let wake = q.waiters.is_empty();
        q.waiters.push(Waiter { target, deadline: Instant::now() + timeout, tx });
        drop(q);
        if wake {
            self.cv.notify_one();
        }
        FlushWait(rx)
    }

    /// Wake the flusher from its wait (it flushes once, then waits with the current interval).
    pub fn poke(&self) {
        self.cv.notify_all();
    }

    pub fn shutdown(&self) {
        self.lock().shutdown = true;
        self.cv.notify_all();
    }

    /// Block until there are waiters or `interval` passed. Returns false on shutdown.
    pub fn wait_for_work(&self, interval: Duration) -> bool {
        let q = self.lock();
        if q.shutdown {
            return false;
        }
        if q.waiters.is_empty() {
            let (q, _) = self.cv.wait_timeout(q, interval).unwrap_or_else(|e| e.into_inner());
            return !q.shutdown;
        }
        true
    }

    /// End waiters whose deadline passed with [`StoreError::FlushTimeout`] (the watchdog thread calls
    /// this, so a stuck fsync cannot hold a put past its timeout). Returns false on shutdown.
    pub fn expire(&self) -> bool {
        let now = Instant::now();
        let mut q = self.lock();
        if q.shutdown {
            return false;
        }
        let (late, keep): (Vec<Waiter>, Vec<Waiter>) = std::mem::take(&mut q.waiters).into_iter().partition(|w| now >= w.deadline);
        q.waiters = keep;
        drop(q);
        for w in late {
            let _ = w.tx.send(Err(StoreError::FlushTimeout));
        }
        true
    }

    /// After a flush: complete covered waiters, expire late ones, fail all on error.
    pub fn complete(&self, result: &Result<(), String>) {
        let flushed = self.flushed.load(Ordering::Acquire);
        let now = Instant::now();
        let mut q = self.lock();
        let waiters = std::mem::take(&mut q.waiters);
        for w in waiters {
            if let Err(e) = result {
                let _ = w.tx.send(Err(StoreError::Io(std::io::Error::other(e.clone()))));
            } else if w.target <= flushed {
                let _ = w.tx.send(Ok(()));
            } else if now >= w.deadline {
                let _ = w.tx.send(Err(StoreError::FlushTimeout));
            } else {
                q.waiters.push(w);
            }
        }
    }
}
