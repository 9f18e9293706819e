//! Per-queue index ("consume queue"): 20-byte entries `commitLogOffset i64 | size i32 | tagsCode i64`,
//! entry n at byte n*20 of the queue, split into files of `per_file` entries named by their 20-digit
//! starting byte offset.
//!
//! Appended entries are kept in memory (the queue's tail) and written in pieces of about 4 KiB,
//! or when the flusher syncs the queue before a checkpoint: a send costs no index `pwrite` of its
//! own. Readers see the tail; entries above the checkpoint are rebuilt from the log after a crash.
use std::collections::BTreeMap;
use std::fs::{File, OpenOptions};
use std::io;
use std::os::unix::fs::FileExt;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::sync::{Arc, Mutex, RwLock};

use super::commitlog::{fsync_dir, segment_name};

pub(crate) const ENTRY: i64 = 20;
/// Tail bytes past which appends are written out.
const TAIL_WRITE_AT: usize = 204 * ENTRY as usize;

/// Entries appended but not yet written: [start, start + bytes / ENTRY).
#[derive(Default)]
struct Tail {
    start: i64,
    bytes: Vec<u8>,
}

impl Tail {
    fn end(&self) -> i64 {
        self.start + self.bytes.len() as i64 / ENTRY
    }
}

pub(crate) struct CqFile {
    /// First queue offset in this file.
    pub start: i64,
    pub file: File,
    pub path: PathBuf,
    pub dirty: AtomicBool,
}

/// One entry.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) struct Entry {
    pub phys: i64,
    pub size: i32,
    pub tags: i64,
}

pub(crate) fn parse_entry(b: &[u8]) -> Entry {
    let mut a = [0u8; 8];
    a.copy_from_slice(&b[0..8]);
    let phys = i64::from_be_bytes(a);
    let size = i32::from_be_bytes([b[8], b[9], b[10], b[11]]);
    a.copy_from_slice(&b[12..20]);
    Entry { phys, size, tags: i64::from_be_bytes(a) }
}

pub(crate) struct ConsumeQueue {
    pub dir: PathBuf,
    per_file: i64,
    files: RwLock<BTreeMap<i64, Arc<CqFile>>>,
    pub min: AtomicI64,
    pub max: AtomicI64,
    pub dirty: AtomicBool,
    tail: Mutex<Tail>,
}

impl ConsumeQueue {
    /// Open (or create the directory of) a queue's index.
    pub fn open(dir: PathBuf, per_file: i64) -> io::Result<ConsumeQueue> {
        let fresh = !dir.exists();
        std::fs::create_dir_all(&dir)?;
        if fresh {
            if let Some(p) = dir.parent() {
                fsync_dir(p);
                if let Some(pp) = p.parent() {
                    fsync_dir(pp);
                }
            }
        }
        let mut files = BTreeMap::new();
        for ent in std::fs::read_dir(&dir)? {
            let ent = ent?;
            let Some(byte_start) = ent.file_name().to_str().and_then(|n| n.parse::<i64>().ok()) else {
                continue;
            };
            let path = ent.path();
            let file = OpenOptions::new().read(true).write(true).open(&path)?;
            let start = byte_start / ENTRY;
            files.insert(start, Arc::new(CqFile { start, file, path, dirty: AtomicBool::new(false) }));
        }
        let (min, max) = match (files.values().next(), files.values().next_back()) {
            (Some(first), Some(last)) => {
                let len = last.file.metadata()?.len() as i64;
                let whole = len / ENTRY;
                if whole * ENTRY != len {
                    last.file.set_len((whole * ENTRY) as u64)?;
                }
                (first.start, last.start + whole)
            }
            _ => (0, 0),
        };
        Ok(ConsumeQueue {
            dir,
            per_file,
            files: RwLock::new(files),
            min: AtomicI64::new(min),
            max: AtomicI64::new(max),
            dirty: AtomicBool::new(false),
            tail: Mutex::new(Tail::default()),
        })
    }

    fn map(&self) -> std::sync::RwLockReadGuard<'_, BTreeMap<i64, Arc<CqFile>>> {
        self.files.read().unwrap_or_else(|e| e.into_inner())
    }

    fn map_mut(&self) -> std::sync::RwLockWriteGuard<'_, BTreeMap<i64, Arc<CqFile>>> {
        self.files.write().unwrap_or_else(|e| e.into_inner())
    }

    pub fn files(&self) -> Vec<Arc<CqFile>> {
        self.map().values().cloned().collect()
    }

    fn file_for(&self, qoff: i64) -> Option<Arc<CqFile>> {
        let map = self.map();
        let (_, f) = map.range(..=qoff).next_back()?;
        (qoff < f.start + self.per_file).then(|| f.clone())
    }

    /// Write entry `qoff` (does not publish it: the caller raises `max`).
    pub fn write(&self, qoff: i64, e: Entry) -> io::Result<()> {
        self.write_run(qoff, &[e])
    }

    fn tail(&self) -> std::sync::MutexGuard<'_, Tail> {
        self.tail.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Append consecutive entries from `qoff` to the tail (written once it holds ~4 KiB, or by
    /// [`sync`](Self::sync)); entries that do not follow the tail write it out first. Does not
    /// publish them: the caller raises `max`. On an error nothing of `entries` is kept.
    pub fn write_run(&self, qoff: i64, entries: &[Entry]) -> io::Result<()> {
        if entries.is_empty() {
            return Ok(());
        }
        // The files the entries land in exist before they are readable (a reader finds a
        // missing file as OFFSET_FOUND_NULL).
        let last = qoff + entries.len() as i64 - 1;
        let mut at = qoff;
        while at <= last {
            let f = self.file_or_create(at)?;
            at = f.start + self.per_file;
        }
        let mut t = self.tail();
        if !t.bytes.is_empty() && t.end() != qoff {
            self.write_tail(&mut t)?;
        }
        if t.bytes.is_empty() {
            t.start = qoff;
        }
        let before = t.bytes.len();
        for e in entries {
            t.bytes.extend_from_slice(&e.phys.to_be_bytes());
            t.bytes.extend_from_slice(&e.size.to_be_bytes());
            t.bytes.extend_from_slice(&e.tags.to_be_bytes());
        }
        self.dirty.store(true, Ordering::Release);
        if t.bytes.len() >= TAIL_WRITE_AT {
            if let Err(e) = self.write_tail(&mut t) {
                t.bytes.truncate(before);
                return Err(e);
            }
        }
        Ok(())
    }

    /// Write the tail to its files (one write per file it touches) and empty it.
    fn write_tail(&self, t: &mut Tail) -> io::Result<()> {
        let mut qoff = t.start;
        let mut rest = &t.bytes[..];
        while !rest.is_empty() {
            let f = self.file_or_create(qoff)?;
            let room = ((f.start + self.per_file - qoff) * ENTRY) as usize;
            let (now, later) = rest.split_at(room.min(rest.len()));
            f.file.write_all_at(now, ((qoff - f.start) * ENTRY) as u64)?;
            f.dirty.store(true, Ordering::Release);
            qoff += now.len() as i64 / ENTRY;
            rest = later;
        }
        t.start = qoff;
        t.bytes.clear();
        Ok(())
    }

    fn file_or_create(&self, qoff: i64) -> io::Result<Arc<CqFile>> {
        if let Some(f) = self.file_for(qoff) {
            return Ok(f);
        }
        let start = qoff - qoff.rem_euclid(self.per_file);
        let path = self.dir.join(segment_name(start * ENTRY));
        let file = OpenOptions::new().read(true).write(true).create(true).truncate(false).open(&path)?;
        fsync_dir(&self.dir);
        let f = Arc::new(CqFile { start, file, path, dirty: AtomicBool::new(false) });
        self.map_mut().insert(start, f.clone());
        Ok(f)
    }

    /// The queue offset just past the last entry whose record ends at or before commit-log offset
    /// `end` (what the queue keeps when the log is cut at `end`).
    pub fn kept_below(&self, end: i64) -> i64 {
        let mut m = self.max.load(Ordering::Acquire);
        while m > self.min.load(Ordering::Acquire) {
            match self.entry(m - 1) {
                Some(e) if e.size > 0 && e.phys + e.size as i64 <= end => break,
                _ => m -= 1,
            }
        }
        m
    }

    /// Read one entry below `max`.
    pub fn entry(&self, qoff: i64) -> Option<Entry> {
        if qoff < 0 || qoff >= self.max.load(Ordering::Acquire) {
            return None;
        }
        let f = self.file_for(qoff)?;
        {
            let t = self.tail();
            if qoff >= t.start && qoff < t.end() {
                let at = ((qoff - t.start) * ENTRY) as usize;
                return Some(parse_entry(&t.bytes[at..at + ENTRY as usize]));
            }
        }
        let mut b = [0u8; 20];
        f.file.read_exact_at(&mut b, ((qoff - f.start) * ENTRY) as u64).ok()?;
        Some(parse_entry(&b))
    }

    /// Raw entries from `qoff`, at most `n`, not past the end of `qoff`'s file nor `max`.
    /// None when `qoff`'s file is missing (RocketMQ's OFFSET_FOUND_NULL).
    pub fn entries(&self, qoff: i64, n: i64) -> Option<Vec<u8>> {
        let max = self.max.load(Ordering::Acquire);
        let f = self.file_for(qoff)?;
        let end = max.min(f.start + self.per_file).min(qoff + n);
        if end <= qoff {
            return Some(Vec::new());
        }
        let mut b = vec![0u8; ((end - qoff) * ENTRY) as usize];
        // The part in the tail is copied under its lock; what lies below the tail's start is on
        // disk (written before the tail moved past it).
        let on_disk_end = {
            let t = self.tail();
            let from = qoff.max(t.start);
            if from < end.min(t.end()) {
                let src = ((from - t.start) * ENTRY) as usize..((end.min(t.end()) - t.start) * ENTRY) as usize;
                let dst = ((from - qoff) * ENTRY) as usize;
                b[dst..dst + src.len()].copy_from_slice(&t.bytes[src]);
                from
            } else {
                end
            }
        };
        if on_disk_end > qoff {
            f.file.read_exact_at(&mut b[..((on_disk_end - qoff) * ENTRY) as usize], ((qoff - f.start) * ENTRY) as u64).ok()?;
        }
        Some(b)
    }

    /// Start of the file after the one holding `qoff`.
    pub fn roll_next_file(&self, qoff: i64) -> i64 {
        qoff - qoff.rem_euclid(self.per_file) + self.per_file
    }

    /// Drop entries at and above `qoff`.
    pub fn truncate(&self, qoff: i64) -> io::Result<()> {
        {
            let mut t = self.tail();
            if qoff <= t.start {
                t.bytes.clear();
            } else if qoff < t.end() {
                let keep = ((qoff - t.start) * ENTRY) as usize;
                t.bytes.truncate(keep);
            }
        }
        let mut map = self.map_mut();
        let doomed: Vec<i64> = map.range(qoff..).map(|(k, _)| *k).collect();
        for k in doomed {
            if let Some(f) = map.remove(&k) {
                std::fs::remove_file(&f.path)?;
            }
        }
        if let Some((_, f)) = map.range(..qoff).next_back() {
            let keep = ((qoff - f.start).min(self.per_file) * ENTRY) as u64;
            if f.file.metadata()?.len() > keep {
                f.file.set_len(keep)?;
            }
        }
        drop(map);
        self.max.store(qoff.max(0), Ordering::Release);
        if self.min.load(Ordering::Acquire) > qoff {
            self.min.store(qoff, Ordering::Release);
        }
        Ok(())
    }

    /// First offset in [min, max) whose entry points at or past `log_min`, by binary search.
    pub fn first_at_or_after(&self, log_min: i64) -> i64 {
        let (mut lo, mut hi) = (self.min.load(Ordering::Acquire), self.max.load(Ordering::Acquire));
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            match self.entry(mid) {
                Some(e) if e.phys >= log_min => hi = mid,
                Some(_) => lo = mid + 1,
                None => lo = mid + 1,
            }
        }
        lo
    }

    /// Raise `min` to `new_min` and delete index files wholly below it (except the last one).
    pub fn set_min(&self, new_min: i64) {
        self.min.fetch_max(new_min, Ordering::AcqRel);
        {
            // Tail entries below the new minimum are not written (their file may go below).
            let mut t = self.tail();
            if t.start < new_min {
                let to = new_min.min(t.end());
                let cut = ((to - t.start) * ENTRY) as usize;
                t.bytes.drain(..cut);
                t.start = to;
            }
        }
        let mut map = self.map_mut();
        // Never the last file: it carries the queue's max offset across restarts.
        let last = map.keys().next_back().copied();
        let doomed: Vec<i64> = map
            .iter()
            .filter(|(k, f)| f.start + self.per_file <= new_min && Some(**k) != last)
            .map(|(k, _)| *k)
            .collect();
        for k in doomed {
            if let Some(f) = map.remove(&k) {
                if let Err(e) = std::fs::remove_file(&f.path) {
                    tracing::warn!(file = %f.path.display(), error = %e, "cannot delete expired index file");
                }
            }
        }
    }

    /// Write the tail and fsync the files written since the last sync (before a checkpoint).
    pub fn sync(&self) -> io::Result<()> {
        if self.dirty.swap(false, Ordering::AcqRel) {
            {
                let mut t = self.tail();
                if let Err(e) = self.write_tail(&mut t) {
                    self.dirty.store(true, Ordering::Release);
                    return Err(e);
                }
                // No buffer kept between syncs (an idle queue holds no memory for its tail).
                t.bytes = Vec::new();
            }
            for f in self.files() {
                if f.dirty.swap(false, Ordering::AcqRel) {
                    f.file.sync_data()?;
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn e(i: i64) -> Entry {
        Entry { phys: i * 100, size: 100, tags: i }
    }

    fn publish(q: &ConsumeQueue, from: i64, n: i64) {
        let run: Vec<Entry> = (from..from + n).map(e).collect();
        q.write_run(from, &run).unwrap();
        q.max.store(from + n, Ordering::Release);
    }

    #[test]
    fn the_tail_is_readable_before_it_is_written_and_across_files() {
        let dir = tempfile::tempdir().unwrap();
        let q = ConsumeQueue::open(dir.path().join("q"), 50).unwrap();
        publish(&q, 0, 30);
        // Nothing written yet: the entries come from memory.
        assert_eq!(q.files().iter().map(|f| f.file.metadata().unwrap().len()).sum::<u64>(), 0);
        assert_eq!(q.entry(29), Some(e(29)));
        for i in 30..120 {
            publish(&q, i, 1);
        }
        // Not written yet either (a tail is written at 204 entries); reads cross a file boundary.
        for i in 0..120 {
            assert_eq!(q.entry(i), Some(e(i)), "entry {i}");
        }
        let raw = q.entries(40, 20).unwrap();
        assert_eq!(raw.len(), 10 * ENTRY as usize, "entries stop at the file's end (50)");
        assert_eq!(parse_entry(&raw[..20]), e(40));
        assert_eq!(parse_entry(&raw[180..]), e(49));
        q.sync().unwrap();
        let reopened = ConsumeQueue::open(dir.path().join("q"), 50).unwrap();
        assert_eq!(reopened.max.load(Ordering::Acquire), 120);
        assert_eq!(reopened.entry(119), Some(e(119)));
        assert_eq!(reopened.entry(0), Some(e(0)));
    }

    #[test]
    fn a_full_tail_is_written_and_an_unsynced_one_is_not() {
        let dir = tempfile::tempdir().unwrap();
        let q = ConsumeQueue::open(dir.path().join("q"), 1000).unwrap();
        for i in 0..300 {
            publish(&q, i, 1);
        }
        let on_disk = q.files()[0].file.metadata().unwrap().len() as i64 / ENTRY;
        assert_eq!(on_disk, 204, "written in ~4 KiB pieces");
        assert_eq!(q.entry(299), Some(e(299)));
        drop(q);
        // A crash loses the unwritten tail (recovery re-adds it from the log).
        let q = ConsumeQueue::open(dir.path().join("q"), 1000).unwrap();
        assert_eq!(q.max.load(Ordering::Acquire), on_disk);
    }

    #[test]
    fn truncate_and_set_min_cut_the_tail() {
        let dir = tempfile::tempdir().unwrap();
        let q = ConsumeQueue::open(dir.path().join("q"), 10).unwrap();
        publish(&q, 0, 25);
        q.truncate(22).unwrap();
        assert_eq!(q.entry(21), Some(e(21)));
        assert_eq!(q.entry(22), None);
        // Appending after a cut continues from it.
        publish(&q, 22, 3);
        assert_eq!(q.entry(24), Some(e(24)));
        q.set_min(20);
        q.sync().unwrap();
        let names: Vec<i64> = q.files().iter().map(|f| f.start).collect();
        assert_eq!(names, vec![20], "files below the minimum gone, none re-made by the tail");
        let q = ConsumeQueue::open(dir.path().join("q"), 10).unwrap();
        assert_eq!((q.min.load(Ordering::Acquire), q.max.load(Ordering::Acquire)), (20, 25));
        assert_eq!(q.entry(20), Some(e(20)));
    }
}
