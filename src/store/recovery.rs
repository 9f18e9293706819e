//! Recovery on open: scan the log tail, cut a bad tail, rebuild and trim the per-queue indexes.
use std::collections::HashMap;
use std::io;
use std::sync::atomic::Ordering;

use super::commitlog::{ScanItem, SegmentScanner};
use super::cqueue::Entry;
use super::message_store::{read_checkpoint, tags_hash, MessageStore};
use crate::codec::stored::{decode_stored, StoredMessage};

fn property<'a>(props: &'a str, name: &str) -> Option<&'a str> {
    props.split('\u{2}').find_map(|kv| {
        let (k, v) = kv.split_once('\u{1}')?;
        (k == name).then_some(v)
    })
}

const SCHEDULE_TOPIC: &str = "SCHEDULE_TOPIC_XXXX";
/// RocketMQ's default messageDelayLevel, used to rebuild schedule-topic tags codes on recovery.
const DELAY_LEVELS_MS: [i64; 18] = [
    1_000, 5_000, 10_000, 30_000, 60_000, 120_000, 180_000, 240_000, 300_000, 360_000, 420_000, 480_000, 540_000,
    600_000, 1_200_000, 1_800_000, 3_600_000, 7_200_000,
];

impl MessageStore {
    /// Scan the log from the checkpoint (at least the newest segment), cut a bad tail, fix indexes.
    pub(crate) fn recover(&self) -> io::Result<i64> {
        let segs = self.log.segments();
        let Some(last) = segs.last().cloned() else {
            for q in self.all_queues() {
                q.truncate(0)?;
            }
            return Ok(0);
        };
        let ckpt = read_checkpoint(&self.cfg.root).unwrap_or(0);
        let first = segs[0].base;
        let mut pos = ckpt.min(last.base).max(first);
        if self.log.segment_for(pos).is_none() {
            pos = segs.iter().find(|s| s.base >= pos).map(|s| s.base).unwrap_or(last.base);
        }
        // Bounded by the segment, not by max_message_size: lowering that setting must not cut old data.
        let max_record = self.log.seg_size as usize;
        let mut rebuilt = 0u64;
        let deleted = self.deleted_topics();
        let keys_max = self.keys.max_offset();
        let end = loop {
            let Some(seg) = self.log.segment_for(pos) else { break pos };
            let mut sc = SegmentScanner::new(&seg, pos, self.log.seg_size, max_record)?;
            match self.scan_segment(&mut sc, &mut rebuilt, &deleted, keys_max)? {
                None => pos = seg.base + self.log.seg_size,
                Some((at, reason)) => {
                    if let Some(r) = reason {
                        tracing::warn!(segment = %seg.path.display(), offset = at, reason = %r, "cutting commit log tail");
                    }
                    seg.set_len(at - seg.base)?;
                    break at;
                }
            }
            if self.log.segment_for(pos).is_none() {
                break pos;
            }
        };
        // Drop segments beyond the end (after a cut), and fix indexes that point past it.
        for s in self.log.segments() {
            if s.base > end {
                tracing::warn!(segment = %s.path.display(), "removing commit log segment past the recovered end");
                self.log.remove(s.base)?;
            }
        }
        let log_min = self.log.min_offset();
        for q in self.all_queues() {
            let m = q.kept_below(end);
            if m < q.max.load(Ordering::Acquire) {
                tracing::warn!(dir = %q.dir.display(), from = m, "truncating index entries past the log end");
                q.truncate(m)?;
            }
            let min = q.first_at_or_after(log_min);
            q.set_min(min);
        }
        if rebuilt > 0 {
            tracing::info!(entries = rebuilt, "rebuilt index entries from the commit log");
        }
        Ok(end)
    }

    /// Scan one segment. `Ok(None)`: reached its blank end. `Ok(Some((end, reason)))`: data ends at `end`.
    fn scan_segment(&self, sc: &mut SegmentScanner, rebuilt: &mut u64, deleted: &HashMap<String, i64>, keys_max: i64) -> io::Result<Option<(i64, Option<String>)>> {
        loop {
            let at = sc.pos;
            match sc.next_item() {
                ScanItem::Blank => return Ok(None),
                ScanItem::End(reason) => return Ok(Some((at, reason))),
                ScanItem::Record(rec) => {
                    let m = match decode_stored(&rec) {
                        Ok((m, _)) => m,
                        Err(e) => return Ok(Some((at, Some(format!("undecodable record: {e}"))))),
                    };
                    if m.commit_log_offset != at {
                        return Ok(Some((at, Some(format!("record claims offset {}", m.commit_log_offset)))));
                    }
                    if m.body_crc != crate::codec::stored::body_crc(&m.body) {
                        return Ok(Some((at, Some("body CRC mismatch".into()))));
                    }
                    if self.redispatch(&m, rec.len() as i32, deleted)? {
                        *rebuilt += 1;
                    }
                    if m.commit_log_offset > keys_max {
                        self.reindex_keys(&m);
                    }
                    sc.pos += rec.len() as i64;
                }
            }
        }
    }

    /// Add the KEYS / UNIQ_KEY entries of a recovered record the key index had not reached.
    pub(crate) fn reindex_keys(&self, m: &StoredMessage) {
        let keys = property(&m.properties, "KEYS").into_iter().flat_map(|v| v.split(' ')).filter(|k| !k.is_empty());
        let all = keys.chain(property(&m.properties, "UNIQ_KEY"));
        self.keys.add(all.map(|k| (m.topic.as_str(), k, m.store_timestamp, m.commit_log_offset)));
    }

    /// Make sure the index has the entry for a recovered record. Returns true when written.
    pub(crate) fn redispatch(&self, m: &StoredMessage, size: i32, deleted: &HashMap<String, i64>) -> io::Result<bool> {
        if deleted.get(&m.topic).is_some_and(|d| m.commit_log_offset < *d) {
            return Ok(false);
        }
        let q = self.queue_or_create(&m.topic, m.queue_id)?;
        let max = q.max.load(Ordering::Acquire);
        if m.queue_offset < max {
            if q.entry(m.queue_offset).map(|e| (e.phys, e.size)) == Some((m.commit_log_offset, size)) {
                return Ok(false);
            }
            q.truncate(m.queue_offset)?;
        } else if m.queue_offset > max && max > 0 {
            tracing::warn!(topic = %m.topic, queue = m.queue_id, expected = max, found = m.queue_offset, "gap in queue offsets during recovery");
        }
        let tags = if m.topic == SCHEDULE_TOPIC {
            let lvl = property(&m.properties, "DELAY").and_then(|d| d.parse::<usize>().ok()).unwrap_or(1);
            m.store_timestamp + DELAY_LEVELS_MS[lvl.clamp(1, DELAY_LEVELS_MS.len()) - 1]
        } else {
            property(&m.properties, "TAGS").map(tags_hash).unwrap_or(0)
        };
        q.write(m.queue_offset, Entry { phys: m.commit_log_offset, size, tags })?;
        q.max.store(m.queue_offset + 1, Ordering::Release);
        if max == 0 {
            q.min.store(m.queue_offset, Ordering::Release);
        }
        Ok(true)
    }

}
