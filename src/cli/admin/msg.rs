//! queryMsgById, queryMsgByKey, queryMsgByOffset, sendMessage, consumeMessage.
use super::net::{request, route_masters, Failure, Res};
use super::{out, Ctx};
use ferrocket::client::req::{self, Msg};
use ferrocket::codec::codes::RequestCode;
use ferrocket::codec::message::{decode_offset_msg_id, offset_msg_id, parse_properties};
use ferrocket::codec::stored::{decode_all_stored, StoredMessage};
use serde_json::{json, Value};

/// A stored message as people and programs read it.
fn describe(m: &StoredMessage) -> Value {
    let props = parse_properties(&m.properties);
    let p: serde_json::Map<String, Value> = props.iter().map(|(k, v)| (k.to_string(), json!(v))).collect();
    json!({
        "offsetMsgId": offset_msg_id(m.store_host, m.commit_log_offset),
        "msgId": props.get("UNIQ_KEY").unwrap_or(""),
        "topic": m.topic,
        "tags": props.get("TAGS").unwrap_or(""),
        "keys": props.get("KEYS").unwrap_or(""),
        "queueId": m.queue_id,
        "queueOffset": m.queue_offset,
        "commitLogOffset": m.commit_log_offset,
        "reconsumeTimes": m.reconsume_times,
        "bornTimestamp": m.born_timestamp,
        "storeTimestamp": m.store_timestamp,
        "bornHost": m.born_host.to_string(),
        "storeHost": m.store_host.to_string(),
        "sysFlag": m.sys_flag,
        "properties": p,
        "body": String::from_utf8_lossy(&m.body),
    })
}

fn print_messages(ctx: &Ctx, msgs: &[StoredMessage]) {
    if ctx.json {
        out::json(&json!(msgs.iter().map(describe).collect::<Vec<_>>()));
        return;
    }
    for (i, m) in msgs.iter().enumerate() {
        if i > 0 {
            println!();
        }
        let d = describe(m);
        let s = |k: &str| match &d[k] {
            Value::String(s) => s.clone(),
            v => v.to_string(),
        };
        let mut items: Vec<(String, String)> = [
            ("OffsetID", s("offsetMsgId")),
            ("MsgId", s("msgId")),
            ("Topic", s("topic")),
            ("Tags", format!("[{}]", s("tags"))),
            ("Keys", format!("[{}]", s("keys"))),
            ("Queue ID", s("queueId")),
            ("Queue Offset", s("queueOffset")),
            ("CommitLog Offset", s("commitLogOffset")),
            ("Reconsume Times", s("reconsumeTimes")),
            ("Born Timestamp", out::time(m.born_timestamp)),
            ("Store Timestamp", out::time(m.store_timestamp)),
            ("Born Host", s("bornHost")),
            ("Store Host", s("storeHost")),
            ("System Flag", s("sysFlag")),
            ("Properties", d["properties"].to_string()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect();
        items.push(("Message Body".into(), s("body")));
        out::pairs(&items);
    }
}

/// QUERY_MESSAGE on every master of the topic, filtered like the Java client.
async fn query(ctx: &Ctx, topic: &str, key: &str, unique: bool) -> Res<Vec<StoredMessage>> {
    let mut found = Vec::new();
    for (_, addr) in route_masters(&ctx.net.route(topic).await?) {
        let cmd = request(RequestCode::QueryMessage)
            .with_ext("topic", topic)
            .with_ext("key", key)
            .with_ext("maxNum", if unique { 32 } else { 64 })
            .with_ext("beginTimestamp", 0)
            .with_ext("endTimestamp", i64::MAX)
            .with_ext("_UNIQUE_KEY_QUERY", unique);
        let r = ctx.net.raw(&addr, cmd).await?;
        if r.code == ferrocket::codec::response_code::QUERY_NOT_FOUND {
            continue;
        }
        let r = super::net::ok(&addr, r)?;
        found.extend(decode_all_stored(&r.body)?);
    }
    found.retain(|m| {
        let p = parse_properties(&m.properties);
        m.topic == topic
            && if unique {
                p.get("UNIQ_KEY") == Some(key)
            } else {
                p.get("KEYS").is_some_and(|ks| ks.split(' ').any(|k| k == key))
            }
    });
    found.sort_by_key(|m| (m.store_timestamp, m.commit_log_offset));
    if unique {
        found.truncate(1);
    }
    Ok(found)
}

pub async fn query_by_id(ctx: &Ctx, id: &str, topic: Option<&str>) -> Res<()> {
    if let Some(t) = topic {
        let found = query(ctx, t, id, true).await?;
        if !found.is_empty() {
            print_messages(ctx, &found);
            return Ok(());
        }
    }
    let (addr, offset) = decode_offset_msg_id(id).map_err(|_| Failure(format!("{id} is not an offset msgId")))?;
    let r = ctx.net.call(&addr.to_string(), request(RequestCode::ViewMessageById).with_ext("offset", offset)).await?;
    print_messages(ctx, &decode_all_stored(&r.body)?);
    Ok(())
}

pub async fn query_by_key(ctx: &Ctx, topic: &str, key: &str) -> Res<()> {
    let found = query(ctx, topic, key, false).await?;
    if found.is_empty() {
        return Err(Failure(format!("no message with key [{key}] in topic [{topic}]")));
    }
    if ctx.json {
        print_messages(ctx, &found);
        return Ok(());
    }
    let rows: Vec<Vec<String>> = found
        .iter()
        .map(|m| {
            let p = parse_properties(&m.properties);
            vec![
                p.get("UNIQ_KEY").unwrap_or("").to_string(),
                offset_msg_id(m.store_host, m.commit_log_offset),
                m.queue_id.to_string(),
                m.queue_offset.to_string(),
                out::time(m.store_timestamp),
            ]
        })
        .collect();
    out::table(&["#Message ID", "#Offset ID", "#QID", "#Offset", "#Store Time"], &rows);
    Ok(())
}

/// The master address of a broker name in the topic's route.
async fn broker_addr(ctx: &Ctx, topic: &str, broker_name: &str) -> Res<String> {
    route_masters(&ctx.net.route(topic).await?)
        .into_iter()
        .find(|(n, _)| n == broker_name)
        .map(|(_, a)| a)
        .ok_or_else(|| Failure(format!("broker [{broker_name}] is not in the route of [{topic}]")))
}

/// Where a pull goes: broker address and name, group, topic, queue.
struct Queue<'a> {
    addr: &'a str,
    broker: &'a str,
    group: &'a str,
    topic: &'a str,
    id: i32,
}

/// Pull up to `n` messages from one queue; empty when the queue has nothing at `offset`.
async fn pull(ctx: &Ctx, q: &Queue<'_>, offset: i64, n: i32) -> Res<Vec<StoredMessage>> {
    let mut p = req::Pull::new(q.group, q.topic, q.id, offset).max(n);
    p.suspend_ms = 0;
    let mut cmd = p.build();
    cmd.set_ext("bname", q.broker);
    let r = ctx.net.raw(q.addr, cmd).await?;
    if r.code != 0 {
        return Ok(Vec::new());
    }
    Ok(decode_all_stored(&r.body)?)
}

pub async fn query_by_offset(ctx: &Ctx, topic: &str, broker_name: &str, q: i32, offset: i64) -> Res<()> {
    let addr = broker_addr(ctx, topic, broker_name).await?;
    let queue = Queue { addr: &addr, broker: broker_name, group: "TOOLS_CONSUMER", topic, id: q };
    let msgs = pull(ctx, &queue, offset, 1).await?;
    let msgs: Vec<_> = msgs.into_iter().filter(|m| m.queue_offset == offset).collect();
    if msgs.is_empty() {
        return Err(Failure(format!("no message at offset {offset} of {topic}/{broker_name}/{q}")));
    }
    print_messages(ctx, &msgs);
    Ok(())
}

pub async fn send_message(
    ctx: &Ctx,
    topic: &str,
    body: &str,
    key: Option<&str>,
    tags: Option<&str>,
    broker: Option<&str>,
    qid: Option<i32>,
) -> Res<()> {
    let route = ctx.net.route(topic).await?;
    let (name, addr) = route_masters(&route)
        .into_iter()
        .find(|(n, _)| broker.is_none_or(|b| b == n))
        .ok_or_else(|| Failure(format!("no writable broker for topic [{topic}]")))?;
    let queues = route.queue_datas.iter().find(|q| q.broker_name == name).map(|q| q.write_queue_nums).unwrap_or(1).max(1);
    let q = qid.unwrap_or_else(|| (req::now_ms() % queues as i64) as i32);
    let mut msg = Msg::new(topic, body.as_bytes().to_vec());
    if let Some(k) = key {
        msg = msg.keys(k);
    }
    if let Some(t) = tags {
        msg = msg.tags(t);
    }
    let mut cmd = req::send_v2("PID_FERROCKET_ADMIN", &msg, q);
    cmd.set_ext("n", &name);
    let r = ctx.net.call(&addr, cmd).await?;
    let status = "SEND_OK";
    let offset_id = r.ext("msgId").unwrap_or("").to_string();
    if ctx.json {
        out::json(&json!({"brokerName": name, "queueId": q, "sendStatus": status, "msgId": msg.unique_id,
            "offsetMsgId": offset_id, "queueOffset": req::ext_i64(&r, "queueOffset")}));
    } else {
        out::table(&["#Broker Name", "#QID", "#Send Result", "#MsgId"], &[vec![name, q.to_string(), status.into(), msg.unique_id]]);
    }
    Ok(())
}

/// Which queues consumeMessage reads.
pub struct Selection {
    pub broker_name: Option<String>,
    pub queue_id: Option<i32>,
    pub offset: Option<i64>,
    pub group: Option<String>,
    pub count: usize,
}

pub async fn consume_message(ctx: &Ctx, topic: &str, sel: Selection) -> Res<()> {
    let route = ctx.net.route(topic).await?;
    let group = sel.group.clone().unwrap_or_else(|| "TOOLS_CONSUMER".into());
    let mut got = Vec::new();
    for (name, addr) in route_masters(&route) {
        if sel.broker_name.as_deref().is_some_and(|b| b != name) {
            continue;
        }
        let queues = route.queue_datas.iter().find(|q| q.broker_name == name).map(|q| q.read_queue_nums).unwrap_or(0);
        for q in (0..queues).filter(|q| sel.queue_id.is_none_or(|s| s == *q)) {
            let mut off = match sel.offset {
                Some(o) => o,
                None => req::ext_i64(&ctx.net.call(&addr, req::min_offset(topic, q)).await?, "offset").unwrap_or(0),
            };
            while got.len() < sel.count {
                let want = (sel.count - got.len()).min(32) as i32;
                let queue = Queue { addr: &addr, broker: &name, group: &group, topic, id: q };
                let batch = pull(ctx, &queue, off, want).await?;
                let Some(last) = batch.last() else { break };
                off = last.queue_offset + 1;
                got.extend(batch);
            }
        }
    }
    got.truncate(sel.count);
    if ctx.json {
        print_messages(ctx, &got);
        return Ok(());
    }
    for m in &got {
        let p = parse_properties(&m.properties);
        println!(
            "MSGID: {} QID: {} OFFSET: {} TAGS: {} KEYS: {} BODY: {}",
            p.get("UNIQ_KEY").unwrap_or(""),
            m.queue_id,
            m.queue_offset,
            p.get("TAGS").unwrap_or(""),
            p.get("KEYS").unwrap_or(""),
            String::from_utf8_lossy(&m.body)
        );
    }
    println!("Consumed {} message(s).", got.len());
    Ok(())
}
