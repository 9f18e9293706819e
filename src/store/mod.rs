//! The message store: the only code that touches disk.
//!
//! # Layout on disk (under `StoreConfig::root`)
//!
//! ```text
//! commitlog/00000000000000000000        commit-log segments, named by their 20-digit start offset,
//! commitlog/00000000001073741824        each `segment_size` bytes at most
//! consumequeue/<topic>/<queueId>/<20-digit byte offset>   per-queue index segments, 20-byte entries
//! checkpoint                            log offset below which log and indexes are known fsynced
//! index/<seq>.keys, index/<seq>.slots    key index (KEYS, UNIQ_KEY): hash-chained entry files
//! meta/                                 sled: topics, groups, consumer offsets, generic kv
//! pop/journal                           POP checkpoints, acks and cursors (see `journal`)
//! ```
//!
//! A commit-log record is exactly the stored-message layout of [`crate::codec::stored`], so a read
//! returns the bytes a PULL_MESSAGE body carries. A record never spans segments: when the next record
//! does not fit (leaving at least 8 bytes), an 8-byte blank header (`BLANK_MAGIC`, its totalSize covering
//! the rest of the segment) ends the segment and the record starts the next one. Segments are not
//! preallocated; a file's length is where its data ends.
//!
//! An index entry is `commitLogOffset i64 | size i32 | tagsCode i64` (big-endian), at byte
//! `queueOffset * 20` of the queue's index, split into files of `cq_entries_per_file` entries.
//!
//! # Guarantees after `kill -9` of the broker process
//!
//! * **ASYNC** (`FlushMode::Async`): a put is acknowledged once its bytes were written to the OS
//!   (page cache). A killed process loses nothing acknowledged; an OS crash or power loss may lose up to
//!   `flush_interval` of acknowledged messages. A background thread fsyncs every `flush_interval`.
//! * **SYNC** (`FlushMode::Sync`): [`PutOutcome::flush`] resolves only after an `fdatasync` covering the
//!   put's bytes (concurrent puts share one sync: group commit), so an acknowledged message also
//!   survives an OS crash. Only the log is synced per group commit; indexes and the checkpoint follow
//!   every `flush_interval` (indexes are rebuilt from the log on recovery). If the sync takes longer
//!   than `sync_flush_timeout`, the wait ends with [`StoreError::FlushTimeout`] (the message is kept
//!   and will be flushed).
//!
//! On open, the log is scanned from the checkpoint (and at least the whole newest segment): each record's
//! size, magic and body CRC are checked; the first bad record and everything after it is cut (with a
//! warning), index entries missing for good records are rebuilt, index entries pointing past the log's
//! end are dropped. Indexes may lag the log after a crash; they are never ahead of it once open returns.
//!
//! # Threads
//! `put` serialises appends behind one mutex (queue offset assignment + write); a flusher thread does
//! every fsync outside that lock. [`MessageStore::start_retention`] adds a thread deleting expired
//! segments (see `retention`); the runtime settings it and the flusher read are in `runtime`. KEYS/UNIQ_KEY entries are buffered in the key index under the
//! append lock and written in 64 KiB pieces (see `keyindex`); consume-queue entries likewise in each
//! queue's tail, written in ~4 KiB pieces and before every checkpoint (see `cqueue`).
pub mod acl_file;
mod commitlog;
mod cqueue;
mod error;
mod flush;
mod journal;
mod keyindex;
mod meta;
mod read;
mod recovery;
mod replica;
mod retention;
mod state;
pub mod timer;
mod message_store;
mod runtime;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use bytes::Bytes;

pub use error::StoreError;
pub use flush::FlushWait;
pub use journal::Journal;
pub use meta::{GroupConfig, MetaStore, TopicConfig};
pub use state::TxDecision;
pub use message_store::{tags_hash, MessageStore};
pub use runtime::StoreRuntime;
pub use replica::Dispatched;

/// When the commit log is fsynced.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FlushMode {
    /// Acknowledge after the write to the OS; fsync every `flush_interval`.
    Async,
    /// Acknowledge after an fsync covering the message (group commit).
    Sync,
}

/// Store settings; [`StoreConfig::new`] gives RocketMQ's defaults. The fields of
/// [`StoreRuntime`] (flush period, retention, record size) are the values at open: change them
/// on a running store with [`MessageStore::apply_runtime`].
#[derive(Clone, Debug)]
pub struct StoreConfig {
    pub root: PathBuf,
    /// Commit-log segment size (mappedFileSizeCommitLog), default 1 GiB.
    pub segment_size: u64,
    pub flush_mode: FlushMode,
    /// ASYNC flush period (flushIntervalCommitLog), default 500 ms.
    pub flush_interval: Duration,
    /// SYNC flush wait limit (syncFlushTimeout), default 5 s.
    pub sync_flush_timeout: Duration,
    /// Keep segments this long (fileReservedTime), default 72 h.
    pub file_reserved_time: Duration,
    /// Hours of the day (UTC, 0..=23) when expired segments are deleted (deleteWhen), default `[4]`.
    pub delete_when: Vec<u8>,
    /// Above this disk usage (percent) expired segments are deleted at any hour, default 75.
    pub disk_max_used_ratio: u8,
    /// The broker's reachable address (brokerIP1:listenPort): stored in each record and in msgIds.
    pub store_host: SocketAddr,
    pub sled_cache_bytes: u64,
    pub sled_flush_every_ms: u64,
    /// Largest accepted record (maxMessageSize), default 4 MiB.
    pub max_message_size: usize,
    /// Index entries per index file, default 300 000 (6 MB files, like RocketMQ).
    pub cq_entries_per_file: u64,
    /// Index KEYS and UNIQ_KEY for lookups (messageIndexEnable), default true.
    pub key_index: bool,
    /// Hash slots per key index file (maxHashSlotNum), default 1 048 576 (4 MiB in memory).
    pub index_slots: u32,
    /// Entries per key index file (maxIndexNum), default 4 194 304 (96 MiB files).
    pub index_entries_per_file: u32,
    /// Bytes of the commit log kept in the page cache behind the appender (pageCacheWindow):
    /// older pages, once flushed, are dropped from it by the flusher; 0 leaves the page cache to
    /// the kernel. Default 1 GiB.
    pub page_cache_window: u64,
}

impl StoreConfig {
    pub fn new(root: PathBuf, store_host: SocketAddr) -> Self {
        StoreConfig {
            root,
            segment_size: 1 << 30,
            flush_mode: FlushMode::Async,
            flush_interval: Duration::from_millis(500),
            sync_flush_timeout: Duration::from_secs(5),
            file_reserved_time: Duration::from_secs(72 * 3600),
            delete_when: vec![4],
            disk_max_used_ratio: 75,
            store_host,
            sled_cache_bytes: 64 << 20,
            sled_flush_every_ms: 500,
            max_message_size: 4 << 20,
            cq_entries_per_file: 300_000,
            key_index: true,
            index_slots: 1 << 20,
            index_entries_per_file: 4 << 20,
            page_cache_window: 1 << 30,
        }
    }
}

/// A message to append.
#[derive(Clone, Debug)]
pub struct NewMessage {
    pub topic: bytestring::ByteString,
    pub queue_id: i32,
    pub flag: i32,
    pub sys_flag: i32,
    pub born_timestamp: i64,
    pub born_host: SocketAddr,
    pub reconsume_times: i32,
    pub prepared_transaction_offset: i64,
    pub body: Bytes,
    /// The encoded properties string as stored.
    pub properties: String,
    pub tags_code: i64,
    /// KEYS split on space, for the key index.
    pub keys: Vec<String>,
    pub uniq_key: Option<String>,
}

/// Where one appended message went.
#[derive(Clone, Debug, PartialEq)]
pub struct PutResult {
    pub commit_log_offset: i64,
    pub queue_offset: i64,
    pub size: i32,
    pub store_timestamp: i64,
    /// The store's address, part of the offset msgId.
    pub store_host: std::net::SocketAddr,
}

impl PutResult {
    /// Offset msgId: upper-case hex of store ip + port (i32) + commit log offset (i64). Made when
    /// asked for (a batch's answer writes them into one list: no string per message).
    pub fn msg_id(&self) -> String {
        crate::codec::message::offset_msg_id(self.store_host, self.commit_log_offset)
    }
}

/// The result of a put: one [`PutResult`] per message, and for SYNC flush the wait for the fsync.
#[derive(Debug)]
pub struct PutOutcome {
    pub results: Vec<PutResult>,
    pub flush: Option<FlushWait>,
}

/// Outcome of [`MessageStore::get`], named after RocketMQ's GetMessageStatus.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GetStatus {
    Found,
    NoMatchedMessage,
    MessageWasRemoving,
    OffsetFoundNull,
    OffsetOverflowBadly,
    OffsetOverflowOne,
    OffsetTooSmall,
    NoMessageInQueue,
    NoMatchedLogicQueue,
}

/// Messages read from one queue, with the offsets a pull response needs.
#[derive(Clone, Debug)]
pub struct GetResult {
    pub status: GetStatus,
    /// Each one whole stored record.
    pub messages: Vec<Bytes>,
    pub next_begin_offset: i64,
    pub min_offset: i64,
    pub max_offset: i64,
}


#[cfg(test)]
mod tests;
