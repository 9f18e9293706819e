//! The read side of `MessageStore`: get (pull), offsets, times, lookups.
use std::sync::atomic::Ordering;

use bytes::Bytes;

use super::cqueue::{parse_entry, ENTRY};
use super::message_store::MessageStore;
use super::{GetResult, GetStatus};
use crate::codec::stored::{FLAG_BORN_V6, MESSAGE_MAGIC, STORE_TIMESTAMP_POS_V4};

/// [`MessageStore::read_messages`] reads neighbouring records together within this many bytes.
pub const READ_SPAN: i64 = 1 << 20;
/// ... and this far past the start of the last one (records longer than that are read alone).
const READ_TAIL: i64 = 4096;

/// The record at `phys` of `size` bytes, when `block` (a run read from `start`) holds it.
fn slice_of(block: &Option<(i64, Bytes)>, phys: i64, size: i32) -> Option<Bytes> {
    let (start, b) = block.as_ref()?;
    let rel = usize::try_from(phys - start).ok()?;
    let end = rel.checked_add(usize::try_from(size).ok()?)?;
    (end <= b.len()).then(|| b.slice(rel..end))
}

/// One pull scans at most this many index entries (RocketMQ: max(16000 bytes, maxMsgNums*20) / 20).
fn scan_limit(max_count: usize) -> i64 {
    (16_000i64).max(max_count as i64 * 20) / ENTRY
}

impl MessageStore {
    /// Read up to `max_count` messages / `max_bytes` from a queue starting at `offset`, keeping those
    /// whose tags code passes `filter`. Statuses and `next_begin_offset` follow RocketMQ 4.9.7.
    pub fn get(&self, topic: &str, queue_id: i32, offset: i64, max_count: usize, max_bytes: usize, filter: &dyn Fn(i64) -> bool) -> GetResult {
        let mut res = GetResult { status: GetStatus::NoMatchedLogicQueue, messages: Vec::new(), next_begin_offset: 0, min_offset: 0, max_offset: 0 };
        let Some(q) = self.queue(topic, queue_id) else { return res };
        let (min, max) = (q.min.load(Ordering::Acquire), q.max.load(Ordering::Acquire));
        res.min_offset = min;
        res.max_offset = max;
        if max == 0 {
            res.status = GetStatus::NoMessageInQueue;
            return res;
        }
        if offset < min {
            res.status = GetStatus::OffsetTooSmall;
            res.next_begin_offset = min;
            return res;
        }
        if offset == max {
            res.status = GetStatus::OffsetOverflowOne;
            res.next_begin_offset = offset;
            return res;
        }
        if offset > max {
            res.status = GetStatus::OffsetOverflowBadly;
            res.next_begin_offset = max;
            return res;
        }
        let Some(raw) = q.entries(offset, scan_limit(max_count)) else {
            res.status = GetStatus::OffsetFoundNull;
            res.next_begin_offset = q.roll_next_file(offset);
            return res;
        };
        res.status = GetStatus::NoMatchedMessage;
        let log_min = self.log.min_offset();
        let mut bytes = 0usize;
        let mut scanned = 0i64;
        // Records of a queue written together (a batch, a lone producer) lie next to each other
        // in the log: such a run is read with one `pread` and its records are slices of it.
        let mut block: Option<(i64, Bytes)> = None;
        let mut read_to = 0i64;
        for (i, chunk) in raw.chunks_exact(ENTRY as usize).enumerate() {
            let e = parse_entry(chunk);
            let full = !res.messages.is_empty() && (res.messages.len() >= max_count || bytes + e.size.max(0) as usize > max_bytes);
            if full {
                break;
            }
            scanned += 1;
            if !filter(e.tags) {
                continue;
            }
            let bad = e.phys < log_min || e.size <= 0 || e.size as usize > self.max_record();
            let rec = if bad {
                None
            } else {
                let left = max_count.saturating_sub(res.messages.len());
                slice_of(&block, e.phys, e.size).or_else(|| {
                    let run_end = self.run_end(&raw[i * ENTRY as usize..], left, max_bytes.saturating_sub(bytes));
                    if run_end > e.phys + e.size as i64 {
                        block = self.log.read(e.phys, (run_end - e.phys) as usize).map(|b| (e.phys, b));
                    }
                    slice_of(&block, e.phys, e.size).or_else(|| self.log.read(e.phys, e.size as usize))
                })
            };
            match rec {
                Some(b) => {
                    read_to = e.phys + b.len() as i64;
                    bytes += b.len();
                    res.messages.push(b);
                    res.status = GetStatus::Found;
                }
                None => {
                    if res.messages.is_empty() {
                        res.status = GetStatus::MessageWasRemoving;
                    }
                }
            }
        }
        res.next_begin_offset = offset + scanned;
        if read_to > 0 {
            self.read_ahead(read_to);
        }
        res
    }

    /// Where the run of records that `entries` (index entries, the first one included) point to
    /// back to back in the log ends: at most `count` records and `max_bytes`, within one segment
    /// and [`READ_SPAN`].
    fn run_end(&self, entries: &[u8], count: usize, max_bytes: usize) -> i64 {
        let first = parse_entry(&entries[..ENTRY as usize]);
        let seg_end = first.phys - first.phys.rem_euclid(self.log.seg_size) + self.log.seg_size;
        let limit = seg_end.min(first.phys + READ_SPAN.min(i64::try_from(max_bytes).unwrap_or(i64::MAX)));
        let mut end = first.phys + first.size as i64;
        for chunk in entries.chunks_exact(ENTRY as usize).skip(1).take(count.saturating_sub(1)) {
            let e = parse_entry(chunk);
            if e.phys != end || e.size <= 0 || end + e.size as i64 > limit {
                break;
            }
            end += e.size as i64;
        }
        end
    }

    /// Largest record size accepted on read (guards allocations against a corrupt index entry).
    fn max_record(&self) -> usize {
        self.cfg.max_message_size.max(self.live.max_message_size()).max(64 << 20) + 4096
    }

    pub fn min_offset(&self, topic: &str, queue_id: i32) -> i64 {
        self.queue(topic, queue_id).map(|q| q.min.load(Ordering::Acquire)).unwrap_or(0)
    }

    /// Next offset to be written (0 for an unknown queue).
    pub fn max_offset(&self, topic: &str, queue_id: i32) -> i64 {
        self.queue(topic, queue_id).map(|q| q.max.load(Ordering::Acquire)).unwrap_or(0)
    }

    /// Store time of the message at queue `offset`.
    pub fn store_time_at(&self, topic: &str, queue_id: i32, offset: i64) -> Option<i64> {
        let e = self.queue(topic, queue_id)?.entry(offset)?;
        self.store_time_of(e.phys)
    }

    fn store_time_of(&self, phys: i64) -> Option<i64> {
        let h = self.log.read(phys, STORE_TIMESTAMP_POS_V4 + 20)?;
        let sys = i32::from_be_bytes([h[36], h[37], h[38], h[39]]);
        let at = STORE_TIMESTAMP_POS_V4 + if sys & FLAG_BORN_V6 != 0 { 12 } else { 0 };
        let mut a = [0u8; 8];
        a.copy_from_slice(&h[at..at + 8]);
        Some(i64::from_be_bytes(a))
    }

    pub fn earliest_store_time(&self, topic: &str, queue_id: i32) -> Option<i64> {
        let min = self.min_offset(topic, queue_id);
        self.store_time_at(topic, queue_id, min)
    }

    /// RocketMQ getOffsetInQueueByTime: binary search on store times. An offset stored exactly at
    /// `timestamp_ms` wins (the first such); otherwise the nearer of the last older and the first newer
    /// message (the older on a tie); the first message when all are newer, the last when all are older;
    /// 0 for an unknown or empty queue.
    pub fn offset_by_time(&self, topic: &str, queue_id: i32, timestamp_ms: i64) -> i64 {
        let Some(q) = self.queue(topic, queue_id) else { return 0 };
        let (min, max) = (q.min.load(Ordering::Acquire), q.max.load(Ordering::Acquire));
        if max <= min {
            return 0;
        }
        let time = |o: i64| self.store_time_at(topic, queue_id, o);
        let (mut lo, mut hi) = (min, max);
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            match time(mid) {
                Some(t) if t >= timestamp_ms => hi = mid,
                _ => lo = mid + 1,
            }
        }
        let right = (lo < max).then(|| time(lo).map(|t| (lo, t))).flatten();
        let left = (lo > min).then(|| time(lo - 1).map(|t| (lo - 1, t))).flatten();
        match (left, right) {
            (_, Some((r, t))) if t == timestamp_ms => r,
            (None, Some((r, _))) => r,
            (Some((l, _)), None) => l,
            (Some((l, lt)), Some((r, rt))) => {
                if (timestamp_ms - lt).abs() > (rt - timestamp_ms).abs() {
                    r
                } else {
                    l
                }
            }
            (None, None) => 0,
        }
    }

    /// One whole stored record (VIEW_MESSAGE_BY_ID).
    pub fn read_message(&self, commit_log_offset: i64) -> Option<Bytes> {
        if commit_log_offset < self.log.min_offset() || commit_log_offset >= self.written.load(Ordering::Acquire) {
            return None;
        }
        self.log.read_record(commit_log_offset, self.max_record())
    }

    /// Whole records at `offsets`, each as [`MessageStore::read_message`] would return it, but
    /// neighbours are read together: ascending offsets within [`READ_SPAN`] bytes of the first
    /// (in one segment) take one `pread`, and each record is a slice of it. A timer burst sent
    /// together lies together in the log, so its delivery reads the log in large pieces.
    pub fn read_messages(&self, offsets: &[i64]) -> Vec<Option<Bytes>> {
        let (min, written, max_record) = (self.log.min_offset(), self.written.load(Ordering::Acquire), self.max_record());
        let mut out = Vec::with_capacity(offsets.len());
        let mut i = 0;
        while i < offsets.len() {
            let start = offsets[i];
            let Some(seg) = (start >= min && start < written).then(|| self.log.segment_for(start)).flatten() else {
                out.push(None);
                i += 1;
                continue;
            };
            let limit = (seg.base + self.log.seg_size).min(written).min(start + READ_SPAN);
            let mut j = i + 1;
            while j < offsets.len() && offsets[j] >= offsets[j - 1] && offsets[j] < limit {
                j += 1;
            }
            // the last record's size is not known yet: read a little past its start
            let end = (offsets[j - 1] + READ_TAIL).min(seg.base + self.log.seg_size).min(written);
            let block = self.log.read(start, (end - start) as usize);
            for &off in &offsets[i..j] {
                let rel = (off - start) as usize;
                let hit = block.as_ref().and_then(|b| {
                    let hdr = b.get(rel..rel + 8)?;
                    let size = i32::from_be_bytes([hdr[0], hdr[1], hdr[2], hdr[3]]);
                    let magic = i32::from_be_bytes([hdr[4], hdr[5], hdr[6], hdr[7]]);
                    let fits = magic == MESSAGE_MAGIC && size >= 91 && size as usize <= max_record && rel + size as usize <= b.len();
                    fits.then(|| b.slice(rel..rel + size as usize))
                });
                // a record longer than the block (or a bad header): read alone, as read_message does
                out.push(hit.or_else(|| self.read_message(off)));
            }
            i = j;
        }
        out
    }

    /// Messages whose KEYS or UNIQ_KEY equals `key`, stored in [begin_ms, end_ms], newest first.
    pub fn query_by_key(&self, topic: &str, key: &str, max: usize, begin_ms: i64, end_ms: i64) -> Vec<Bytes> {
        let mut out = Vec::new();
        for (_, off) in self.keys.candidates(topic, key, begin_ms, end_ms) {
            if out.len() >= max {
                break;
            }
            let Some(b) = self.read_message(off) else { continue };
            if record_has_key(&b, topic, key) {
                out.push(b);
            }
        }
        out
    }

    /// Every (topic, queue) with data.
    pub fn queues(&self) -> Vec<(String, i32)> {
        let map = self.queues.read().unwrap_or_else(|e| e.into_inner());
        let mut v: Vec<(String, i32)> = map
            .iter()
            .flat_map(|(t, m)| m.iter().filter(|(_, q)| q.max.load(Ordering::Acquire) > 0).map(move |(id, _)| (t.clone(), *id)))
            .collect();
        v.sort();
        v
    }

    pub fn min_commit_log_offset(&self) -> i64 {
        self.log.min_offset()
    }

    /// Bytes written to the log but not yet fsynced (what a power loss could take).
    pub fn flush_behind_bytes(&self) -> i64 {
        (self.written.load(Ordering::Acquire) - self.flush.flushed.load(Ordering::Acquire)).max(0)
    }

    pub fn max_commit_log_offset(&self) -> i64 {
        self.written.load(Ordering::Acquire)
    }
}

/// Whether a stored record is of `topic` and carries `key` in KEYS (space-separated) or UNIQ_KEY.
fn record_has_key(rec: &[u8], topic: &str, key: &str) -> bool {
    let Ok((m, _)) = crate::codec::stored::decode_stored(rec) else { return false };
    m.topic == topic
        && m.properties.split('\u{2}').any(|kv| match kv.split_once('\u{1}') {
            Some(("KEYS", v)) => v.split(' ').any(|k| k == key),
            Some(("UNIQ_KEY", v)) => v == key,
            _ => false,
        })
}
