//! Per-queue index ("consume queue"): 20-byte entries `commitLogOffset i64 | size i32 | tagsCode i64`,
//! entry n at byte n*20 of the queue, split into files of `per_file` entries named by their 20-digit
//! starting byte offset.
use std::collections::BTreeMap;
use std::fs::{File, OpenOptions};
use std::io;
use std::os::unix::fs::FileExt;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::sync::{Arc, RwLock};

use super::commitlog::{fsync_dir, segment_name};

pub(crate) const ENTRY: i64 = 20;

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

    /// Write consecutive entries from `qoff` (one write per index file they touch); does not
    /// publish them: the caller raises `max`.
    pub fn write_run(&self, mut qoff: i64, mut entries: &[Entry]) -> io::Result<()> {
        let mut b = Vec::with_capacity(entries.len().min(self.per_file as usize) * ENTRY as usize);
        while !entries.is_empty() {
            let f = self.file_or_create(qoff)?;
            let room = (f.start + self.per_file - qoff) as usize;
            let (now, rest) = entries.split_at(room.min(entries.len()));
            b.clear();
            for e in now {
                b.extend_from_slice(&e.phys.to_be_bytes());
                b.extend_from_slice(&e.size.to_be_bytes());
                b.extend_from_slice(&e.tags.to_be_bytes());
            }
            f.file.write_all_at(&b, ((qoff - f.start) * ENTRY) as u64)?;
            f.dirty.store(true, Ordering::Release);
            qoff += now.len() as i64;
            entries = rest;
        }
        self.dirty.store(true, Ordering::Release);
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
        f.file.read_exact_at(&mut b, ((qoff - f.start) * ENTRY) as u64).ok()?;
        Some(b)
    }

    /// Start of the file after the one holding `qoff`.
    pub fn roll_next_file(&self, qoff: i64) -> i64 {
        qoff - qoff.rem_euclid(self.per_file) + self.per_file
    }

    /// Drop entries at and above `qoff`.
    pub fn truncate(&self, qoff: i64) -> io::Result<()> {
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

    pub fn sync(&self) -> io::Result<()> {
        if self.dirty.swap(false, Ordering::AcqRel) {
            for f in self.files() {
                if f.dirty.swap(false, Ordering::AcqRel) {
                    f.file.sync_data()?;
                }
            }
        }
        Ok(())
    }
}
