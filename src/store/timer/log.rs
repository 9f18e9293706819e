//! The timer log: fixed-size entries appended to segment files, each entry pointing back to the
//! previous entry of its wheel slot (a chain per slot, newest first).
//!
//! An entry is [`ENTRY_SIZE`] bytes, big-endian:
//!
//! ```text
//! magic u16 | flags u16 | key hash u32 | prev i64 | due ms i64 | slot ms i64 | commit log offset i64 | reserved u32 | crc32 u32
//! ```
//!
//! `prev` is the log position of the slot's previous entry (-1: none). The CRC covers the first 44
//! bytes, so a torn or foreign entry is recognised. Positions are global byte offsets; segment
//! files are named by their 20-digit start position and hold `entries_per_segment` entries.
//! Appends are buffered (one `pwrite` per 64 KiB) and reads go through a one-block cache, so a
//! chain whose entries were written close together costs few system calls. Nothing is mapped:
//! memory does not grow with the log.
use super::super::StoreError;
use std::collections::BTreeMap;
use std::fs::{File, OpenOptions};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

pub const ENTRY_SIZE: i64 = 48;
const MAGIC: u16 = 0x7E1A;
const WRITE_BUF: usize = 64 << 10;
/// A whole number of entries (so no entry straddles two blocks), about 64 KiB.
const READ_BLOCK: i64 = ENTRY_SIZE * 1365;

/// The entry is a roll: when its slot comes, the message is stored again in the timer topic
/// (its due time is beyond the roll window).
pub const FLAG_ROLL: u16 = 1 << 1;
/// Recalled: skipped when its slot comes.
pub const FLAG_DELETED: u16 = 1 << 2;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Entry {
    pub flags: u16,
    /// CRC-32 of the message's UNIQ_KEY (recall looks entries up by it).
    pub key_hash: u32,
    pub prev: i64,
    pub due_ms: i64,
    pub slot_ms: i64,
    pub commit_log_offset: i64,
}

impl Entry {
    pub fn encode(&self) -> [u8; ENTRY_SIZE as usize] {
        let mut b = [0u8; ENTRY_SIZE as usize];
        b[0..2].copy_from_slice(&MAGIC.to_be_bytes());
        b[2..4].copy_from_slice(&self.flags.to_be_bytes());
        b[4..8].copy_from_slice(&self.key_hash.to_be_bytes());
        b[8..16].copy_from_slice(&self.prev.to_be_bytes());
        b[16..24].copy_from_slice(&self.due_ms.to_be_bytes());
        b[24..32].copy_from_slice(&self.slot_ms.to_be_bytes());
        b[32..40].copy_from_slice(&self.commit_log_offset.to_be_bytes());
        let crc = crc32fast::hash(&b[..44]);
        b[44..48].copy_from_slice(&crc.to_be_bytes());
        b
    }

    /// None for bytes that are not a whole, intact entry.
    pub fn decode(b: &[u8]) -> Option<Entry> {
        if b.len() < ENTRY_SIZE as usize {
            return None;
        }
        let u16_at = |i: usize| u16::from_be_bytes([b[i], b[i + 1]]);
        let u32_at = |i: usize| u32::from_be_bytes([b[i], b[i + 1], b[i + 2], b[i + 3]]);
        let i64_at = |i: usize| i64::from_be_bytes(b[i..i + 8].try_into().unwrap_or([0; 8]));
        if u16_at(0) != MAGIC || crc32fast::hash(&b[..44]) != u32_at(44) {
            return None;
        }
        Some(Entry {
            flags: u16_at(2),
            key_hash: u32_at(4),
            prev: i64_at(8),
            due_ms: i64_at(16),
            slot_ms: i64_at(24),
            commit_log_offset: i64_at(32),
        })
    }
}

struct Segment {
    file: File,
    /// Last write (wall clock ms): a segment untouched for longer than the wheel can hold an
    /// entry is deleted (see [`TimerLog::expire`]).
    written_ms: i64,
}

pub struct TimerLog {
    dir: PathBuf,
    seg_bytes: i64,
    segs: BTreeMap<i64, Segment>,
    /// End of what is in the files; `buf` holds the bytes from here to [`TimerLog::end`].
    file_end: i64,
    buf: Vec<u8>,
    cache: Option<(i64, Vec<u8>)>,
}

fn seg_name(start: i64) -> String {
    format!("{start:020}")
}

fn mtime_ms(f: &File) -> i64 {
    f.metadata()
        .and_then(|m| m.modified())
        .ok()
        .and_then(|t| t.duration_since(SystemTime::UNIX_EPOCH).ok())
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

impl TimerLog {
    /// Open the segments under `dir`; the log ends after the last whole entry of the last segment.
    pub fn open(dir: &Path, entries_per_segment: i64) -> Result<TimerLog, StoreError> {
        std::fs::create_dir_all(dir).map_err(|e| StoreError::io(dir, e))?;
        let mut segs = BTreeMap::new();
        for ent in std::fs::read_dir(dir).map_err(|e| StoreError::io(dir, e))? {
            let ent = ent.map_err(|e| StoreError::io(dir, e))?;
            let name = ent.file_name().to_string_lossy().into_owned();
            let Ok(start) = name.parse::<i64>() else { continue };
            let path = ent.path();
            let file = OpenOptions::new().read(true).write(true).open(&path).map_err(|e| StoreError::io(&path, e))?;
            let written_ms = mtime_ms(&file);
            segs.insert(start, Segment { file, written_ms });
        }
        let seg_bytes = entries_per_segment.max(1) * ENTRY_SIZE;
        let mut log = TimerLog { dir: dir.to_path_buf(), seg_bytes, segs, file_end: 0, buf: Vec::new(), cache: None };
        if let Some((&start, seg)) = log.segs.iter().next_back() {
            let len = seg.file.metadata().map_err(|e| StoreError::io(&log.seg_path(start), e))?.len() as i64;
            log.file_end = start + len / ENTRY_SIZE * ENTRY_SIZE;
        }
        Ok(log)
    }

    fn seg_path(&self, start: i64) -> PathBuf {
        self.dir.join(seg_name(start))
    }

    /// Position after the last entry (buffered ones included).
    pub fn end(&self) -> i64 {
        self.file_end + self.buf.len() as i64
    }

    /// First position still on disk.
    pub fn start(&self) -> i64 {
        self.segs.keys().next().copied().unwrap_or(self.file_end)
    }

    /// Append an entry; returns its position.
    pub fn append(&mut self, e: &Entry, now_ms: i64) -> Result<i64, StoreError> {
        let pos = self.end();
        self.buf.extend_from_slice(&e.encode());
        let seg_end = (pos / self.seg_bytes + 1) * self.seg_bytes;
        if self.buf.len() >= WRITE_BUF || pos + ENTRY_SIZE == seg_end {
            self.flush_buf(now_ms)?;
        }
        Ok(pos)
    }

    /// Write the buffered entries to their segment files (the page cache).
    pub fn flush_buf(&mut self, now_ms: i64) -> Result<(), StoreError> {
        while !self.buf.is_empty() {
            let start = self.file_end / self.seg_bytes * self.seg_bytes;
            let room = (start + self.seg_bytes - self.file_end) as usize;
            let n = room.min(self.buf.len());
            let path = self.seg_path(start);
            if let std::collections::btree_map::Entry::Vacant(v) = self.segs.entry(start) {
                let file = OpenOptions::new().read(true).write(true).create(true).truncate(false).open(&path).map_err(|e| StoreError::io(&path, e))?;
                v.insert(Segment { file, written_ms: now_ms });
            }
            let seg = self.segs.get_mut(&start).ok_or_else(|| StoreError::Meta("timer log segment vanished".into()))?;
            seg.file.write_all_at(&self.buf[..n], (self.file_end - start) as u64).map_err(|e| StoreError::io(&path, e))?;
            seg.written_ms = now_ms;
            self.buf.drain(..n);
            self.file_end += n as i64;
        }
        self.cache = None;
        Ok(())
    }

    /// The entry at `pos`; `Ok(None)` when the bytes there are not an intact entry or the position
    /// is outside the log (deleted or never written).
    pub fn read(&mut self, pos: i64) -> Result<Option<Entry>, StoreError> {
        if pos < 0 || pos % ENTRY_SIZE != 0 || pos + ENTRY_SIZE > self.end() {
            return Ok(None);
        }
        if pos >= self.file_end {
            let i = (pos - self.file_end) as usize;
            return Ok(Entry::decode(&self.buf[i..i + ENTRY_SIZE as usize]));
        }
        let block = pos / READ_BLOCK * READ_BLOCK;
        let hit = matches!(&self.cache, Some((b, data)) if *b <= pos && pos + ENTRY_SIZE <= *b + data.len() as i64);
        if !hit {
            let start = pos / self.seg_bytes * self.seg_bytes;
            let Some(seg) = self.segs.get(&start) else { return Ok(None) };
            // a block never spans segments: segments are a whole number of blocks or the block is cut
            let block_start = block.max(start);
            let want = (READ_BLOCK.min(start + self.seg_bytes - block_start)).min(self.file_end - block_start) as usize;
            let mut data = vec![0u8; want];
            let path = self.seg_path(start);
            let mut got = 0;
            while got < want {
                let n = seg.file.read_at(&mut data[got..], (block_start - start) as u64 + got as u64).map_err(|e| StoreError::io(&path, e))?;
                if n == 0 {
                    break;
                }
                got += n;
            }
            data.truncate(got);
            self.cache = Some((block_start, data));
        }
        let Some((b, data)) = &self.cache else { return Ok(None) };
        let i = (pos - *b) as usize;
        Ok(data.get(i..i + ENTRY_SIZE as usize).and_then(Entry::decode))
    }

    /// Rewrite the entry at `pos` in place (a recall sets [`FLAG_DELETED`]).
    pub fn rewrite(&mut self, pos: i64, e: &Entry, now_ms: i64) -> Result<(), StoreError> {
        if pos >= self.file_end {
            let i = (pos - self.file_end) as usize;
            self.buf[i..i + ENTRY_SIZE as usize].copy_from_slice(&e.encode());
            return Ok(());
        }
        let start = pos / self.seg_bytes * self.seg_bytes;
        let path = self.seg_path(start);
        let Some(seg) = self.segs.get_mut(&start) else { return Ok(()) };
        seg.file.write_all_at(&e.encode(), (pos - start) as u64).map_err(|e| StoreError::io(&path, e))?;
        seg.written_ms = now_ms;
        self.cache = None;
        Ok(())
    }

    /// Cut the log at `end` (recovery: entries after the checkpoint are indexed again).
    pub fn truncate(&mut self, end: i64) -> Result<(), StoreError> {
        self.buf.clear();
        self.cache = None;
        let starts: Vec<i64> = self.segs.keys().copied().filter(|s| *s + self.seg_bytes > end).collect();
        for s in starts {
            let path = self.seg_path(s);
            if s >= end && s > 0 {
                self.segs.remove(&s);
                std::fs::remove_file(&path).map_err(|e| StoreError::io(&path, e))?;
            } else if let Some(seg) = self.segs.get(&s) {
                seg.file.set_len((end - s).max(0) as u64).map_err(|e| StoreError::io(&path, e))?;
            }
        }
        self.file_end = end.min(self.file_end);
        Ok(())
    }

    /// fsync every segment written since the last sync (the last two are enough: older ones are
    /// only touched by recalls, which sync on their own).
    pub fn sync(&mut self, now_ms: i64) -> Result<(), StoreError> {
        self.flush_buf(now_ms)?;
        let starts: Vec<i64> = self.segs.keys().rev().take(2).copied().collect();
        for s in starts {
            if let Some(seg) = self.segs.get(&s) {
                seg.file.sync_data().map_err(|e| StoreError::io(&self.seg_path(s), e))?;
            }
        }
        Ok(())
    }

    /// Delete whole segments last written before `before_ms` (their entries' slots have all
    /// passed), never the one being appended to. Returns how many were deleted.
    pub fn expire(&mut self, before_ms: i64) -> usize {
        let active = self.end() / self.seg_bytes * self.seg_bytes;
        let old: Vec<i64> = self.segs.iter().filter(|(s, seg)| **s < active && seg.written_ms < before_ms).map(|(s, _)| *s).collect();
        for s in &old {
            self.segs.remove(s);
            if let Err(e) = std::fs::remove_file(self.seg_path(*s)) {
                tracing::warn!(segment = *s, error = %e, "timer log segment could not be deleted");
            }
        }
        self.cache = None;
        old.len()
    }

    pub fn disk_bytes(&self) -> i64 {
        self.end() - self.start()
    }
}
