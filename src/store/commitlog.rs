//! Commit-log segments: fixed-size files named by their 20-digit start offset.
use std::collections::BTreeMap;
use std::fs::{File, OpenOptions};
use std::io::{self, BufReader, Read, Seek, SeekFrom};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};

use bytes::{Bytes, BytesMut};

use crate::codec::stored::{BLANK_MAGIC, MESSAGE_MAGIC};

/// One segment file.
pub(crate) struct Segment {
    pub base: i64,
    pub file: File,
    pub path: PathBuf,
}

impl Segment {
    pub fn sync(&self) -> io::Result<()> {
        self.file.sync_data()
    }
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
            segs.insert(base, Arc::new(Segment { base, file, path }));
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

    /// Smallest offset still on disk (0 when empty).
    pub fn min_offset(&self) -> i64 {
        self.read_map().keys().next().copied().unwrap_or(0)
    }

    pub fn create(&self, base: i64) -> io::Result<Arc<Segment>> {
        let path = self.dir.join(segment_name(base));
        let file = OpenOptions::new().read(true).write(true).create(true).truncate(true).open(&path)?;
        fsync_dir(&self.dir);
        let seg = Arc::new(Segment { base, file, path });
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
            return ScanItem::End(Some(format!("zeroed bytes at {}", self.pos)));
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
