//! POP requests as the 5.x Java client sends them, and its reading of a POP_MESSAGE response:
//! each message's receipt (`extraInfo`) computed from `startOffsetInfo` / `msgOffsetInfo`, or
//! taken from the message's `POP_CK` property; FIFO attempt counts from `orderCountInfo`.
//! Written from the protocol notes, independent of the broker's `core::pop`.
use super::codes;
use crate::codec::stored::{decode_all_stored, StoredMessage};
use crate::codec::RemotingCommand;
use std::collections::HashMap;

/// A POP_MESSAGE request.
#[derive(Debug, Clone)]
pub struct Pop {
    pub group: String,
    pub topic: String,
    pub queue_id: i32,
    pub max: i32,
    pub invisible_ms: i64,
    pub poll_ms: i64,
    pub order: bool,
    pub exp: Option<(String, String)>,
    pub init_mode: i32,
}

impl Pop {
    pub fn new(group: &str, topic: &str) -> Pop {
        Pop {
            group: group.into(),
            topic: topic.into(),
            queue_id: -1,
            max: 32,
            invisible_ms: 60_000,
            poll_ms: 0,
            order: false,
            exp: None,
            init_mode: 0,
        }
    }
    pub fn queue(mut self, q: i32) -> Pop {
        self.queue_id = q;
        self
    }
    pub fn max(mut self, n: i32) -> Pop {
        self.max = n;
        self
    }
    pub fn invisible(mut self, ms: i64) -> Pop {
        self.invisible_ms = ms;
        self
    }
    pub fn poll(mut self, ms: i64) -> Pop {
        self.poll_ms = ms;
        self
    }
    pub fn order(mut self) -> Pop {
        self.order = true;
        self
    }
    pub fn tags(mut self, expr: &str) -> Pop {
        self.exp = Some(("TAG".into(), expr.into()));
        self
    }
    pub fn build(&self) -> RemotingCommand {
        let born = if self.poll_ms > 0 { super::req::now_ms() } else { 0 };
        let mut c = RemotingCommand::request(codes::POP_MESSAGE, 0)
            .with_ext("consumerGroup", &self.group)
            .with_ext("topic", &self.topic)
            .with_ext("queueId", self.queue_id)
            .with_ext("maxMsgNums", self.max)
            .with_ext("invisibleTime", self.invisible_ms)
            .with_ext("pollTime", self.poll_ms)
            .with_ext("bornTime", born)
            .with_ext("initMode", self.init_mode)
            .with_ext("order", self.order)
            .with_ext("bname", "broker-a");
        if let Some((t, e)) = &self.exp {
            c.set_ext("expType", t);
            c.set_ext("exp", e);
        }
        c
    }
}

/// One popped message with its receipt.
#[derive(Debug, Clone)]
pub struct Popped {
    pub msg: StoredMessage,
    pub receipt: String,
    /// The topic an ack must name (the retry topic for a revived message).
    pub ack_topic: String,
    /// `reconsumeTimes` as the client sees it (FIFO: from `orderCountInfo`).
    pub reconsume_times: i32,
}

impl Popped {
    pub fn prop(&self, k: &str) -> Option<String> {
        super::props::decode(&self.msg.properties).get(k).cloned()
    }
    pub fn body(&self) -> String {
        String::from_utf8_lossy(&self.msg.body).into_owned()
    }
    fn field(&self, i: usize) -> &str {
        self.receipt.split(' ').nth(i).unwrap_or("")
    }
    pub fn queue_id(&self) -> i32 {
        self.field(6).parse().unwrap_or(-1)
    }
    pub fn offset(&self) -> i64 {
        self.field(7).parse().unwrap_or(-1)
    }
}

fn retry_mark(topic: &str) -> &'static str {
    if topic.starts_with("%RETRY%") && topic.contains('+') {
        "2"
    } else if topic.starts_with("%RETRY%") {
        "1"
    } else {
        "0"
    }
}

fn parse_info(s: Option<&str>) -> HashMap<String, String> {
    let mut m = HashMap::new();
    for part in s.unwrap_or("").split(';').filter(|p| !p.is_empty()) {
        let f: Vec<&str> = part.split(' ').collect();
        if f.len() == 3 {
            m.insert(format!("{}@{}", f[0], f[1]), f[2].to_string());
        }
    }
    m
}

/// Read a POP_MESSAGE response as the Java client does; `Err` names what it could not parse.
pub fn read_pop(resp: &RemotingCommand, group: &str, topic: &str, broker: &str) -> Result<Vec<Popped>, String> {
    if resp.code != codes::SUCCESS {
        return Ok(Vec::new());
    }
    let num = |k: &str| resp.ext(k).and_then(|v| v.parse::<i64>().ok()).ok_or(format!("missing header {k}"));
    let (pop_time, invisible, revive) = (num("popTime")?, num("invisibleTime")?, num("reviveQid")?);
    num("restNum")?;
    let start = parse_info(resp.ext("startOffsetInfo"));
    let offsets = parse_info(resp.ext("msgOffsetInfo"));
    let counts = parse_info(resp.ext("orderCountInfo"));
    let msgs = decode_all_stored(&resp.body).map_err(|e| e.to_string())?;
    // Messages per key, in order, to find each one's index.
    let mut seen: HashMap<String, usize> = HashMap::new();
    let mut out = Vec::new();
    for m in msgs {
        let props = super::props::decode(&m.properties);
        let pop_ck = props.get("POP_CK").cloned();
        let mark = match &pop_ck {
            Some(ck) => ck.split(' ').nth(4).unwrap_or("0").to_string(),
            None => retry_mark(&m.topic).to_string(),
        };
        let key = format!("{mark}@{}", m.queue_id);
        let idx = {
            let n = seen.entry(key.clone()).or_insert(0);
            *n += 1;
            *n - 1
        };
        let receipt = match pop_ck {
            Some(ck) => ck,
            None => {
                let ck = start.get(&key).ok_or(format!("no startOffsetInfo for {key}"))?;
                let list = offsets.get(&key).ok_or(format!("no msgOffsetInfo for {key}"))?;
                let off = list.split(',').nth(idx).ok_or(format!("msgOffsetInfo too short for {key}"))?;
                if off.parse::<i64>().ok() != Some(m.queue_offset) {
                    return Err(format!("msgOffsetInfo offset {off} is not the message's {}", m.queue_offset));
                }
                format!("{ck} {pop_time} {invisible} {revive} {mark} {broker} {} {off}", m.queue_id)
            }
        };
        let ack_topic = match mark.as_str() {
            "1" => format!("%RETRY%{group}_{topic}"),
            "2" => format!("%RETRY%{group}+{topic}"),
            _ => topic.to_string(),
        };
        let mut reconsume_times = m.reconsume_times;
        let qo_key = format!("{mark}@qo{}%{}", m.queue_id, m.queue_offset);
        if let Some(c) = counts.get(&qo_key).or_else(|| counts.get(&key)).and_then(|c| c.parse::<i32>().ok()) {
            if c > 0 {
                reconsume_times = c;
            }
        }
        out.push(Popped { msg: m, receipt, ack_topic, reconsume_times });
    }
    Ok(out)
}

/// ACK_MESSAGE for a popped message.
pub fn ack(group: &str, p: &Popped) -> RemotingCommand {
    RemotingCommand::request(codes::ACK_MESSAGE, 0)
        .with_ext("consumerGroup", group)
        .with_ext("topic", &p.ack_topic)
        .with_ext("queueId", p.queue_id())
        .with_ext("extraInfo", &p.receipt)
        .with_ext("offset", p.offset())
        .with_ext("bname", "broker-a")
}

/// BATCH_ACK_MESSAGE for popped messages of one pop (grouped as the Java client does).
pub fn batch_ack(group: &str, topic: &str, popped: &[&Popped]) -> RemotingCommand {
    use base64::Engine;
    // (retry, queue, checkpoint, pop time) -> (pop time, invisible time, revive queue, offsets)
    type Ack = (i64, i64, i32, Vec<i64>);
    let mut groups: std::collections::BTreeMap<(String, i32, i64, i64), Ack> = Default::default();
    for p in popped {
        let f: Vec<&str> = p.receipt.split(' ').collect();
        let (ck, pt, it, rq) = (f[0].parse::<i64>().unwrap(), f[1].parse::<i64>().unwrap(), f[2].parse::<i64>().unwrap(), f[3].parse::<i32>().unwrap());
        let g = groups.entry((f[4].to_string(), p.queue_id(), ck, pt)).or_insert((pt, it, rq, Vec::new()));
        g.3.push(p.offset());
    }
    let acks: Vec<serde_json::Value> = groups
        .into_iter()
        .map(|((r, q, so, _), (pt, it, rq, offs))| {
            let max = offs.iter().map(|o| (o - so) as usize).max().unwrap_or(0);
            let mut bytes = vec![0u8; max / 8 + 1];
            for o in offs {
                let b = (o - so) as usize;
                bytes[b / 8] |= 1 << (b % 8);
            }
            serde_json::json!({"c": group, "t": topic, "r": r, "so": so, "q": q, "rq": rq, "pt": pt, "it": it,
                "b": base64::engine::general_purpose::STANDARD.encode(bytes)})
        })
        .collect();
    RemotingCommand::request(codes::BATCH_ACK_MESSAGE, 0)
        .with_body(serde_json::json!({"acks": acks, "brokerName": "broker-a"}).to_string())
}

/// CHANGE_MESSAGE_INVISIBLETIME; the new receipt is built from the response as the client does.
pub fn change_invisible(group: &str, p: &Popped, invisible_ms: i64) -> RemotingCommand {
    RemotingCommand::request(codes::CHANGE_MESSAGE_INVISIBLETIME, 0)
        .with_ext("consumerGroup", group)
        .with_ext("topic", &p.ack_topic)
        .with_ext("queueId", p.queue_id())
        .with_ext("extraInfo", &p.receipt)
        .with_ext("offset", p.offset())
        .with_ext("invisibleTime", invisible_ms)
        .with_ext("bname", "broker-a")
}

/// The receipt after a CHANGE_MESSAGE_INVISIBLETIME answer.
pub fn changed_receipt(p: &Popped, resp: &RemotingCommand) -> Option<String> {
    let f: Vec<&str> = p.receipt.split(' ').collect();
    let off = p.offset();
    Some(format!(
        "{off} {} {} {} {} {} {} {off}",
        resp.ext("popTime")?,
        resp.ext("invisibleTime")?,
        resp.ext("reviveQid")?,
        f.get(4)?,
        f.get(5)?,
        f.get(6)?
    ))
}

/// SET_MESSAGE_REQUEST_MODE.
pub fn set_request_mode(topic: &str, group: &str, mode: &str) -> RemotingCommand {
    RemotingCommand::request(codes::SET_MESSAGE_REQUEST_MODE, 0)
        .with_body(serde_json::json!({"topic": topic, "consumerGroup": group, "mode": mode, "popShareQueueNum": 0}).to_string())
}

/// QUERY_ASSIGNMENT.
pub fn query_assignment(topic: &str, group: &str, client_id: &str) -> RemotingCommand {
    RemotingCommand::request(codes::QUERY_ASSIGNMENT, 0).with_body(
        serde_json::json!({"topic": topic, "consumerGroup": group, "clientId": client_id, "strategyName": "AVG", "messageModel": "CLUSTERING"})
            .to_string(),
    )
}
