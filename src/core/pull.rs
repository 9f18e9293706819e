//! Reading a queue for a pull, and the pulls parked until a message arrives.
//!
//! [`read_queue`] returns a typed [`PullOutcome`] (RocketMQ's pull status and offsets); the remoting
//! handler turns it into a response, and the queue actor calls it again when it wakes a parked
//! pull. [`Waiters`] counts parked pulls per queue so that [`super::Core::append`] sends a
//! wake-up only for a queue somebody waits on.
use crate::codec::body::SubscriptionData;
use crate::codec::message::tag_hash_code;
use crate::codec::stored::decode_stored;
use crate::filter::sql92::SqlFilter;
use crate::store::{GetStatus, MessageStore};
use bytes::Bytes;
use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

/// Largest batch and body of one pull (Java's in-memory transfer limits).
pub const MAX_PULL_COUNT: usize = 32;
pub const MAX_PULL_BYTES: usize = 256 * 1024;

/// Broker-side filter of a pull.
#[derive(Clone, Debug)]
pub enum Filter {
    All,
    /// Tag hash codes (`codeSet`).
    Tags(HashSet<i32>),
    /// A compiled SQL92 selector, evaluated on message properties.
    Sql(Arc<SqlFilter>),
}

impl Filter {
    /// Does a message with this tags code (and properties) pass? Messages without tags pass a
    /// tag filter; unknown properties pass an SQL filter (it is checked again when read).
    pub fn matches(&self, tags_code: i64, properties: Option<&str>) -> bool {
        match self {
            Filter::All => true,
            Filter::Tags(codes) => tags_code == 0 || codes.contains(&(tags_code as i32)),
            Filter::Sql(f) => properties.map(|p| f.matches_properties(p)).unwrap_or(true),
        }
    }

    /// A filter from a TAG expression (`*`, empty, or `a || b`).
    pub fn from_tag_expression(expr: &str) -> Filter {
        let expr = expr.trim();
        if expr.is_empty() || expr == "*" {
            return Filter::All;
        }
        let codes: HashSet<i32> = expr
            .split("||")
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .map(|t| tag_hash_code(t) as i32)
            .collect();
        if codes.is_empty() {
            Filter::All
        } else {
            Filter::Tags(codes)
        }
    }

    /// The filter of a subscription registered by heartbeat (tag expressions only).
    pub fn from_subscription(s: &SubscriptionData) -> Filter {
        if s.sub_string.trim() == "*" || s.sub_string.trim().is_empty() {
            return Filter::All;
        }
        if !s.code_set.is_empty() {
            return Filter::Tags(s.code_set.iter().copied().collect());
        }
        Filter::from_tag_expression(&s.sub_string)
    }
}

/// What one pull reads.
#[derive(Clone, Debug)]
pub struct PullRead {
    pub topic: String,
    pub queue_id: i32,
    pub offset: i64,
    pub max_count: usize,
    pub max_bytes: usize,
}

impl PullRead {
    /// Clamp what the client asked for to the broker's transfer limits.
    pub fn new(topic: &str, queue_id: i32, offset: i64, max_msgs: i32, max_bytes: Option<i32>) -> PullRead {
        PullRead {
            topic: topic.to_string(),
            queue_id,
            offset,
            max_count: (max_msgs.max(1) as usize).min(MAX_PULL_COUNT),
            max_bytes: max_bytes.filter(|b| *b > 0).map(|b| b as usize).unwrap_or(MAX_PULL_BYTES).min(MAX_PULL_BYTES * 4),
        }
    }
}

/// RocketMQ's pull result classes, with the status name the Java broker puts in the remark.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PullStatus {
    /// Messages found.
    Found,
    /// Nothing (or nothing matching) now, try again at once from `next_begin_offset`.
    RetryImmediately(&'static str),
    /// Nothing new at this offset: a pull that may wait is parked.
    NoNewMessage(&'static str),
    /// The offset is out of range: the client must move to `next_begin_offset`.
    OffsetMoved(&'static str),
}

/// The typed outcome of [`read_queue`].
#[derive(Clone, Debug)]
pub struct PullOutcome {
    pub status: PullStatus,
    pub next_begin_offset: i64,
    pub min_offset: i64,
    pub max_offset: i64,
    /// Each one whole stored record (only when `Found`).
    pub messages: Vec<Bytes>,
}

impl PullOutcome {
    /// Nothing to hand out now (a parked pull keeps waiting).
    pub fn is_empty(&self) -> bool {
        !matches!(self.status, PullStatus::Found | PullStatus::OffsetMoved(_))
    }
}

/// Read a queue for a pull (status and nextBeginOffset as RocketMQ 4.9.7's pull processor).
pub fn read_queue(store: &MessageStore, r: &PullRead, filter: &Filter) -> PullOutcome {
    let mut res = store.get(&r.topic, r.queue_id, r.offset, r.max_count, r.max_bytes, &|code| filter.matches(code, None));
    if let (Filter::Sql(f), GetStatus::Found) = (filter, res.status) {
        // Property filters need the message itself: drop what does not match; the offset still
        // moves past everything scanned.
        res.messages.retain(|m| match decode_stored(m) {
            Ok((sm, _)) => f.matches_properties(&sm.properties),
            Err(_) => true,
        });
        if res.messages.is_empty() {
            res.status = GetStatus::NoMatchedMessage;
        }
    }
    use PullStatus::*;
    let at_start = r.offset == 0;
    let status = match res.status {
        GetStatus::Found => Found,
        GetStatus::NoMatchedMessage => RetryImmediately("NO_MATCHED_MESSAGE"),
        GetStatus::MessageWasRemoving => RetryImmediately("MESSAGE_WAS_REMOVING"),
        GetStatus::OffsetFoundNull => NoNewMessage("OFFSET_FOUND_NULL"),
        GetStatus::OffsetOverflowOne => NoNewMessage("OFFSET_OVERFLOW_ONE"),
        GetStatus::OffsetOverflowBadly => OffsetMoved("OFFSET_OVERFLOW_BADLY"),
        GetStatus::OffsetTooSmall => OffsetMoved("OFFSET_TOO_SMALL"),
        GetStatus::NoMessageInQueue if at_start => NoNewMessage("NO_MESSAGE_IN_QUEUE"),
        GetStatus::NoMessageInQueue => OffsetMoved("NO_MESSAGE_IN_QUEUE"),
        GetStatus::NoMatchedLogicQueue if at_start => NoNewMessage("NO_MATCHED_LOGIC_QUEUE"),
        GetStatus::NoMatchedLogicQueue => OffsetMoved("NO_MATCHED_LOGIC_QUEUE"),
    };
    let messages = if status == Found { res.messages } else { Vec::new() };
    PullOutcome {
        status,
        next_begin_offset: res.next_begin_offset,
        min_offset: res.min_offset,
        max_offset: res.max_offset,
        messages,
    }
}

/// How a parked pull is answered: the front end that parked it knows how to encode the outcome
/// for its client.
pub trait PullReply: Send {
    fn answer(self: Box<Self>, outcome: PullOutcome);
    /// False once the client is gone (the pull is dropped unanswered).
    fn alive(&self) -> bool;
}

/// A pull waiting for a message (long polling).
pub struct ParkedPull {
    pub read: PullRead,
    pub filter: Filter,
    pub deadline: Instant,
    pub reply: Box<dyn PullReply>,
}

impl ParkedPull {
    pub fn key(&self) -> (String, i32) {
        (self.read.topic.clone(), self.read.queue_id)
    }
}

/// A message was stored in `topic`/`queue_id` with this tags code (and properties, for SQL92).
#[derive(Clone, Debug)]
pub struct Arrived {
    pub topic: String,
    pub queue_id: i32,
    pub tags_code: i64,
    pub properties: Option<Arc<str>>,
}

/// Parked pulls per queue. The parking side adds before it looks at the queue and removes when it
/// answers; [`Waiters::any`] is read after every append, so a wake-up is sent only for a queue
/// with a waiter (one cross-thread wake-up per message otherwise costs ~30% of send CPU).
#[derive(Default)]
pub struct Waiters {
    total: AtomicUsize,
    /// topic -> queue id -> parked pulls (looked up by `&str`: no allocation on the send path).
    per_queue: Mutex<HashMap<String, HashMap<i32, usize>>>,
}

impl Waiters {
    pub fn add(&self, topic: &str, queue_id: i32) {
        if let Ok(mut m) = self.per_queue.lock() {
            let queues = match m.get_mut(topic) {
                Some(q) => q,
                None => m.entry(topic.to_string()).or_default(),
            };
            *queues.entry(queue_id).or_insert(0) += 1;
            self.total.fetch_add(1, Ordering::SeqCst);
        }
    }

    pub fn remove(&self, topic: &str, queue_id: i32) {
        if let Ok(mut m) = self.per_queue.lock() {
            let Some(queues) = m.get_mut(topic) else { return };
            let Some(n) = queues.get_mut(&queue_id) else { return };
            *n -= 1;
            if *n == 0 {
                queues.remove(&queue_id);
                if queues.is_empty() {
                    m.remove(topic);
                }
            }
            self.total.fetch_sub(1, Ordering::SeqCst);
        }
    }

    /// Whether a pull is parked on this queue (or a pop on its topic: queue -1). One atomic load
    /// when nothing is parked anywhere.
    pub fn any(&self, topic: &str, queue_id: i32) -> bool {
        if self.total.load(Ordering::SeqCst) == 0 {
            return false;
        }
        self.per_queue
            .lock()
            .map(|m| m.get(topic).is_some_and(|q| q.contains_key(&queue_id) || q.contains_key(&-1)))
            .unwrap_or(true)
    }

    pub fn total(&self) -> usize {
        self.total.load(Ordering::SeqCst)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn waiters_gate_per_queue() {
        let w = Waiters::default();
        assert!(!w.any("T", 0));
        w.add("T", 0);
        assert!(w.any("T", 0));
        assert!(!w.any("T", 1), "a waiter on queue 0 does not open queue 1");
        assert!(!w.any("U", 0));
        w.add("T", 0);
        w.remove("T", 0);
        assert!(w.any("T", 0));
        w.remove("T", 0);
        assert!(!w.any("T", 0));
        w.remove("T", 0); // unbalanced remove is ignored
        assert_eq!(w.total(), 0);
    }

    #[test]
    fn tag_filters() {
        assert!(Filter::from_tag_expression("*").matches(5, None));
        let f = Filter::from_tag_expression("a || b");
        assert!(f.matches(tag_hash_code("a"), None));
        assert!(!f.matches(tag_hash_code("c"), None));
        assert!(f.matches(0, None), "untagged messages pass a tag filter");
    }
}
