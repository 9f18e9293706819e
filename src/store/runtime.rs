//! Settings an admin may change while the store runs (UPDATE_BROKER_CONFIG): the flush period,
//! retention (`fileReservedTime`, `deleteWhen`, `diskMaxUsedSpaceRatio`) and the largest record.
//!
//! [`StoreConfig`](super::StoreConfig) gives their values at open; [`MessageStore::apply_runtime`](super::MessageStore::apply_runtime)
//! replaces them. They live in atomics read by the flusher thread (every wait), by retention
//! (every run) and by the append path (every put), so a change needs no restart. Changing a
//! retention setting also wakes the retention thread, so it runs at once with the new values.
use std::sync::atomic::{AtomicU32, AtomicU64, AtomicU8, AtomicUsize, Ordering};
use std::sync::{Condvar, Mutex};
use std::time::Duration;

use super::StoreConfig;

/// The store's runtime-changeable settings, as plain values.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoreRuntime {
    /// Period of the background flush (flushIntervalCommitLog); must be > 0.
    pub flush_interval: Duration,
    /// Keep segments this long (fileReservedTime).
    pub file_reserved_time: Duration,
    /// Hours of the day (UTC, 0..=23) when expired segments are deleted (deleteWhen); others ignored.
    pub delete_when: Vec<u8>,
    /// Above this disk usage (percent) expired segments are deleted at any hour (diskMaxUsedSpaceRatio).
    pub disk_max_used_ratio: u8,
    /// Largest accepted record (see [`StoreConfig::max_message_size`]).
    pub max_message_size: usize,
}

impl StoreRuntime {
    /// The runtime part of `cfg`.
    pub fn of(cfg: &StoreConfig) -> StoreRuntime {
        StoreRuntime {
            flush_interval: cfg.flush_interval,
            file_reserved_time: cfg.file_reserved_time,
            delete_when: cfg.delete_when.clone(),
            disk_max_used_ratio: cfg.disk_max_used_ratio,
            max_message_size: cfg.max_message_size,
        }
    }
}

impl StoreConfig {
    /// `self` with the runtime settings of `rt` as the values at open.
    pub fn with_runtime(mut self, rt: &StoreRuntime) -> StoreConfig {
        self.flush_interval = rt.flush_interval;
        self.file_reserved_time = rt.file_reserved_time;
        self.delete_when = rt.delete_when.clone();
        self.disk_max_used_ratio = rt.disk_max_used_ratio;
        self.max_message_size = rt.max_message_size;
        self
    }
}

/// Hours as a bit set: bit `h` for hour `h` (hours >= 24 are dropped).
fn hour_mask(hours: &[u8]) -> u32 {
    hours.iter().filter(|h| **h < 24).fold(0, |m, h| m | 1 << h)
}

fn nanos(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}

fn swap_changed(a: &AtomicU64, v: u64) -> bool {
    a.swap(v, Ordering::AcqRel) != v
}

/// The live values (shared with the flusher and retention threads).
pub(crate) struct Live {
    flush_interval_ns: AtomicU64,
    file_reserved_ns: AtomicU64,
    delete_hours: AtomicU32,
    disk_max_used_ratio: AtomicU8,
    max_message_size: AtomicUsize,
    /// Retention thread wake-up: (woken, shut down).
    retention: Mutex<(bool, bool)>,
    retention_cv: Condvar,
}

impl Live {
    pub fn new(rt: &StoreRuntime) -> Live {
        let live = Live {
            flush_interval_ns: AtomicU64::new(0),
            file_reserved_ns: AtomicU64::new(0),
            delete_hours: AtomicU32::new(0),
            disk_max_used_ratio: AtomicU8::new(0),
            max_message_size: AtomicUsize::new(0),
            retention: Mutex::new((false, false)),
            retention_cv: Condvar::new(),
        };
        live.set(rt);
        live
    }

    /// Store `rt`; returns (flush interval changed, a retention setting changed).
    pub(super) fn set(&self, rt: &StoreRuntime) -> (bool, bool) {
        let flush = swap_changed(&self.flush_interval_ns, nanos(rt.flush_interval).max(1));
        let reserve = swap_changed(&self.file_reserved_ns, nanos(rt.file_reserved_time));
        let hours = self.delete_hours.swap(hour_mask(&rt.delete_when), Ordering::AcqRel) != hour_mask(&rt.delete_when);
        let ratio = self.disk_max_used_ratio.swap(rt.disk_max_used_ratio, Ordering::AcqRel) != rt.disk_max_used_ratio;
        self.max_message_size.store(rt.max_message_size, Ordering::Release);
        (flush, reserve || hours || ratio)
    }

    pub fn flush_interval(&self) -> Duration {
        Duration::from_nanos(self.flush_interval_ns.load(Ordering::Acquire))
    }

    pub fn file_reserved_time(&self) -> Duration {
        Duration::from_nanos(self.file_reserved_ns.load(Ordering::Acquire))
    }

    pub fn is_delete_hour(&self, hour: u8) -> bool {
        hour < 24 && self.delete_hours.load(Ordering::Acquire) & (1 << hour) != 0
    }

    pub fn delete_hours(&self) -> Vec<u8> {
        let m = self.delete_hours.load(Ordering::Acquire);
        (0..24).filter(|h| m & (1 << h) != 0).collect()
    }

    pub fn disk_max_used_ratio(&self) -> u8 {
        self.disk_max_used_ratio.load(Ordering::Acquire)
    }

    pub fn max_message_size(&self) -> usize {
        self.max_message_size.load(Ordering::Acquire)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, (bool, bool)> {
        self.retention.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Make the retention thread run now.
    pub fn wake_retention(&self) {
        self.lock().0 = true;
        self.retention_cv.notify_all();
    }

    pub fn stop_retention(&self) {
        self.lock().1 = true;
        self.retention_cv.notify_all();
    }

    /// Wait until woken or `period` passed. Returns false once stopped.
    pub fn wait_retention(&self, period: Duration) -> bool {
        let mut g = self.lock();
        if !g.0 && !g.1 {
            g = self.retention_cv.wait_timeout(g, period).unwrap_or_else(|e| e.into_inner()).0;
        }
        g.0 = false;
        !g.1
    }
}
