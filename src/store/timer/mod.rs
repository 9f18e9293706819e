//! The timer store: where 5.x timer messages (`TIMER_DELIVER_MS` / `TIMER_DELAY_*`) wait, in plain
//! files under `<store root>/timer/`, as in RocketMQ 5 (a timer log plus a timing wheel). The
//! messages themselves stay in the commit log (topic `rmq_sys_wheel_timer`); this store only
//! indexes them by due time.
//!
//! ```text
//! timer/log/<20-digit position>   timer log segments: 48-byte entries chained per slot (`log`)
//! timer/wheel                     the wheel: one 32-byte record per slot (`wheel`)
//! timer/checkpoint                two 64-byte copies of the progress record, written alternately
//! ```
//!
//! Insert is O(1): append an entry whose `prev` is the slot's newest entry, then update the slot
//! record. The entries of a slot are found by walking its chain; nothing scans pending timers.
//! Memory is a write buffer, a read block and the changed slots: independent of how many wait.
//!
//! # Checkpoint and recovery
//! The checkpoint records the next timer-topic queue offset to index (`enqueue_offset`), the
//! timer log's end at that moment (`log_end`) and the slot being delivered (`dequeue_ms`). It is
//! written after the log and the wheel (all three are in the page cache in that order, so a killed
//! process leaves a checkpoint that never points past its data). On open, entries past `log_end`
//! are unlinked from their slots and cut; the core indexes the timer topic again from
//! `enqueue_offset`, which recreates exactly those entries. Any damage (bad header, checksum, a
//! slot pointing past the log) is reported as [`Opened::Damaged`] with fresh files, and the core
//! rebuilds the index from the timer topic in the commit log.
mod log;
mod wheel;

pub use log::{Entry, ENTRY_SIZE, FLAG_DELETED, FLAG_ROLL};
pub use wheel::Slot;

use super::StoreError;
use log::TimerLog;
use std::collections::HashSet;
use std::fs::{File, OpenOptions};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use wheel::{Wheel, WheelOpen};

/// Layout of the timer store (fixed when the files are created, except where noted).
#[derive(Clone, Debug)]
pub struct TimerConfig {
    pub dir: PathBuf,
    /// Width of a slot (timerPrecisionMs). A change rebuilds the wheel at the next start.
    pub precision_ms: i64,
    /// Slots in the wheel (RocketMQ: 7 days of seconds, 604 800).
    pub slots: u64,
    /// Entries per timer log segment.
    pub entries_per_segment: i64,
}

/// Progress, as last checkpointed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct Checkpoint {
    /// Next timer-topic queue offset to index; -1: not known yet (a rebuild starts at the queue's
    /// first offset).
    pub enqueue_offset: i64,
    /// Timer log end covered by this checkpoint.
    pub log_end: i64,
    /// Start of the slot being delivered: every slot before it is delivered.
    pub dequeue_ms: i64,
    /// While rebuilding from the timer topic: queue offsets below this are re-indexed, not new
    /// (messages already delivered or rolled are skipped). -1: not rebuilding.
    pub rebuild_upto: i64,
    /// While rebuilding: slots before this time were delivered before the rebuild.
    pub rebuild_skip_ms: i64,
}

/// How [`TimerStore::open`] found the files.
#[derive(Debug, PartialEq, Eq)]
pub enum Opened {
    /// No timer files: a new store (or one from before the timer store existed).
    Fresh,
    Recovered,
    /// The files were damaged or made with another layout; they were replaced by empty ones.
    /// `dequeue_ms` is the last readable delivery progress (0 when none).
    Damaged { reason: String, dequeue_ms: i64 },
}

pub struct TimerStore {
    cfg: TimerConfig,
    log: TimerLog,
    wheel: Wheel,
    ckpt_file: File,
    ckpt_seq: u64,
    ckpt: Checkpoint,
    /// Live entries in slots at or after `dequeue_ms` (recalled ones excluded).
    pending: u64,
}

const CKPT_REC: u64 = 64;

fn encode_ckpt(seq: u64, c: &Checkpoint) -> [u8; CKPT_REC as usize] {
    let mut b = [0u8; CKPT_REC as usize];
    b[0..8].copy_from_slice(&seq.to_be_bytes());
    b[8..16].copy_from_slice(&c.enqueue_offset.to_be_bytes());
    b[16..24].copy_from_slice(&c.log_end.to_be_bytes());
    b[24..32].copy_from_slice(&c.dequeue_ms.to_be_bytes());
    b[32..40].copy_from_slice(&c.rebuild_upto.to_be_bytes());
    b[40..48].copy_from_slice(&c.rebuild_skip_ms.to_be_bytes());
    let crc = crc32fast::hash(&b[..48]);
    b[48..52].copy_from_slice(&crc.to_be_bytes());
    b
}

fn decode_ckpt(b: &[u8]) -> Option<(u64, Checkpoint)> {
    let i64_at = |i: usize| i64::from_be_bytes(b[i..i + 8].try_into().unwrap_or([0; 8]));
    if b.len() < 52 || crc32fast::hash(&b[..48]) != u32::from_be_bytes([b[48], b[49], b[50], b[51]]) || b[..8] == [0; 8] {
        return None;
    }
    let c = Checkpoint {
        enqueue_offset: i64_at(8),
        log_end: i64_at(16),
        dequeue_ms: i64_at(24),
        rebuild_upto: i64_at(32),
        rebuild_skip_ms: i64_at(40),
    };
    Some((i64_at(0) as u64, c))
}

/// The newer intact copy of the checkpoint file, if any.
fn read_ckpt(f: &File) -> Option<(u64, Checkpoint)> {
    let mut b = [0u8; 2 * CKPT_REC as usize];
    let n = f.read_at(&mut b, 0).ok()?;
    let a = decode_ckpt(&b[..n.min(CKPT_REC as usize)]);
    let c = (n >= 2 * CKPT_REC as usize).then(|| decode_ckpt(&b[CKPT_REC as usize..])).flatten();
    match (a, c) {
        (Some(a), Some(c)) => Some(if a.0 >= c.0 { a } else { c }),
        (a, c) => a.or(c),
    }
}

impl TimerStore {
    /// Open (creating) the timer store, recovering it to its checkpoint.
    pub fn open(cfg: TimerConfig) -> Result<(TimerStore, Opened), StoreError> {
        std::fs::create_dir_all(&cfg.dir).map_err(|e| StoreError::io(&cfg.dir, e))?;
        let ckpt_path = cfg.dir.join("checkpoint");
        let fresh = !ckpt_path.exists();
        if fresh {
            // leftovers of a store that never wrote its first checkpoint
            let _ = std::fs::remove_dir_all(cfg.dir.join("log"));
            let _ = std::fs::remove_file(cfg.dir.join("wheel"));
        }
        match Self::try_open(&cfg, fresh)? {
            Ok(opened) => Ok(opened),
            Err(reason) => {
                let dequeue_ms = File::open(&ckpt_path).ok().and_then(|f| read_ckpt(&f)).map(|(_, c)| c.dequeue_ms).unwrap_or(0);
                tracing::error!(dir = %cfg.dir.display(), %reason, "timer store damaged: rebuilding it from the timer topic");
                for p in [cfg.dir.join("log"), cfg.dir.join("wheel"), ckpt_path] {
                    let _ = if p.is_dir() { std::fs::remove_dir_all(&p) } else { std::fs::remove_file(&p) };
                }
                let (store, _) = Self::try_open(&cfg, true)?.map_err(|r| StoreError::Corrupt { path: cfg.dir.clone(), offset: 0, reason: r })?;
                Ok((store, Opened::Damaged { reason, dequeue_ms }))
            }
        }
    }

    /// Err(reason) inside Ok: the files are damaged.
    fn try_open(cfg: &TimerConfig, fresh: bool) -> Result<Result<(TimerStore, Opened), String>, StoreError> {
        let ckpt_path = cfg.dir.join("checkpoint");
        let log = TimerLog::open(&cfg.dir.join("log"), cfg.entries_per_segment)?;
        let wheel = match Wheel::open(&cfg.dir.join("wheel"), cfg.precision_ms, cfg.slots)? {
            WheelOpen::Mismatch(r) => return Ok(Err(r)),
            WheelOpen::Created(_) if !fresh => return Ok(Err(format!("{} was missing", cfg.dir.join("wheel").display()))),
            WheelOpen::Created(w) | WheelOpen::Existing(w) => w,
        };
        let ckpt_file = OpenOptions::new().read(true).write(true).create(true).truncate(false).open(&ckpt_path).map_err(|e| StoreError::io(&ckpt_path, e))?;
        let (seq, ckpt) = match read_ckpt(&ckpt_file) {
            Some(c) => c,
            None if fresh => (0, Checkpoint { enqueue_offset: -1, log_end: 0, dequeue_ms: 0, rebuild_upto: -1, rebuild_skip_ms: 0 }),
            None => return Ok(Err(format!("{}: no intact copy", ckpt_path.display()))),
        };
        let mut st = TimerStore { cfg: cfg.clone(), log, wheel, ckpt_file, ckpt_seq: seq, ckpt, pending: 0 };
        if fresh {
            st.log.truncate(0)?;
            st.write_ckpt(false)?;
            return Ok(Ok((st, Opened::Fresh)));
        }
        if let Err(r) = st.recover()? {
            return Ok(Err(r));
        }
        Ok(Ok((st, Opened::Recovered)))
    }

    /// Unlink the entries written after the checkpoint and cut them; check every slot.
    fn recover(&mut self) -> Result<Result<(), String>, StoreError> {
        let log_end = self.ckpt.log_end;
        if self.log.end() < log_end {
            return Ok(Err(format!("timer log ends at {} before its checkpoint ({log_end})", self.log.end())));
        }
        let mut slots = HashSet::new();
        let mut pos = log_end;
        while pos < self.log.end() {
            if let Some(e) = self.log.read(pos)? {
                slots.insert(e.slot_ms);
            }
            pos += ENTRY_SIZE;
        }
        for slot_ms in slots {
            let mut s = self.wheel.get(slot_ms)?;
            while s.last >= log_end {
                let Some(e) = self.log.read(s.last)? else { return Ok(Err(format!("slot {slot_ms}: unreadable entry at {}", s.last))) };
                s.last = e.prev;
                s.entries = s.entries.saturating_sub(1);
            }
            if s.last < 0 || s.first >= log_end {
                s = Slot::empty(slot_ms);
            }
            self.wheel.put(s);
        }
        let cut = self.log.end() - log_end;
        if cut > 0 {
            tracing::info!(entries = cut / ENTRY_SIZE, "timer log: entries after the checkpoint are indexed again");
        }
        self.log.truncate(log_end)?;
        self.wheel.flush()?;
        let dequeue_ms = self.ckpt.dequeue_ms;
        let mut pending = 0u64;
        let mut bad = None;
        let scanned = self.wheel.scan(|s| {
            if s.slot_ms >= dequeue_ms && s.entries > 0 {
                pending += s.entries as u64;
                if s.last >= log_end || s.first >= log_end || s.first < 0 {
                    bad.get_or_insert(format!("slot {} points outside the timer log", s.slot_ms));
                }
            }
        });
        if let Err(e) = scanned {
            return Ok(Err(e.to_string()));
        }
        if let Some(b) = bad {
            return Ok(Err(b));
        }
        self.pending = pending;
        Ok(Ok(()))
    }

    pub fn precision_ms(&self) -> i64 {
        self.cfg.precision_ms
    }

    /// The span of the wheel: a slot further ahead than this would overwrite one still pending.
    pub fn span_ms(&self) -> i64 {
        self.cfg.precision_ms * self.cfg.slots as i64
    }

    pub fn checkpoint(&self) -> Checkpoint {
        self.ckpt
    }

    /// Timers waiting (live entries in slots not yet delivered).
    pub fn pending(&self) -> u64 {
        self.pending
    }

    /// Entries indexed in one slot (recalled ones excluded).
    pub fn slot_len(&self, slot_ms: i64) -> u32 {
        self.wheel.get(slot_ms).map(|s| s.entries).unwrap_or(0)
    }

    /// Add an entry at the end of its slot's chain (`e.slot_ms`); returns its position.
    pub fn add(&mut self, mut e: Entry, now_ms: i64) -> Result<i64, StoreError> {
        let mut s = self.wheel.get(e.slot_ms)?;
        e.prev = s.last;
        let pos = self.log.append(&e, now_ms)?;
        if s.first < 0 {
            s.first = pos;
        }
        s.last = pos;
        s.entries += 1;
        self.wheel.put(s);
        self.pending += 1;
        Ok(pos)
    }

    /// Every entry of a slot, oldest first, with its position. A damaged entry ends the walk
    /// (reported; the entries before it in the chain cannot be reached).
    pub fn slot_entries(&mut self, slot_ms: i64) -> Result<Vec<(i64, Entry)>, StoreError> {
        let s = self.wheel.get(slot_ms)?;
        let mut out = Vec::with_capacity(s.entries as usize);
        let mut pos = s.last;
        let floor = self.log.start();
        while pos >= floor {
            match self.log.read(pos)? {
                // a chain only points backwards: a loop is damage
                Some(e) if e.slot_ms == slot_ms && e.prev < pos => {
                    out.push((pos, e));
                    if pos == s.first {
                        break;
                    }
                    pos = e.prev;
                }
                _ => {
                    tracing::error!(slot_ms, pos, "timer log: damaged entry in a slot chain; the older entries of this slot are skipped");
                    break;
                }
            }
        }
        out.reverse();
        Ok(out)
    }

    /// Mark an entry recalled (it stays in its chain, skipped when its slot comes).
    pub fn mark_deleted(&mut self, pos: i64, now_ms: i64) -> Result<bool, StoreError> {
        let Some(mut e) = self.log.read(pos)? else { return Ok(false) };
        if e.flags & FLAG_DELETED != 0 {
            return Ok(false);
        }
        e.flags |= FLAG_DELETED;
        self.log.rewrite(pos, &e, now_ms)?;
        let mut s = self.wheel.get(e.slot_ms)?;
        if s.entries > 0 {
            s.entries -= 1;
            self.wheel.put(s);
        }
        self.pending = self.pending.saturating_sub(1);
        Ok(true)
    }

    /// Entries were delivered (or rolled): they leave the pending count.
    pub fn delivered(&mut self, n: u64) {
        self.pending = self.pending.saturating_sub(n);
    }

    /// Record progress: buffered entries and slots are written, then the checkpoint. With `sync`,
    /// the log and wheel are fsynced first and the checkpoint after.
    /// `c.log_end` is ignored (the log's end is recorded).
    pub fn save(&mut self, c: Checkpoint, now_ms: i64, sync: bool) -> Result<(), StoreError> {
        self.log.flush_buf(now_ms)?;
        self.wheel.flush()?;
        if sync {
            self.log.sync(now_ms)?;
            self.wheel.sync()?;
        }
        self.ckpt = Checkpoint { log_end: self.log.end(), ..c };
        self.write_ckpt(sync)
    }

    fn write_ckpt(&mut self, sync: bool) -> Result<(), StoreError> {
        self.ckpt_seq += 1;
        let at = (self.ckpt_seq % 2) * CKPT_REC;
        let path = self.cfg.dir.join("checkpoint");
        self.ckpt_file.write_all_at(&encode_ckpt(self.ckpt_seq, &self.ckpt), at).map_err(|e| StoreError::io(&path, e))?;
        if sync {
            self.ckpt_file.sync_data().map_err(|e| StoreError::io(&path, e))?;
        }
        Ok(())
    }

    /// Delete timer log segments whose entries' slots have all passed (last written before
    /// `before_ms`).
    pub fn expire(&mut self, before_ms: i64) -> usize {
        self.log.expire(before_ms)
    }

    /// Bytes of timer log on disk.
    pub fn log_bytes(&self) -> i64 {
        self.log.disk_bytes()
    }
}

/// Whether a timer store exists under `dir` (its checkpoint file does).
pub fn exists(dir: &Path) -> bool {
    dir.join("checkpoint").exists()
}

/// Make the next [`TimerStore::open`] of `dir` a fresh one: the checkpoint goes first (without it
/// the open removes the other files), then the log and the wheel.
pub fn forget(dir: &Path) -> Result<(), StoreError> {
    let ckpt = dir.join("checkpoint");
    match std::fs::remove_file(&ckpt) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(StoreError::io(&ckpt, e)),
    }
    let _ = std::fs::remove_dir_all(dir.join("log"));
    let _ = std::fs::remove_file(dir.join("wheel"));
    Ok(())
}

#[cfg(test)]
mod tests;
