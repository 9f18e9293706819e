//! Commit-log segments: fixed-size files named by their 20-digit start offset.
use std::collections::BTreeMap;
use std::fs::{File, OpenOptions};
use std::io::{self, BufReader, Read, Seek, SeekFrom};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, RwLock};

use bytes::{Bytes, BytesMut};

use crate::codec::stored::{BLANK_MAGIC, MESSAGE_MAGIC};

/// Bytes reserved (written as zeros) ahead of the appender at a time: appends within them are copies
/// into the segment's mapping, without a system call of their own. Small, so that the reserving
/// write (page-cache allocation, slow once memory is full of the store's pages) is a short pause
/// (4 MiB steps put 10 ms stalls into a 10 k msg/s stream after ~6 GB had been written). Each
/// reserving write is one aligned step, which the page cache takes as a few large folios: far
/// cheaper per byte than the 4 KiB pages an unaligned write of a few KiB gets (a batch of 64 x 128 B
/// written with its own `pwrite`, 18 KiB at any offset, cost twice the reserving write plus the copy).
const RESERVE_STEP: i64 = 256 << 10;
/// Appends at least this long are written with `pwrite`, not reserved first: the page cache takes
/// a write this long in large pieces itself, and zeros written first would only be overwritten.
const PWRITE_AT: usize = RESERVE_STEP as usize;

/// How appends shorter than [`PWRITE_AT`] reach a segment's reserved space.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum AppendBy {
    /// Copied into the segment's shared mapping: no system call per append (ASYNC_FLUSH).
    Mapping,
    /// One `pwrite` per append (SYNC_FLUSH): an `fdatasync` after copies through a mapping costs
    /// more (on this kernel, 175-180 µs against 125-145 µs for a 1 KiB record: it must also
    /// write-protect the mapped pages again, and the next copy faults on them), and with a sync
    /// per put the system call is the smaller cost.
    Pwrite,
}

/// What [`CommitLog::advise`] tells the kernel about a range of the log.
#[derive(Clone, Copy, Debug)]
#[repr(i32)]
pub(crate) enum Advice {
    /// Drop its clean pages from the page cache (dirty, under writeback or mapped ones stay); a
    /// later read of a dropped page reads the disk.
    Drop = libc::POSIX_FADV_DONTNEED,
    /// Start reading it into the page cache (without waiting for it).
    ReadAhead = libc::POSIX_FADV_WILLNEED,
}

/// One segment file.
///
/// Appends go through a shared mapping of the whole segment (as RocketMQ's `MappedFile`): a record
/// is copied into the page cache, where readers (`pread`) and the flusher's `fdatasync` find it,
/// and a killed process loses nothing copied. The file's length runs ahead of the data by up to
/// [`RESERVE_STEP`]; that space is written with zeros before any byte of it is copied, so a full
/// disk is an error of that write (never a SIGBUS from the mapping) and the tail reads as zeros,
/// which recovery takes as the end of the data (as RocketMQ's preallocated files). A segment that
/// cannot be mapped is written with `pwrite` instead, and so is an append of [`PWRITE_AT`] bytes
/// or more (a large message or batch): the same page cache, so readers see both alike.
pub(crate) struct Segment {
    pub base: i64,
    pub file: File,
    pub path: PathBuf,
    app: Mutex<Appending>,
}

/// The appender's side of a segment (locked by the one appender: never contended).
struct Appending {
    /// The file's length as this process left it: the mapping is never touched past it.
    len: i64,
    /// The mapping, made on the first append and dropped when the appender moves on.
    map: Option<memmap2::MmapRaw>,
    /// The segment could not be mapped: appends use `pwrite`.
    pwrite_only: bool,
    /// The mapping's pages below this were dropped from the page tables.
    released: i64,
}

impl Segment {
    fn new(base: i64, file: File, path: PathBuf, len: i64) -> Segment {
        Segment { base, file, path, app: Mutex::new(Appending { len, map: None, pwrite_only: false, released: 0 }) }
    }

    fn app(&self) -> std::sync::MutexGuard<'_, Appending> {
        self.app.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn sync(&self) -> io::Result<()> {
        self.file.sync_data()
    }

    /// Cut (or extend) the file to `len` bytes. Callers hold the store's append lock (or open
    /// the store), as appends do.
    pub fn set_len(&self, len: i64) -> io::Result<()> {
        let mut app = self.app();
        self.file.set_len(len as u64)?;
        app.len = len;
        Ok(())
    }

    /// `posix_fadvise` of `[from, to)` (relative to the segment). Advice only: an error is ignored.
    fn advise(&self, from: i64, to: i64, advice: Advice) {
        if to > from {
            // SAFETY: plain system call on an open descriptor; no memory is handed over.
            let _ = unsafe { libc::posix_fadvise(std::os::fd::AsRawFd::as_raw_fd(&self.file), from, to - from, advice as libc::c_int) };
        }
    }

    /// The appender has moved to the next segment: unmap this one (a later append maps it again).
    pub fn release(&self) {
        let mut app = self.app();
        app.map = None;
        app.released = 0;
    }

    /// Write `data` at `at` (relative to the segment) of a segment of `seg_size` bytes, copied
    /// into the mapping or, with [`AppendBy::Pwrite`], written with `pwrite`, in both cases over
    /// reserved zeros. Callers hold the store's append lock: one writer at a time.
    pub fn write_at(&self, data: &[u8], at: i64, seg_size: i64, by: AppendBy) -> io::Result<()> {
        let end = at + data.len() as i64;
        if at < 0 || end > seg_size {
            return Err(io::Error::new(io::ErrorKind::InvalidInput, format!("write of {} bytes at {at} past the segment's {seg_size}", data.len())));
        }
        let mut app = self.app();
        if data.len() >= PWRITE_AT {
            self.file.write_all_at(data, at as u64)?;
            // the file now reaches at least `end` (appends are sequential: `at` is within it)
            app.len = app.len.max(end);
            return Ok(());
        }
        if end > app.len {
            self.reserve(&mut app, end, seg_size)?;
        }
        // (a segment that could not be mapped is written as SYNC_FLUSH writes every segment)
        if by == AppendBy::Pwrite {
            return self.file.write_all_at(data, at as u64);
        }
        match self.mapped(&mut app, seg_size) {
            // SAFETY: [at, end) is inside the mapping (end <= seg_size, its length) and inside the
            // file (end <= len, allocated by `reserve`), so the copy cannot fault past the file's
            // end; the append lock makes this the only writer, and `data` is not part of the mapping.
            Some(base) => unsafe { std::ptr::copy_nonoverlapping(data.as_ptr(), base.add(at as usize), data.len()) },
            None => return self.file.write_all_at(data, at as u64),
        }
        Ok(())
    }

    /// Hand `f` the `len` bytes at `at` (relative to the segment) of the segment's mapping, over
    /// reserved zeros, for a put to encode its records in place: no buffer copied into the
    /// mapping afterwards. `Ok(false)`, without calling `f`, for an append the mapping does not
    /// take ([`PWRITE_AT`] bytes or more, a segment that cannot be mapped): the caller writes a
    /// buffer with [`Self::write_at`]. Callers hold the store's append lock: one writer at a time.
    pub fn write_in_place(&self, at: i64, len: usize, seg_size: i64, f: impl FnOnce(&mut [u8])) -> io::Result<bool> {
        let end = at + len as i64;
        if at < 0 || end > seg_size {
            return Err(io::Error::new(io::ErrorKind::InvalidInput, format!("write of {len} bytes at {at} past the segment's {seg_size}")));
        }
        if len >= PWRITE_AT {
            return Ok(false);
        }
        let mut app = self.app();
        if end > app.len {
            self.reserve(&mut app, end, seg_size)?;
        }
        let Some(base) = self.mapped(&mut app, seg_size) else { return Ok(false) };
        // SAFETY: [at, end) is inside the mapping and inside the file (as in `write_at`), the
        // reserved bytes are initialised (zeros), and the append lock makes this the only writer:
        // nothing else in the process holds a reference into the mapping (readers `pread`).
        f(unsafe { std::slice::from_raw_parts_mut(base.add(at as usize), len) });
        Ok(true)
    }

    /// The start of the segment's mapping, mapped on the first append; `None` for a segment that
    /// cannot be mapped (written with `pwrite` from then on).
    fn mapped(&self, app: &mut Appending, seg_size: i64) -> Option<*mut u8> {
        if app.pwrite_only {
            return None;
        }
        if app.map.is_none() {
            match memmap2::MmapOptions::new().len(seg_size as usize).map_raw(&self.file) {
                Ok(m) => app.map = Some(m),
                Err(e) => {
                    tracing::warn!(segment = %self.path.display(), error = %e, "cannot map the segment: writing it with pwrite");
                    app.pwrite_only = true;
                    return None;
                }
            }
        }
        app.map.as_ref().map(|m| m.as_mut_ptr())
    }

    /// Extend the file with zeros up to `end` and a step beyond (within the segment); drop the
    /// mapping's pages copied more than a step ago from the page tables. The zeros are written
    /// (not `fallocate`d): whole pages written land in the page cache without being read first,
    /// which a fault on an unwritten extent would do, and the file system reserves their space
    /// when they are written, so a full disk is this write's error.
    fn reserve(&self, app: &mut Appending, end: i64, seg_size: i64) -> io::Result<()> {
        let len = app.len;
        // up to a multiple of the step: every reserving write but a reopened segment's first is
        // one aligned step
        let mut want = ((end + RESERVE_STEP) & !(RESERVE_STEP - 1)).min(seg_size);
        let mut at = len;
        while at < want {
            // within one aligned step
            let n = ((want - at) as usize).min((RESERVE_STEP - at % RESERVE_STEP) as usize);
            match write_zeros(&self.file, at as u64, n) {
                Ok(()) => at += n as i64,
                // a nearly full disk: reserve only what this write needs
                Err(e) if e.raw_os_error() == Some(libc::ENOSPC) && at >= end && at > len => {
                    want = at;
                    break;
                }
                Err(e) => return Err(e),
            }
        }
        app.len = want;
        // The pages stay in the page cache (dirty ones are still written back) but leave this
        // process's page tables: the mapping does not grow the broker's RSS with the segment.
        let keep_from = (len - RESERVE_STEP).max(0) & !4095;
        if let Some(map) = app.map.as_ref().filter(|_| keep_from > app.released) {
            // SAFETY: a shared file mapping: MADV_DONTNEED drops page-table entries only; the
            // file's pages and their dirty state are kept (unlike a private mapping's).
            let _ = unsafe { map.unchecked_advise_range(memmap2::UncheckedAdvice::DontNeed, app.released as usize, (keep_from - app.released) as usize) };
            app.released = keep_from;
        }
        Ok(())
    }
}

/// Write `n` zero bytes at `at`: one `pwritev` of a 4 KiB zero page repeated, a source that stays
/// in the core's first-level cache while the kernel copies it into new page-cache pages (a zero
/// buffer as long as the step had its own 256 KiB to read: 6-8 % more time per reserved byte in
/// a bare C loop, and more cache lines evicted from under the appender).
fn write_zeros(file: &File, mut at: u64, mut n: usize) -> io::Result<()> {
    const PAGE: usize = 4096;
    static ZEROS: [u8; PAGE] = [0; PAGE];
    while n > 0 {
        let count = n.div_ceil(PAGE).min(64);
        let iov: [libc::iovec; 64] = std::array::from_fn(|i| libc::iovec {
            // never written through: `pwritev` only reads its sources
            iov_base: ZEROS.as_ptr() as *mut libc::c_void,
            iov_len: if i + 1 == count && !n.is_multiple_of(PAGE) && n < 64 * PAGE { n % PAGE } else { PAGE },
        });
        // SAFETY: `count` (<= 64) entries of `iov`, each pointing at `ZEROS` with at most its length.
        let r = unsafe { libc::pwritev(std::os::fd::AsRawFd::as_raw_fd(file), iov.as_ptr(), count as libc::c_int, at as libc::off_t) };
        match r {
            r if r > 0 => {
                at += r as u64;
                n -= r as usize;
            }
            0 => return Err(io::Error::from(io::ErrorKind::WriteZero)),
            _ => {
                let e = io::Error::last_os_error();
                if e.kind() != io::ErrorKind::Interrupted {
                    return Err(e);
                }
            }
        }
    }
    Ok(())
}

/// The ordered set of segments.
pub(crate) struct CommitLog {
    pub dir: PathBuf,
    pub seg_size: i64,
    segs: RwLock<BTreeMap<i64, Arc<Segment>>>,
}

pub(crate) fn segment_name(base: i64) -> String {
    format!("{base:020}")
}

pub(crate) fn fsync_dir(dir: &Path) {
    if let Ok(d) = File::open(dir) {
        let _ = d.sync_all();
    }
}

impl CommitLog {
    pub fn open(dir: PathBuf, seg_size: i64) -> io::Result<CommitLog> {
        std::fs::create_dir_all(&dir)?;
        let mut segs = BTreeMap::new();
        for ent in std::fs::read_dir(&dir)? {
            let ent = ent?;
            let name = ent.file_name();
            let Some(base) = name.to_str().and_then(|n| n.parse::<i64>().ok()) else {
                tracing::warn!(file = %ent.path().display(), "ignoring unexpected file in commit log directory");
                continue;
            };
            let path = ent.path();
            let file = OpenOptions::new().read(true).write(true).open(&path)?;
            // A directory written with another segment size must not be read with this one: its
            // records would be cut at the wrong ends and recovery would drop them. RocketMQ refuses
            // such files too.
            let len = file.metadata()?.len();
            if seg_size > 0 && (base % seg_size != 0 || len > seg_size as u64) {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!(
                        "commit log segment {} ({len} bytes) was not written with mappedFileSizeCommitLog={seg_size}; \
                         start with the segment size this data directory was written with",
                        path.display()
                    ),
                ));
            }
            segs.insert(base, Arc::new(Segment::new(base, file, path, len as i64)));
        }
        Ok(CommitLog { dir, seg_size, segs: RwLock::new(segs) })
    }

    fn read_map(&self) -> std::sync::RwLockReadGuard<'_, BTreeMap<i64, Arc<Segment>>> {
        self.segs.read().unwrap_or_else(|e| e.into_inner())
    }

    fn write_map(&self) -> std::sync::RwLockWriteGuard<'_, BTreeMap<i64, Arc<Segment>>> {
        self.segs.write().unwrap_or_else(|e| e.into_inner())
    }

    pub fn segments(&self) -> Vec<Arc<Segment>> {
        self.read_map().values().cloned().collect()
    }

    pub fn segment_for(&self, off: i64) -> Option<Arc<Segment>> {
        let map = self.read_map();
        let (_, s) = map.range(..=off).next_back()?;
        (off < s.base + self.seg_size).then(|| s.clone())
    }

    /// Advise the kernel about the log range `[from, to)` (absolute offsets), segment by segment.
    pub fn advise(&self, from: i64, to: i64, advice: Advice) {
        if to <= from {
            return;
        }
        let map = self.read_map();
        let first = map.range(..=from).next_back().map_or(from, |(b, _)| *b);
        for (base, seg) in map.range(first..to) {
            let lo = (from - base).max(0);
            let hi = (to - base).min(self.seg_size);
            seg.advise(lo, hi, advice);
        }
    }

    /// Smallest offset still on disk (0 when empty).
    pub fn min_offset(&self) -> i64 {
        self.read_map().keys().next().copied().unwrap_or(0)
    }

    pub fn create(&self, base: i64) -> io::Result<Arc<Segment>> {
        let path = self.dir.join(segment_name(base));
        let file = OpenOptions::new().read(true).write(true).create(true).truncate(true).open(&path)?;
        fsync_dir(&self.dir);
        let seg = Arc::new(Segment::new(base, file, path, 0));
        self.write_map().insert(base, seg.clone());
        Ok(seg)
    }

    /// Forget and delete a segment.
    pub fn remove(&self, base: i64) -> io::Result<()> {
        let seg = self.write_map().remove(&base);
        if let Some(seg) = seg {
            std::fs::remove_file(&seg.path)?;
        }
        Ok(())
    }

    /// `size` bytes at `off`, or None when not (or no longer) on disk.
    pub fn read(&self, off: i64, size: usize) -> Option<Bytes> {
        let seg = self.segment_for(off)?;
        let mut buf = BytesMut::zeroed(size);
        seg.file.read_exact_at(&mut buf, (off - seg.base) as u64).ok()?;
        Some(buf.freeze())
    }

    /// The whole message record at `off` (checks the magic and that the size is at most `max_size`).
    pub fn read_record(&self, off: i64, max_size: usize) -> Option<Bytes> {
        let hdr = self.read(off, 8)?;
        let size = i32::from_be_bytes([hdr[0], hdr[1], hdr[2], hdr[3]]);
        let magic = i32::from_be_bytes([hdr[4], hdr[5], hdr[6], hdr[7]]);
        if magic != MESSAGE_MAGIC || size < 91 || size as usize > max_size {
            return None;
        }
        self.read(off, size as usize)
    }
}

/// What a recovery scan found at one position.
pub(crate) enum ScanItem {
    /// A valid message record.
    Record(Vec<u8>),
    /// The end-of-segment blank: continue at the next segment.
    Blank,
    /// End of data (clean end or first bad record, with the reason).
    End(Option<String>),
}

/// Sequential reader over a segment from a position, validating records.
pub(crate) struct SegmentScanner {
    rd: BufReader<File>,
    pub pos: i64,
    end: i64,
    file_len: i64,
    max_record: usize,
}

impl SegmentScanner {
    pub fn new(seg: &Segment, from: i64, seg_size: i64, max_record: usize) -> io::Result<SegmentScanner> {
        let mut f = seg.file.try_clone()?;
        let file_len = f.metadata()?.len() as i64;
        f.seek(SeekFrom::Start((from - seg.base) as u64))?;
        Ok(SegmentScanner {
            rd: BufReader::with_capacity(1 << 20, f),
            pos: from,
            end: seg.base + seg_size,
            file_len: seg.base + file_len,
            max_record,
        })
    }

    pub fn next_item(&mut self) -> ScanItem {
        if self.pos >= self.file_len {
            return ScanItem::End(None);
        }
        let mut hdr = [0u8; 8];
        if self.rd.read_exact(&mut hdr).is_err() {
            return ScanItem::End(Some(format!("torn record header at {}", self.pos)));
        }
        let size = i32::from_be_bytes([hdr[0], hdr[1], hdr[2], hdr[3]]);
        let magic = i32::from_be_bytes([hdr[4], hdr[5], hdr[6], hdr[7]]);
        if size == 0 && magic == 0 {
            // the unwritten (reserved) end of the newest segment: where the data ends
            return ScanItem::End(None);
        }
        if magic == BLANK_MAGIC {
            if size as i64 == self.end - self.pos {
                return ScanItem::Blank;
            }
            return ScanItem::End(Some(format!("bad blank size {size} at {}", self.pos)));
        }
        if magic != MESSAGE_MAGIC {
            return ScanItem::End(Some(format!("bad magic {:#010x} at {}", magic as u32, self.pos)));
        }
        if size < 91 || size as usize > self.max_record || self.pos + size as i64 > self.end {
            return ScanItem::End(Some(format!("bad record size {size} at {}", self.pos)));
        }
        if self.pos + size as i64 > self.file_len {
            return ScanItem::End(Some(format!("torn record of {size} bytes at {} (file ends at {})", self.pos, self.file_len)));
        }
        let mut rec = vec![0u8; size as usize];
        rec[..8].copy_from_slice(&hdr);
        if self.rd.read_exact(&mut rec[8..]).is_err() {
            return ScanItem::End(Some(format!("torn record of {size} bytes at {}", self.pos)));
        }
        ScanItem::Record(rec)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zeros_are_written_over_data_and_past_the_end_in_any_length() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        let file = OpenOptions::new().read(true).write(true).create(true).truncate(true).open(&path).unwrap();
        // over data, and past the end, at offsets and lengths that are not whole pages; longer
        // than one call's 64 pages
        for (at, n) in [(0u64, 1usize), (5, 4095), (4096, 4096), (7000, 64 * 4096 + 3), (300_000, 10)] {
            file.set_len(0).unwrap();
            file.write_all_at(&vec![0xAB; 600_000], 0).unwrap();
            write_zeros(&file, at, n).unwrap();
            let mut all = Vec::new();
            File::open(&path).unwrap().read_to_end(&mut all).unwrap();
            assert_eq!(all.len(), 600_000, "at {at}, {n} bytes");
            let zeroed = at as usize..at as usize + n;
            let wrong = all.iter().enumerate().find(|(i, &b)| b != if zeroed.contains(i) { 0 } else { 0xAB });
            assert_eq!(wrong, None, "at {at}, {n} bytes");
        }
        file.set_len(10).unwrap();
        write_zeros(&file, 100, 9000).unwrap();
        assert_eq!(file.metadata().unwrap().len(), 9100);
    }
}
