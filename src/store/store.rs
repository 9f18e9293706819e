//! `MessageStore`: opening and recovery, the append path, flushing and retention.
use std::collections::HashMap;
use std::fs::OpenOptions;
use std::io;
use std::os::unix::fs::FileExt;
use std::path::Path;
use std::sync::atomic::{AtomicI32, AtomicI64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::BytesMut;

use super::commitlog::{CommitLog, ScanItem, Segment, SegmentScanner};
use super::cqueue::{ConsumeQueue, Entry};
use super::flush::FlushShared;
use super::keyindex::{KeyEntry, KeyIndex};
use super::meta::MetaStore;
use super::{offset_msg_id, FlushMode, NewMessage, PutOutcome, PutResult, StoreConfig, StoreError};
use crate::codec::stored::{decode_stored, encode_stored, stored_size, StoredMessage, BLANK_MAGIC};

pub(crate) type Queues = HashMap<String, HashMap<i32, Arc<ConsumeQueue>>>;

/// The message store. `Send + Sync`; share it as `Arc<MessageStore>`.
pub struct MessageStore {
    pub(crate) cfg: StoreConfig,
    pub(crate) log: Arc<CommitLog>,
    pub(crate) queues: Arc<RwLock<Queues>>,
    append: Mutex<Appender>,
    /// Log offset below which every record and its index entry is written.
    pub(crate) written: Arc<AtomicI64>,
    pub(crate) flush: Arc<FlushShared>,
    meta: MetaStore,
    pub(crate) keys: KeyIndex,
    /// Test hook: when non-zero, log writes write half their bytes then fail with this errno.
    fail_errno: AtomicI32,
    flusher: Mutex<Option<std::thread::JoinHandle<()>>>,
}

struct Appender {
    seg: Option<Arc<Segment>>,
    pos: i64,
}

pub(crate) fn now_ms() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_millis() as i64).unwrap_or(0)
}

fn open_failed(dir: &Path, e: impl std::fmt::Display) -> StoreError {
    StoreError::OpenFailed { dir: dir.to_path_buf(), reason: e.to_string() }
}

/// Java `String.hashCode` over UTF-16 code units, sign-extended.
pub fn tags_hash(tags: &str) -> i64 {
    let mut h: i32 = 0;
    for u in tags.encode_utf16() {
        h = h.wrapping_mul(31).wrapping_add(u as i32);
    }
    h as i64
}

fn property<'a>(props: &'a str, name: &str) -> Option<&'a str> {
    props.split('\u{2}').find_map(|kv| {
        let (k, v) = kv.split_once('\u{1}')?;
        (k == name).then_some(v)
    })
}

const CHECKPOINT: &str = "checkpoint";
const SCHEDULE_TOPIC: &str = "SCHEDULE_TOPIC_XXXX";
/// RocketMQ's default messageDelayLevel, used to rebuild schedule-topic tags codes on recovery.
const DELAY_LEVELS_MS: [i64; 18] = [
    1_000, 5_000, 10_000, 30_000, 60_000, 120_000, 180_000, 240_000, 300_000, 360_000, 420_000, 480_000, 540_000,
    600_000, 1_200_000, 1_800_000, 3_600_000, 7_200_000,
];

fn read_checkpoint(root: &Path) -> Option<i64> {
    let b = std::fs::read(root.join(CHECKPOINT)).ok()?;
    if b.len() != 12 {
        return None;
    }
    let mut a = [0u8; 8];
    a.copy_from_slice(&b[..8]);
    let crc = u32::from_be_bytes([b[8], b[9], b[10], b[11]]);
    (crc32fast::hash(&a) == crc).then(|| i64::from_be_bytes(a))
}

impl MessageStore {
    /// Open (creating if needed) the store under `cfg.root` and recover it.
    pub fn open(cfg: StoreConfig) -> Result<Arc<MessageStore>, StoreError> {
        let root = cfg.root.clone();
        std::fs::create_dir_all(&root).map_err(|e| open_failed(&root, e))?;
        let log_dir = root.join("commitlog");
        let log = CommitLog::open(log_dir.clone(), cfg.segment_size as i64).map_err(|e| open_failed(&log_dir, e))?;
        let cq_root = root.join("consumequeue");
        let queues = load_queues(&cq_root, cfg.cq_entries_per_file as i64).map_err(|e| open_failed(&cq_root, e))?;
        let meta_dir = root.join("meta");
        let meta = MetaStore::open(&meta_dir, cfg.sled_cache_bytes, cfg.sled_flush_every_ms)?;
        let keys = KeyIndex::start(meta.keys.clone());
        let store = MessageStore {
            log: Arc::new(log),
            queues: Arc::new(RwLock::new(queues)),
            append: Mutex::new(Appender { seg: None, pos: 0 }),
            written: Arc::new(AtomicI64::new(0)),
            flush: Arc::new(FlushShared::new(0)),
            meta,
            keys,
            fail_errno: AtomicI32::new(0),
            flusher: Mutex::new(None),
            cfg,
        };
        let end = store.recover().map_err(|e| open_failed(&root, e))?;
        {
            let mut ap = store.lock_append();
            ap.pos = end;
            ap.seg = store.log.segment_for(end);
        }
        store.written.store(end, Ordering::Release);
        store.flush.flushed.store(read_checkpoint(&root).unwrap_or(0).min(end), Ordering::Release);
        let handle = spawn_flusher(&store).map_err(|e| open_failed(&root, e))?;
        *store.flusher.lock().unwrap_or_else(|e| e.into_inner()) = Some(handle);
        Ok(Arc::new(store))
    }

    fn lock_append(&self) -> std::sync::MutexGuard<'_, Appender> {
        self.append.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn meta(&self) -> &MetaStore {
        &self.meta
    }

    pub(crate) fn queue(&self, topic: &str, queue_id: i32) -> Option<Arc<ConsumeQueue>> {
        self.queues.read().unwrap_or_else(|e| e.into_inner()).get(topic)?.get(&queue_id).cloned()
    }

    fn queue_or_create(&self, topic: &str, queue_id: i32) -> io::Result<Arc<ConsumeQueue>> {
        if let Some(q) = self.queue(topic, queue_id) {
            return Ok(q);
        }
        let mut map = self.queues.write().unwrap_or_else(|e| e.into_inner());
        if let Some(q) = map.get(topic).and_then(|m| m.get(&queue_id)) {
            return Ok(q.clone());
        }
        let dir = self.cfg.root.join("consumequeue").join(topic).join(queue_id.to_string());
        let q = Arc::new(ConsumeQueue::open(dir, self.cfg.cq_entries_per_file as i64)?);
        map.entry(topic.to_string()).or_default().insert(queue_id, q.clone());
        Ok(q)
    }

    /// Scan the log from the checkpoint (at least the newest segment), cut a bad tail, fix indexes.
    fn recover(&self) -> io::Result<i64> {
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
        let max_record = self.cfg.max_message_size + 1024;
        let mut rebuilt = 0u64;
        let end = loop {
            let Some(seg) = self.log.segment_for(pos) else { break pos };
            let mut sc = SegmentScanner::new(&seg, pos, self.log.seg_size, max_record)?;
            match self.scan_segment(&mut sc, &mut rebuilt)? {
                None => pos = seg.base + self.log.seg_size,
                Some((at, reason)) => {
                    if let Some(r) = reason {
                        tracing::warn!(segment = %seg.path.display(), offset = at, reason = %r, "cutting commit log tail");
                    }
                    seg.file.set_len((at - seg.base) as u64)?;
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
            let mut m = q.max.load(Ordering::Acquire);
            while m > q.min.load(Ordering::Acquire) {
                match q.entry(m - 1) {
                    Some(e) if e.size > 0 && e.phys + e.size as i64 <= end => break,
                    _ => m -= 1,
                }
            }
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
    fn scan_segment(&self, sc: &mut SegmentScanner, rebuilt: &mut u64) -> io::Result<Option<(i64, Option<String>)>> {
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
                    if self.redispatch(&m, rec.len() as i32)? {
                        *rebuilt += 1;
                    }
                    sc.pos += rec.len() as i64;
                }
            }
        }
    }

    /// Make sure the index has the entry for a recovered record. Returns true when written.
    fn redispatch(&self, m: &StoredMessage, size: i32) -> io::Result<bool> {
        let q = self.queue_or_create(&m.topic, m.queue_id)?;
        let max = q.max.load(Ordering::Acquire);
        if m.queue_offset < max {
            if q.entry(m.queue_offset).map(|e| e.phys) == Some(m.commit_log_offset) {
                return Ok(false);
            }
            q.truncate(m.queue_offset)?;
        } else if m.queue_offset > max {
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

    pub(crate) fn all_queues(&self) -> Vec<Arc<ConsumeQueue>> {
        all_queues(&self.queues)
    }

    /// Test hook: make commit-log writes fail with `errno` after writing half their bytes (0 = off).
    #[doc(hidden)]
    pub fn inject_write_error(&self, errno: i32) {
        self.fail_errno.store(errno, Ordering::SeqCst);
    }

    fn write_log(&self, seg: &Segment, data: &[u8], off: i64) -> Result<(), StoreError> {
        let at = (off - seg.base) as u64;
        let errno = self.fail_errno.load(Ordering::Relaxed);
        if errno != 0 {
            let _ = seg.file.write_all_at(&data[..data.len() / 2], at);
            return Err(StoreError::io(&seg.path, io::Error::from_raw_os_error(errno)));
        }
        seg.file.write_all_at(data, at).map_err(|e| StoreError::io(&seg.path, e))
    }

    /// Append 1..n messages (a batch for one topic and queue gets consecutive queue offsets).
    pub fn put(&self, msgs: Vec<NewMessage>) -> Result<PutOutcome, StoreError> {
        let host = self.cfg.store_host;
        let limit = self.cfg.max_message_size.min(self.cfg.segment_size as usize - 8);
        for m in &msgs {
            if m.topic.is_empty() || m.topic.len() > 127 {
                return Err(StoreError::InvalidMessage(format!("topic length {} not in 1..=127", m.topic.len())));
            }
            if m.properties.len() > i16::MAX as usize {
                return Err(StoreError::InvalidMessage(format!("properties length {} > 32767", m.properties.len())));
            }
            let size = stored_size(m.body.len(), m.topic.len(), m.properties.len(), m.born_host.is_ipv6(), host.is_ipv6());
            if size > limit {
                return Err(StoreError::MessageTooLarge);
            }
        }
        let now = now_ms();
        let mut ap = self.lock_append();
        let (orig_seg, orig_pos) = (ap.seg.clone(), ap.pos);
        let mut results = Vec::with_capacity(msgs.len());
        let mut next_qoff: HashMap<(&str, i32), i64> = HashMap::new();
        let mut buf = BytesMut::new();
        let mut buf_start = ap.pos;
        let mut touched: Vec<Arc<Segment>> = Vec::new();
        let seg_size = self.log.seg_size;
        let res: Result<(), StoreError> = (|| {
            for m in &msgs {
                let size = stored_size(m.body.len(), m.topic.len(), m.properties.len(), m.born_host.is_ipv6(), host.is_ipv6()) as i64;
                let need_roll = match &ap.seg {
                    None => true,
                    Some(s) => ap.pos + size + 8 > s.base + seg_size,
                };
                if need_roll {
                    if let Some(s) = ap.seg.clone() {
                        let seg_end = s.base + seg_size;
                        buf.extend_from_slice(&((seg_end - ap.pos) as i32).to_be_bytes());
                        buf.extend_from_slice(&BLANK_MAGIC.to_be_bytes());
                        self.write_log(&s, &buf, buf_start)?;
                        if !touched.iter().any(|t| t.base == s.base) {
                            touched.push(s.clone());
                        }
                        buf.clear();
                        ap.pos = seg_end;
                    } else {
                        ap.pos = ap.pos.max(0);
                    }
                    let base = ap.pos - ap.pos.rem_euclid(seg_size);
                    let s = self.log.create(base).map_err(|e| StoreError::io(&self.log.dir, e))?;
                    touched.push(s.clone());
                    ap.seg = Some(s);
                    buf_start = ap.pos;
                }
                let qoff = match next_qoff.get(&(m.topic.as_str(), m.queue_id)) {
                    Some(o) => *o,
                    None => self
                        .queue_or_create(&m.topic, m.queue_id)
                        .map_err(|e| StoreError::io(&self.cfg.root.join("consumequeue"), e))?
                        .max
                        .load(Ordering::Acquire),
                };
                next_qoff.insert((m.topic.as_str(), m.queue_id), qoff + 1);
                let sm = StoredMessage {
                    queue_id: m.queue_id,
                    flag: m.flag,
                    queue_offset: qoff,
                    commit_log_offset: ap.pos,
                    sys_flag: m.sys_flag,
                    born_timestamp: m.born_timestamp,
                    born_host: m.born_host,
                    store_timestamp: now,
                    store_host: host,
                    reconsume_times: m.reconsume_times,
                    prepared_transaction_offset: m.prepared_transaction_offset,
                    body: m.body.clone(),
                    topic: m.topic.clone(),
                    properties: m.properties.clone(),
                    body_crc: 0,
                };
                encode_stored(&sm, &mut buf);
                results.push(PutResult {
                    commit_log_offset: ap.pos,
                    queue_offset: qoff,
                    size: size as i32,
                    store_timestamp: now,
                    msg_id: offset_msg_id(&host, ap.pos),
                });
                ap.pos += size;
            }
            if let Some(s) = ap.seg.clone() {
                self.write_log(&s, &buf, buf_start)?;
            }
            for (m, r) in msgs.iter().zip(&results) {
                let q = self.queue(&m.topic, m.queue_id).ok_or_else(|| StoreError::Meta("queue vanished".into()))?;
                q.write(r.queue_offset, Entry { phys: r.commit_log_offset, size: r.size, tags: m.tags_code })
                    .map_err(|e| StoreError::io(&q.dir, e))?;
            }
            Ok(())
        })();
        if let Err(e) = res {
            self.rollback(&mut ap, orig_seg, orig_pos, &touched, &msgs);
            return Err(e);
        }
        for (m, r) in msgs.iter().zip(&results) {
            if let Some(q) = self.queue(&m.topic, m.queue_id) {
                q.max.store(r.queue_offset + 1, Ordering::Release);
            }
        }
        let end = ap.pos;
        self.written.store(end, Ordering::Release);
        drop(ap);
        self.send_keys(&msgs, &results);
        let flush = match self.cfg.flush_mode {
            FlushMode::Sync => Some(self.flush.request(end, self.cfg.sync_flush_timeout)),
            FlushMode::Async => None,
        };
        Ok(PutOutcome { results, flush })
    }

    /// Undo a failed append: cut the original segment back, drop new ones, cut index files back.
    fn rollback(&self, ap: &mut Appender, orig_seg: Option<Arc<Segment>>, orig_pos: i64, touched: &[Arc<Segment>], msgs: &[NewMessage]) {
        let orig_base = orig_seg.as_ref().map(|o| o.base);
        for s in touched.iter().filter(|s| Some(s.base) != orig_base) {
            if let Err(e) = self.log.remove(s.base) {
                tracing::warn!(segment = %s.path.display(), error = %e, "cannot remove segment after failed write");
            }
        }
        if let Some(s) = &orig_seg {
            if let Err(e) = s.file.set_len((orig_pos - s.base) as u64) {
                tracing::warn!(segment = %s.path.display(), error = %e, "cannot cut segment after failed write");
            }
        }
        for m in msgs {
            if let Some(q) = self.queue(&m.topic, m.queue_id) {
                let max = q.max.load(Ordering::Acquire);
                if let Err(e) = q.truncate(max) {
                    tracing::warn!(dir = %q.dir.display(), error = %e, "cannot cut index after failed write");
                }
            }
        }
        ap.seg = orig_seg;
        ap.pos = orig_pos;
    }

    fn send_keys(&self, msgs: &[NewMessage], results: &[PutResult]) {
        let mut entries = Vec::new();
        for (m, r) in msgs.iter().zip(results) {
            for k in m.keys.iter().filter(|k| !k.is_empty()).chain(m.uniq_key.iter()) {
                entries.push(KeyEntry { topic: m.topic.clone(), key: k.clone(), store_time: r.store_timestamp, offset: r.commit_log_offset });
            }
        }
        self.keys.send(entries);
    }

    pub(crate) fn flush_once(&self) -> io::Result<()> {
        self.flush_handles().run()
    }

    fn flush_handles(&self) -> FlushHandles {
        FlushHandles {
            log: self.log.clone(),
            queues: self.queues.clone(),
            written: self.written.clone(),
            flush: self.flush.clone(),
            root: self.cfg.root.clone(),
        }
    }

    /// Flush everything (log, indexes, checkpoint, key index, metadata). For shutdown.
    pub fn flush(&self) -> Result<(), StoreError> {
        self.flush_once().map_err(|e| StoreError::io(&self.cfg.root, e))?;
        self.keys.barrier();
        self.meta.flush()
    }

    /// Delete expired whole segments (never the newest); returns how many were deleted.
    pub fn run_retention(&self, now_ms: i64) -> usize {
        let hour = ((now_ms / 3_600_000) % 24) as u8;
        let usage = disk_usage_percent(&self.cfg.root).unwrap_or(0);
        if hour != self.cfg.delete_when && usage <= self.cfg.disk_max_used_ratio {
            return 0;
        }
        let reserved = self.cfg.file_reserved_time.as_millis() as i64;
        let segs = self.log.segments();
        let mut deleted = 0;
        for s in segs.iter().take(segs.len().saturating_sub(1)) {
            let mtime = s
                .file
                .metadata()
                .and_then(|m| m.modified())
                .ok()
                .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
                .map(|d| d.as_millis() as i64)
                .unwrap_or(i64::MAX);
            if mtime.saturating_add(reserved) > now_ms {
                break;
            }
            if let Err(e) = self.log.remove(s.base) {
                tracing::warn!(segment = %s.path.display(), error = %e, "cannot delete expired segment");
                break;
            }
            tracing::info!(segment = %s.path.display(), "deleted expired commit log segment");
            deleted += 1;
        }
        if deleted > 0 {
            let log_min = self.log.min_offset();
            for q in self.all_queues() {
                q.set_min(q.first_at_or_after(log_min));
            }
        }
        deleted
    }

    /// Forget a topic's queues and delete their indexes.
    pub fn delete_topic(&self, topic: &str) {
        let removed = self.queues.write().unwrap_or_else(|e| e.into_inner()).remove(topic);
        if removed.is_some() {
            let dir = self.cfg.root.join("consumequeue").join(topic);
            if let Err(e) = std::fs::remove_dir_all(&dir) {
                tracing::warn!(dir = %dir.display(), error = %e, "cannot delete topic index directory");
            }
        }
    }
}

impl Drop for MessageStore {
    fn drop(&mut self) {
        self.flush.shutdown();
        if let Some(h) = self.flusher.lock().unwrap_or_else(|e| e.into_inner()).take() {
            let _ = h.join();
        }
        if let Err(e) = self.flush_once() {
            tracing::warn!(error = %e, "final flush failed");
        }
        self.keys.barrier();
        self.keys.stop();
        let _ = self.meta.flush();
    }
}

fn disk_usage_percent(path: &Path) -> Option<u8> {
    use std::os::unix::ffi::OsStrExt;
    let c = std::ffi::CString::new(path.as_os_str().as_bytes()).ok()?;
    let mut st: libc::statvfs = unsafe { std::mem::zeroed() };
    // SAFETY: c is a valid NUL-terminated path and st a properly sized out-parameter.
    if unsafe { libc::statvfs(c.as_ptr(), &mut st) } != 0 || st.f_blocks == 0 {
        return None;
    }
    let used = st.f_blocks.saturating_sub(st.f_bfree) as f64;
    Some(((used / st.f_blocks as f64) * 100.0) as u8)
}

fn load_queues(root: &Path, per_file: i64) -> io::Result<Queues> {
    let mut out: Queues = HashMap::new();
    if !root.exists() {
        return Ok(out);
    }
    for t in std::fs::read_dir(root)? {
        let t = t?;
        let Some(topic) = t.file_name().to_str().map(str::to_string) else { continue };
        if !t.path().is_dir() {
            continue;
        }
        for qd in std::fs::read_dir(t.path())? {
            let qd = qd?;
            let Some(qid) = qd.file_name().to_str().and_then(|n| n.parse::<i32>().ok()) else { continue };
            let q = ConsumeQueue::open(qd.path(), per_file)?;
            out.entry(topic.clone()).or_default().insert(qid, Arc::new(q));
        }
    }
    Ok(out)
}

fn all_queues(queues: &RwLock<Queues>) -> Vec<Arc<ConsumeQueue>> {
    let map = queues.read().unwrap_or_else(|e| e.into_inner());
    map.values().flat_map(|m| m.values().cloned()).collect()
}

/// What the flusher thread needs (it must not keep the store itself alive).
struct FlushHandles {
    log: Arc<CommitLog>,
    queues: Arc<RwLock<Queues>>,
    written: Arc<AtomicI64>,
    flush: Arc<FlushShared>,
    root: std::path::PathBuf,
}

impl FlushHandles {
    /// fsync log and indexes up to what is written, then the checkpoint. Runs outside the append lock.
    fn run(&self) -> io::Result<()> {
        let w = self.written.load(Ordering::Acquire);
        let f = self.flush.flushed.load(Ordering::Acquire);
        let queues = all_queues(&self.queues);
        if w == f && !queues.iter().any(|q| q.dirty.load(Ordering::Acquire)) {
            return Ok(());
        }
        for s in self.log.segments() {
            if s.base + self.log.seg_size > f && s.base <= w {
                s.sync()?;
            }
        }
        for q in queues {
            q.sync()?;
        }
        let mut b = [0u8; 12];
        b[..8].copy_from_slice(&w.to_be_bytes());
        b[8..].copy_from_slice(&crc32fast::hash(&w.to_be_bytes()).to_be_bytes());
        let path = self.root.join(CHECKPOINT);
        let file = OpenOptions::new().write(true).create(true).truncate(false).open(&path)?;
        file.write_all_at(&b, 0)?;
        file.sync_data()?;
        self.flush.flushed.fetch_max(w, Ordering::AcqRel);
        Ok(())
    }
}

fn spawn_flusher(store: &MessageStore) -> io::Result<std::thread::JoinHandle<()>> {
    let h = store.flush_handles();
    let interval = match store.cfg.flush_mode {
        FlushMode::Async => store.cfg.flush_interval,
        FlushMode::Sync => store.cfg.flush_interval.min(Duration::from_millis(100)),
    };
    std::thread::Builder::new().name("store-flush".into()).spawn(move || {
        while h.flush.wait_for_work(interval) {
            let r = h.run().map_err(|e| e.to_string());
            if let Err(e) = &r {
                tracing::warn!(error = %e, "store flush failed");
            }
            h.flush.complete(&r);
        }
    })
}

#[allow(dead_code)]
fn _assert_send_sync() {
    fn f<T: Send + Sync>() {}
    f::<MessageStore>();
}
