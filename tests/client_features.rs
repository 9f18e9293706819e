//! SQL92 filtering, request-reply, message trace and 5.x remoting requests, through the wire.
mod support;
use ferrocket::broker::TestBroker;
use ferrocket::client::req::{self, Msg, Pull};
use ferrocket::client::RawClient;
use ferrocket::codec::message::parse_properties;
use ferrocket::codec::stored::decode_all_stored;
use ferrocket::codec::RemotingCommand;
use std::time::Duration;
use support::*;

fn sql_broker() -> TestBroker {
    TestBroker::builder().topic("sql", 1).configure(|c| c.enable_property_filter = true).start().unwrap()
}

fn sql_pull(group: &str, topic: &str, offset: i64, expr: &str) -> RemotingCommand {
    let mut cmd = Pull::new(group, topic, 0, offset).subscription(expr).max(32).build();
    cmd.set_ext("expressionType", "SQL92");
    cmd
}

#[tokio::test]
async fn sql92_pull_selects_exactly_the_matching_messages() {
    let b = sql_broker();
    let c = RawClient::connect(b.broker_addr()).await.unwrap();
    let rows = [("1", "red"), ("5", "blue"), ("10", "red"), ("12", "green"), ("7", "red")];
    for (i, (a, color)) in rows.iter().enumerate() {
        send(&c, &Msg::new("sql", format!("m{i}")).tags("T").prop("a", a).prop("color", color), 0).await;
    }
    send(&c, &Msg::new("sql", "no props"), 0).await;
    let cases: [(&str, Vec<&str>); 5] = [
        ("a > 5 AND color = 'red'", vec!["m2", "m4"]),
        ("a BETWEEN 5 AND 10", vec!["m1", "m2", "m4"]),
        ("color IN ('blue', 'green')", vec!["m1", "m3"]),
        ("a IS NULL", vec!["no props"]),
        ("NOT (color = 'red') AND a IS NOT NULL", vec!["m1", "m3"]),
    ];
    for (expr, want) in cases {
        let resp = c.request(sql_pull("sqlg", "sql", 0, expr), T).await.unwrap();
        assert_eq!(resp.code, 0, "{expr}: {:?}", resp.remark);
        let got: Vec<String> = decode_all_stored(&resp.body)
            .unwrap()
            .iter()
            .map(|m| String::from_utf8_lossy(&m.body).into_owned())
            .collect();
        assert_eq!(got, want, "{expr}");
        assert_eq!(resp.ext("nextBeginOffset"), Some("6"), "{expr}: offset moves past everything scanned");
    }
    let resp = c.request(sql_pull("sqlg", "sql", 0, "a > 100"), T).await.unwrap();
    assert_eq!(resp.code, 20, "no match: PULL_RETRY_IMMEDIATELY");
    assert_eq!(resp.ext("nextBeginOffset"), Some("6"));
    let resp = c.request(sql_pull("sqlg", "sql", 0, "a >>> 1"), T).await.unwrap();
    assert_eq!(resp.code, 23, "bad expression: SUBSCRIPTION_PARSE_FAILED");
}

#[tokio::test]
async fn sql92_needs_enable_property_filter_and_check_client_config_reports_errors() {
    let off = TestBroker::builder().topic("sql", 1).start().unwrap();
    let c = RawClient::connect(off.broker_addr()).await.unwrap();
    let resp = c.request(sql_pull("g", "sql", 0, "a > 1"), T).await.unwrap();
    assert_eq!(resp.code, 1);
    let on = sql_broker();
    let c = RawClient::connect(on.broker_addr()).await.unwrap();
    let body = |expr: &str| {
        serde_json::json!({"clientId": "c1", "group": "g", "subscriptionData": {
            "classFilterMode": false, "codeSet": [], "expressionType": "SQL92", "subString": expr,
            "subVersion": 1, "tagsSet": [], "topic": "sql"}})
        .to_string()
    };
    let ok = c.request(RemotingCommand::request(46, 0).with_body(body("a > 1")), T).await.unwrap();
    assert_eq!(ok.code, 0);
    let bad = c.request(RemotingCommand::request(46, 0).with_body(body("a >")), T).await.unwrap();
    assert_eq!(bad.code, 23, "{:?}", bad.remark);
}

#[tokio::test]
async fn sql92_subscription_from_heartbeat_filters_push_pulls_and_long_poll_wakeups() {
    let b = sql_broker();
    let c = RawClient::connect(b.broker_addr()).await.unwrap();
    let hb = serde_json::json!({"clientID": "127.0.0.1@sqlc", "producerDataSet": [], "consumerDataSet": [{
        "consumeFromWhere": "CONSUME_FROM_FIRST_OFFSET", "consumeType": "CONSUME_PASSIVELY", "groupName": "sqlpush",
        "messageModel": "CLUSTERING", "unitMode": false, "subscriptionDataSet": [{
            "classFilterMode": false, "codeSet": [], "expressionType": "SQL92", "subString": "vip = 'yes'",
            "subVersion": 5, "tagsSet": [], "topic": "sql"}]}]});
    let resp = c.request(RemotingCommand::request(34, 0).with_body(hb.to_string()), T).await.unwrap();
    assert_eq!(resp.code, 0);
    // parked pull (suspend, no subscription flag): woken only by a matching message
    let mut pull = Pull::new("sqlpush", "sql", 0, 0).suspend(5000).max(32).build();
    // as a push consumer sends it: SUSPEND only, no subscription (taken from the heartbeat)
    pull.set_ext("sysFlag", 2);
    if let Some(ext) = pull.ext_fields.as_mut() {
        ext.remove("subscription");
        ext.remove("expressionType");
    }
    let pending = tokio::spawn({
        let c2 = RawClient::connect(b.broker_addr()).await.unwrap();
        async move { c2.request(pull, Duration::from_secs(10)).await.unwrap() }
    });
    tokio::time::sleep(Duration::from_millis(300)).await;
    send(&c, &Msg::new("sql", "plain").prop("vip", "no"), 0).await;
    send(&c, &Msg::new("sql", "gold").prop("vip", "yes"), 0).await;
    let resp = pending.await.unwrap();
    assert_eq!(resp.code, 0);
    let got: Vec<String> =
        decode_all_stored(&resp.body).unwrap().iter().map(|m| String::from_utf8_lossy(&m.body).into_owned()).collect();
    assert_eq!(got, vec!["gold"]);
}

#[tokio::test]
async fn request_reply_round_trip() {
    let b = TestBroker::start().unwrap();
    // requester: a producer connection known by its client id
    let mut requester = RawClient::connect(b.broker_addr()).await.unwrap();
    let mut incoming = requester.incoming();
    let hb = requester.request(req::heartbeat("127.0.0.1@requester", &["reqpg"], &[]), T).await.unwrap();
    assert_eq!(hb.code, 0);
    let request = Msg::new("rpc", "ping").prop("CORRELATION_ID", "corr-1").prop("REPLY_TO_CLIENT", "127.0.0.1@requester").prop("TTL", "3000");
    send(&requester, &request, 0).await;
    // replier consumes and replies to DefaultCluster_REPLY_TOPIC with SEND_REPLY_MESSAGE_V2
    let replier = RawClient::connect(b.broker_addr()).await.unwrap();
    let msgs = pull_all(&replier, "rpc", 0).await;
    let cluster = prop(&msgs[0], "CLUSTER").expect("the broker adds CLUSTER");
    let reply = Msg::new(&format!("{cluster}_REPLY_TOPIC"), "pong")
        .prop("MSG_TYPE", "reply")
        .prop("CORRELATION_ID", "corr-1")
        .prop("REPLY_TO_CLIENT", "127.0.0.1@requester")
        .prop("TTL", "3000");
    let mut cmd = req::send_v2("replypg", &reply, 0);
    cmd.code = 325;
    let replier = std::sync::Arc::new(replier);
    let pending = tokio::spawn({
        let r = replier.clone();
        async move { r.request(cmd, T).await.unwrap() }
    });
    let push = tokio::time::timeout(T, incoming.recv()).await.unwrap().unwrap();
    assert_eq!(push.code, 326);
    assert_eq!(push.body.as_ref(), b"pong");
    let p = parse_properties(push.ext("properties").unwrap());
    assert_eq!(p.get("CORRELATION_ID"), Some("corr-1"));
    requester.respond(RemotingCommand::response_to(&push, 0, None)).await.unwrap();
    let resp = pending.await.unwrap();
    assert_eq!(resp.code, 0, "{:?}", resp.remark);
    // a reply for a client that is not connected is refused
    let lost = Msg::new(&format!("{cluster}_REPLY_TOPIC"), "x").prop("REPLY_TO_CLIENT", "nobody").prop("CORRELATION_ID", "c");
    let mut cmd = req::send_v2("replypg", &lost, 0);
    cmd.code = 325;
    let resp = replier.request(cmd, T).await.unwrap();
    assert_eq!(resp.code, 1);
}

#[tokio::test]
async fn trace_records_are_stored_and_found_by_traced_message_id() {
    let b = TestBroker::start().unwrap();
    let c = RawClient::connect(b.broker_addr()).await.unwrap();
    let traced = Msg::new("traced", "business").keys("order-1");
    send(&c, &traced, 0).await;
    // what the Java trace dispatcher sends: the trace data as body, keys = traced msgId + keys
    let trace = Msg::new("RMQ_SYS_TRACE_TOPIC", format!("Pub\u{1}{}\u{1}...", traced.unique_id))
        .keys(&format!("{} order-1", traced.unique_id));
    send(&c, &trace, 0).await;
    let query = |key: &str| {
        RemotingCommand::request(12, 0)
            .with_ext("topic", "RMQ_SYS_TRACE_TOPIC")
            .with_ext("key", key)
            .with_ext("maxNum", 32)
            .with_ext("beginTimestamp", 0)
            .with_ext("endTimestamp", i64::MAX)
    };
    let found = eventually(Duration::from_secs(5), || async {
        let r = c.request(query(&traced.unique_id), T).await.unwrap();
        (r.code == 0).then_some(r)
    })
    .await
    .expect("trace record found by the traced message id");
    let msgs = decode_all_stored(&found.body).unwrap();
    assert_eq!(msgs.len(), 1);
    assert!(String::from_utf8_lossy(&msgs[0].body).contains(&traced.unique_id));
}

#[tokio::test]
async fn lite_pull_361_and_get_topic_config_351() {
    let b = TestBroker::builder().topic("five", 2).start().unwrap();
    let c = RawClient::connect(b.broker_addr()).await.unwrap();
    send(&c, &Msg::new("five", "x"), 1).await;
    let mut lite = Pull::new("lite", "five", 1, 0).subscription("*").max(10).build();
    lite.code = 361;
    lite.set_ext("sysFlag", 22);
    let resp = c.request(lite, T).await.unwrap();
    assert_eq!(resp.code, 0);
    assert_eq!(decode_all_stored(&resp.body).unwrap().len(), 1);
    let resp = c.request(RemotingCommand::request(351, 0).with_ext("topic", "five").with_ext("lo", false), T).await.unwrap();
    assert_eq!(resp.code, 0);
    let v: serde_json::Value = serde_json::from_slice(&resp.body).unwrap();
    assert_eq!(v["topicName"], "five");
    assert_eq!(v["readQueueNums"], 2);
    let resp = c.request(RemotingCommand::request(351, 0).with_ext("topic", "nope"), T).await.unwrap();
    assert_eq!(resp.code, 17);
}

#[tokio::test]
async fn heartbeat_v2_fields_are_accepted_and_not_announced() {
    let b = TestBroker::builder().topic("five", 1).start().unwrap();
    let c = RawClient::connect(b.broker_addr()).await.unwrap();
    let hb = serde_json::json!({"clientID": "127.0.0.1@v5", "heartbeatFingerprint": 12345, "withoutSub": false,
        "producerDataSet": [], "consumerDataSet": [{"consumeFromWhere": "CONSUME_FROM_LAST_OFFSET",
        "consumeType": "CONSUME_PASSIVELY", "groupName": "g5", "messageModel": "CLUSTERING", "unitMode": false,
        "subscriptionDataSet": [{"classFilterMode": false, "codeSet": [], "expressionType": "TAG", "subString": "*",
        "subVersion": 1, "tagsSet": [], "topic": "five"}]}]});
    let resp = c.request(RemotingCommand::request(34, 0).with_body(hb.to_string()), T).await.unwrap();
    assert_eq!(resp.code, 0);
    assert_eq!(resp.ext("IS_SUPPORT_HEART_BEAT_V2"), None);
    let list = c.request(req::consumer_list("g5"), T).await.unwrap();
    assert_eq!(list.code, 0);
    // setZeroIfNotFound=false: a group without offset gets QUERY_NOT_FOUND
    let q = req::query_offset("g5", "five", 0).with_ext("setZeroIfNotFound", false);
    let resp = c.request(q, T).await.unwrap();
    assert_eq!(resp.code, 22);
}
