//! Retention (deleting expired segments) and topic deletion.
use std::collections::HashMap;
use std::path::Path;
use std::time::UNIX_EPOCH;

use super::message_store::{MessageStore, DELETED_TOPICS_NS};

impl MessageStore {
    /// Delete expired whole segments (never the newest); returns how many were deleted.
    pub fn run_retention(&self, now_ms: i64) -> usize {
        let hour = ((now_ms / 3_600_000) % 24) as u8;
        let usage = disk_usage_percent(&self.cfg.root).unwrap_or(0);
        if hour != self.cfg.delete_when && usage <= self.cfg.disk_max_used_ratio {
            return 0;
        }
        let reserved = self.cfg.file_reserved_time.as_millis() as i64;
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
            for q in self.all_queues() {
                q.set_min(q.first_at_or_after(log_min));
            }
            self.keys.remove_below(log_min);
        }
        deleted
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

