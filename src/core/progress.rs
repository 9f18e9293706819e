//! Where consumer groups stand: per-queue progress (what `consumerProgress` and the console show),
//! the lag of online groups (metrics, console charts), and backtracking a group's offsets to a
//! point in time (INVOKE_BROKER_TO_RESET_OFFSET and the console's reset form).
use super::topics::{next_opaque, RETRY_PREFIX};
use super::Core;
use crate::codec::body::{MessageQueue, ResetOffsetBody};
use crate::codec::codes::RequestCode;
use crate::codec::header::ResetConsumerClientOffsetRequestHeader;
use crate::codec::RemotingCommand;
use crate::store::TopicConfig;
use std::collections::{BTreeSet, HashMap};

/// One queue of a group's progress on a topic.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct QueueProgress {
    pub topic: String,
    pub queue_id: i32,
    /// The queue's max offset.
    pub broker_offset: i64,
    /// The group's committed offset (0 when none).
    pub consumer_offset: i64,
    /// Store time of the last consumed message (0 when none).
    pub last_timestamp: i64,
    /// POP: how far messages were handed out (the pop cursor); PULL: the consumer offset.
    pub pull_offset: i64,
}

impl QueueProgress {
    pub fn lag(&self) -> i64 {
        (self.broker_offset - self.consumer_offset).max(0)
    }
    /// POP messages handed out and not yet acked.
    pub fn inflight(&self) -> i64 {
        (self.pull_offset - self.consumer_offset).max(0)
    }
}

/// The lag of one online group on one subscribed topic (every queue summed).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GroupTopicLag {
    pub group: String,
    pub topic: String,
    pub messages: i64,
    /// Age of the oldest unconsumed message at `now` (0 when none).
    pub latency_ms: i64,
    pub inflight: i64,
}

/// What a reset moved: the new offset of every write queue and how many members were told.
#[derive(Clone, Debug)]
pub struct ResetOutcome {
    pub offsets: Vec<(MessageQueue, i64)>,
    pub online_members: usize,
}

impl Core {
    /// Topics with stored offsets for `group`.
    pub fn topics_of_group(&self, group: &str) -> BTreeSet<String> {
        self.store.meta().topics_with_offsets(group).into_iter().collect()
    }

    /// Whether the group's live members (if any) subscribe `topic`; `true` when none are online.
    pub fn subscribed_or_offline(&self, group: &str, topic: &str) -> bool {
        let Ok(reg) = self.clients.registry.read() else { return true };
        match reg.consumers.get(group) {
            Some(g) if !g.subscriptions.is_empty() => g.subscriptions.contains_key(topic),
            _ => true,
        }
    }

    /// The group's progress on one topic (queue ids `0..max(read, write)`).
    pub fn queue_progress(&self, group: &str, tc: &TopicConfig) -> Vec<QueueProgress> {
        let store = &self.store;
        let topic = &tc.topic_name;
        (0..tc.write_queue_nums.max(tc.read_queue_nums))
            .map(|q| {
                let broker_offset = store.max_offset(topic, q).max(0);
                let consumer_offset = store.meta().consumer_offset(group, topic, q).unwrap_or(0).max(0);
                let last_timestamp = if consumer_offset > 0 { store.store_time_at(topic, q, consumer_offset - 1).unwrap_or(0) } else { 0 };
                // POP: handed out up to the pop cursor (in flight = pullOffset - consumerOffset,
                // as mqadmin 5.x computes it); PULL: the consumer offset.
                let (_, cursor) = self.pop.inflight(group, topic, q);
                let pull_offset = if cursor >= 0 { cursor.max(consumer_offset) } else { consumer_offset };
                QueueProgress { topic: topic.clone(), queue_id: q, broker_offset, consumer_offset, last_timestamp, pull_offset }
            })
            .collect()
    }

    /// The group's progress on every topic it has offsets for or subscribes, retry topic included.
    pub fn group_progress(&self, group: &str) -> Vec<QueueProgress> {
        let mut topics = self.topics_of_group(group);
        if let Ok(reg) = self.clients.registry.read() {
            if let Some(g) = reg.consumers.get(group) {
                topics.extend(g.subscriptions.keys().cloned());
            }
        }
        topics
            .into_iter()
            .filter(|t| self.subscribed_or_offline(group, t) || t.starts_with(RETRY_PREFIX))
            .filter_map(|t| self.topics.get(&t))
            .flat_map(|tc| self.queue_progress(group, &tc))
            .collect()
    }

    /// Lag of every online group (a consumer heartbeat) on each subscribed topic. Offsets (from
    /// the store's in-memory mirror) and in-flight counts are read under one lock each; store times once per (topic,
    /// queue, offset), so thousands of groups on a few topics cost little more than the topics.
    pub fn online_lags(&self, now: i64) -> Vec<GroupTopicLag> {
        let online: Vec<(String, Vec<String>)> = match self.clients.registry.read() {
            Ok(r) => r
                .consumers
                .iter()
                .filter(|(_, c)| !c.channels.is_empty())
                .map(|(g, c)| (g.clone(), c.subscriptions.keys().filter(|t| !t.starts_with(RETRY_PREFIX)).cloned().collect()))
                .collect(),
            Err(_) => Vec::new(),
        };
        let queues: HashMap<String, i32> = self.topics.all().into_iter().map(|t| (t.topic_name, t.read_queue_nums.max(t.write_queue_nums))).collect();
        let pairs: Vec<(&str, &str)> = online.iter().flat_map(|(g, subs)| subs.iter().map(move |t| (g.as_str(), t.as_str()))).collect();
        let tables = self.store.meta().offset_tables(pairs.iter().copied());
        let held_by = self.pop.inflight_by_group_topic();
        let store = &self.store;
        let mut max_offsets: HashMap<(&str, i32), i64> = HashMap::new();
        let mut times: HashMap<(&str, i32, i64), Option<i64>> = HashMap::new();
        let mut out = Vec::with_capacity(pairs.len());
        for ((g, t), consumed_of) in pairs.iter().zip(&tables) {
            let Some(n) = queues.get(*t) else { continue };
            let (mut msgs, mut oldest) = (0i64, 0i64);
            for q in 0..*n {
                let max = *max_offsets.entry((t, q)).or_insert_with(|| store.max_offset(t, q).max(0));
                let consumed = consumed_of.iter().find(|(id, _)| *id == q).map(|(_, o)| *o).unwrap_or(0).clamp(0, max);
                if max > consumed {
                    msgs += max - consumed;
                    if let Some(ts) = *times.entry((t, q, consumed)).or_insert_with(|| store.store_time_at(t, q, consumed)) {
                        oldest = oldest.max(now - ts);
                    }
                }
            }
            let inflight = if held_by.is_empty() { 0 } else { held_by.get(&(g.to_string(), t.to_string())).copied().unwrap_or(0) as i64 };
            out.push(GroupTopicLag { group: g.to_string(), topic: t.to_string(), messages: msgs, latency_ms: oldest.max(0), inflight });
        }
        out
    }

    /// The first offset of a queue stored at or after `ts`. The store's search answers like
    /// Java's getOffsetInQueueByTime, the *nearest* message, which may be one stored just before
    /// `ts`; backtracking must not redeliver that one.
    fn first_at_or_after(&self, topic: &str, q: i32, ts: i64) -> i64 {
        let off = self.store.offset_by_time(topic, q, ts);
        match self.store.store_time_at(topic, q, off) {
            Some(t) if t < ts => off + 1,
            _ => off,
        }
    }

    /// Backtrack `group` on `topic` to `timestamp` (ms; `-1` = the end of every queue): per write
    /// queue the first offset stored at or after it, replacing the group's offset when `force`
    /// or when smaller. The offsets are stored at once (an offline group, or a member dying
    /// during its pause, resumes from them) and every live member gets
    /// RESET_CONSUMER_CLIENT_OFFSET (220, oneway; a C++ body for C++ members or when `cpp`).
    pub fn reset_offsets(&self, group: &str, topic: &str, timestamp: i64, force: bool, cpp: bool) -> Result<ResetOutcome, String> {
        let Some(tc) = self.topics.get(topic) else {
            return Err(format!("[reset-offset] reset offset failed, no topic in this broker. topic={topic}"));
        };
        let store = &self.store;
        let offsets: Vec<(MessageQueue, i64)> = (0..tc.write_queue_nums)
            .map(|q| {
                let target = if timestamp == -1 { store.max_offset(topic, q) } else { self.first_at_or_after(topic, q, timestamp) }.max(0);
                let offset = match store.meta().consumer_offset(group, topic, q) {
                    Some(cur) if !force && target >= cur => cur,
                    _ => target,
                };
                (MessageQueue::new(topic, self.identity.broker_name.clone(), q), offset)
            })
            .collect();
        for (mq, off) in &offsets {
            store.meta().set_consumer_offset(group, topic, mq.queue_id, *off).map_err(|e| format!("[reset-offset] cannot store offsets: {e}"))?;
        }
        let members: Vec<(super::ConnHandle, String)> = {
            let reg = self.clients.registry.read().unwrap_or_else(|e| e.into_inner());
            reg.consumers.get(group).map(|g| g.channels.values().map(|c| (c.conn.clone(), c.language.clone())).collect()).unwrap_or_default()
        };
        let body = ResetOffsetBody { offset_table: offsets };
        for (member, language) in &members {
            let mut cmd = RemotingCommand::oneway(RequestCode::ResetConsumerClientOffset.as_i32(), next_opaque());
            cmd.set_header(&ResetConsumerClientOffsetRequestHeader { topic: topic.to_string(), group: group.to_string(), timestamp, is_force: force });
            cmd.body = if cpp || language == "CPP" { body.to_json_cpp() } else { body.to_json() }.into();
            member.send(cmd);
        }
        Ok(ResetOutcome { offsets: body.offset_table, online_members: members.len() })
    }
}
