//! `MessageStore`: opening and recovery, the append path, flushing and retention.
use std::collections::HashMap;
use std::fs::OpenOptions;
use std::io;
use std::os::unix::fs::FileExt;
use std::path::Path;
use std::sync::atomic::{AtomicI32, AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::{Bytes, BytesMut};

use super::commitlog::{Advice, AppendBy, CommitLog, Segment};
use super::cqueue::{ConsumeQueue, Entry};
use super::flush::FlushShared;
use super::keyindex::{KeyIndex, KeyIndexConfig};
use super::meta::MetaStore;
use super::runtime::{Live, StoreRuntime};
use super::{FlushMode, NewMessage, PutOutcome, PutResult, StoreConfig, StoreError};
use crate::codec::stored::{encode_stored_into, encode_stored_with, stored_size, StoredMessage, BLANK_MAGIC};

/// Every consume queue by topic and queue id. Looked up twice per stored message: hashed with
/// foldhash, not SipHash (its hashing was ~5 % of a send's instructions); topic names come from
/// the broker's own topic table, not straight from a peer.
pub(crate) type Queues = HashMap<String, HashMap<i32, Arc<ConsumeQueue>, QueueHash>, QueueHash>;
pub(crate) type QueueHash = foldhash::fast::RandomState;

/// The message store. `Send + Sync`; share it as `Arc<MessageStore>`.
pub struct MessageStore {
    pub(crate) cfg: StoreConfig,
    pub(crate) log: Arc<CommitLog>,
    pub(crate) queues: Arc<RwLock<Queues>>,
    append: Mutex<Appender>,
    /// Log offset below which every record and its index entry is written.
    pub(crate) written: Arc<AtomicI64>,
    pub(crate) flush: Arc<FlushShared>,
    /// Log offset recorded in the checkpoint (log and indexes fsynced below it).
    checkpointed: Arc<AtomicI64>,
    meta: MetaStore,
    pub(crate) keys: Arc<KeyIndex>,
    /// Test hook: when non-zero, log writes write half their bytes then fail with this errno.
    fail_errno: AtomicI32,
    /// Flusher, flush-timeout and retention threads, joined on drop.
    pub(crate) flusher: Mutex<Vec<std::thread::JoinHandle<()>>>,
    /// Test hook: extra milliseconds before each log fsync.
    sync_delay_ms: Arc<AtomicU64>,
    /// Runtime-changeable settings (see `runtime`), shared with the flusher and retention threads.
    pub(crate) live: Arc<Live>,
    /// Log offset below which the flusher has dropped this process's pages from the page cache
    /// (see [`StoreConfig::page_cache_window`]).
    cache_dropped: Arc<AtomicI64>,
    /// Where the last read-ahead for readers behind the window ends (see `read_ahead`).
    read_ahead_to: AtomicI64,
}

pub(crate) struct Appender {
    pub(crate) seg: Option<Arc<Segment>>,
    pub(crate) pos: i64,
    /// Replication: the log offset up to which records are indexed (`replica`).
    pub(crate) dispatched: i64,
    /// Where a put encodes its records, kept between puts (one allocation less per send); a
    /// buffer grown past [`KEEP_BUF`] by a large put is not kept.
    buf: BytesMut,
    /// Scratch lists of a put, kept between puts (no allocation per send): the queues it touches
    /// and one run's index entries.
    queues: Vec<PutQueue>,
    entries: Vec<Entry>,
}

/// A queue a put writes to, looked up once per put.
struct PutQueue {
    /// The put's first message for this queue (its topic and queue id name the queue).
    first: usize,
    /// The queue offset after the put's last record in it so far.
    next: i64,
    queue: Arc<ConsumeQueue>,
}

/// The entry of `list` for message `m` of `msgs`.
fn put_queue<'l>(list: &'l mut [PutQueue], msgs: &[NewMessage], m: &NewMessage) -> Option<&'l mut PutQueue> {
    list.iter_mut().find(|q| msgs[q.first].queue_id == m.queue_id && msgs[q.first].topic == m.topic)
}

/// Largest encoding buffer an appender keeps between puts.
const KEEP_BUF: usize = 1 << 20;

/// Bytes of one put not yet written, and the segments it touched (for rollback).
struct BatchWrite {
    buf: BytesMut,
    buf_start: i64,
    touched: Vec<Arc<Segment>>,
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

/// Metadata kv namespace of topic-deletion markers (value: log offset at deletion, i64 BE).
pub(crate) const DELETED_TOPICS_NS: &str = "store.deleted_topics";
pub(crate) const CHECKPOINT: &str = "checkpoint";
pub(crate) fn read_checkpoint(root: &Path) -> Option<i64> {
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
        let index_dir = root.join("index");
        let keys = KeyIndex::open(KeyIndexConfig {
            dir: index_dir.clone(),
            enabled: cfg.key_index,
            slots: cfg.index_slots.max(1),
            entries_per_file: cfg.index_entries_per_file.max(1),
        })
        .map_err(|e| open_failed(&index_dir, e))?;
        let store = MessageStore {
            log: Arc::new(log),
            queues: Arc::new(RwLock::new(queues)),
            append: Mutex::new(Appender { seg: None, pos: 0, dispatched: 0, buf: BytesMut::new(), queues: Vec::new(), entries: Vec::new() }),
            written: Arc::new(AtomicI64::new(0)),
            flush: Arc::new(FlushShared::new(0)),
            checkpointed: Arc::new(AtomicI64::new(0)),
            meta,
            keys: Arc::new(keys),
            fail_errno: AtomicI32::new(0),
            flusher: Mutex::new(Vec::new()),
            sync_delay_ms: Arc::new(AtomicU64::new(0)),
            live: Arc::new(Live::new(&StoreRuntime::of(&cfg))),
            cache_dropped: Arc::new(AtomicI64::new(0)),
            read_ahead_to: AtomicI64::new(0),
            cfg,
        };
        let end = store.recover().map_err(|e| open_failed(&root, e))?;
        {
            let mut ap = store.lock_append();
            ap.pos = end;
            ap.dispatched = end;
            ap.seg = store.log.segment_for(end);
        }
        store.written.store(end, Ordering::Release);
        let ckpt = read_checkpoint(&root).unwrap_or(0).min(end);
        store.flush.flushed.store(ckpt, Ordering::Release);
        store.checkpointed.store(ckpt, Ordering::Release);
        // only pages this process writes are dropped: what was there before may be read again
        store.cache_dropped.store(end, Ordering::Release);
        let handles = spawn_flusher(&store).map_err(|e| open_failed(&root, e))?;
        *store.flusher.lock().unwrap_or_else(|e| e.into_inner()) = handles;
        Ok(Arc::new(store))
    }

    pub(crate) fn lock_append(&self) -> std::sync::MutexGuard<'_, Appender> {
        self.append.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The store's root directory.
    pub fn root(&self) -> &std::path::Path {
        &self.cfg.root
    }

    pub fn meta(&self) -> &MetaStore {
        &self.meta
    }

    /// Open the POP journal of this store (`pop/journal`): the journal and its records.
    pub fn open_pop_journal(&self) -> Result<(super::Journal, Vec<Vec<u8>>), StoreError> {
        super::Journal::open(&self.cfg.root.join("pop").join("journal"))
    }

    pub(crate) fn queue(&self, topic: &str, queue_id: i32) -> Option<Arc<ConsumeQueue>> {
        self.queues.read().unwrap_or_else(|e| e.into_inner()).get(topic)?.get(&queue_id).cloned()
    }

    pub(crate) fn queue_or_create(&self, topic: &str, queue_id: i32) -> io::Result<Arc<ConsumeQueue>> {
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

    pub(crate) fn all_queues(&self) -> Vec<Arc<ConsumeQueue>> {
        all_queues(&self.queues)
    }

    /// Test hook: sleep this long before each log fsync (0 = off).
    #[doc(hidden)]
    pub fn inject_sync_delay(&self, ms: u64) {
        self.sync_delay_ms.store(ms, Ordering::Relaxed);
    }

    /// Test hook: make commit-log writes fail with `errno` after writing half their bytes (0 = off).
    #[doc(hidden)]
    pub fn inject_write_error(&self, errno: i32) {
        self.fail_errno.store(errno, Ordering::SeqCst);
    }

    pub(crate) fn write_at(&self, seg: &Segment, data: &[u8], off: i64) -> Result<(), StoreError> {
        self.write_log(seg, data, off)
    }

    /// How appends reach the log: through the mapping unless every put waits for an fsync.
    fn append_by(&self) -> AppendBy {
        match self.cfg.flush_mode {
            FlushMode::Sync => AppendBy::Pwrite,
            FlushMode::Async => AppendBy::Mapping,
        }
    }

    fn write_log(&self, seg: &Segment, data: &[u8], off: i64) -> Result<(), StoreError> {
        let at = off - seg.base;
        let errno = self.fail_errno.load(Ordering::Relaxed);
        if errno != 0 {
            let _ = seg.write_at(&data[..data.len() / 2], at, self.log.seg_size, self.append_by());
            return Err(StoreError::io(&seg.path, io::Error::from_raw_os_error(errno)));
        }
        seg.write_at(data, at, self.log.seg_size, self.append_by()).map_err(|e| StoreError::io(&seg.path, e))
    }

    fn validate(&self, msgs: &[NewMessage]) -> Result<(), StoreError> {
        let limit = self.live.max_message_size().min((self.cfg.segment_size as usize).saturating_sub(8));
        for m in msgs {
            if m.topic.is_empty() || m.topic.len() > 127 {
                return Err(StoreError::InvalidMessage(format!("topic length {} not in 1..=127", m.topic.len())));
            }
            // The topic names a directory: only RocketMQ's legal characters (^[%|a-zA-Z0-9_-]+$).
            if !m.topic.bytes().all(|b| b.is_ascii_alphanumeric() || b"%|_-".contains(&b)) {
                return Err(StoreError::InvalidMessage(format!("topic {:?} has characters outside [%|a-zA-Z0-9_-]", m.topic)));
            }
            if m.properties.len() > i16::MAX as usize {
                return Err(StoreError::InvalidMessage(format!("properties length {} > 32767", m.properties.len())));
            }
            if self.record_size(m) as usize > limit {
                return Err(StoreError::MessageTooLarge);
            }
        }
        Ok(())
    }

    fn record_size(&self, m: &NewMessage) -> i64 {
        let store_v6 = self.cfg.store_host.is_ipv6();
        stored_size(m.body.len(), m.topic.len(), m.properties.len(), m.born_host.is_ipv6(), store_v6) as i64
    }

    /// Append 1..n messages (a batch for one topic and queue gets consecutive queue offsets).
    pub fn put(&self, msgs: Vec<NewMessage>) -> Result<PutOutcome, StoreError> {
        self.put_all(&msgs)
    }

    /// [`Self::put`] of messages the caller keeps.
    pub fn put_all(&self, msgs: &[NewMessage]) -> Result<PutOutcome, StoreError> {
        self.put_all_at(msgs, now_ms())
    }

    /// [`Self::put_all`] with the store timestamp given (milliseconds since the epoch).
    pub fn put_all_at(&self, msgs: &[NewMessage], now: i64) -> Result<PutOutcome, StoreError> {
        self.validate(msgs)?;
        let mut ap = self.lock_append();
        // where a failed append cuts back to (the segment itself is found only then: no reference
        // count taken a put)
        let (orig_base, orig_pos) = (ap.seg.as_ref().map(|s| s.base), ap.pos);
        let bytes: i64 = msgs.iter().map(|m| self.record_size(m)).sum();
        let mut buf = std::mem::take(&mut ap.buf);
        buf.clear();
        buf.reserve(bytes as usize + 8);
        let mut w = BatchWrite { buf, buf_start: ap.pos, touched: Vec::new() };
        let mut results = Vec::with_capacity(msgs.len());
        let mut queues = std::mem::take(&mut ap.queues);
        let res = self.append_locked(&mut ap, &mut w, msgs, bytes, now, &mut results, &mut queues);
        if w.buf.capacity() <= KEEP_BUF {
            ap.buf = std::mem::take(&mut w.buf);
        }
        if let Err(e) = res {
            queues.clear();
            ap.queues = queues;
            // the original segment is the current one, or one the failed append rolled past
            // (`roll` lists those in `touched`)
            let orig_seg = orig_base.and_then(|b| ap.seg.iter().chain(&w.touched).find(|s| s.base == b).cloned());
            self.rollback(&mut ap, orig_seg, orig_pos, &w.touched, msgs);
            return Err(e);
        }
        // publish each queue's new end (a batch, or a run of due timers, is one queue)
        for q in queues.drain(..) {
            q.queue.max.store(q.next, Ordering::Release);
        }
        ap.queues = queues;
        self.add_keys(msgs, &results);
        let end = ap.pos;
        ap.dispatched = end;
        self.written.store(end, Ordering::Release);
        drop(ap);
        let flush = match self.cfg.flush_mode {
            FlushMode::Sync => Some(self.flush.request(end, self.cfg.sync_flush_timeout)),
            FlushMode::Async => None,
        };
        Ok(PutOutcome { results, flush })
    }

    /// Encode and write the records and their index entries (not yet published). `queues` gets
    /// each queue of the put (looked up once) with the queue offset after its last record.
    /// `bytes`: the records' total size.
    #[allow(clippy::too_many_arguments)]
    fn append_locked(
        &self,
        ap: &mut Appender,
        w: &mut BatchWrite,
        msgs: &[NewMessage],
        bytes: i64,
        now: i64,
        results: &mut Vec<PutResult>,
        queues: &mut Vec<PutQueue>,
    ) -> Result<(), StoreError> {
        let seg_size = self.log.seg_size;
        // A put that fits the current segment's rest (and a blank's 8 bytes) is encoded straight
        // into the segment's mapping (ASYNC_FLUSH): one copy of each body less than through `w`.
        let fits = ap.seg.as_ref().filter(|s| ap.pos + bytes + 8 <= s.base + seg_size).cloned();
        if let Some(s) = fits.filter(|_| self.append_by() == AppendBy::Mapping && self.fail_errno.load(Ordering::Relaxed) == 0) {
            let mut res = Ok(());
            let in_place = s
                .write_in_place(ap.pos - s.base, bytes as usize, seg_size, |mut dst| {
                    for (at, m) in msgs.iter().enumerate() {
                        match self.next_record(ap, queues, msgs, at, now) {
                            Ok((sm, r)) => {
                                encode_stored_into(&sm, &m.body, &m.topic, &m.properties, &mut dst);
                                results.push(r);
                            }
                            Err(e) => {
                                res = Err(e);
                                return;
                            }
                        }
                    }
                })
                .map_err(|e| StoreError::io(&s.path, e))?;
            if in_place {
                res?;
                return self.write_index(ap, msgs, results, queues);
            }
        }
        for (at, m) in msgs.iter().enumerate() {
            let size = self.record_size(m);
            if ap.seg.as_ref().is_none_or(|s| ap.pos + size + 8 > s.base + seg_size) {
                self.roll(ap, w)?;
            }
            let (sm, r) = self.next_record(ap, queues, msgs, at, now)?;
            encode_stored_with(&sm, &m.body, &m.topic, &m.properties, &mut w.buf);
            results.push(r);
        }
        if let Some(s) = ap.seg.clone() {
            self.write_log(&s, &w.buf, w.buf_start)?;
        }
        self.write_index(ap, msgs, results, queues)
    }

    /// The stored form of message `at` of `msgs` (without its body, topic and properties: the
    /// encoder takes them from the message) at the appender's position, which moves past it, and
    /// what the put tells of it; its queue offset is the next of its queue.
    fn next_record(&self, ap: &mut Appender, queues: &mut Vec<PutQueue>, msgs: &[NewMessage], at: usize, now: i64) -> Result<(StoredMessage, PutResult), StoreError> {
        let m = &msgs[at];
        let qoff = match put_queue(queues, msgs, m) {
            Some(q) => {
                q.next += 1;
                q.next - 1
            }
            None => {
                let q = self.queue_or_create(&m.topic, m.queue_id).map_err(|e| StoreError::io(&self.cfg.root.join("consumequeue"), e))?;
                let o = q.max.load(Ordering::Acquire);
                queues.push(PutQueue { first: at, next: o + 1, queue: q });
                o
            }
        };
        let sm = StoredMessage {
            queue_id: m.queue_id,
            flag: m.flag,
            queue_offset: qoff,
            commit_log_offset: ap.pos,
            sys_flag: m.sys_flag,
            born_timestamp: m.born_timestamp,
            born_host: m.born_host,
            store_timestamp: now,
            store_host: self.cfg.store_host,
            reconsume_times: m.reconsume_times,
            prepared_transaction_offset: m.prepared_transaction_offset,
            body: Bytes::new(),
            topic: String::new(),
            properties: String::new(),
            body_crc: 0,
        };
        let size = self.record_size(m);
        let r = PutResult { commit_log_offset: ap.pos, queue_offset: qoff, size: size as i32, store_timestamp: now, store_host: self.cfg.store_host };
        ap.pos += size;
        Ok((sm, r))
    }

    /// Write the index entries of a put's records.
    fn write_index(&self, ap: &mut Appender, msgs: &[NewMessage], results: &[PutResult], queues: &mut [PutQueue]) -> Result<(), StoreError> {
        // Index entries: one write per run of consecutive messages of one queue (a batch is one run).
        let mut run = std::mem::take(&mut ap.entries);
        let mut i = 0;
        while i < msgs.len() {
            let (m, first) = (&msgs[i], &results[i]);
            run.clear();
            while i < msgs.len() && msgs[i].queue_id == m.queue_id && msgs[i].topic == m.topic {
                let r = &results[i];
                run.push(Entry { phys: r.commit_log_offset, size: r.size, tags: msgs[i].tags_code });
                i += 1;
            }
            let q = &put_queue(queues, msgs, m).ok_or_else(|| StoreError::Meta("queue vanished".into()))?.queue;
            q.write_run(first.queue_offset, &run).map_err(|e| StoreError::io(&q.dir, e))?;
        }
        if run.capacity() <= 4096 {
            run.clear();
            ap.entries = run;
        }
        Ok(())
    }

    /// End the current segment with a blank record (writing what is buffered) and start the next one.
    fn roll(&self, ap: &mut Appender, w: &mut BatchWrite) -> Result<(), StoreError> {
        let seg_size = self.log.seg_size;
        if let Some(s) = ap.seg.clone() {
            let seg_end = s.base + seg_size;
            w.buf.extend_from_slice(&((seg_end - ap.pos) as i32).to_be_bytes());
            w.buf.extend_from_slice(&BLANK_MAGIC.to_be_bytes());
            self.write_log(&s, &w.buf, w.buf_start)?;
            if !w.touched.iter().any(|t| t.base == s.base) {
                w.touched.push(s.clone());
            }
            w.buf.clear();
            ap.pos = seg_end;
            s.release();
        }
        let base = ap.pos - ap.pos.rem_euclid(seg_size);
        let s = self.log.create(base).map_err(|e| StoreError::io(&self.log.dir, e))?;
        w.touched.push(s.clone());
        ap.seg = Some(s);
        w.buf_start = ap.pos;
        Ok(())
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
            if let Err(e) = s.set_len(orig_pos - s.base) {
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

    /// Index KEYS and UNIQ_KEY (under the append lock: before `written` covers the records, so a
    /// checkpoint never passes a record whose keys are not yet handed to the index).
    fn add_keys(&self, msgs: &[NewMessage], results: &[PutResult]) {
        self.keys.add(msgs.iter().zip(results).flat_map(|(m, r)| {
            let keys = m.keys.iter().filter(|k| !k.is_empty()).chain(m.uniq_key.iter());
            keys.map(move |k| (&*m.topic, k.as_str(), r.store_timestamp, r.commit_log_offset))
        }));
    }

    pub(crate) fn flush_once(&self) -> io::Result<()> {
        self.flush_handles().run(true)
    }

    fn flush_handles(&self) -> FlushHandles {
        FlushHandles {
            log: self.log.clone(),
            queues: self.queues.clone(),
            written: self.written.clone(),
            flush: self.flush.clone(),
            checkpointed: self.checkpointed.clone(),
            sync_delay_ms: self.sync_delay_ms.clone(),
            root: self.cfg.root.clone(),
            keys: self.keys.clone(),
            live: self.live.clone(),
            cache_window: self.cfg.page_cache_window.min(i64::MAX as u64) as i64,
            cache_dropped: self.cache_dropped.clone(),
        }
    }

    /// Flush everything (log, indexes, key index, checkpoint, metadata). For shutdown.
    pub fn flush(&self) -> Result<(), StoreError> {
        self.flush_once().map_err(|e| StoreError::io(&self.cfg.root, e))?;
        self.keys.flush(true).map_err(|e| StoreError::io(&self.cfg.root.join("index"), e))?;
        self.meta.flush()
    }
}

impl Drop for MessageStore {
    fn drop(&mut self) {
        self.live.stop_retention();
        self.flush.shutdown();
        for h in std::mem::take(&mut *self.flusher.lock().unwrap_or_else(|e| e.into_inner())) {
            let _ = h.join();
        }
        let r = self.flush_once().map_err(|e| e.to_string());
        if let Err(e) = &r {
            tracing::warn!(error = %e, "final flush failed");
        }
        self.flush.complete(&r);
        if let Err(e) = self.keys.flush(true) {
            tracing::warn!(error = %e, "final key index flush failed");
        }
        let _ = self.meta.flush();
    }
}

fn load_queues(root: &Path, per_file: i64) -> io::Result<Queues> {
    let mut out: Queues = Queues::default();
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

pub(crate) fn all_queues(queues: &RwLock<Queues>) -> Vec<Arc<ConsumeQueue>> {
    let map = queues.read().unwrap_or_else(|e| e.into_inner());
    map.values().flat_map(|m| m.values().cloned()).collect()
}

/// What the flusher thread needs (it must not keep the store itself alive).
struct FlushHandles {
    log: Arc<CommitLog>,
    queues: Arc<RwLock<Queues>>,
    written: Arc<AtomicI64>,
    flush: Arc<FlushShared>,
    checkpointed: Arc<AtomicI64>,
    sync_delay_ms: Arc<AtomicU64>,
    root: std::path::PathBuf,
    keys: Arc<KeyIndex>,
    live: Arc<Live>,
    /// [`StoreConfig::page_cache_window`] (0: off).
    cache_window: i64,
    cache_dropped: Arc<AtomicI64>,
}

impl FlushHandles {
    /// fsync the log up to what is written (SYNC waiters need only this: indexes are rebuilt from the
    /// log on recovery); with `full`, also the indexes, then the checkpoint. Runs outside the append lock.
    fn run(&self, full: bool) -> io::Result<()> {
        let w = self.written.load(Ordering::Acquire);
        let f = self.flush.flushed.load(Ordering::Acquire);
        if w > f {
            let delay = self.sync_delay_ms.load(Ordering::Relaxed);
            if delay > 0 {
                std::thread::sleep(Duration::from_millis(delay));
            }
            for s in self.log.segments() {
                if s.base + self.log.seg_size > f && s.base <= w {
                    s.sync()?;
                }
            }
            self.flush.flushed.fetch_max(w, Ordering::AcqRel);
        }
        if !full {
            return Ok(());
        }
        self.drop_cached();
        let queues = all_queues(&self.queues);
        if w == self.checkpointed.load(Ordering::Acquire) && !queues.iter().any(|q| q.dirty.load(Ordering::Acquire)) {
            return Ok(());
        }
        for q in queues {
            q.sync()?;
        }
        // Key entries of every record below `w` were added before `written` reached it. If they
        // cannot be written (a full disk; the index warns), keep the old checkpoint, so recovery
        // re-indexes from there, without failing the log's SYNC waiters.
        if self.keys.flush(true).is_err() {
            return Ok(());
        }
        let mut b = [0u8; 12];
        b[..8].copy_from_slice(&w.to_be_bytes());
        b[8..].copy_from_slice(&crc32fast::hash(&w.to_be_bytes()).to_be_bytes());
        let path = self.root.join(CHECKPOINT);
        let file = OpenOptions::new().write(true).create(true).truncate(false).open(&path)?;
        file.write_all_at(&b, 0)?;
        file.sync_data()?;
        self.checkpointed.fetch_max(w, Ordering::AcqRel);
        Ok(())
    }
}

/// Readers behind the page-cache window get the log read ahead of them this far.
const READ_AHEAD: i64 = 8 << 20;

impl MessageStore {
    /// A reader has read the log up to `at`. Behind the page-cache window (pages dropped, see
    /// [`FlushHandles::drop_cached`], or written before the store opened, whose pages may be
    /// anywhere), start reading the log after it into the page cache: the
    /// records of one queue are spread over the log between other queues' records, so the
    /// kernel's own read-ahead for the segment file does not see a sequential reader. One
    /// request per half [`READ_AHEAD`] a reader moves (a second reader far from the first makes
    /// its own).
    pub(crate) fn read_ahead(&self, at: i64) {
        let dropped = self.cache_dropped.load(Ordering::Acquire);
        if self.cfg.page_cache_window == 0 || at >= dropped {
            return;
        }
        let ahead = self.read_ahead_to.load(Ordering::Relaxed);
        // how far the last read-ahead reaches past this reader: more than half of one, it is
        // still ahead of it; less, extend it; negative or more than one, another reader's
        let lead = ahead - at;
        if lead > READ_AHEAD / 2 && lead <= READ_AHEAD {
            return;
        }
        let from = if (0..=READ_AHEAD).contains(&lead) { ahead } else { at };
        let to = (at + READ_AHEAD).min(dropped);
        self.read_ahead_to.store(at + READ_AHEAD, Ordering::Relaxed);
        self.log.advise(from, to, Advice::ReadAhead);
    }
}

impl FlushHandles {
    /// Drop the log's pages that are flushed (clean) and more than the window behind the
    /// appender from the page cache, once each: new pages then come from memory just freed
    /// instead of growing the cache into memory untouched for long (on a VM that hands free
    /// memory back to its host, a first touch of such a page costs a host fault: batches of
    /// 64 x 128 B ran at half speed once several GB had been written). Readers behind the window
    /// read the disk; pages they bring back are the kernel's to keep.
    fn drop_cached(&self) {
        if self.cache_window <= 0 {
            return;
        }
        let flushed = self.flush.flushed.load(Ordering::Acquire);
        let to = flushed.min(self.written.load(Ordering::Acquire) - self.cache_window) & !4095;
        let from = self.cache_dropped.load(Ordering::Acquire);
        if to > from {
            self.log.advise(from, to, Advice::Drop);
            self.cache_dropped.store(to, Ordering::Release);
        }
    }
}

fn spawn_flusher(store: &MessageStore) -> io::Result<Vec<std::thread::JoinHandle<()>>> {
    let h = store.flush_handles();
    let mode = store.cfg.flush_mode;
    let flusher = std::thread::Builder::new().name("store-flush".into()).spawn(move || {
        let mut last_full = std::time::Instant::now();
        loop {
            // Read every round: flushIntervalCommitLog may change at runtime (`apply_runtime`).
            let full_every = h.live.flush_interval();
            let interval = match mode {
                FlushMode::Async => full_every,
                FlushMode::Sync => full_every.min(Duration::from_millis(100)),
            };
            if !h.flush.wait_for_work(interval) {
                break;
            }
            let full = mode == FlushMode::Async || last_full.elapsed() >= full_every;
            if full {
                last_full = std::time::Instant::now();
            }
            let r = h.run(full).map_err(|e| e.to_string());
            if let Err(e) = &r {
                tracing::warn!(error = %e, "store flush failed");
            }
            h.flush.complete(&r);
        }
    })?;
    let mut handles = vec![flusher];
    if store.cfg.flush_mode == FlushMode::Sync {
        let shared = store.flush.clone();
        let tick = (store.cfg.sync_flush_timeout / 4).clamp(Duration::from_millis(1), Duration::from_millis(100));
        handles.push(std::thread::Builder::new().name("store-flush-timeout".into()).spawn(move || {
            while shared.expire() {
                std::thread::sleep(tick);
            }
        })?);
    }
    Ok(handles)
}

#[allow(dead_code)]
fn _assert_send_sync() {
    fn f<T: Send + Sync>() {}
    f::<MessageStore>();
}

/// Runtime settings (see `runtime.rs`).
impl MessageStore {
    /// Replace the runtime settings. Takes effect at once: the flusher's next wait uses the new
    /// period (a sleeping flusher is woken), the next put the new size limit, and a retention
    /// change makes the retention thread (if started) run now.
    pub fn apply_runtime(&self, rt: &StoreRuntime) {
        let (flush, retention) = self.live.set(rt);
        if flush {
            self.flush.poke();
        }
        if retention {
            self.live.wake_retention();
        }
    }

    /// The runtime settings in force.
    pub fn runtime(&self) -> StoreRuntime {
        StoreRuntime {
            flush_interval: self.live.flush_interval(),
            file_reserved_time: self.live.file_reserved_time(),
            delete_when: self.live.delete_hours(),
            disk_max_used_ratio: self.live.disk_max_used_ratio(),
            max_message_size: self.live.max_message_size(),
        }
    }
}
