//! Admin request codes through the wire, bodies parsed the way the Java admin client does
//! (object-keyed MessageQueue maps, KVTable strings that must parse as numbers, ...).
mod admin_support;
mod common;

use admin_support::{cmd, create_topic, wait_route};
use common::{assert_code, send_ok, unique, DevBroker, T};
use ferrocket::client::req::{self, ConsumerSpec, Msg};
use ferrocket::client::{codes, RawClient};
use ferrocket::codec::body::{
    ConsumeStats, ConsumerConnection, DataVersion, KvTable, ProducerConnection, TopicStatsTable,
};
use ferrocket::codec::json::parse_lenient;
use ferrocket::codec::stored::decode_all_stored;
use ferrocket::codec::RemotingCommand;
use std::sync::Arc;

const CONSUMER_NOT_ONLINE: i32 = 206;
const NO_PERMISSION: i32 = 16;

#[tokio::test]
async fn runtime_info_has_every_key_tools_parse() {
    let b = DevBroker::start();
    let c = b.client().await;
    let r = c.request(cmd(28), T).await.unwrap();
    assert_code(&r, codes::SUCCESS);
    let t = KvTable::from_json(&r.body).expect("KVTable").table;
    for k in [
        "msgPutTotalYesterdayMorning",
        "msgPutTotalTodayMorning",
        "msgPutTotalTodayNow",
        "msgGetTotalYesterdayMorning",
        "msgGetTotalTodayMorning",
        "msgGetTotalTodayNow",
        "sendThreadPoolQueueSize",
        "pullThreadPoolQueueSize",
        "sendThreadPoolQueueHeadWaitTimeMills",
        "pullThreadPoolQueueHeadWaitTimeMills",
        "pageCacheLockTimeMills",
        "earliestMessageTimeStamp",
        "bootTimestamp",
        "commitLogMinOffset",
        "commitLogMaxOffset",
        "dispatchBehindBytes",
        "putMessageTimesTotal",
        "putMessageSizeTotal",
        "brokerVersion",
    ] {
        let v = t.get(k).unwrap_or_else(|| panic!("missing {k}"));
        v.parse::<i64>().unwrap_or_else(|_| panic!("{k}={v} is not a long"));
    }
    for k in ["putTps", "getTransferedTps", "getFoundTps", "getMissTps", "getTotalTps"] {
        let v = t.get(k).unwrap_or_else(|| panic!("missing {k}"));
        let first = v.split(' ').next().unwrap();
        first.parse::<f64>().unwrap_or_else(|_| panic!("{k}={v}: first token is not a double"));
    }
    for k in ["commitLogDiskRatio", "consumeQueueDiskRatio"] {
        let v: f64 = t[k].parse().unwrap_or_else(|_| panic!("{k} not a double"));
        assert!((0.0..=1.0).contains(&v), "{k}={v}");
    }
    assert_eq!(t["brokerVersionDesc"], "V4_9_7");
    assert!(t["commitLogDirCapacity"].starts_with("Total : "), "{}", t["commitLogDirCapacity"]);
    assert!(t.contains_key("runtime"));
}

#[tokio::test]
async fn broker_config_is_properties_text_with_version_header() {
    let b = DevBroker::start();
    let c = b.client().await;
    let r = c.request(cmd(26), T).await.unwrap();
    assert_code(&r, codes::SUCCESS);
    let v = r.ext("version").expect("version header");
    DataVersion::from_json(v.as_bytes()).expect("version is DataVersion JSON");
    let text = String::from_utf8(r.body.to_vec()).unwrap();
    assert!(text.lines().any(|l| l.starts_with("brokerName=")), "{text}");
    assert!(text.lines().any(|l| l.starts_with("maxMessageSize=")), "{text}");
    assert!(!text.trim_start().starts_with('{'), "properties text, not JSON");
}

#[tokio::test]
async fn topic_stats_are_an_object_keyed_map() {
    let b = DevBroker::start();
    let c = b.client().await;
    let topic = unique("tstats");
    create_topic(&b, &c, &topic, 2).await;
    for i in 0..3 {
        send_ok(&c, &Msg::new(&topic, format!("m{i}")), 0).await;
    }
    let r = c.request(cmd(202).with_ext("topic", &topic), T).await.unwrap();
    assert_code(&r, codes::SUCCESS);
    let raw = String::from_utf8_lossy(&r.body).into_owned();
    assert!(raw.starts_with("{\"offsetTable\":{{\"brokerName\":"), "fastjson object key form: {raw}");
    let mut t = TopicStatsTable::from_json(&r.body).unwrap().offset_table;
    t.sort_by(|a, b| a.0.cmp(&b.0));
    assert_eq!(t.len(), 2);
    assert_eq!((t[0].0.queue_id, t[0].1.min_offset, t[0].1.max_offset), (0, 0, 3));
    assert!(t[0].1.last_update_timestamp > 0);
    assert_eq!((t[1].0.queue_id, t[1].1.max_offset, t[1].1.last_update_timestamp), (1, 0, 0));
    assert_eq!(t[0].0.topic, topic);
    let r = c.request(cmd(202).with_ext("topic", unique("nope")), T).await.unwrap();
    assert_code(&r, codes::TOPIC_NOT_EXIST);
}

#[tokio::test]
async fn consume_stats_per_queue_with_object_keys() {
    let b = DevBroker::start();
    let c = b.client().await;
    let topic = unique("cstats");
    let group = unique("g");
    create_topic(&b, &c, &topic, 2).await;
    for i in 0..5 {
        send_ok(&c, &Msg::new(&topic, format!("m{i}")), 1).await;
    }
    assert_code(&c.request(req::update_offset(&group, &topic, 1, 2), T).await.unwrap(), codes::SUCCESS);
    for with_topic in [true, false] {
        let mut q = cmd(208).with_ext("consumerGroup", &group);
        if with_topic {
            q.set_ext("topic", &topic);
        }
        let r = c.request(q, T).await.unwrap();
        assert_code(&r, codes::SUCCESS);
        let raw = String::from_utf8_lossy(&r.body).into_owned();
        assert!(raw.starts_with("{\"consumeTps\":"), "{raw}");
        assert!(raw.contains(":{{\"brokerName\":"), "object keys: {raw}");
        let s = ConsumeStats::from_json(&r.body).unwrap();
        let q1 = s.offset_table.iter().find(|(mq, _)| mq.queue_id == 1 && mq.topic == topic).expect("queue 1");
        assert_eq!((q1.1.broker_offset, q1.1.consumer_offset), (5, 2));
        assert!(q1.1.last_timestamp > 0);
        let q0 = s.offset_table.iter().find(|(mq, _)| mq.queue_id == 0 && mq.topic == topic).expect("queue 0");
        assert_eq!((q0.1.broker_offset, q0.1.consumer_offset, q0.1.last_timestamp), (0, 0, 0));
    }
    // Broker-wide stats (317) carry the same object keys inside a list of group maps.
    let r = c.request(cmd(317).with_ext("isOrder", false), T).await.unwrap();
    assert_code(&r, codes::SUCCESS);
    let v = parse_lenient(&r.body).expect("ConsumeStatsList parses leniently");
    assert!(v["brokerAddr"].is_string() && v["totalDiff"].is_i64() && v["consumeStatsList"].is_array(), "{v}");
    // Time span (303).
    let r = c.request(cmd(303).with_ext("topic", &topic).with_ext("group", &group), T).await.unwrap();
    assert_code(&r, codes::SUCCESS);
    let v: serde_json::Value = serde_json::from_slice(&r.body).unwrap();
    let spans = v["consumeTimeSpanSet"].as_array().unwrap();
    assert_eq!(spans.len(), 2);
    let s1 = spans.iter().find(|s| s["messageQueue"]["queueId"] == 1).unwrap();
    assert!(s1["minTimeStamp"].as_i64().unwrap() > 0 && s1["maxTimeStamp"].as_i64() >= s1["minTimeStamp"].as_i64());
}

#[tokio::test]
async fn clone_group_offset_copies_offsets() {
    let b = DevBroker::start();
    let c = b.client().await;
    let topic = unique("clone");
    let (src, dest) = (unique("src"), unique("dest"));
    create_topic(&b, &c, &topic, 1).await;
    send_ok(&c, &Msg::new(&topic, "x"), 0).await;
    c.request(req::update_offset(&src, &topic, 0, 1), T).await.unwrap();
    let r = c
        .request(cmd(314).with_ext("srcGroup", &src).with_ext("destGroup", &dest).with_ext("topic", &topic).with_ext("offline", true), T)
        .await
        .unwrap();
    assert_code(&r, codes::SUCCESS);
    let r = c.request(req::query_offset(&dest, &topic, 0), T).await.unwrap();
    assert_eq!(req::ext_i64(&r, "offset"), Some(1), "{r:?}");
}

async fn consumer(b: &DevBroker, client_id: &str, group: &str, topic: &str) -> RawClient {
    let c = b.client().await;
    let hb = req::heartbeat(client_id, &["pg_admin_test"], &[ConsumerSpec::push(group, topic, "*")]);
    assert_code(&c.request(hb, T).await.unwrap(), codes::SUCCESS);
    c
}

#[tokio::test]
async fn connection_lists() {
    let b = DevBroker::start();
    let c = b.client().await;
    let topic = unique("conn");
    let group = unique("g");
    let cons = consumer(&b, "10.0.0.1@conn", &group, &topic).await;
    let r = c.request(cmd(203).with_ext("consumerGroup", &group), T).await.unwrap();
    assert_code(&r, codes::SUCCESS);
    let cc = ConsumerConnection::from_json(&r.body).unwrap();
    assert_eq!(cc.connection_set.len(), 1);
    assert_eq!(cc.connection_set[0].client_id, "10.0.0.1@conn");
    assert_eq!(cc.connection_set[0].client_addr, cons.local_addr().to_string());
    assert_eq!(cc.message_model, "CLUSTERING");
    assert!(cc.subscription_table.contains_key(&topic));
    let r = c.request(cmd(203).with_ext("consumerGroup", unique("nobody")), T).await.unwrap();
    assert_code(&r, CONSUMER_NOT_ONLINE);

    let r = c.request(cmd(204).with_ext("producerGroup", "pg_admin_test"), T).await.unwrap();
    assert_code(&r, codes::SUCCESS);
    let pc = ProducerConnection::from_json(&r.body).unwrap();
    assert_eq!(pc.connection_set[0].client_id, "10.0.0.1@conn");
    let r = c.request(cmd(204).with_ext("producerGroup", unique("nopg")), T).await.unwrap();
    assert_code(&r, codes::SYSTEM_ERROR);
    // 5.x GET_ALL_PRODUCER_INFO (328).
    let r = c.request(cmd(328), T).await.unwrap();
    assert_code(&r, codes::SUCCESS);
    let v: serde_json::Value = serde_json::from_slice(&r.body).unwrap();
    assert_eq!(v["data"]["pg_admin_test"][0]["clientId"], "10.0.0.1@conn");
    assert!(v["data"]["pg_admin_test"][0]["lastUpdateTimestamp"].as_i64().unwrap() > 0);
}

/// A consumer that answers broker-to-client requests with `answer(request)`.
async fn answering_consumer(
    b: &DevBroker,
    client_id: &str,
    group: &str,
    topic: &str,
    answer: fn(&RemotingCommand) -> Option<RemotingCommand>,
) -> (Arc<RawClient>, tokio::sync::mpsc::UnboundedReceiver<RemotingCommand>) {
    let mut c = consumer(b, client_id, group, topic).await;
    let mut inc = c.incoming();
    let c = Arc::new(c);
    let (seen_tx, seen_rx) = tokio::sync::mpsc::unbounded_channel();
    let cc = c.clone();
    tokio::spawn(async move {
        while let Some(req) = inc.recv().await {
            if let Some(resp) = answer(&req) {
                let _ = cc.respond(resp).await;
            }
            let _ = seen_tx.send(req);
        }
    });
    (c, seen_rx)
}

/// The next broker-to-client request with `code` (NOTIFY_CONSUMER_IDS_CHANGED may come first).
async fn next_with_code(seen: &mut tokio::sync::mpsc::UnboundedReceiver<RemotingCommand>, code: i32) -> RemotingCommand {
    loop {
        let m = seen.recv().await.expect("consumer connection open");
        if m.code == code {
            return m;
        }
    }
}

const RUNNING_INFO: &str = r#"{"jstack":"","mqTable":{{"brokerName":"broker-a","queueId":0,"topic":"T"}:{"cachedMsgCount":0}},"properties":{"PROP_CONSUME_TYPE":"CONSUME_PASSIVELY"},"statusTable":{},"subscriptionSet":[]}"#;

#[tokio::test]
async fn running_info_is_relayed_unchanged() {
    let b = DevBroker::start();
    let topic = unique("ri");
    let group = unique("g");
    let (_cons, mut seen) = answering_consumer(&b, "cid@ri", &group, &topic, |req| {
        (req.code == 307).then(|| RemotingCommand::response_to(req, 0, None).with_body(RUNNING_INFO))
    })
    .await;
    let admin = b.client().await;
    let q = cmd(307).with_ext("consumerGroup", &group).with_ext("clientId", "cid@ri").with_ext("jstackEnable", false);
    let r = admin.request(q, T).await.unwrap();
    assert_code(&r, codes::SUCCESS);
    assert_eq!(&r.body[..], RUNNING_INFO.as_bytes(), "body relayed byte for byte");
    let got = next_with_code(&mut seen, 307).await;
    assert_eq!(got.ext("consumerGroup"), Some(group.as_str()));
    assert_eq!(got.ext("clientId"), Some("cid@ri"));
    let q = cmd(307).with_ext("consumerGroup", &group).with_ext("clientId", "someone-else").with_ext("jstackEnable", false);
    let r = admin.request(q, T).await.unwrap();
    assert_code(&r, codes::SYSTEM_ERROR);
    assert!(r.remark.unwrap_or_default().contains("not online"));
}

#[tokio::test]
async fn consume_message_directly_is_relayed_with_the_message() {
    let b = DevBroker::start();
    let topic = unique("cmd");
    let group = unique("g");
    let (_cons, mut seen) = answering_consumer(&b, "cid@cmd", &group, &topic, |req| {
        (req.code == 309).then(|| {
            RemotingCommand::response_to(req, 0, None)
                .with_body(r#"{"autoCommit":true,"consumeResult":"CR_SUCCESS","order":false,"spentTimeMills":1}"#)
        })
    })
    .await;
    let admin = b.client().await;
    let sent = send_ok(&admin, &Msg::new(&topic, "direct-body"), 0).await;
    let q = cmd(309).with_ext("consumerGroup", &group).with_ext("clientId", "cid@cmd").with_ext("msgId", &sent.msg_id);
    let r = admin.request(q, T).await.unwrap();
    assert_code(&r, codes::SUCCESS);
    let v: serde_json::Value = serde_json::from_slice(&r.body).unwrap();
    assert_eq!(v["consumeResult"], "CR_SUCCESS");
    let got = next_with_code(&mut seen, 309).await;
    assert!(got.ext("brokerName").is_some_and(|n| !n.is_empty()));
    let msgs = decode_all_stored(&got.body).unwrap();
    assert_eq!(&msgs[0].body[..], b"direct-body");
}

#[tokio::test]
async fn consumer_status_collects_every_member() {
    let b = DevBroker::start();
    let topic = unique("st");
    let group = unique("g");
    let (_cons, _seen) = answering_consumer(&b, "cid@st", &group, &topic, |req| {
        (req.code == 221).then(|| {
            RemotingCommand::response_to(req, 0, None)
                .with_body(r#"{"messageQueueTable":{{"brokerName":"broker-a","queueId":3,"topic":"T"}:42}}"#)
        })
    })
    .await;
    let admin = b.client().await;
    let r = admin.request(cmd(223).with_ext("topic", &topic).with_ext("group", &group), T).await.unwrap();
    assert_code(&r, codes::SUCCESS);
    let raw = String::from_utf8_lossy(&r.body).into_owned();
    assert_eq!(raw, r#"{"consumerTable":{"cid@st":{{"brokerName":"broker-a","queueId":3,"topic":"T"}:42}}}"#);
}

#[tokio::test]
async fn lookups_by_key_unique_key_and_offset_id() {
    let b = DevBroker::start();
    let c = b.client().await;
    let topic = unique("lookup");
    let msg = Msg::new(&topic, "findme").keys("order-1 order-2");
    let sent = send_ok(&c, &msg, 0).await;
    send_ok(&c, &Msg::new(&topic, "other").keys("order-3"), 0).await;
    let query = |key: &str, unique: bool| {
        cmd(12)
            .with_ext("topic", &topic)
            .with_ext("key", key)
            .with_ext("maxNum", 64)
            .with_ext("beginTimestamp", 0)
            .with_ext("endTimestamp", i64::MAX)
            .with_ext("_UNIQUE_KEY_QUERY", unique)
    };
    let found = common::bounded(T, "key index", async {
        loop {
            let r = c.request(query("order-2", false), T).await.unwrap();
            if r.code == codes::SUCCESS {
                return r;
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
    })
    .await;
    assert!(found.ext("indexLastUpdateTimestamp").is_some());
    let msgs = decode_all_stored(&found.body).unwrap();
    assert_eq!(msgs.len(), 1);
    assert_eq!(&msgs[0].body[..], b"findme");
    // By unique key (what mqadmin queryMsgById falls back to).
    let r = c.request(query(&msg.unique_id, true), T).await.unwrap();
    assert_code(&r, codes::SUCCESS);
    let msgs = decode_all_stored(&r.body).unwrap();
    assert_eq!(&msgs[0].body[..], b"findme");
    // Not found.
    let r = c.request(query("no-such-key", false), T).await.unwrap();
    assert_code(&r, codes::QUERY_NOT_FOUND);
    // By offset msgId (33).
    let (_, offset) = ferrocket::codec::message::decode_offset_msg_id(&sent.msg_id).unwrap();
    let r = c.request(cmd(33).with_ext("offset", offset), T).await.unwrap();
    assert_code(&r, codes::SUCCESS);
    assert_eq!(&decode_all_stored(&r.body).unwrap()[0].body[..], b"findme");
}

#[tokio::test]
async fn namesrv_write_permission_and_config() {
    let b = DevBroker::start();
    let c = b.client().await;
    let topic = unique("perm");
    create_topic(&b, &c, &topic, 1).await;
    let route = wait_route(&b, &topic).await;
    let broker_name = route.broker_datas[0].broker_name.clone();
    let ns = b.namesrv_client().await;
    let r = ns.request(cmd(205).with_ext("brokerName", &broker_name), T).await.unwrap();
    assert_code(&r, codes::SUCCESS);
    assert!(req::ext_i64(&r, "wipeTopicCount").unwrap() >= 1);
    let route = wait_route(&b, &topic).await;
    assert_eq!(route.queue_datas[0].perm & 2, 0, "write bit wiped");
    let r = ns.request(cmd(327).with_ext("brokerName", &broker_name), T).await.unwrap();
    assert_code(&r, codes::SUCCESS);
    let route = wait_route(&b, &topic).await;
    assert_eq!(route.queue_datas[0].perm & 2, 2, "write bit back");
    let r = ns.request(cmd(319), T).await.unwrap();
    assert_code(&r, codes::SUCCESS);
    let r = ns.request(cmd(318).with_body("configStorePath=/etc/cron.d/x\n"), T).await.unwrap();
    assert_code(&r, NO_PERMISSION);
    assert!(r.remark.unwrap_or_default().contains("configStorePath"));
}

#[tokio::test]
async fn delete_group_with_remove_offset_drops_offsets() {
    let b = DevBroker::start();
    let c = b.client().await;
    let topic = unique("delg");
    let group = unique("g");
    send_ok(&c, &Msg::new(&topic, "x"), 0).await;
    c.request(req::update_offset(&group, &topic, 0, 1), T).await.unwrap();
    let r = c.request(cmd(207).with_ext("groupName", &group).with_ext("removeOffset", true), T).await.unwrap();
    assert_code(&r, codes::SUCCESS);
    let r = c.request(req::query_offset(&group, &topic, 0), T).await.unwrap();
    assert!(r.code == codes::QUERY_NOT_FOUND || req::ext_i64(&r, "offset") == Some(0), "{r:?}");
}
