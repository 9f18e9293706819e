//! Replication support (docs/replication.md): what a master reads for its slaves, and how a
//! slave appends the master's commit-log bytes, indexes them and cuts a tail the master lacks.
//!
//! The slave's log is byte for byte the master's: same offsets, same segment layout. Bytes arrive
//! in arbitrary pieces (a record may be split over frames); the queue indexes and the key index
//! are built from each record once all of its bytes are there (`Appender::dispatched`).
use std::sync::atomic::Ordering;

use bytes::{Bytes, BytesMut};

use super::message_store::MessageStore;
use super::StoreError;
use crate::codec::stored::{decode_stored, BLANK_MAGIC, MESSAGE_MAGIC};

/// The queues a replicated append added messages to (for waking parked pulls).
pub type Dispatched = Vec<(String, i32)>;

fn corrupt(offset: i64, reason: String) -> StoreError {
    StoreError::Corrupt { path: "replicated commit log".into(), offset, reason }
}

impl MessageStore {
    /// Commit-log bytes from `from` for a slave: at most `max`, never past the end of the
    /// segment holding `from` nor past what is written. The end of a segment (after its blank
    /// header) reads as zeros, as the Java broker's preallocated files do. `None` when there is
    /// nothing at `from` (nothing new yet, or no longer on disk).
    pub fn replica_read(&self, from: i64, max: usize) -> Result<Option<Bytes>, StoreError> {
        let written = self.written.load(Ordering::Acquire);
        if from >= written || max == 0 {
            return Ok(None);
        }
        let Some(seg) = self.log.segment_for(from) else { return Ok(None) };
        let end = (seg.base + self.log.seg_size).min(written);
        let n = ((end - from).max(0) as usize).min(max);
        let mut buf = BytesMut::zeroed(n);
        let file_len = seg.file.metadata().map_err(|e| StoreError::io(&seg.path, e))?.len() as i64;
        let on_disk = ((file_len - (from - seg.base)).max(0) as usize).min(n);
        if on_disk > 0 {
            use std::os::unix::fs::FileExt;
            seg.file.read_exact_at(&mut buf[..on_disk], (from - seg.base) as u64).map_err(|e| StoreError::io(&seg.path, e))?;
        }
        Ok(Some(buf.freeze()))
    }

    /// No commit-log segment at all (a fresh store).
    pub fn is_empty(&self) -> bool {
        self.log.segments().is_empty()
    }

    /// Append the master's bytes at `offset`, which must be this log's end; then index every
    /// record they complete. Returns the queues that got messages.
    pub fn replica_append(&self, offset: i64, data: &[u8]) -> Result<Dispatched, StoreError> {
        let mut ap = self.lock_append();
        let seg_size = self.log.seg_size;
        if offset != ap.pos && ap.pos == 0 && self.is_empty() && offset % seg_size == 0 {
            // A fresh slave starts where its master's newest segment starts.
            ap.pos = offset;
            ap.dispatched = offset;
        }
        if offset != ap.pos {
            return Err(corrupt(offset, format!("replicated bytes start at {offset}, the log ends at {}", ap.pos)));
        }
        let mut pos = offset;
        let mut rest = data;
        while !rest.is_empty() {
            let base = pos - pos.rem_euclid(seg_size);
            let seg = match self.log.segment_for(pos) {
                Some(s) => s,
                None => self.log.create(base).map_err(|e| StoreError::io(&self.log.dir, e))?,
            };
            let n = rest.len().min((base + seg_size - pos) as usize);
            self.write_at(&seg, &rest[..n], pos)?;
            pos += n as i64;
            if pos == base + seg_size {
                seg.release();
            }
            rest = &rest[n..];
        }
        ap.pos = pos;
        ap.seg = self.log.segment_for(pos);
        let out = self.dispatch_replicated(&mut ap.dispatched, pos);
        self.written.store(pos, Ordering::Release);
        drop(ap);
        out
    }

    /// Index the complete records between `*from` and `end` (under the append lock).
    fn dispatch_replicated(&self, from: &mut i64, end: i64) -> Result<Dispatched, StoreError> {
        let seg_size = self.log.seg_size;
        let deleted = self.deleted_topics();
        let mut out: Dispatched = Vec::new();
        while *from + 8 <= end {
            let d = *from;
            let hdr = self.log.read(d, 8).ok_or_else(|| corrupt(d, "cannot read record header".into()))?;
            let size = i32::from_be_bytes([hdr[0], hdr[1], hdr[2], hdr[3]]);
            let magic = i32::from_be_bytes([hdr[4], hdr[5], hdr[6], hdr[7]]);
            let seg_end = d - d.rem_euclid(seg_size) + seg_size;
            if magic == BLANK_MAGIC && size as i64 == seg_end - d {
                *from = seg_end;
                continue;
            }
            if magic != MESSAGE_MAGIC || size < 91 || d + size as i64 > seg_end {
                return Err(corrupt(d, format!("no record here (size {size}, magic {:#010x})", magic as u32)));
            }
            if d + size as i64 > end {
                break;
            }
            let rec = self.log.read(d, size as usize).ok_or_else(|| corrupt(d, "cannot read record".into()))?;
            let (m, _) = decode_stored(&rec).map_err(|e| corrupt(d, format!("undecodable record: {e}")))?;
            if m.commit_log_offset != d {
                return Err(corrupt(d, format!("record claims offset {}", m.commit_log_offset)));
            }
            self.redispatch(&m, size, &deleted).map_err(|e| StoreError::io(&self.cfg.root.join("consumequeue"), e))?;
            self.reindex_keys(&m);
            if !out.iter().any(|(t, q)| *q == m.queue_id && *t == m.topic) {
                out.push((m.topic.clone(), m.queue_id));
            }
            *from = d + size as i64;
        }
        Ok(out)
    }

    /// Cut the log back to `offset` (a slave ahead of its master): later segments are deleted,
    /// index entries of records past it dropped. Nothing happens when the log ends at or before it.
    pub fn replica_truncate(&self, offset: i64) -> Result<(), StoreError> {
        let mut ap = self.lock_append();
        if offset >= ap.pos {
            return Ok(());
        }
        tracing::warn!(end = ap.pos, to = offset, "cutting the commit log back to the master's end");
        for s in self.log.segments() {
            if s.base >= offset {
                self.log.remove(s.base).map_err(|e| StoreError::io(&s.path, e))?;
            } else if offset < s.base + self.log.seg_size {
                s.set_len(offset - s.base).map_err(|e| StoreError::io(&s.path, e))?;
            }
        }
        ap.pos = offset;
        ap.seg = self.log.segment_for(offset);
        ap.dispatched = ap.dispatched.min(offset);
        self.written.store(offset, Ordering::Release);
        self.flush.flushed.fetch_min(offset, Ordering::AcqRel);
        self.cut_indexes(offset)?;
        Ok(())
    }

    /// Drop queue index entries of records that end past `end`.
    fn cut_indexes(&self, end: i64) -> Result<(), StoreError> {
        for q in self.all_queues() {
            let m = q.kept_below(end);
            if m < q.max.load(Ordering::Acquire) {
                q.truncate(m).map_err(|e| StoreError::io(&q.dir, e))?;
            }
        }
        Ok(())
    }
}
