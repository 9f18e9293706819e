//! Finding stored messages for people (the console): by key, by message id (offset id or the
//! client's unique id), by queue and offset; the trace records of a message; and a hand-written
//! test message built like a client's.
use super::send::{pick_queue, stored_properties};
use super::topics::{perm, DLQ_PREFIX, RETRY_PREFIX};
use super::Core;
use crate::codec::message::{decode_offset_msg_id, parse_properties, prop, Properties};
use crate::codec::stored::{decode_stored, StoredMessage};
use crate::codec::trace::{decode_trace, TraceRecord};
use crate::store::NewMessage;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU32, Ordering};

/// Messages a key lookup returns at most.
pub const MAX_FOUND: usize = 64;

/// The topic the clients write traces to by default (the console reads traces there).
pub const DEFAULT_TRACE_TOPIC: &str = "RMQ_SYS_TRACE_TOPIC";

/// What a person asked the console to send.
#[derive(Clone, Debug, Default)]
pub struct TestMessage {
    pub topic: String,
    pub tags: String,
    pub keys: String,
    pub body: String,
}

fn decode(bytes: Option<bytes::Bytes>) -> Option<StoredMessage> {
    bytes.and_then(|b| decode_stored(&b).ok().map(|(m, _)| m))
}

impl Core {
    /// Messages of `topic` whose KEYS or unique id equal `key`, newest first.
    pub fn messages_by_key(&self, topic: &str, key: &str) -> Vec<StoredMessage> {
        self.store.query_by_key(topic, key, MAX_FOUND, 0, i64::MAX).into_iter().filter_map(|b| decode(Some(b))).collect()
    }

    /// A message by id: an offset message id of this broker, else the client's unique id
    /// (UNIQ_KEY) looked up on `topic`, or on every topic that is not a retry or DLQ topic when
    /// `topic` is empty.
    pub fn message_by_id(&self, topic: &str, id: &str) -> Vec<StoredMessage> {
        let id = id.trim();
        if let Ok((host, offset)) = decode_offset_msg_id(id) {
            if host == self.store_host {
                if let Some(m) = decode(self.store.read_message(offset)) {
                    return vec![m];
                }
            }
        }
        let topics: Vec<String> = if topic.is_empty() {
            self.topics.all().into_iter().map(|t| t.topic_name).filter(|t| !t.starts_with(RETRY_PREFIX) && !t.starts_with(DLQ_PREFIX)).collect()
        } else {
            vec![topic.to_string()]
        };
        topics
            .iter()
            .flat_map(|t| self.messages_by_key(t, id))
            .filter(|m| parse_properties(&m.properties).get(prop::UNIQ_KEY) == Some(id))
            .take(MAX_FOUND)
            .collect()
    }

    /// The message at `offset` of a queue.
    pub fn message_at(&self, topic: &str, queue_id: i32, offset: i64) -> Option<StoredMessage> {
        let got = self.store.get(topic, queue_id, offset, 1, usize::MAX, &|_| true);
        decode(got.messages.into_iter().next()).filter(|m| m.queue_offset == offset)
    }

    /// The trace records of a message (by its unique id) found in the trace topic.
    pub fn traces_of(&self, msg_id: &str) -> Vec<TraceRecord> {
        let mut out: Vec<TraceRecord> = self
            .messages_by_key(DEFAULT_TRACE_TOPIC, msg_id)
            .iter()
            .flat_map(|m| decode_trace(&String::from_utf8_lossy(&m.body)))
            .filter(|r| r.get("msgId") == Some(msg_id))
            .collect();
        out.sort_by_key(|r| r.get("timestamp").and_then(|t| t.parse::<i64>().ok()).unwrap_or(i64::MAX));
        out
    }

    /// A test message as a client would send it (unique id, tags, keys, the broker's stamps),
    /// ready for [`Core::append`]. Refused: unknown or read-only topic, empty body.
    pub fn test_message(&self, m: &TestMessage, born_host: SocketAddr, since_epoch: std::time::Duration) -> Result<NewMessage, String> {
        static COUNTER: AtomicU32 = AtomicU32::new(0);
        let Some(tc) = self.topics.get(m.topic.trim()) else { return Err(format!("topic [{}] does not exist on this broker", m.topic.trim())) };
        if tc.perm & perm::WRITE == 0 {
            return Err(format!("the topic [{}] is not writable", tc.topic_name));
        }
        if m.body.is_empty() {
            return Err("the message body is empty".into());
        }
        if m.body.len() > self.config().max_message_size {
            return Err("the message body is larger than maxMessageSize".into());
        }
        let mut props = Properties::default();
        if !m.tags.trim().is_empty() {
            props.insert(prop::TAGS, m.tags.trim());
        }
        if !m.keys.trim().is_empty() {
            props.insert(prop::KEYS, m.keys.trim());
        }
        let id = crate::codec::message::unique_id(std::process::id(), since_epoch, COUNTER.fetch_add(1, Ordering::Relaxed));
        props.insert(prop::UNIQ_KEY, id);
        let (tags_code, keys, uniq_key) = super::message::index_fields(&props);
        Ok(NewMessage {
            topic: tc.topic_name.clone().into(),
            queue_id: pick_queue(tc.write_queue_nums),
            flag: 0,
            sys_flag: 0,
            born_timestamp: since_epoch.as_millis() as i64,
            born_host,
            reconsume_times: 0,
            prepared_transaction_offset: 0,
            body: bytes::Bytes::from(m.body.clone().into_bytes()),
            properties: stored_properties(props, &self.stamps(&self.config()))?,
            tags_code,
            keys,
            uniq_key,
        })
    }
}
