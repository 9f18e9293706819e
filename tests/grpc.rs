//! The 5.x gRPC endpoint through the wire, with a tonic client generated from the same protos:
//! routes, Settings over Telemetry, send / receive / ack / change invisible duration, interop with
//! a remoting send, and the bad-input answers (unknown topic and group, malformed receipt
//! handle, oversized message, bad filter).
use ferrocket::broker::TestBroker;
use ferrocket::client::req::{self, Msg};
use ferrocket::client::RawClient;
use ferrocket::grpc::pb::{self, messaging_service_client::MessagingServiceClient, receive_message_response::Content, Code};
use std::time::Duration;
use tonic::transport::Channel;

const T: Duration = Duration::from_secs(10);

async fn client(b: &TestBroker) -> MessagingServiceClient<Channel> {
    MessagingServiceClient::connect(format!("http://{}", b.grpc_addr())).await.expect("connect to the gRPC endpoint")
}

fn res(name: &str) -> Option<pb::Resource> {
    Some(pb::Resource { resource_namespace: String::new(), name: name.into() })
}

fn code(st: &Option<pb::Status>) -> Code {
    Code::try_from(st.as_ref().expect("a status").code).expect("a known code")
}

fn message(topic: &str, id: &str, body: &[u8], tag: Option<&str>) -> pb::Message {
    pb::Message {
        topic: res(topic),
        user_properties: [("k".to_string(), "v".to_string())].into(),
        system_properties: Some(pb::SystemProperties {
            tag: tag.map(str::to_string),
            keys: vec!["key1".into()],
            message_id: id.into(),
            message_type: pb::MessageType::Normal as i32,
            born_timestamp: Some(prost_types::Timestamp { seconds: 1_700_000_000, nanos: 0 }),
            ..Default::default()
        }),
        body: bytes::Bytes::copy_from_slice(body),
    }
}

async fn send(c: &mut MessagingServiceClient<Channel>, m: pb::Message) -> pb::SendMessageResponse {
    c.send_message(pb::SendMessageRequest { messages: vec![m] }).await.expect("SendMessage answered").into_inner()
}

fn receive_req(group: &str, topic: &str, filter: Option<pb::FilterExpression>, poll_ms: u64) -> pb::ReceiveMessageRequest {
    pb::ReceiveMessageRequest {
        group: res(group),
        message_queue: Some(pb::MessageQueue { topic: res(topic), id: -1, ..Default::default() }),
        filter_expression: filter,
        batch_size: 16,
        invisible_duration: Some(prost_types::Duration { seconds: 30, nanos: 0 }),
        auto_renew: false,
        long_polling_timeout: Some(prost_types::Duration { seconds: 0, nanos: (poll_ms * 1_000_000) as i32 }),
        attempt_id: None,
    }
}

/// The status, the messages and whether a delivery timestamp came, in stream order.
async fn receive(c: &mut MessagingServiceClient<Channel>, r: pb::ReceiveMessageRequest) -> (pb::Status, Vec<pb::Message>, bool) {
    let mut stream = tokio::time::timeout(T, c.receive_message(r)).await.expect("in time").expect("ReceiveMessage answered").into_inner();
    let (mut status, mut msgs, mut ts) = (None, Vec::new(), false);
    while let Some(item) = tokio::time::timeout(T, stream.message()).await.expect("in time").expect("stream item") {
        match item.content.expect("content") {
            Content::Status(s) => {
                assert!(status.is_none() && msgs.is_empty(), "the status comes first, once");
                status = Some(s);
            }
            Content::Message(m) => msgs.push(m),
            Content::DeliveryTimestamp(_) => ts = true,
        }
    }
    (status.expect("a status"), msgs, ts)
}

fn receipt(m: &pb::Message) -> String {
    m.system_properties.as_ref().unwrap().receipt_handle.clone().unwrap()
}

fn ack_req(group: &str, topic: &str, handle: &str) -> pb::AckMessageRequest {
    pb::AckMessageRequest {
        group: res(group),
        topic: res(topic),
        entries: vec![pb::AckMessageEntry { message_id: "x".into(), receipt_handle: handle.into(), lite_topic: None }],
    }
}

#[tokio::test]
async fn route_settings_send_receive_ack() {
    let b = TestBroker::builder().topic("GT", 4).group("GG").start().unwrap();
    let mut c = client(&b).await;

    let route = c
        .query_route(pb::QueryRouteRequest { topic: res("GT"), endpoints: None })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(code(&route.status), Code::Ok);
    assert_eq!(route.message_queues.len(), 4);
    for q in &route.message_queues {
        assert_eq!(q.permission, pb::Permission::ReadWrite as i32);
        assert_eq!(q.accept_message_types, vec![pb::MessageType::Normal as i32]);
        let addr = &q.broker.as_ref().unwrap().endpoints.as_ref().unwrap().addresses[0];
        assert_eq!(addr.port as u16, b.grpc_addr().port(), "the route names the gRPC endpoint");
    }

    // Settings over Telemetry: a producer learns the body limit.
    let (tx, rx) = tokio::sync::mpsc::channel(4);
    let settings = pb::Settings {
        client_type: Some(pb::ClientType::Producer as i32),
        pub_sub: Some(pb::settings::PubSub::Publishing(pb::Publishing { topics: vec![res("GT").unwrap()], ..Default::default() })),
        ..Default::default()
    };
    tx.send(pb::TelemetryCommand { status: None, command: Some(pb::telemetry_command::Command::Settings(settings)) }).await.unwrap();
    let mut tel = c.telemetry(tokio_stream::wrappers::ReceiverStream::new(rx)).await.unwrap().into_inner();
    let answer = tokio::time::timeout(T, tel.message()).await.expect("settings in time").unwrap().expect("an answer");
    match answer.command {
        Some(pb::telemetry_command::Command::Settings(s)) => match s.pub_sub {
            Some(pb::settings::PubSub::Publishing(p)) => assert_eq!(p.max_body_size, 4 * 1024 * 1024),
            other => panic!("publishing settings expected, got {other:?}"),
        },
        other => panic!("settings expected, got {other:?}"),
    }
    drop(tx);

    let hb = c.heartbeat(pb::HeartbeatRequest { group: res("GG"), client_type: pb::ClientType::SimpleConsumer as i32 }).await.unwrap().into_inner();
    assert_eq!(code(&hb.status), Code::Ok);

    let id = "01AABBCCDDEEFF00112233445566778899";
    let sent = send(&mut c, message("GT", id, b"hello grpc", Some("TagA"))).await;
    assert_eq!(code(&sent.status), Code::Ok, "{:?}", sent.status);
    assert_eq!(sent.entries[0].message_id, id);

    let assign = c
        .query_assignment(pb::QueryAssignmentRequest { topic: res("GT"), group: res("GG"), endpoints: None })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(code(&assign.status), Code::Ok);
    assert_eq!(assign.assignments.len(), 1);

    // a tag filter that does not match: nothing
    let tag_b = Some(pb::FilterExpression { r#type: pb::FilterType::Tag as i32, expression: "TagB".into() });
    let (st, msgs, _) = receive(&mut c, receive_req("GG", "GT", tag_b, 300)).await;
    assert_eq!(Code::try_from(st.code).unwrap(), Code::MessageNotFound);
    assert!(msgs.is_empty());

    let tag_a = Some(pb::FilterExpression { r#type: pb::FilterType::Tag as i32, expression: "TagA || TagC".into() });
    let (st, msgs, ts) = receive(&mut c, receive_req("GG2", "GT", tag_a, 1000)).await;
    assert_eq!(Code::try_from(st.code).unwrap(), Code::Ok, "{st:?}");
    assert!(ts, "a delivery timestamp closes the stream");
    assert_eq!(msgs.len(), 1);
    let m = &msgs[0];
    let sp = m.system_properties.as_ref().unwrap();
    assert_eq!(&m.body[..], b"hello grpc");
    assert_eq!(sp.message_id, id, "the 5.x message id is kept");
    assert_eq!(sp.tag.as_deref(), Some("TagA"));
    assert_eq!(sp.keys, vec!["key1".to_string()]);
    assert_eq!(sp.delivery_attempt, Some(1));
    assert_eq!(m.user_properties.get("k").map(String::as_str), Some("v"));
    assert_eq!(sp.body_digest.as_ref().unwrap().checksum, format!("{:08X}", crc32fast_hash(b"hello grpc")));

    // change invisible duration: a new handle; the old one is stale, the new one acks
    let changed = c
        .change_invisible_duration(pb::ChangeInvisibleDurationRequest {
            group: res("GG2"),
            topic: res("GT"),
            receipt_handle: receipt(m),
            invisible_duration: Some(prost_types::Duration { seconds: 60, nanos: 0 }),
            message_id: id.into(),
            lite_topic: None,
            suspend: None,
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(code(&changed.status), Code::Ok);
    assert_ne!(changed.receipt_handle, receipt(m));
    let acked = c.ack_message(ack_req("GG2", "GT", &changed.receipt_handle)).await.unwrap().into_inner();
    assert_eq!(code(&acked.status), Code::Ok, "{:?}", acked.status);
    let (st, _, _) = receive(&mut c, receive_req("GG2", "GT", None, 200)).await;
    assert_eq!(Code::try_from(st.code).unwrap(), Code::MessageNotFound);
}

fn crc32fast_hash(b: &[u8]) -> u32 {
    // the same CRC-32 (IEEE) the SDKs check
    let mut crc = !0u32;
    for &x in b {
        crc ^= x as u32;
        for _ in 0..8 {
            crc = if crc & 1 != 0 { (crc >> 1) ^ 0xEDB8_8320 } else { crc >> 1 };
        }
    }
    !crc
}

#[tokio::test]
async fn remoting_send_is_received_over_grpc_and_long_polling_wakes() {
    let b = TestBroker::builder().topic("IT", 2).group("IG").start().unwrap();
    let mut c = client(&b).await;
    let raw = RawClient::connect(b.broker_addr()).await.unwrap();
    let msg = Msg::new("IT", "from remoting").tags("R").keys("rk");
    let r = raw.request(req::send_v2("pg", &msg, 1), T).await.unwrap();
    assert_eq!(r.code, 0, "{:?}", r.remark);
    let (st, msgs, _) = receive(&mut c, receive_req("IG", "IT", None, 1000)).await;
    assert_eq!(Code::try_from(st.code).unwrap(), Code::Ok);
    assert_eq!(msgs.len(), 1);
    let sp = msgs[0].system_properties.as_ref().unwrap();
    assert_eq!(&msgs[0].body[..], b"from remoting");
    assert_eq!(sp.message_id, msg.unique_id, "the remoting UNIQ_KEY is the gRPC message id");
    assert_eq!(sp.tag.as_deref(), Some("R"));
    let acked = c.ack_message(ack_req("IG", "IT", &receipt(&msgs[0]))).await.unwrap().into_inner();
    assert_eq!(code(&acked.status), Code::Ok);

    // a parked receive is answered by a later send
    let mut c2 = c.clone();
    let waiting = tokio::spawn(async move { receive(&mut c2, receive_req("IG", "IT", None, 8000)).await });
    tokio::time::sleep(Duration::from_millis(500)).await;
    let sent = send(&mut c, message("IT", "01FFEEDDCCBBAA00112233445566778899", b"later", None)).await;
    assert_eq!(code(&sent.status), Code::Ok);
    let (st, msgs, _) = tokio::time::timeout(Duration::from_secs(5), waiting).await.expect("woken before the poll ends").unwrap();
    assert_eq!(Code::try_from(st.code).unwrap(), Code::Ok);
    assert_eq!(&msgs[0].body[..], b"later");
}

#[tokio::test]
async fn bad_input_gets_precise_codes() {
    let b = TestBroker::builder().topic("BT", 1).group("BG").configure(|c| c.max_message_size = 1024).start().unwrap();
    let mut c = client(&b).await;

    let route = c.query_route(pb::QueryRouteRequest { topic: res("NoSuchTopic"), endpoints: None }).await.unwrap().into_inner();
    assert_eq!(code(&route.status), Code::TopicNotFound);
    let route = c.query_route(pb::QueryRouteRequest { topic: None, endpoints: None }).await.unwrap().into_inner();
    assert_eq!(code(&route.status), Code::IllegalTopic);

    let sent = send(&mut c, message("NoSuchTopic", "01AA", b"x", None)).await;
    assert_eq!(code(&sent.status), Code::TopicNotFound);
    let sent = send(&mut c, message("BT", "01AB", &vec![7u8; 1025], None)).await;
    assert_eq!(code(&sent.status), Code::MessageBodyTooLarge);
    assert_eq!(code(&sent.entries[0].status), Code::MessageBodyTooLarge);
    let sent = send(&mut c, message("BT", "01AC", b"", None)).await;
    assert_eq!(code(&sent.status), Code::MessageBodyEmpty);
    let sent = send(&mut c, message("BT", "01AD", b"x", Some("a|b"))).await;
    assert_eq!(code(&sent.status), Code::IllegalMessageTag);

    let (st, _, _) = receive(&mut c, receive_req("BG", "NoSuchTopic", None, 0)).await;
    assert_eq!(Code::try_from(st.code).unwrap(), Code::TopicNotFound);
    let (st, _, _) = receive(&mut c, receive_req("", "BT", None, 0)).await;
    assert_eq!(Code::try_from(st.code).unwrap(), Code::IllegalConsumerGroup);
    let sql = Some(pb::FilterExpression { r#type: pb::FilterType::Sql as i32, expression: "a >>> (".into() });
    let (st, _, _) = receive(&mut c, receive_req("BG", "BT", sql, 0)).await;
    assert!(
        [Code::IllegalFilterExpression, Code::Unsupported].contains(&Code::try_from(st.code).unwrap()),
        "a broken SQL filter: {st:?}"
    );

    for bad in ["", "garbage", "1 2 3", "a b c d e f g h"] {
        let acked = c.ack_message(ack_req("BG", "BT", bad)).await.unwrap().into_inner();
        assert_eq!(code(&acked.status), Code::InvalidReceiptHandle, "ack with {bad:?}");
        let changed = c
            .change_invisible_duration(pb::ChangeInvisibleDurationRequest {
                group: res("BG"),
                topic: res("BT"),
                receipt_handle: bad.into(),
                invisible_duration: Some(prost_types::Duration { seconds: 10, nanos: 0 }),
                message_id: "x".into(),
                lite_topic: None,
                suspend: None,
            })
            .await
            .unwrap()
            .into_inner();
        assert_eq!(code(&changed.status), Code::InvalidReceiptHandle, "change with {bad:?}");
    }
    let acked = c.ack_message(ack_req("BG", "NoSuchTopic", "0 1 2 3 0 broker-a 0 0")).await.unwrap().into_inner();
    assert_eq!(code(&acked.status), Code::TopicNotFound);
}

async fn pull_one(raw: &RawClient, group: &str, topic: &str) -> ferrocket::codec::stored::StoredMessage {
    let r = raw.request(req::Pull::new(group, topic, 0, 0).build(), T).await.unwrap();
    assert_eq!(r.code, 0, "pull of {topic}: {:?}", r.remark);
    ferrocket::codec::stored::decode_stored(&r.body).expect("a stored message").0
}

#[tokio::test]
async fn grpc_send_is_pulled_over_remoting_and_forward_to_dlq() {
    let b = TestBroker::builder().topic("DT", 1).group("DG").start().unwrap();
    let mut c = client(&b).await;
    let raw = RawClient::connect(b.broker_addr()).await.unwrap();
    let id = "01DDEEFF00112233445566778899AABBCC";
    let sent = send(&mut c, message("DT", id, b"to the dlq", Some("TagD"))).await;
    assert_eq!(code(&sent.status), Code::Ok);

    let m = pull_one(&raw, "PG", "DT").await;
    let props = ferrocket::codec::message::parse_properties(&m.properties);
    assert_eq!(props.get("UNIQ_KEY"), Some(id), "the 5.x id is the remoting UNIQ_KEY");
    assert_eq!(props.get("TAGS"), Some("TagD"));
    assert_eq!(props.get("k"), Some("v"));
    assert_eq!(&m.body[..], b"to the dlq");

    let (st, msgs, _) = receive(&mut c, receive_req("DG", "DT", None, 1000)).await;
    assert_eq!(Code::try_from(st.code).unwrap(), Code::Ok);
    let fwd = c
        .forward_message_to_dead_letter_queue(pb::ForwardMessageToDeadLetterQueueRequest {
            group: res("DG"),
            topic: res("DT"),
            receipt_handle: receipt(&msgs[0]),
            message_id: id.into(),
            delivery_attempt: 1,
            max_delivery_attempts: 1,
            lite_topic: None,
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(code(&fwd.status), Code::Ok);
    let d = pull_one(&raw, "PG", "%DLQ%DG").await;
    assert_eq!(&d.body[..], b"to the dlq");
    let (st, _, _) = receive(&mut c, receive_req("DG", "DT", None, 200)).await;
    assert_eq!(Code::try_from(st.code).unwrap(), Code::MessageNotFound, "forwarded means done");
}

async fn create_typed_topic(raw: &RawClient, topic: &str, attributes: &str) -> i32 {
    let cmd = ferrocket::client::req::create_topic(topic, 2).with_ext("attributes", attributes);
    raw.request(cmd, T).await.unwrap().code
}

fn typed(mut m: pb::Message, t: pb::MessageType) -> pb::Message {
    m.system_properties.as_mut().unwrap().message_type = t as i32;
    m
}

#[tokio::test]
async fn message_type_attribute_fifo_and_delay() {
    let b = TestBroker::builder().group("TG").start().unwrap();
    let mut c = client(&b).await;
    let raw = RawClient::connect(b.broker_addr()).await.unwrap();
    assert_eq!(create_typed_topic(&raw, "FifoT", "+message.type=FIFO").await, 0);
    assert_eq!(create_typed_topic(&raw, "DelayT", "+message.type=DELAY").await, 0);
    assert_ne!(create_typed_topic(&raw, "BadT", "+message.type=NOPE").await, 0, "an unknown type is refused");

    let route = c.query_route(pb::QueryRouteRequest { topic: res("FifoT"), endpoints: None }).await.unwrap().into_inner();
    assert!(route.message_queues.iter().all(|q| q.accept_message_types == vec![pb::MessageType::Fifo as i32]));

    let sent = send(&mut c, message("FifoT", "01F0", b"normal", None)).await;
    assert_eq!(code(&sent.status), Code::MessagePropertyConflictWithType);
    let mut fifo = typed(message("FifoT", "01F1", b"fifo", None), pb::MessageType::Fifo);
    fifo.system_properties.as_mut().unwrap().message_group = Some("order-42".into());
    let sent = send(&mut c, fifo).await;
    assert_eq!(code(&sent.status), Code::Ok, "{:?}", sent.status);
    let (st, msgs, _) = receive(&mut c, receive_req("TG", "FifoT", None, 1000)).await;
    assert_eq!(Code::try_from(st.code).unwrap(), Code::Ok);
    let sp = msgs[0].system_properties.as_ref().unwrap();
    assert_eq!(sp.message_group.as_deref(), Some("order-42"));
    assert_eq!(sp.message_type, pb::MessageType::Fifo as i32);

    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_millis() as i64;
    let mut delayed = typed(message("DelayT", "01D1", b"later", None), pb::MessageType::Delay);
    let at = now + 2500;
    delayed.system_properties.as_mut().unwrap().delivery_timestamp = Some(prost_types::Timestamp { seconds: at / 1000, nanos: ((at % 1000) * 1_000_000) as i32 });
    let sent = send(&mut c, delayed).await;
    assert_eq!(code(&sent.status), Code::Ok, "{:?}", sent.status);
    let (st, _, _) = receive(&mut c, receive_req("TG", "DelayT", None, 500)).await;
    assert_eq!(Code::try_from(st.code).unwrap(), Code::MessageNotFound, "not before its delivery time");
    let mut got = Vec::new();
    for _ in 0..10 {
        let (_, msgs, _) = receive(&mut c, receive_req("TG", "DelayT", None, 1000)).await;
        got.extend(msgs);
        if !got.is_empty() {
            break;
        }
    }
    assert_eq!(got.len(), 1, "delivered at its time");
    assert_eq!(&got[0].body[..], b"later");
    let elapsed = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_millis() as i64 - now;
    assert!(elapsed >= 2000, "delivered after {elapsed} ms");
}

async fn end_tx(c: &mut MessagingServiceClient<Channel>, topic: &str, id: &str, tx: &str, r: pb::TransactionResolution) -> Code {
    let resp = c
        .end_transaction(pb::EndTransactionRequest {
            topic: res(topic),
            message_id: id.into(),
            transaction_id: tx.into(),
            resolution: r as i32,
            source: pb::TransactionSource::SourceClient as i32,
            trace_context: String::new(),
        })
        .await
        .unwrap()
        .into_inner();
    code(&resp.status)
}

#[tokio::test]
async fn transaction_commit_and_rollback() {
    let b = TestBroker::builder().group("XG").start().unwrap();
    let mut c = client(&b).await;
    let raw = RawClient::connect(b.broker_addr()).await.unwrap();
    assert_eq!(create_typed_topic(&raw, "TxT", "+message.type=TRANSACTION").await, 0);

    let commit_id = "01C0111111111111111111111111111111";
    let sent = send(&mut c, typed(message("TxT", commit_id, b"commit me", None), pb::MessageType::Transaction)).await;
    assert_eq!(code(&sent.status), Code::Ok, "{:?}", sent.status);
    let tx_commit = sent.entries[0].transaction_id.clone();
    assert!(!tx_commit.is_empty(), "a transaction id");
    let rollback_id = "01C0222222222222222222222222222222";
    let sent = send(&mut c, typed(message("TxT", rollback_id, b"roll me back", None), pb::MessageType::Transaction)).await;
    let tx_rollback = sent.entries[0].transaction_id.clone();

    let (st, _, _) = receive(&mut c, receive_req("XG", "TxT", None, 300)).await;
    assert_eq!(Code::try_from(st.code).unwrap(), Code::MessageNotFound, "half messages are invisible");

    assert_eq!(end_tx(&mut c, "TxT", rollback_id, &tx_rollback, pb::TransactionResolution::Rollback).await, Code::Ok);
    assert_eq!(end_tx(&mut c, "TxT", commit_id, &tx_commit, pb::TransactionResolution::Commit).await, Code::Ok);
    assert_eq!(end_tx(&mut c, "TxT", commit_id, "not-an-id", pb::TransactionResolution::Commit).await, Code::InvalidTransactionId);

    let (st, msgs, _) = receive(&mut c, receive_req("XG", "TxT", None, 2000)).await;
    assert_eq!(Code::try_from(st.code).unwrap(), Code::Ok);
    assert_eq!(msgs.len(), 1, "only the committed one");
    let sp = msgs[0].system_properties.as_ref().unwrap();
    assert_eq!(sp.message_id, commit_id);
    assert_eq!(sp.message_type, pb::MessageType::Transaction as i32);
    assert_eq!(&msgs[0].body[..], b"commit me");
}

#[tokio::test]
async fn shutdown_with_open_streams_is_prompt() {
    let b = TestBroker::builder().topic("ST", 1).group("SG").start().unwrap();
    let mut c = client(&b).await;
    // a Telemetry stream the client keeps open, and a receive parked for 15 s
    let (tx, rx) = tokio::sync::mpsc::channel(4);
    let settings = pb::Settings { client_type: Some(pb::ClientType::SimpleConsumer as i32), ..Default::default() };
    tx.send(pb::TelemetryCommand { status: None, command: Some(pb::telemetry_command::Command::Settings(settings)) }).await.unwrap();
    let _tel = c.telemetry(tokio_stream::wrappers::ReceiverStream::new(rx)).await.unwrap();
    let mut c2 = c.clone();
    let parked = tokio::spawn(async move { c2.receive_message(receive_req("SG", "ST", None, 15_000)).await.map(|_| ()) });
    tokio::time::sleep(Duration::from_millis(300)).await;
    let started = std::time::Instant::now();
    tokio::task::spawn_blocking(move || drop(b)).await.unwrap();
    assert!(started.elapsed() < Duration::from_secs(10), "shutdown took {:?}", started.elapsed());
    let _ = tokio::time::timeout(Duration::from_secs(5), parked).await.expect("the parked receive ends with the server");
    drop(tx);
}

#[tokio::test]
async fn fifo_group_receives_in_order_one_batch_at_a_time() {
    let b = TestBroker::builder().start().unwrap();
    let mut c = client(&b).await;
    let raw = RawClient::connect(b.broker_addr()).await.unwrap();
    assert_eq!(create_typed_topic(&raw, "FifoQ", "+message.type=FIFO").await, 0);
    let body = serde_json::json!({"groupName": "FifoG", "consumeMessageOrderly": true, "retryMaxTimes": 3}).to_string();
    let r = raw.request(ferrocket::codec::RemotingCommand::request(200, 0).with_body(body.into_bytes()), T).await.unwrap();
    assert_eq!(r.code, 0, "{:?}", r.remark);

    let send_fifo = |i: usize| {
        let mut m = typed(message("FifoQ", &format!("01F1F0{i:028}"), format!("m{i}").as_bytes(), None), pb::MessageType::Fifo);
        m.system_properties.as_mut().unwrap().message_group = Some("g1".into());
        m
    };
    for i in 0..3 {
        let sent = send(&mut c, send_fifo(i)).await;
        assert_eq!(code(&sent.status), Code::Ok);
    }
    // the server's Settings tell the consumer it is FIFO
    let (tx, rx) = tokio::sync::mpsc::channel(4);
    let sub = pb::Subscription { group: res("FifoG"), ..Default::default() };
    let settings = pb::Settings { client_type: Some(pb::ClientType::PushConsumer as i32), pub_sub: Some(pb::settings::PubSub::Subscription(sub)), ..Default::default() };
    tx.send(pb::TelemetryCommand { status: None, command: Some(pb::telemetry_command::Command::Settings(settings)) }).await.unwrap();
    let mut tel = c.telemetry(tokio_stream::wrappers::ReceiverStream::new(rx)).await.unwrap().into_inner();
    match tokio::time::timeout(T, tel.message()).await.unwrap().unwrap().unwrap().command {
        Some(pb::telemetry_command::Command::Settings(s)) => match s.pub_sub {
            Some(pb::settings::PubSub::Subscription(sub)) => {
                assert_eq!(sub.fifo, Some(true));
                assert_eq!(s.backoff_policy.unwrap().max_attempts, 4);
            }
            other => panic!("subscription settings expected, got {other:?}"),
        },
        other => panic!("settings expected, got {other:?}"),
    }

    let (st, msgs, _) = receive(&mut c, receive_req("FifoG", "FifoQ", None, 1000)).await;
    assert_eq!(Code::try_from(st.code).unwrap(), Code::Ok);
    let bodies: Vec<&[u8]> = msgs.iter().map(|m| m.body.as_ref()).collect();
    assert_eq!(bodies, vec![b"m0".as_slice(), b"m1", b"m2"], "in send order");
    let (st, _, _) = receive(&mut c, receive_req("FifoG", "FifoQ", None, 300)).await;
    assert_eq!(Code::try_from(st.code).unwrap(), Code::MessageNotFound, "nothing more while the group's messages are in flight");
    for m in &msgs {
        let acked = c.ack_message(ack_req("FifoG", "FifoQ", &receipt(m))).await.unwrap().into_inner();
        assert_eq!(code(&acked.status), Code::Ok);
    }
    let sent = send(&mut c, send_fifo(3)).await;
    assert_eq!(code(&sent.status), Code::Ok);
    let (st, msgs, _) = receive(&mut c, receive_req("FifoG", "FifoQ", None, 1000)).await;
    assert_eq!(Code::try_from(st.code).unwrap(), Code::Ok);
    assert_eq!(msgs.len(), 1);
    assert_eq!(&msgs[0].body[..], b"m3");
    drop(tx);
}

#[tokio::test]
async fn unknown_group_without_auto_create() {
    let b = TestBroker::builder().topic("UT", 1).group("Known").configure(|c| c.auto_create_subscription_group = false).start().unwrap();
    let mut c = client(&b).await;
    let (st, _, _) = receive(&mut c, receive_req("Unknown", "UT", None, 0)).await;
    assert_eq!(Code::try_from(st.code).unwrap(), Code::ConsumerGroupNotFound);
    let a = c.query_assignment(pb::QueryAssignmentRequest { topic: res("UT"), group: res("Unknown"), endpoints: None }).await.unwrap().into_inner();
    assert_eq!(code(&a.status), Code::ConsumerGroupNotFound);
    let hb = c.heartbeat(pb::HeartbeatRequest { group: res("Unknown"), client_type: pb::ClientType::SimpleConsumer as i32 }).await.unwrap().into_inner();
    assert_eq!(code(&hb.status), Code::ConsumerGroupNotFound);
    let (st, _, _) = receive(&mut c, receive_req("Known", "UT", None, 0)).await;
    assert_eq!(Code::try_from(st.code).unwrap(), Code::MessageNotFound);
}

#[tokio::test]
async fn transaction_check_back_over_telemetry() {
    let b = TestBroker::builder()
        .group("CG")
        .transaction_check(Duration::from_millis(300), Duration::from_millis(500), 20)
        .start()
        .unwrap();
    let mut c = client(&b).await;
    let raw = RawClient::connect(b.broker_addr()).await.unwrap();
    assert_eq!(create_typed_topic(&raw, "CkT", "+message.type=TRANSACTION").await, 0);

    // the producer's Telemetry stream, publishing to the topic
    let (tx, rx) = tokio::sync::mpsc::channel(4);
    let publishing = pb::Publishing { topics: vec![res("CkT").unwrap()], ..Default::default() };
    let settings = pb::Settings {
        client_type: Some(pb::ClientType::Producer as i32),
        pub_sub: Some(pb::settings::PubSub::Publishing(publishing)),
        ..Default::default()
    };
    tx.send(pb::TelemetryCommand { status: None, command: Some(pb::telemetry_command::Command::Settings(settings)) }).await.unwrap();
    let mut tel = c.telemetry(tokio_stream::wrappers::ReceiverStream::new(rx)).await.unwrap().into_inner();
    let first = tokio::time::timeout(T, tel.message()).await.unwrap().unwrap().unwrap();
    assert!(matches!(first.command, Some(pb::telemetry_command::Command::Settings(_))));

    let id = "01C4ECB4C4ECB4C4ECB4C4ECB4C4ECB4C4";
    let sent = send(&mut c, typed(message("CkT", id, b"checked", None), pb::MessageType::Transaction)).await;
    assert_eq!(code(&sent.status), Code::Ok);
    let tx_id = sent.entries[0].transaction_id.clone();

    // never ended by the producer: the broker asks through the stream
    let check = tokio::time::timeout(Duration::from_secs(15), tel.message()).await.expect("a check-back in time").unwrap().unwrap();
    let Some(pb::telemetry_command::Command::RecoverOrphanedTransactionCommand(rc)) = check.command else {
        panic!("a RecoverOrphanedTransactionCommand expected, got {check:?}")
    };
    assert_eq!(rc.transaction_id, tx_id);
    let m = rc.message.unwrap();
    assert_eq!(m.topic.unwrap().name, "CkT");
    assert_eq!(m.system_properties.unwrap().message_id, id);
    assert_eq!(&m.body[..], b"checked");

    // the checker's answer
    let resp = c
        .end_transaction(pb::EndTransactionRequest {
            topic: res("CkT"),
            message_id: id.into(),
            transaction_id: tx_id,
            resolution: pb::TransactionResolution::Commit as i32,
            source: pb::TransactionSource::SourceServerCheck as i32,
            trace_context: String::new(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(code(&resp.status), Code::Ok);
    let (st, msgs, _) = receive(&mut c, receive_req("CG", "CkT", None, 2000)).await;
    assert_eq!(Code::try_from(st.code).unwrap(), Code::Ok);
    assert_eq!(&msgs[0].body[..], b"checked");
    drop(tx);
}

/// Raw bytes as a gRPC message: to send what no generated client would.
#[derive(Clone, Default)]
struct RawCodec;

impl tonic::codec::Codec for RawCodec {
    type Encode = Vec<u8>;
    type Decode = Vec<u8>;
    type Encoder = RawCodec;
    type Decoder = RawCodec;
    fn encoder(&mut self) -> Self::Encoder {
        RawCodec
    }
    fn decoder(&mut self) -> Self::Decoder {
        RawCodec
    }
}

impl tonic::codec::Encoder for RawCodec {
    type Item = Vec<u8>;
    type Error = tonic::Status;
    fn encode(&mut self, item: Vec<u8>, dst: &mut tonic::codec::EncodeBuf<'_>) -> Result<(), tonic::Status> {
        use bytes::BufMut;
        dst.put_slice(&item);
        Ok(())
    }
}

impl tonic::codec::Decoder for RawCodec {
    type Item = Vec<u8>;
    type Error = tonic::Status;
    fn decode(&mut self, src: &mut tonic::codec::DecodeBuf<'_>) -> Result<Option<Vec<u8>>, tonic::Status> {
        use bytes::Buf;
        let mut v = vec![0; src.remaining()];
        src.copy_to_slice(&mut v);
        Ok(Some(v))
    }
}

#[tokio::test]
async fn malformed_protobuf_and_a_client_that_never_reads() {
    let b = TestBroker::builder().topic("MT", 1).start().unwrap();
    let channel = Channel::from_shared(format!("http://{}", b.grpc_addr())).unwrap().connect().await.unwrap();
    let mut raw = tonic::client::Grpc::new(channel.clone());
    raw.ready().await.unwrap();
    // field 1 (topic) as a length-delimited field whose length runs past the end
    let path = tonic::codegen::http::uri::PathAndQuery::from_static("/apache.rocketmq.v2.MessagingService/QueryRoute");
    let err = raw.unary(tonic::Request::new(vec![0x0a, 0x7f, 0x01]), path, RawCodec).await.expect_err("undecodable request refused");
    assert_eq!(err.code(), tonic::Code::Internal, "{err:?}");

    // a Telemetry stream whose answers are never read: the broker stays responsive
    let mut c = MessagingServiceClient::new(channel);
    let settings = pb::Settings { client_type: Some(pb::ClientType::Producer as i32), ..Default::default() };
    let flood = tokio_stream::iter(
        (0..2000).map(move |_| pb::TelemetryCommand { status: None, command: Some(pb::telemetry_command::Command::Settings(settings.clone())) }),
    );
    let _unread = tokio::time::timeout(T, c.telemetry(flood)).await.expect("stream opened").unwrap();
    tokio::time::sleep(Duration::from_millis(500)).await;
    let mut fresh = client(&b).await;
    let route = tokio::time::timeout(T, fresh.query_route(pb::QueryRouteRequest { topic: res("MT"), endpoints: None }))
        .await
        .expect("answered while another stream is not read")
        .unwrap()
        .into_inner();
    assert_eq!(code(&route.status), Code::Ok);
}

fn ns_res(ns: &str, name: &str) -> Option<pb::Resource> {
    Some(pb::Resource { resource_namespace: ns.into(), name: name.into() })
}

#[tokio::test]
async fn namespaces_wrap_topics_and_groups() {
    let b = TestBroker::builder().topic("ns1%NT", 2).start().unwrap();
    let mut c = client(&b).await;
    let route = c.query_route(pb::QueryRouteRequest { topic: ns_res("ns1", "NT"), endpoints: None }).await.unwrap().into_inner();
    assert_eq!(code(&route.status), Code::Ok);
    assert_eq!(route.message_queues[0].topic, ns_res("ns1", "NT"), "the route names the topic as the client does");
    let route = c.query_route(pb::QueryRouteRequest { topic: res("NT"), endpoints: None }).await.unwrap().into_inner();
    assert_eq!(code(&route.status), Code::TopicNotFound, "outside the namespace it does not exist");

    let mut m = message("NT", "01AAAA0000000000000000000000000001", b"in ns1", None);
    m.topic = ns_res("ns1", "NT");
    assert_eq!(code(&send(&mut c, m).await.status), Code::Ok);
    let mut r = receive_req("G", "NT", None, 1000);
    r.group = ns_res("ns1", "G");
    r.message_queue.as_mut().unwrap().topic = ns_res("ns1", "NT");
    let (st, msgs, _) = receive(&mut c, r).await;
    assert_eq!(Code::try_from(st.code).unwrap(), Code::Ok);
    assert_eq!(msgs[0].topic, ns_res("ns1", "NT"));
    assert!(b.data_dir().exists());
    let acked = c
        .ack_message(pb::AckMessageRequest {
            group: ns_res("ns1", "G"),
            topic: ns_res("ns1", "NT"),
            entries: vec![pb::AckMessageEntry { message_id: "x".into(), receipt_handle: receipt(&msgs[0]), lite_topic: None }],
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(code(&acked.status), Code::Ok);
    // the group lives in the namespace too: the remoting name is ns1%G
    let raw = RawClient::connect(b.broker_addr()).await.unwrap();
    let r = raw.request(ferrocket::codec::RemotingCommand::request(201, 0), T).await.unwrap();
    assert!(String::from_utf8_lossy(&r.body).contains("ns1%G"), "groups: {}", String::from_utf8_lossy(&r.body));
}

async fn list(raw: &RawClient) -> ferrocket::codec::RemotingCommand {
    let cmd = ferrocket::codec::RemotingCommand::request(ferrocket::codec::codes::RequestCode::GetConsumerConnectionList.as_i32(), 0).with_ext("consumerGroup", "GCG");
    raw.request(cmd, T).await.unwrap()
}

#[tokio::test]
async fn subscribers_are_listed_as_consumer_connections_while_their_stream_lives() {
    let b = TestBroker::builder().topic("GC", 2).group("GCG").start().unwrap();
    let mut c = client(&b).await;
    let raw = RawClient::connect(b.broker_addr()).await.unwrap();
    assert_eq!(list(&raw).await.code, ferrocket::codec::codes::response_code::CONSUMER_NOT_ONLINE);

    let (tx, rx) = tokio::sync::mpsc::channel(4);
    let settings = pb::Settings {
        client_type: Some(pb::ClientType::SimpleConsumer as i32),
        user_agent: Some(pb::Ua { language: pb::Language::Python as i32, ..Default::default() }),
        pub_sub: Some(pb::settings::PubSub::Subscription(pb::Subscription {
            group: res("GCG"),
            subscriptions: vec![pb::SubscriptionEntry {
                topic: res("GC"),
                expression: Some(pb::FilterExpression { r#type: pb::FilterType::Tag as i32, expression: "TagA || TagB".into() }),
            }],
            ..Default::default()
        })),
        ..Default::default()
    };
    tx.send(pb::TelemetryCommand { status: None, command: Some(pb::telemetry_command::Command::Settings(settings)) }).await.unwrap();
    let mut req = tonic::Request::new(tokio_stream::wrappers::ReceiverStream::new(rx));
    req.metadata_mut().insert("x-mq-client-id", "grpc-consumer-1".parse().unwrap());
    let mut tel = c.telemetry(req).await.unwrap().into_inner();
    tokio::time::timeout(T, tel.message()).await.expect("settings in time").unwrap().expect("an answer");

    let r = list(&raw).await;
    assert_eq!(r.code, 0, "{:?}", r.remark);
    let cc = ferrocket::codec::body::ConsumerConnection::from_json(&r.body).unwrap();
    assert_eq!(cc.connection_set.iter().map(|x| (x.client_id.as_str(), x.language.as_str())).collect::<Vec<_>>(), vec![("grpc-consumer-1", "PYTHON")]);
    assert_eq!(cc.message_model, "CLUSTERING");
    assert_eq!(cc.subscription_table.get("GC").map(|s| s.sub_string.as_str()), Some("TagA || TagB"));

    // The stream ends: the member leaves.
    drop(tx);
    drop(tel);
    let deadline = tokio::time::Instant::now() + T;
    loop {
        if list(&raw).await.code == ferrocket::codec::codes::response_code::CONSUMER_NOT_ONLINE {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "the gRPC consumer stayed listed after its stream ended");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn mq(topic: &str, id: i32) -> Option<pb::MessageQueue> {
    Some(pb::MessageQueue { topic: res(topic), id, ..Default::default() })
}

#[tokio::test]
async fn offset_rpcs_share_the_remoting_offsets() {
    let b = TestBroker::builder().topic("GO", 2).group("GOG").start().unwrap();
    let mut c = client(&b).await;
    let raw = RawClient::connect(b.broker_addr()).await.unwrap();
    for i in 0..3 {
        let r = raw.request(req::send_v2("pg", &Msg::new("GO", format!("m{i}")), 1), T).await.unwrap();
        assert_eq!(r.code, 0);
    }
    let q = |p: pb::QueryOffsetPolicy| pb::QueryOffsetRequest { message_queue: mq("GO", 1), query_offset_policy: p as i32, timestamp: None };
    let end = c.query_offset(q(pb::QueryOffsetPolicy::End)).await.unwrap().into_inner();
    assert_eq!((code(&end.status), end.offset), (Code::Ok, 3));
    let begin = c.query_offset(q(pb::QueryOffsetPolicy::Beginning)).await.unwrap().into_inner();
    assert_eq!((code(&begin.status), begin.offset), (Code::Ok, 0));
    let mut at = q(pb::QueryOffsetPolicy::Timestamp);
    at.timestamp = Some(prost_types::Timestamp { seconds: 0, nanos: 0 });
    assert_eq!(c.query_offset(at).await.unwrap().into_inner().offset, 0);

    let get = |id| pb::GetOffsetRequest { group: res("GOG"), message_queue: mq("GO", id) };
    assert_eq!(code(&c.get_offset(get(1)).await.unwrap().into_inner().status), Code::OffsetNotFound);
    let up = c.update_offset(pb::UpdateOffsetRequest { group: res("GOG"), message_queue: mq("GO", 1), offset: 2 }).await.unwrap().into_inner();
    assert_eq!(code(&up.status), Code::Ok);
    let got = c.get_offset(get(1)).await.unwrap().into_inner();
    assert_eq!((code(&got.status), got.offset), (Code::Ok, 2));
    // The remoting side sees the committed offset.
    let r = raw.request(req::query_offset("GOG", "GO", 1), T).await.unwrap();
    assert_eq!(r.ext("offset"), Some("2"));

    // Bad input: unknown topic, a queue the topic lacks, a negative offset, no group.
    let bad = c.update_offset(pb::UpdateOffsetRequest { group: res("GOG"), message_queue: mq("Nope", 0), offset: 1 }).await.unwrap().into_inner();
    assert_eq!(code(&bad.status), Code::TopicNotFound);
    let bad = c.update_offset(pb::UpdateOffsetRequest { group: res("GOG"), message_queue: mq("GO", 7), offset: 1 }).await.unwrap().into_inner();
    assert_eq!(code(&bad.status), Code::BadRequest);
    let bad = c.update_offset(pb::UpdateOffsetRequest { group: res("GOG"), message_queue: mq("GO", 0), offset: -1 }).await.unwrap().into_inner();
    assert_eq!(code(&bad.status), Code::IllegalOffset);
    let bad = c.get_offset(pb::GetOffsetRequest { group: None, message_queue: mq("GO", 0) }).await.unwrap().into_inner();
    assert_eq!(code(&bad.status), Code::IllegalConsumerGroup);
}

#[tokio::test]
async fn delay_message_recall_handle_and_recall_message() {
    let b = TestBroker::builder().group("RG").start().unwrap();
    let mut c = client(&b).await;
    let raw = RawClient::connect(b.broker_addr()).await.unwrap();
    assert_eq!(create_typed_topic(&raw, "RecallT", "+message.type=DELAY").await, 0);
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_millis() as i64;
    let at = now + 60_000;
    let mut delayed = typed(message("RecallT", "01RC1", b"cancel me", None), pb::MessageType::Delay);
    delayed.system_properties.as_mut().unwrap().delivery_timestamp = Some(prost_types::Timestamp { seconds: at / 1000, nanos: ((at % 1000) * 1_000_000) as i32 });
    let sent = send(&mut c, delayed).await;
    assert_eq!(code(&sent.status), Code::Ok, "{:?}", sent.status);
    let handle = sent.entries[0].recall_handle.clone();
    assert!(!handle.is_empty(), "a delay message's send result carries a recall handle");
    let recall = |h: String| pb::RecallMessageRequest { topic: res("RecallT"), recall_handle: h };
    let r = c.recall_message(recall(handle.clone())).await.unwrap().into_inner();
    assert_eq!(code(&r.status), Code::Ok, "{:?}", r.status);
    assert_eq!(r.message_id, "01RC1");
    let again = c.recall_message(recall(handle)).await.unwrap().into_inner();
    assert_eq!(code(&again.status), Code::MessageNotFound, "{:?}", again.status);
    let bad = c.recall_message(recall("not a handle".into())).await.unwrap().into_inner();
    assert_eq!(code(&bad.status), Code::BadRequest, "{:?}", bad.status);
    let nothing = c.recall_message(pb::RecallMessageRequest { topic: res("NoSuchTopic"), recall_handle: "x".into() }).await.unwrap().into_inner();
    assert_eq!(code(&nothing.status), Code::TopicNotFound);
    let plain = send(&mut c, message("RecallT", "01RC2", b"normal", None)).await;
    assert!(plain.entries[0].recall_handle.is_empty() || code(&plain.status) != Code::Ok);
}

async fn pull(c: &mut MessagingServiceClient<Channel>, offset: i64, wait_ms: u64, filter: Option<pb::FilterExpression>) -> (Code, Vec<pb::Message>, Option<i64>) {
    let req = pb::PullMessageRequest {
        group: res("PG"),
        message_queue: Some(pb::MessageQueue { topic: res("PT"), id: 0, ..Default::default() }),
        offset,
        batch_size: 16,
        filter_expression: filter,
        long_polling_timeout: Some(prost_types::Duration { seconds: (wait_ms / 1000) as i64, nanos: ((wait_ms % 1000) * 1_000_000) as i32 }),
    };
    let mut stream = c.pull_message(req).await.unwrap().into_inner();
    let (mut st, mut msgs, mut next) = (Code::Unspecified, Vec::new(), None);
    while let Some(item) = tokio::time::timeout(T, stream.message()).await.expect("pull answered in time").unwrap() {
        match item.content {
            Some(pb::pull_message_response::Content::Status(s)) => st = code(&Some(s)),
            Some(pb::pull_message_response::Content::Message(m)) => msgs.push(m),
            Some(pb::pull_message_response::Content::NextOffset(n)) => next = Some(n),
            None => {}
        }
    }
    (st, msgs, next)
}

#[tokio::test]
async fn pull_message_reads_a_queue_and_long_polls() {
    let b = TestBroker::builder().topic("PT", 1).group("PG").start().unwrap();
    let mut c = client(&b).await;
    let raw = RawClient::connect(b.broker_addr()).await.unwrap();
    // Nothing yet: a pull that waits is woken by the next message.
    let addr = b.broker_addr();
    let sender = tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(300)).await;
        let raw = RawClient::connect(addr).await.unwrap();
        raw.request(req::send_v2("pp", &Msg::new("PT", "first").tags("TagA"), 0), T).await.unwrap().code
    });
    let (st, msgs, next) = pull(&mut c, 0, 5000, None).await;
    assert_eq!(sender.await.unwrap(), 0);
    assert_eq!(st, Code::Ok);
    assert_eq!(msgs.iter().map(|m| m.body.clone()).collect::<Vec<_>>(), vec![b"first".to_vec()]);
    assert_eq!(next, Some(1));
    // Caught up, no waiting: MESSAGE_NOT_FOUND and the same next offset.
    let (st, msgs, next) = pull(&mut c, 1, 0, None).await;
    assert_eq!((st, msgs.len(), next), (Code::MessageNotFound, 0, Some(1)));
    // A tag filter skips what does not match.
    for (tag, body) in [("TagB", "skip"), ("TagA", "keep")] {
        assert_eq!(raw.request(req::send_v2("pp", &Msg::new("PT", body).tags(tag), 0), T).await.unwrap().code, 0);
    }
    let (st, msgs, next) = pull(&mut c, 1, 0, Some(pb::FilterExpression { r#type: pb::FilterType::Tag as i32, expression: "TagA".into() })).await;
    assert_eq!(st, Code::Ok);
    assert_eq!(msgs.iter().map(|m| m.body.clone()).collect::<Vec<_>>(), vec![b"keep".to_vec()]);
    assert_eq!(next, Some(3));
    // An offset past the end is illegal; a negative one too.
    assert_eq!(pull(&mut c, 99, 0, None).await.0, Code::IllegalOffset);
    assert_eq!(pull(&mut c, -1, 0, None).await.0, Code::IllegalOffset);
}

/// Every stored message of queue 0 of `topic`, read over remoting.
async fn pull_queue(raw: &RawClient, topic: &str) -> Vec<ferrocket::codec::stored::StoredMessage> {
    let (mut out, mut offset) = (Vec::new(), 0i64);
    loop {
        let r = raw.request(req::Pull::new("PG", topic, 0, offset).max(32).build(), T).await.unwrap();
        if r.code != 0 {
            return out;
        }
        out.extend(ferrocket::codec::stored::decode_all_stored(&r.body).expect("stored messages"));
        offset = r.ext("nextBeginOffset").and_then(|v| v.parse().ok()).unwrap_or(offset);
    }
}

/// SendMessage with several messages, some with a delivery time: each of those waits for its
/// own time (with its own recall handle) while the others are readable at once; one delivery
/// time beyond timerMaxDelay refuses the whole request.
#[tokio::test]
async fn delivery_times_inside_a_batch_are_honoured_per_message() {
    let b = TestBroker::builder().start().unwrap();
    let mut c = client(&b).await;
    let raw = RawClient::connect(b.broker_addr()).await.unwrap();
    let cmd = req::create_topic("BatchT", 1).with_ext("attributes", "+message.type=MIXED");
    assert_eq!(raw.request(cmd, T).await.unwrap().code, 0);
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_millis() as i64;
    let at = |ms: i64| Some(prost_types::Timestamp { seconds: (now + ms) / 1000, nanos: (((now + ms) % 1000) * 1_000_000) as i32 });
    let mut later = typed(message("BatchT", "01B1", b"later", None), pb::MessageType::Delay);
    later.system_properties.as_mut().unwrap().delivery_timestamp = at(1500);
    let batch = vec![message("BatchT", "01B0", b"now0", None), later, message("BatchT", "01B2", b"now2", None)];
    let sent = c.send_message(pb::SendMessageRequest { messages: batch }).await.unwrap().into_inner();
    assert_eq!(code(&sent.status), Code::Ok, "{:?}", sent.status);
    let handles: Vec<bool> = sent.entries.iter().map(|e| !e.recall_handle.is_empty()).collect();
    assert_eq!(handles, [false, true, false], "a recall handle for the timed message only");

    let first = pull_queue(&raw, "BatchT").await;
    let bodies: Vec<&[u8]> = first.iter().map(|m| m.body.as_ref()).collect();
    assert!(bodies.starts_with(&[b"now0".as_slice(), b"now2"]), "the others are readable at once: {bodies:?}");
    assert!(first.iter().all(|m| m.body.as_ref() != b"later" || m.store_timestamp >= now + 1500), "not before its time");
    let mut all = first;
    for _ in 0..100 {
        if all.len() == 3 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
        all = pull_queue(&raw, "BatchT").await;
    }
    assert_eq!(all.len(), 3, "the timed message is delivered");
    assert_eq!(&all[2].body[..], b"later");
    assert!(all[2].store_timestamp >= now + 1500, "not before its time");
    let props = ferrocket::codec::message::parse_properties(&all[2].properties);
    assert_eq!(props.get("UNIQ_KEY"), Some("01B1"), "with its own id");
    assert_eq!(props.get("k"), Some("v"));

    let mut far = typed(message("BatchT", "01B4", b"too far", None), pb::MessageType::Delay);
    far.system_properties.as_mut().unwrap().delivery_timestamp = at(8 * 86_400_000);
    let refused = c.send_message(pb::SendMessageRequest { messages: vec![message("BatchT", "01B3", b"plain", None), far] }).await.unwrap().into_inner();
    assert_eq!(code(&refused.status), Code::IllegalDeliveryTime, "{:?}", refused.status);
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(pull_queue(&raw, "BatchT").await.len(), 3, "nothing of the refused request is stored");
}
