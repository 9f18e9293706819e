//! Key index (KEYS and UNIQ_KEY), in the spirit of RocketMQ's IndexFile: append-only hash-chained
//! files, so memory stays bounded however many messages carry keys.
//!
//! ```text
//! index/<20-digit seq>.keys    entries, 24 bytes each: hash u32 | prev u32 | storeTime i64 | logOffset i64
//! index/<20-digit seq>.slots   written when the file is full: slot heads (u32 each), then a trailer
//! ```
//!
//! Entry numbers start at 1 (0 ends a chain). `hash` is CRC-32 of `topic NUL key`; a slot holds the
//! newest entry number of its hash bucket and each entry the previous one, so a lookup walks one chain
//! newest first. The active file's slot heads live in memory (rebuilt from its entries on open);
//! a full file gets its `.slots` file and a new active file starts. Entries are buffered and written
//! in 64 KiB pieces, and always before the store's checkpoint moves past them, so after a crash the
//! index covers every record below the checkpoint and recovery adds the ones above it.
//! Matches are checked against the record itself (hash collisions and records cut by recovery are
//! never returned).
use std::fs::{File, OpenOptions};
use std::io;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

const ENTRY: usize = 24;
const TRAILER: usize = 8 * 4 + 4 + 4;
const WRITE_AT: usize = 64 * 1024;
/// Added entries are chained into their slots this many at a time (their slot reads overlap).
const LINK_AT: usize = 64;
/// Buffered entries kept while writes fail (a full disk): beyond this, new keys are not indexed.
const MAX_PENDING: usize = 4 << 20;
/// Chain entries visited per file and query at most.
const MAX_WALK: usize = 1 << 16;

pub(crate) fn key_hash(topic: &str, key: &str) -> u32 {
    let mut h = crate::codec::stored::crc32_hasher();
    h.update(topic.as_bytes());
    h.update(&[0]);
    h.update(key.as_bytes());
    h.finalize()
}

#[derive(Clone, Copy, Default)]
struct Range {
    begin_time: i64,
    end_time: i64,
    min_off: i64,
    max_off: i64,
}

impl Range {
    fn empty() -> Range {
        Range { begin_time: i64::MAX, end_time: i64::MIN, min_off: i64::MAX, max_off: -1 }
    }
    fn add(&mut self, time: i64, off: i64) {
        self.begin_time = self.begin_time.min(time);
        self.end_time = self.end_time.max(time);
        self.min_off = self.min_off.min(off);
        self.max_off = self.max_off.max(off);
    }
    fn overlaps(&self, begin: i64, end: i64) -> bool {
        self.begin_time <= end && self.end_time >= begin
    }
}

struct Sealed {
    seq: u64,
    keys: Arc<File>,
    slots: Arc<File>,
    range: Range,
}

struct Active {
    seq: u64,
    file: Arc<File>,
    path: PathBuf,
    heads: Vec<u32>,
    /// Entries numbered so far (on disk plus buffered).
    count: u32,
    /// Entries on disk.
    on_disk: u32,
    buf: Vec<u8>,
    range: Range,
    write_failed: bool,
}

struct Inner {
    sealed: Vec<Sealed>,
    active: Active,
    /// Entries (hash, time, offset) added but not yet chained into their slots (`link`).
    adding: Vec<(u32, i64, i64)>,
}

/// Where a key index lives and how big its files are.
#[derive(Clone, Debug)]
pub(crate) struct KeyIndexConfig {
    pub dir: PathBuf,
    pub enabled: bool,
    pub slots: u32,
    pub entries_per_file: u32,
}

pub(crate) struct KeyIndex {
    cfg: KeyIndexConfig,
    inner: Mutex<Option<Inner>>,
}

fn entry_bytes(hash: u32, prev: u32, time: i64, off: i64) -> [u8; ENTRY] {
    let mut e = [0u8; ENTRY];
    e[..4].copy_from_slice(&hash.to_be_bytes());
    e[4..8].copy_from_slice(&prev.to_be_bytes());
    e[8..16].copy_from_slice(&time.to_be_bytes());
    e[16..].copy_from_slice(&off.to_be_bytes());
    e
}

fn parse_entry(e: &[u8]) -> (u32, u32, i64, i64) {
    let u = |r: std::ops::Range<usize>| u32::from_be_bytes(e[r].try_into().unwrap_or([0; 4]));
    let i = |r: std::ops::Range<usize>| i64::from_be_bytes(e[r].try_into().unwrap_or([0; 8]));
    (u(0..4), u(4..8), i(8..16), i(16..24))
}

fn file_name(seq: u64, ext: &str) -> String {
    format!("{seq:020}.{ext}")
}

fn read_trailer(slots: &File, n_slots: u32) -> Option<Range> {
    let mut t = [0u8; TRAILER];
    slots.read_exact_at(&mut t, n_slots as u64 * 4).ok()?;
    let i = |k: usize| i64::from_be_bytes(t[k * 8..k * 8 + 8].try_into().unwrap_or([0; 8]));
    let stored_slots = u32::from_be_bytes(t[32..36].try_into().ok()?);
    let crc = u32::from_be_bytes(t[36..40].try_into().ok()?);
    (stored_slots == n_slots && crc32fast::hash(&t[..36]) == crc).then(|| Range { begin_time: i(0), end_time: i(1), min_off: i(2), max_off: i(3) })
}

impl Active {
    /// Open (or create) the active file and rebuild its slot heads from its entries.
    fn open(dir: &Path, seq: u64, n_slots: u32) -> io::Result<Active> {
        let path = dir.join(file_name(seq, "keys"));
        let file = OpenOptions::new().read(true).write(true).create(true).truncate(false).open(&path)?;
        let len = file.metadata()?.len();
        let whole = len - len % ENTRY as u64;
        if whole != len {
            tracing::warn!(file = %path.display(), "cutting a torn key index entry");
            file.set_len(whole)?;
        }
        let mut heads = vec![0u32; n_slots as usize];
        let mut range = Range::empty();
        // Read in pieces: a full file is maxIndexNum x 24 bytes (96 MiB by default).
        let count = u32::try_from(whole / ENTRY as u64)
            .map_err(|_| io::Error::new(io::ErrorKind::InvalidData, format!("{}: too many entries", path.display())))?;
        let mut chunk = vec![0u8; ENTRY * 43_690];
        let mut n = 0u32;
        let mut at = 0u64;
        while at < whole {
            let len = chunk.len().min((whole - at) as usize);
            file.read_exact_at(&mut chunk[..len], at)?;
            for e in chunk[..len].chunks_exact(ENTRY) {
                let (hash, _, time, off) = parse_entry(e);
                n += 1;
                heads[(hash % n_slots) as usize] = n;
                range.add(time, off);
            }
            at += len as u64;
        }
        Ok(Active { seq, file: Arc::new(file), path, heads, count, on_disk: count, buf: Vec::new(), range, write_failed: false })
    }

    fn write_buffered(&mut self) -> io::Result<()> {
        if self.buf.is_empty() {
            return Ok(());
        }
        match self.file.write_all_at(&self.buf, self.on_disk as u64 * ENTRY as u64) {
            Ok(()) => {
                self.on_disk += (self.buf.len() / ENTRY) as u32;
                self.buf.clear();
                if self.write_failed {
                    tracing::info!(file = %self.path.display(), "key index writes work again");
                    self.write_failed = false;
                }
                Ok(())
            }
            Err(e) => {
                if !self.write_failed {
                    tracing::warn!(file = %self.path.display(), error = %e, "cannot write the key index; keeping entries in memory");
                    self.write_failed = true;
                }
                Err(e)
            }
        }
    }
}

/// Entry `n` (1-based) of an entry file.
fn read_entry(f: &File, n: u32) -> Option<(u32, u32, i64, i64)> {
    let mut e = [0u8; ENTRY];
    f.read_exact_at(&mut e, (n as u64).checked_sub(1)? * ENTRY as u64).ok()?;
    Some(parse_entry(&e))
}

/// Walk one chain from `head`, newest first, collecting (time, offset) of entries with `hash` in range.
fn walk(head: u32, hash: u32, begin: i64, end: i64, out: &mut Vec<(i64, i64)>, mut get: impl FnMut(u32) -> Option<(u32, u32, i64, i64)>) {
    let mut n = head;
    let mut steps = 0;
    while n != 0 && steps < MAX_WALK {
        let Some((h, prev, time, off)) = get(n) else { break };
        if h == hash && time >= begin && time <= end {
            out.push((time, off));
        }
        if prev >= n {
            break;
        }
        n = prev;
        steps += 1;
    }
}

impl KeyIndex {
    pub fn open(cfg: KeyIndexConfig) -> io::Result<KeyIndex> {
        if !cfg.enabled {
            return Ok(KeyIndex { cfg, inner: Mutex::new(None) });
        }
        std::fs::create_dir_all(&cfg.dir)?;
        let mut seqs: Vec<u64> = std::fs::read_dir(&cfg.dir)?
            .filter_map(|e| e.ok())
            .filter_map(|e| e.file_name().to_str()?.strip_suffix(".keys")?.parse().ok())
            .collect();
        seqs.sort_unstable();
        let mut sealed = Vec::new();
        let last = seqs.last().copied().unwrap_or(0);
        for &seq in &seqs {
            let keys_path = cfg.dir.join(file_name(seq, "keys"));
            let slots_path = cfg.dir.join(file_name(seq, "slots"));
            let slots = File::open(&slots_path).ok();
            let range = slots.as_ref().and_then(|f| read_trailer(f, cfg.slots));
            match (slots, range) {
                (Some(slots), Some(range)) => sealed.push(Sealed { seq, keys: Arc::new(File::open(&keys_path)?), slots: Arc::new(slots), range }),
                _ if seq == last => {}
                _ => {
                    // A full file whose slots were not written (crash while sealing): rebuild them.
                    let a = Active::open(&cfg.dir, seq, cfg.slots)?;
                    sealed.push(seal(&cfg.dir, a, cfg.slots)?);
                }
            }
        }
        let active_seq = if sealed.last().is_some_and(|s| s.seq == last) { last + 1 } else { last };
        let active = Active::open(&cfg.dir, active_seq, cfg.slots)?;
        Ok(KeyIndex { cfg, inner: Mutex::new(Some(Inner { sealed, active, adding: Vec::new() })) })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Option<Inner>> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Highest log offset indexed (-1: none); recovery indexes the records above it.
    pub fn max_offset(&self) -> i64 {
        let mut g = self.lock();
        let Some(inner) = g.as_mut() else { return i64::MAX };
        self.link(inner);
        inner.sealed.iter().map(|s| s.range.max_off).chain([inner.active.range.max_off]).max().unwrap_or(-1)
    }

    /// Add entries: (topic, key, store time, log offset). They are chained into the index in
    /// groups of [`LINK_AT`] (and before any flush, lookup or offset query sees the index).
    pub fn add<'a>(&self, entries: impl IntoIterator<Item = (&'a str, &'a str, i64, i64)>) {
        let mut g = self.lock();
        let Some(inner) = g.as_mut() else { return };
        // a loop, not `extend(map(..))`: wrapping the caller's iterator (a flat map over a put's
        // messages) in a `Map` copied it, ~1 % of a small send
        for (topic, key, time, off) in entries {
            inner.adding.push((key_hash(topic, key), time, off));
        }
        if inner.adding.len() >= LINK_AT {
            self.link(inner);
        }
    }

    /// Chain the entries added since the last call into their slots.
    fn link(&self, inner: &mut Inner) {
        if inner.adding.is_empty() {
            return;
        }
        let mut adding = std::mem::take(&mut inner.adding);
        // Each entry reads one slot head at random: a cache miss (~8 % of a send's CPU when
        // chained one by one). Read them all first, so that the misses overlap.
        let heads = &inner.active.heads;
        let touched = adding.iter().fold(0u32, |acc, &(hash, _, _)| acc ^ heads.get((hash % self.cfg.slots) as usize).copied().unwrap_or(0));
        std::hint::black_box(touched);
        for &(hash, time, off) in &adding {
            if inner.active.count >= self.cfg.entries_per_file {
                if let Err(e) = self.roll(inner) {
                    if !inner.active.write_failed {
                        tracing::warn!(error = %e, "cannot start a new key index file");
                    }
                    break;
                }
            }
            let a = &mut inner.active;
            if a.buf.len() >= MAX_PENDING {
                break;
            }
            let slot = (hash % self.cfg.slots) as usize;
            let n = a.count + 1;
            a.buf.extend_from_slice(&entry_bytes(hash, a.heads[slot], time, off));
            a.heads[slot] = n;
            a.count = n;
            a.range.add(time, off);
        }
        adding.clear();
        inner.adding = adding;
        if inner.active.buf.len() >= WRITE_AT && !inner.active.write_failed {
            let _ = inner.active.write_buffered();
        }
    }

    fn roll(&self, inner: &mut Inner) -> io::Result<()> {
        inner.active.write_buffered()?;
        inner.active.file.sync_data()?;
        let next = Active::open(&self.cfg.dir, inner.active.seq + 1, self.cfg.slots)?;
        let full = std::mem::replace(&mut inner.active, next);
        inner.sealed.push(seal(&self.cfg.dir, full, self.cfg.slots)?);
        Ok(())
    }

    /// Write buffered entries to the file (`sync`: and fsync it). Before every checkpoint.
    pub fn flush(&self, sync: bool) -> io::Result<()> {
        let mut g = self.lock();
        let Some(inner) = g.as_mut() else { return Ok(()) };
        self.link(inner);
        inner.active.write_buffered()?;
        if sync {
            inner.active.file.sync_data()?;
        }
        Ok(())
    }

    /// (store time, log offset) of entries for `topic`/`key` stored in [begin, end], newest first.
    /// They may include hash collisions: the caller checks the records. The chains are walked
    /// outside the lock (written entries never change), so a long walk does not hold up puts.
    pub fn candidates(&self, topic: &str, key: &str, begin: i64, end: i64) -> Vec<(i64, i64)> {
        let hash = key_hash(topic, key);
        let slot = hash % self.cfg.slots;
        let (active, sealed) = {
            let mut g = self.lock();
            let Some(inner) = g.as_mut() else { return Vec::new() };
            self.link(inner);
            let a = &inner.active;
            let active = a.range.overlaps(begin, end).then(|| (a.heads[slot as usize], a.on_disk, a.buf.clone(), a.file.clone()));
            let sealed: Vec<(Arc<File>, Arc<File>)> = inner
                .sealed
                .iter()
                .rev()
                .filter(|s| s.range.overlaps(begin, end))
                .map(|s| (s.keys.clone(), s.slots.clone()))
                .collect();
            (active, sealed)
        };
        let mut out = Vec::new();
        if let Some((head, on_disk, buf, file)) = active {
            walk(head, hash, begin, end, &mut out, |n| {
                if n > on_disk {
                    let at = (n - on_disk - 1) as usize * ENTRY;
                    return buf.get(at..at + ENTRY).map(parse_entry);
                }
                read_entry(&file, n)
            });
        }
        for (keys, slots) in sealed {
            let mut h = [0u8; 4];
            if slots.read_exact_at(&mut h, slot as u64 * 4).is_err() {
                continue;
            }
            walk(u32::from_be_bytes(h), hash, begin, end, &mut out, |n| read_entry(&keys, n));
        }
        out.sort_by(|x, y| y.cmp(x));
        out.dedup_by_key(|e| e.1);
        out
    }

    /// Delete full files whose entries all point below `log_min` (their records are gone).
    pub fn remove_below(&self, log_min: i64) {
        let mut g = self.lock();
        let Some(inner) = g.as_mut() else { return };
        inner.sealed.retain(|s| {
            if s.range.max_off >= log_min {
                return true;
            }
            for ext in ["slots", "keys"] {
                let p = self.cfg.dir.join(file_name(s.seq, ext));
                if let Err(e) = std::fs::remove_file(&p) {
                    tracing::warn!(file = %p.display(), error = %e, "cannot delete key index file");
                }
            }
            false
        });
    }
}

/// Write the slots file of a full active file (through a temporary name) and open it sealed.
fn seal(dir: &Path, a: Active, n_slots: u32) -> io::Result<Sealed> {
    let mut data = Vec::with_capacity(n_slots as usize * 4 + TRAILER);
    for h in &a.heads {
        data.extend_from_slice(&h.to_be_bytes());
    }
    let mut t = Vec::with_capacity(TRAILER);
    for v in [a.range.begin_time, a.range.end_time, a.range.min_off, a.range.max_off] {
        t.extend_from_slice(&v.to_be_bytes());
    }
    t.extend_from_slice(&n_slots.to_be_bytes());
    let crc = crc32fast::hash(&t);
    t.extend_from_slice(&crc.to_be_bytes());
    data.extend_from_slice(&t);
    let tmp = dir.join(file_name(a.seq, "slots.tmp"));
    let path = dir.join(file_name(a.seq, "slots"));
    {
        let f = File::create(&tmp)?;
        f.write_all_at(&data, 0)?;
        f.sync_data()?;
    }
    std::fs::rename(&tmp, &path)?;
    if let Ok(d) = File::open(dir) {
        let _ = d.sync_all();
    }
    Ok(Sealed { seq: a.seq, keys: a.file, slots: Arc::new(File::open(&path)?), range: a.range })
}
