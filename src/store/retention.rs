//! Retention (deleting expired segments) and topic deletion.
//!
//! A segment is expired when its last write is older than `fileReservedTime`. Expired segments
//! (never the newest) are deleted when the hour of day (UTC) is one of `deleteWhen`'s hours, or
//! at any hour while the disk holding the store is fuller than `diskMaxUsedSpaceRatio` percent.
//! All three are read at each run (see `runtime`), so UPDATE_BROKER_CONFIG changes them live.
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};
use std::time::{Duration, UNIX_EPOCH};

use super::commitlog::CommitLog;
use super::keyindex::KeyIndex;
use super::message_store::{all_queues, now_ms, MessageStore, Queues, DELETED_TOPICS_NS};
use super::runtime::Live;

impl MessageStore {
    /// Delete expired whole segments (never the newest); returns how many were deleted.
    /// `now_ms`: the time to judge by (ms since the epoch); the disk usage is measured.
    pub fn run_retention(&self, now_ms: i64) -> usize {
        self.retention_handles().run(now_ms)
    }

    /// Whether retention deletes expired segments at `now_ms` with the disk `usage_percent` full:
    /// the hour (UTC) is one of `deleteWhen`'s, or usage is above `diskMaxUsedSpaceRatio`.
    pub fn retention_due(&self, now_ms: i64, usage_percent: u8) -> bool {
        self.retention_handles().due(now_ms, usage_percent)
    }

    /// [`run_retention`](Self::run_retention) with the disk usage given (for tests).
    #[doc(hidden)]
    pub fn run_retention_with(&self, now_ms: i64, usage_percent: u8) -> usize {
        self.retention_handles().run_with(now_ms, usage_percent)
    }

    fn retention_handles(&self) -> Retention {
        Retention {
            log: self.log.clone(),
            queues: self.queues.clone(),
            keys: self.keys.clone(),
            live: self.live.clone(),
            root: self.cfg.root.clone(),
        }
    }

    /// Start a thread that runs retention now, then every `period`, and at once whenever a
    /// retention setting changes ([`apply_runtime`](Self::apply_runtime)). It does not keep
    /// the store alive; dropping the store stops it (waiting for a run in progress). Call once.
    pub fn start_retention(&self, period: Duration) -> std::io::Result<()> {
        let r = self.retention_handles();
        r.live.wake_retention();
        let handle = std::thread::Builder::new().name("store-retention".into()).spawn(move || {
            while r.live.wait_retention(period) {
                r.run(now_ms());
            }
        })?;
        self.flusher.lock().unwrap_or_else(|e| e.into_inner()).push(handle);
        Ok(())
    }

    /// Forget a topic's queues and delete their indexes. Its records stay in the log until retention;
    /// a marker in the metadata stops recovery from rebuilding their index entries.
    pub fn delete_topic(&self, topic: &str) {
        let ap = self.lock_append();
        let removed = self.queues.write().unwrap_or_else(|e| e.into_inner()).remove(topic);
        if let Err(e) = self.meta().put_kv(DELETED_TOPICS_NS, topic, &ap.pos.to_be_bytes()) {
            tracing::warn!(topic, error = %e, "cannot record topic deletion");
        }
        drop(ap);
        if removed.is_some() {
            let dir = self.cfg.root.join("consumequeue").join(topic);
            if let Err(e) = std::fs::remove_dir_all(&dir) {
                tracing::warn!(dir = %dir.display(), error = %e, "cannot delete topic index directory");
            }
        }
    }

    /// Topic-deletion markers: topic -> log offset at deletion (records below it are of the deleted topic).
    pub(crate) fn deleted_topics(&self) -> HashMap<String, i64> {
        self.meta()
            .scan_kv(DELETED_TOPICS_NS)
            .into_iter()
            .filter_map(|(t, v)| Some((t, i64::from_be_bytes(v.as_slice().try_into().ok()?))))
            .collect()
    }
}
/// What retention needs (the thread must not keep the store itself alive).
struct Retention {
    log: Arc<CommitLog>,
    queues: Arc<RwLock<Queues>>,
    keys: Arc<KeyIndex>,
    live: Arc<Live>,
    root: PathBuf,
}

impl Retention {
    fn run(&self, now_ms: i64) -> usize {
        let usage = disk_usage_percent(&self.root).unwrap_or(0);
        self.run_with(now_ms, usage)
    }

    fn due(&self, now_ms: i64, usage_percent: u8) -> bool {
        let hour = (now_ms.rem_euclid(86_400_000) / 3_600_000) as u8;
        self.live.is_delete_hour(hour) || usage_percent > self.live.disk_max_used_ratio()
    }

    fn run_with(&self, now_ms: i64, usage_percent: u8) -> usize {
        if !self.due(now_ms, usage_percent) {
            return 0;
        }
        let reserved = i64::try_from(self.live.file_reserved_time().as_millis()).unwrap_or(i64::MAX);
        let segs = self.log.segments();
        let mut deleted = 0;
        for s in segs.iter().take(segs.len().saturating_sub(1)) {
            let mtime = s
                .file
                .metadata()
                .and_then(|m| m.modified())
                .ok()
                .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
                .map(|d| d.as_millis() as i64)
                .unwrap_or(i64::MAX);
            if mtime.saturating_add(reserved) > now_ms {
                break;
            }
            if let Err(e) = self.log.remove(s.base) {
                tracing::warn!(segment = %s.path.display(), error = %e, "cannot delete expired segment");
                break;
            }
            tracing::info!(segment = %s.path.display(), "deleted expired commit log segment");
            deleted += 1;
        }
        if deleted > 0 {
            let log_min = self.log.min_offset();
            for q in all_queues(&self.queues) {
                q.set_min(q.first_at_or_after(log_min));
            }
            self.keys.remove_below(log_min);
        }
        deleted
    }
}

fn disk_usage_percent(path: &Path) -> Option<u8> {
    use std::os::unix::ffi::OsStrExt;
    let c = std::ffi::CString::new(path.as_os_str().as_bytes()).ok()?;
    let mut st: libc::statvfs = unsafe { std::mem::zeroed() };
    // SAFETY: c is a valid NUL-terminated path and st a properly sized out-parameter.
    if unsafe { libc::statvfs(c.as_ptr(), &mut st) } != 0 || st.f_blocks == 0 {
        return None;
    }
    let used = st.f_blocks.saturating_sub(st.f_bfree) as f64;
    Some(((used / st.f_blocks as f64) * 100.0) as u8)
}

