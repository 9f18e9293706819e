//! Hand-built requests: extFields spelled as a 4.9.7 Java client sends them, every value a
//! string. Independent of the typed headers in `codec`, so a bug there cannot hide here.
use super::codes;
use super::ids::unique_id;
use super::props;
use crate::codec::RemotingCommand;
use bytes::{BufMut, BytesMut};
use serde_json::{json, Value};
use std::time::{SystemTime, UNIX_EPOCH};

/// Milliseconds since the epoch.
pub fn now_ms() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default().as_millis() as i64
}

/// Java `String.hashCode()` over UTF-16 units: the tagsCode of a tag.
pub fn tag_hash(tag: &str) -> i32 {
    tag.encode_utf16().fold(0i32, |h, u| h.wrapping_mul(31).wrapping_add(u as i32))
}

/// A message to send.
#[derive(Debug, Clone)]
pub struct Msg {
    pub topic: String,
    pub body: Vec<u8>,
    pub tags: Option<String>,
    pub keys: Option<String>,
    /// User properties, in order.
    pub user_props: Vec<(String, String)>,
    pub flag: i32,
    pub unique_id: String,
}

impl Msg {
    pub fn new(topic: &str, body: impl Into<Vec<u8>>) -> Msg {
        Msg {
            topic: topic.to_string(),
            body: body.into(),
            tags: None,
            keys: None,
            user_props: Vec::new(),
            flag: 0,
            unique_id: unique_id(),
        }
    }

    pub fn tags(mut self, tags: &str) -> Msg {
        self.tags = Some(tags.to_string());
        self
    }

    pub fn keys(mut self, keys: &str) -> Msg {
        self.keys = Some(keys.to_string());
        self
    }

    pub fn prop(mut self, k: &str, v: &str) -> Msg {
        self.user_props.push((k.to_string(), v.to_string()));
        self
    }

    pub fn flag(mut self, flag: i32) -> Msg {
        self.flag = flag;
        self
    }

    /// The properties string the Java client would send (`WAIT=true` included when `wait`).
    pub fn properties(&self, wait: bool) -> String {
        let mut pairs: Vec<(String, String)> = self.user_props.clone();
        if let Some(k) = &self.keys {
            pairs.push(("KEYS".into(), k.clone()));
        }
        pairs.push(("UNIQ_KEY".into(), self.unique_id.clone()));
        if wait {
            pairs.push(("WAIT".into(), "true".into()));
        }
        if let Some(t) = &self.tags {
            pairs.push(("TAGS".into(), t.clone()));
        }
        props::encode(&pairs)
    }
}

/// GET_ROUTEINFO_BY_TOPIC (105).
pub fn route(topic: &str) -> RemotingCommand {
    RemotingCommand::request(codes::GET_ROUTEINFO_BY_TOPIC, 0).with_ext("topic", topic)
}

/// SEND_MESSAGE_V2 (310) with the one-letter names of vector 0009.
pub fn send_v2(group: &str, msg: &Msg, queue_id: i32) -> RemotingCommand {
    RemotingCommand::request(codes::SEND_MESSAGE_V2, 0)
        .with_ext("a", group)
        .with_ext("b", &msg.topic)
        .with_ext("c", "TBW102")
        .with_ext("d", 4)
        .with_ext("e", queue_id)
        .with_ext("f", 0)
        .with_ext("g", now_ms())
        .with_ext("h", msg.flag)
        .with_ext("i", msg.properties(true))
        .with_ext("j", 0)
        .with_ext("k", false)
        .with_ext("m", false)
        .with_ext("n", "broker-a")
        .with_body(msg.body.clone())
}

/// RECALL_MESSAGE (370, 5.3): cancel a timer message by the recall handle of its send result.
pub fn recall(group: &str, topic: &str, handle: &str) -> RemotingCommand {
    RemotingCommand::request(370, 0).with_ext("producerGroup", group).with_ext("topic", topic).with_ext("recallHandle", handle)
}

/// SEND_MESSAGE (10) with the long names.
pub fn send_v1(group: &str, msg: &Msg, queue_id: i32) -> RemotingCommand {
    RemotingCommand::request(codes::SEND_MESSAGE, 0)
        .with_ext("producerGroup", group)
        .with_ext("topic", &msg.topic)
        .with_ext("defaultTopic", "TBW102")
        .with_ext("defaultTopicQueueNums", 4)
        .with_ext("queueId", queue_id)
        .with_ext("sysFlag", 0)
        .with_ext("bornTimestamp", now_ms())
        .with_ext("flag", msg.flag)
        .with_ext("properties", msg.properties(true))
        .with_ext("reconsumeTimes", 0)
        .with_ext("unitMode", false)
        .with_ext("batch", false)
        .with_body(msg.body.clone())
}

/// The batch body layout of vector 0012: per entry totalSize, magic 0, CRC 0, flag, body,
/// properties.
pub fn batch_body(msgs: &[Msg]) -> Vec<u8> {
    let mut out = BytesMut::new();
    for m in msgs {
        let p = m.properties(true);
        let total = 4 + 4 + 4 + 4 + 4 + m.body.len() + 2 + p.len();
        out.put_i32(total as i32);
        out.put_i32(0);
        out.put_i32(0);
        out.put_i32(m.flag);
        out.put_i32(m.body.len() as i32);
        out.extend_from_slice(&m.body);
        out.put_i16(p.len() as i16);
        out.extend_from_slice(p.as_bytes());
    }
    out.to_vec()
}

/// SEND_BATCH_MESSAGE (320): V2 header with `m=true`, batch-level properties `WAIT=true`.
pub fn send_batch(group: &str, topic: &str, queue_id: i32, msgs: &[Msg]) -> RemotingCommand {
    RemotingCommand::request(codes::SEND_BATCH_MESSAGE, 0)
        .with_ext("a", group)
        .with_ext("b", topic)
        .with_ext("c", "TBW102")
        .with_ext("d", 4)
        .with_ext("e", queue_id)
        .with_ext("f", 0)
        .with_ext("g", now_ms())
        .with_ext("h", 0)
        .with_ext("i", props::encode(&[("WAIT", "true")]))
        .with_ext("j", 0)
        .with_ext("k", false)
        .with_ext("m", true)
        .with_ext("n", "broker-a")
        .with_body(batch_body(msgs))
}

/// Arguments of a PULL_MESSAGE (11). Defaults are those of a pull consumer (vector 0014):
/// subscription carried (sysFlag 4), no suspend.
#[derive(Debug, Clone)]
pub struct Pull {
    pub group: String,
    pub topic: String,
    pub queue_id: i32,
    pub offset: i64,
    pub max_msgs: i32,
    pub sys_flag: i32,
    pub commit_offset: i64,
    pub suspend_ms: i64,
    /// `Some` adds `subscription` and `expressionType=TAG`.
    pub subscription: Option<String>,
    pub sub_version: i64,
}

impl Pull {
    pub fn new(group: &str, topic: &str, queue_id: i32, offset: i64) -> Pull {
        Pull {
            group: group.into(),
            topic: topic.into(),
            queue_id,
            offset,
            max_msgs: 32,
            sys_flag: 4,
            commit_offset: 0,
            suspend_ms: 20000,
            subscription: Some("*".into()),
            sub_version: 0,
        }
    }

    /// Long poll: suspend bit added, held up to `ms`.
    pub fn suspend(mut self, ms: i64) -> Pull {
        self.sys_flag |= 2;
        self.suspend_ms = ms;
        self
    }

    pub fn subscription(mut self, expr: &str) -> Pull {
        self.subscription = Some(expr.into());
        self.sys_flag |= 4;
        self
    }

    pub fn max(mut self, n: i32) -> Pull {
        self.max_msgs = n;
        self
    }

    pub fn build(&self) -> RemotingCommand {
        let mut c = RemotingCommand::request(codes::PULL_MESSAGE, 0)
            .with_ext("consumerGroup", &self.group)
            .with_ext("topic", &self.topic)
            .with_ext("queueId", self.queue_id)
            .with_ext("queueOffset", self.offset)
            .with_ext("maxMsgNums", self.max_msgs)
            .with_ext("sysFlag", self.sys_flag)
            .with_ext("commitOffset", self.commit_offset)
            .with_ext("suspendTimeoutMillis", self.suspend_ms)
            .with_ext("subVersion", self.sub_version)
            .with_ext("bname", "broker-a");
        if let Some(s) = &self.subscription {
            c.set_ext("subscription", s);
            c.set_ext("expressionType", "TAG");
        }
        c
    }
}

/// One consumer group entry of a heartbeat.
#[derive(Debug, Clone)]
pub struct ConsumerSpec {
    pub group: String,
    /// (topic, tag expression) pairs.
    pub subscriptions: Vec<(String, String)>,
    pub broadcasting: bool,
    /// CONSUME_PASSIVELY (push) when false, CONSUME_ACTIVELY (pull) when true.
    pub pull: bool,
}

impl ConsumerSpec {
    pub fn push(group: &str, topic: &str, expr: &str) -> ConsumerSpec {
        ConsumerSpec {
            group: group.into(),
            subscriptions: vec![(topic.into(), expr.into())],
            broadcasting: false,
            pull: false,
        }
    }
}

fn subscription_json(topic: &str, expr: &str, sub_version: i64) -> Value {
    let tags: Vec<String> = if expr.trim() == "*" || expr.trim().is_empty() {
        Vec::new()
    } else {
        expr.split("||").map(|t| t.trim().to_string()).filter(|t| !t.is_empty()).collect()
    };
    let codes: Vec<i32> = tags.iter().map(|t| tag_hash(t)).collect();
    json!({
        "classFilterMode": false,
        "codeSet": codes,
        "expressionType": "TAG",
        "subString": expr,
        "subVersion": sub_version,
        "tagsSet": tags,
        "topic": topic,
    })
}

/// A subVersion for a heartbeat: the clock in ms, strictly increasing within this process (the
/// broker replaces a subscription only when the version grows, as the Java client bumps it).
pub fn next_sub_version() -> i64 {
    use std::sync::atomic::{AtomicI64, Ordering};
    static LAST: AtomicI64 = AtomicI64::new(0);
    let now = now_ms();
    let mut prev = LAST.load(Ordering::Relaxed);
    loop {
        let next = now.max(prev + 1);
        match LAST.compare_exchange(prev, next, Ordering::Relaxed, Ordering::Relaxed) {
            Ok(_) => return next,
            Err(p) => prev = p,
        }
    }
}

/// HEART_BEAT (34) body as in vectors 0005/0007.
pub fn heartbeat(client_id: &str, producer_groups: &[&str], consumers: &[ConsumerSpec]) -> RemotingCommand {
    let sub_version = next_sub_version();
    let consumer_set: Vec<Value> = consumers
        .iter()
        .map(|c| {
            let subs: Vec<Value> = c
                .subscriptions
                .iter()
                .map(|(t, e)| subscription_json(t, e, sub_version))
                .collect();
            json!({
                "consumeFromWhere": "CONSUME_FROM_FIRST_OFFSET",
                "consumeType": if c.pull { "CONSUME_ACTIVELY" } else { "CONSUME_PASSIVELY" },
                "groupName": c.group,
                "messageModel": if c.broadcasting { "BROADCASTING" } else { "CLUSTERING" },
                "subscriptionDataSet": subs,
                "unitMode": false,
            })
        })
        .collect();
    let producer_set: Vec<Value> = producer_groups.iter().map(|g| json!({ "groupName": g })).collect();
    let body = json!({
        "clientID": client_id,
        "consumerDataSet": consumer_set,
        "producerDataSet": producer_set,
    });
    RemotingCommand::request(codes::HEART_BEAT, 0).with_body(body.to_string())
}

/// UNREGISTER_CLIENT (35) for a consumer group.
pub fn unregister_consumer(client_id: &str, group: &str) -> RemotingCommand {
    RemotingCommand::request(codes::UNREGISTER_CLIENT, 0)
        .with_ext("clientID", client_id)
        .with_ext("consumerGroup", group)
}

/// GET_CONSUMER_LIST_BY_GROUP (38).
pub fn consumer_list(group: &str) -> RemotingCommand {
    RemotingCommand::request(codes::GET_CONSUMER_LIST_BY_GROUP, 0).with_ext("consumerGroup", group)
}

/// QUERY_CONSUMER_OFFSET (14).
pub fn query_offset(group: &str, topic: &str, queue_id: i32) -> RemotingCommand {
    RemotingCommand::request(codes::QUERY_CONSUMER_OFFSET, 0)
        .with_ext("consumerGroup", group)
        .with_ext("topic", topic)
        .with_ext("queueId", queue_id)
        .with_ext("bname", "broker-a")
}

/// UPDATE_CONSUMER_OFFSET (15); send with `request` (sync) or `oneway`.
pub fn update_offset(group: &str, topic: &str, queue_id: i32, offset: i64) -> RemotingCommand {
    RemotingCommand::request(codes::UPDATE_CONSUMER_OFFSET, 0)
        .with_ext("consumerGroup", group)
        .with_ext("topic", topic)
        .with_ext("queueId", queue_id)
        .with_ext("commitOffset", offset)
        .with_ext("bname", "broker-a")
}

/// GET_MAX_OFFSET (30).
pub fn max_offset(topic: &str, queue_id: i32) -> RemotingCommand {
    RemotingCommand::request(codes::GET_MAX_OFFSET, 0)
        .with_ext("topic", topic)
        .with_ext("queueId", queue_id)
}

/// GET_MIN_OFFSET (31).
pub fn min_offset(topic: &str, queue_id: i32) -> RemotingCommand {
    RemotingCommand::request(codes::GET_MIN_OFFSET, 0)
        .with_ext("topic", topic)
        .with_ext("queueId", queue_id)
}

/// SEARCH_OFFSET_BY_TIMESTAMP (29).
pub fn search_offset(topic: &str, queue_id: i32, timestamp_ms: i64) -> RemotingCommand {
    RemotingCommand::request(codes::SEARCH_OFFSET_BY_TIMESTAMP, 0)
        .with_ext("topic", topic)
        .with_ext("queueId", queue_id)
        .with_ext("timestamp", timestamp_ms)
}

/// The body of LOCK_BATCH_MQ / UNLOCK_BATCH_MQ (4.9 shape, no `onlyThisBroker`).
pub fn lock_body(client_id: &str, group: &str, broker_name: &str, topic: &str, queues: &[i32]) -> String {
    let mqs: Vec<Value> = queues
        .iter()
        .map(|q| json!({ "brokerName": broker_name, "queueId": q, "topic": topic }))
        .collect();
    json!({ "clientId": client_id, "consumerGroup": group, "mqSet": mqs }).to_string()
}

/// LOCK_BATCH_MQ (41).
pub fn lock_batch(client_id: &str, group: &str, broker_name: &str, topic: &str, queues: &[i32]) -> RemotingCommand {
    RemotingCommand::request(codes::LOCK_BATCH_MQ, 0)
        .with_body(lock_body(client_id, group, broker_name, topic, queues))
}

/// UNLOCK_BATCH_MQ (42).
pub fn unlock_batch(client_id: &str, group: &str, broker_name: &str, topic: &str, queues: &[i32]) -> RemotingCommand {
    RemotingCommand::request(codes::UNLOCK_BATCH_MQ, 0)
        .with_body(lock_body(client_id, group, broker_name, topic, queues))
}

/// UPDATE_AND_CREATE_TOPIC (17) as mqadmin sends it: `queues` read and write queues, perm 6.
pub fn create_topic(topic: &str, queues: i32) -> RemotingCommand {
    RemotingCommand::request(17, 0)
        .with_ext("topic", topic)
        .with_ext("defaultTopic", "TBW102")
        .with_ext("readQueueNums", queues)
        .with_ext("writeQueueNums", queues)
        .with_ext("perm", 6)
        .with_ext("topicFilterType", "SINGLE_TAG")
        .with_ext("topicSysFlag", 0)
        .with_ext("order", false)
}

/// A response header field parsed as i64.
pub fn ext_i64(cmd: &RemotingCommand, key: &str) -> Option<i64> {
    cmd.ext(key)?.trim().parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tag_hashes_match_the_notes() {
        assert_eq!(tag_hash("TagA"), 2598919);
        assert_eq!(tag_hash("TagB"), 2598920);
        assert_eq!(tag_hash("TagBatch"), -726516768);
    }

    #[test]
    fn batch_entry_is_116_bytes_like_vector_0012() {
        let mut m = Msg::new("vec_send_90874", "batch body 0").tags("TagBatch").keys("vec-batch-0");
        m.unique_id = "7F000001086130946E0976F870A50002".into();
        let b = batch_body(&[m]);
        assert_eq!(b.len(), 116);
        assert_eq!(&b[0..4], &116i32.to_be_bytes());
    }
}
