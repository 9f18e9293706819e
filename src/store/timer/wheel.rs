//! The timing wheel: one fixed-size record per slot in a plain file, read and written with
//! `pread`/`pwrite` (nothing mapped, so the resident memory does not depend on the wheel's size
//! or on how many timers are pending).
//!
//! ```text
//! header (32 bytes): magic "FRTW" | version u32 = 1 | precision ms u32 | slots u32 | crc32 u32 | zero
//! slot i at 32 + 32*i: slot ms i64 | first i64 | last i64 | entries u32 | crc32 u32
//! ```
//!
//! Slot `i` holds the timers due in `[slot_ms, slot_ms + precision)` for the `slot_ms` it names
//! (`slot_ms / precision % slots == i`); a slot naming another time is stale (from an earlier turn
//! of the wheel) and reads as empty. `first`/`last` are timer log positions of the slot's oldest and
//! newest entry. A never-written slot is all zeros. Changed slots stay in a small write-back map
//! until [`Wheel::flush`].
use super::super::StoreError;
use std::collections::HashMap;
use std::fs::{File, OpenOptions};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

const HEADER: u64 = 32;
const SLOT: u64 = 32;
const MAGIC: &[u8; 4] = b"FRTW";

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Slot {
    pub slot_ms: i64,
    pub first: i64,
    pub last: i64,
    pub entries: u32,
}

impl Slot {
    pub fn empty(slot_ms: i64) -> Slot {
        Slot { slot_ms, first: -1, last: -1, entries: 0 }
    }

    fn encode(&self) -> [u8; SLOT as usize] {
        let mut b = [0u8; SLOT as usize];
        b[0..8].copy_from_slice(&self.slot_ms.to_be_bytes());
        b[8..16].copy_from_slice(&self.first.to_be_bytes());
        b[16..24].copy_from_slice(&self.last.to_be_bytes());
        b[24..28].copy_from_slice(&self.entries.to_be_bytes());
        let crc = crc32fast::hash(&b[..28]);
        b[28..32].copy_from_slice(&crc.to_be_bytes());
        b
    }

    /// Ok(None) for a never-written slot; Err(()) for a damaged one.
    fn decode(b: &[u8]) -> Result<Option<Slot>, ()> {
        if b.iter().all(|x| *x == 0) {
            return Ok(None);
        }
        let i64_at = |i: usize| i64::from_be_bytes(b[i..i + 8].try_into().unwrap_or([0; 8]));
        let crc = u32::from_be_bytes([b[28], b[29], b[30], b[31]]);
        if crc32fast::hash(&b[..28]) != crc {
            return Err(());
        }
        Ok(Some(Slot { slot_ms: i64_at(0), first: i64_at(8), last: i64_at(16), entries: u32::from_be_bytes([b[24], b[25], b[26], b[27]]) }))
    }
}

pub struct Wheel {
    path: PathBuf,
    file: File,
    pub precision_ms: i64,
    pub slots: u64,
    dirty: HashMap<u64, Slot>,
}

/// What [`Wheel::open`] found.
pub enum WheelOpen {
    Created(Wheel),
    Existing(Wheel),
    /// The file's header is unreadable or was made with another precision or size.
    Mismatch(String),
}

impl Wheel {
    pub fn open(path: &Path, precision_ms: i64, slots: u64) -> Result<WheelOpen, StoreError> {
        let exists = path.exists();
        let file = OpenOptions::new().read(true).write(true).create(true).truncate(false).open(path).map_err(|e| StoreError::io(path, e))?;
        let wheel = Wheel { path: path.to_path_buf(), file, precision_ms, slots, dirty: HashMap::new() };
        let mut want = [0u8; HEADER as usize];
        want[0..4].copy_from_slice(MAGIC);
        want[4..8].copy_from_slice(&1u32.to_be_bytes());
        want[8..12].copy_from_slice(&(precision_ms as u32).to_be_bytes());
        want[12..16].copy_from_slice(&(slots as u32).to_be_bytes());
        let crc = crc32fast::hash(&want[..16]);
        want[16..20].copy_from_slice(&crc.to_be_bytes());
        let len = wheel.file.metadata().map_err(|e| StoreError::io(path, e))?.len();
        if !exists || len == 0 {
            wheel.file.write_all_at(&want, 0).map_err(|e| StoreError::io(path, e))?;
            wheel.file.set_len(HEADER + SLOT * slots).map_err(|e| StoreError::io(path, e))?;
            return Ok(WheelOpen::Created(wheel));
        }
        let mut got = [0u8; HEADER as usize];
        if wheel.file.read_exact_at(&mut got, 0).is_err() || got[0..4] != *MAGIC {
            return Ok(WheelOpen::Mismatch(format!("{}: not a timer wheel file", path.display())));
        }
        if got != want {
            let p = u32::from_be_bytes([got[8], got[9], got[10], got[11]]);
            let s = u32::from_be_bytes([got[12], got[13], got[14], got[15]]);
            return Ok(WheelOpen::Mismatch(format!(
                "{}: made with timerPrecisionMs={p} and {s} slots, now {precision_ms} and {slots}",
                path.display()
            )));
        }
        if len < HEADER + SLOT * slots {
            wheel.file.set_len(HEADER + SLOT * slots).map_err(|e| StoreError::io(path, e))?;
        }
        Ok(WheelOpen::Existing(wheel))
    }

    pub fn index(&self, slot_ms: i64) -> u64 {
        (slot_ms.max(0) / self.precision_ms) as u64 % self.slots
    }

    /// The slot for `slot_ms` (empty when the record names another time).
    pub fn get(&self, slot_ms: i64) -> Result<Slot, StoreError> {
        let i = self.index(slot_ms);
        let s = match self.dirty.get(&i) {
            Some(s) => Some(*s),
            None => self.read_raw(i)?,
        };
        Ok(s.filter(|s| s.slot_ms == slot_ms).unwrap_or_else(|| Slot::empty(slot_ms)))
    }

    fn read_raw(&self, i: u64) -> Result<Option<Slot>, StoreError> {
        let mut b = [0u8; SLOT as usize];
        self.file.read_exact_at(&mut b, HEADER + SLOT * i).map_err(|e| StoreError::io(&self.path, e))?;
        Slot::decode(&b).map_err(|_| StoreError::Corrupt {
            path: self.path.clone(),
            offset: (HEADER + SLOT * i) as i64,
            reason: format!("timer wheel slot {i} fails its checksum"),
        })
    }

    pub fn put(&mut self, s: Slot) {
        let i = self.index(s.slot_ms);
        self.dirty.insert(i, s);
    }

    /// Write the changed slots to the file (the page cache).
    pub fn flush(&mut self) -> Result<(), StoreError> {
        let mut idx: Vec<u64> = self.dirty.keys().copied().collect();
        idx.sort_unstable();
        for i in idx {
            if let Some(s) = self.dirty.get(&i) {
                self.file.write_all_at(&s.encode(), HEADER + SLOT * i).map_err(|e| StoreError::io(&self.path, e))?;
            }
        }
        self.dirty.clear();
        Ok(())
    }

    pub fn sync(&mut self) -> Result<(), StoreError> {
        self.flush()?;
        self.file.sync_data().map_err(|e| StoreError::io(&self.path, e))
    }

    /// Every written slot, read in 1 MiB pieces (startup checks and the pending count).
    pub fn scan(&self, mut f: impl FnMut(Slot)) -> Result<(), StoreError> {
        let per = 32 * 1024u64;
        let mut buf = vec![0u8; (per * SLOT) as usize];
        let mut i = 0;
        while i < self.slots {
            let n = per.min(self.slots - i);
            let b = &mut buf[..(n * SLOT) as usize];
            self.file.read_exact_at(b, HEADER + SLOT * i).map_err(|e| StoreError::io(&self.path, e))?;
            for k in 0..n {
                let raw = &b[(k * SLOT) as usize..((k + 1) * SLOT) as usize];
                match Slot::decode(raw) {
                    Ok(Some(s)) => f(self.dirty.get(&(i + k)).copied().unwrap_or(s)),
                    Ok(None) => {}
                    Err(()) => {
                        return Err(StoreError::Corrupt {
                            path: self.path.clone(),
                            offset: (HEADER + SLOT * (i + k)) as i64,
                            reason: format!("timer wheel slot {} fails its checksum", i + k),
                        })
                    }
                }
            }
            i += n;
        }
        Ok(())
    }
}
