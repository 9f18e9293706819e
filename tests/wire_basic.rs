//! Routes, heartbeats, unknown codes and binary headers, through the wire.
mod common;

use common::{assert_code, send_ok, sent, unique, DevBroker, T};
use ferrocket::client::req::{self, ConsumerSpec, Msg};
use ferrocket::client::codes;
use ferrocket::codec::{RemotingCommand, SerializeType};
use serde_json::Value;

fn route_json(resp: &RemotingCommand) -> Value {
    serde_json::from_slice(&resp.body).unwrap_or_else(|e| {
        panic!("route body is not standard JSON ({e}): {}", String::from_utf8_lossy(&resp.body))
    })
}

#[tokio::test]
async fn route_of_tbw102_names_this_broker() {
    let b = DevBroker::start();
    let ns = b.namesrv_client().await;
    let resp = ns.request(req::route("TBW102"), T).await.unwrap();
    assert_code(&resp, codes::SUCCESS);
    let v = route_json(&resp);
    let bd = &v["brokerDatas"][0];
    assert_eq!(bd["brokerAddrs"]["0"].as_str(), Some(b.broker.to_string().as_str()), "route: {v}");
    let qd = &v["queueDatas"][0];
    assert!(qd["writeQueueNums"].as_i64().unwrap_or(0) > 0, "route: {v}");
    assert!(qd["perm"].as_i64().unwrap_or(0) & 2 != 0, "TBW102 not writable: {v}");
}

#[tokio::test]
async fn route_of_unknown_topic_is_topic_not_exist() {
    let b = DevBroker::start();
    let ns = b.namesrv_client().await;
    let resp = ns.request(req::route(&unique("nosuch")), T).await.unwrap();
    assert_code(&resp, codes::TOPIC_NOT_EXIST);
    assert!(resp.is_response());
}

#[tokio::test]
async fn auto_created_topic_is_routed_with_four_queues() {
    let b = DevBroker::start();
    let c = b.client().await;
    let topic = unique("auto");
    send_ok(&c, &Msg::new(&topic, "x"), 0).await;
    let ns = b.namesrv_client().await;
    // The broker registers a new topic at once; allow a short bounded wait anyway.
    let mut last = None;
    for _ in 0..50 {
        let resp = ns.request(req::route(&topic), T).await.unwrap();
        if resp.code == codes::SUCCESS {
            last = Some(resp);
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let resp = last.expect("route of auto-created topic within 5 s");
    let v = route_json(&resp);
    assert_eq!(v["queueDatas"][0]["writeQueueNums"].as_i64(), Some(4), "route: {v}");
    assert_eq!(v["queueDatas"][0]["readQueueNums"].as_i64(), Some(4), "route: {v}");
}

#[tokio::test]
async fn heartbeat_registers_producer_and_consumer() {
    let b = DevBroker::start();
    let c = b.client().await;
    let group = unique("cg");
    let topic = unique("hb");
    let resp = c.request(req::heartbeat("127.0.0.1@hb_p", &["pg_hb"], &[]), T).await.unwrap();
    assert_code(&resp, codes::SUCCESS);
    assert!(resp.version >= 232, "heartbeat response version {} would break SQL92 clients", resp.version);
    let spec = ConsumerSpec::push(&group, &topic, "TagA || TagB");
    let resp = c.request(req::heartbeat("127.0.0.1@hb_c", &[], &[spec]), T).await.unwrap();
    assert_code(&resp, codes::SUCCESS);
    let resp = c.request(req::consumer_list(&group), T).await.unwrap();
    assert_code(&resp, codes::SUCCESS);
    let v: Value = serde_json::from_slice(&resp.body).expect("consumer list JSON");
    assert_eq!(v["consumerIdList"], serde_json::json!(["127.0.0.1@hb_c"]));
}

#[tokio::test]
async fn unknown_request_code_is_not_supported_and_connection_survives() {
    let b = DevBroker::start();
    let c = b.client().await;
    let resp = c.request(RemotingCommand::request(9999, 0), T).await.unwrap();
    assert_code(&resp, codes::REQUEST_CODE_NOT_SUPPORTED);
    assert!(resp.remark.as_deref().is_some_and(|r| !r.is_empty()), "no remark: {resp:?}");
    // Same connection still works.
    let resp = c.request(req::max_offset("TBW102", 0), T).await.unwrap();
    assert_code(&resp, codes::SUCCESS);
    let ns = b.namesrv_client().await;
    let resp = ns.request(RemotingCommand::request(9999, 0), T).await.unwrap();
    assert_code(&resp, codes::REQUEST_CODE_NOT_SUPPORTED);
    let resp = ns.request(req::route("TBW102"), T).await.unwrap();
    assert_code(&resp, codes::SUCCESS);
}

#[tokio::test]
async fn many_requests_in_flight_on_one_connection() {
    let b = DevBroker::start();
    let c = std::sync::Arc::new(b.client().await);
    let topic = unique("inflight");
    let mut tasks = Vec::new();
    for i in 0..64 {
        let c = c.clone();
        let topic = topic.clone();
        tasks.push(tokio::spawn(async move {
            let resp = c.request(req::send_v2("pg", &Msg::new(&topic, format!("m{i}")), i % 4), T).await.unwrap();
            sent(&resp)
        }));
    }
    let mut per_queue = [Vec::new(), Vec::new(), Vec::new(), Vec::new()];
    for t in tasks {
        let s = t.await.unwrap();
        per_queue[s.queue_id as usize].push(s.queue_offset);
    }
    for (q, offs) in per_queue.iter_mut().enumerate() {
        offs.sort();
        assert_eq!(*offs, (0..16).collect::<Vec<i64>>(), "queue {q} offsets");
    }
}

#[tokio::test]
async fn binary_header_request_gets_binary_header_response() {
    let b = DevBroker::start();
    let c = b.client().await;
    let topic = unique("bin");
    let mut send = req::send_v2("pg_bin", &Msg::new(&topic, "binary body").tags("TagBin"), 0);
    send.serialize_type = SerializeType::RocketMq;
    send.language = "CPP".into();
    let resp = c.request(send, T).await.unwrap();
    assert_eq!(resp.serialize_type, SerializeType::RocketMq, "send response header type");
    let s = sent(&resp);
    assert_eq!(s.queue_offset, 0);
    let mut q = req::max_offset(&topic, 0);
    q.serialize_type = SerializeType::RocketMq;
    let resp = c.request(q, T).await.unwrap();
    assert_eq!(resp.serialize_type, SerializeType::RocketMq);
    assert_code(&resp, codes::SUCCESS);
    assert_eq!(resp.ext("offset"), Some("1"));
    // JSON on the same connection afterwards.
    let resp = c.request(req::max_offset(&topic, 0), T).await.unwrap();
    assert_eq!(resp.serialize_type, SerializeType::Json);
    assert_eq!(resp.ext("offset"), Some("1"));
}

/// A JSON frame from raw header text and body, as a foreign client would build it.
fn json_frame(header: &[u8], body: &[u8]) -> Vec<u8> {
    let mut frame = Vec::new();
    frame.extend_from_slice(&((4 + header.len() + body.len()) as i32).to_be_bytes());
    frame.push(0);
    frame.extend_from_slice(&(header.len() as u32).to_be_bytes()[1..]);
    frame.extend_from_slice(header);
    frame.extend_from_slice(body);
    frame
}

#[tokio::test]
async fn cpp_style_route_request_is_answered() {
    // The C++ client's habits: ACL extFields, no serializeTypeCurrentRPC, trailing newline.
    let b = DevBroker::start();
    let ns = b.namesrv_client().await;
    let header = b"{\"code\":105,\"extFields\":{\"AccessKey\":\"\",\"OnsChannel\":\"ALIYUN\",\"Signature\":\"x\",\"topic\":\"TBW102\"},\"flag\":0,\"language\":\"CPP\",\"opaque\":0,\"remark\":\"\",\"version\":63}\n";
    let resp = ns.request_raw(&json_frame(header, b""), 0, T).await.unwrap();
    assert_code(&resp, codes::SUCCESS);
    route_json(&resp);
}

#[tokio::test]
async fn cpp_style_heartbeat_and_send_are_accepted() {
    let b = DevBroker::start();
    let c = b.client().await;
    let group = unique("cpp_cg");
    let topic = unique("cpp");
    let hb_header = b"{\"code\":34,\"extFields\":{\"AccessKey\":\"\",\"OnsChannel\":\"ALIYUN\",\"Signature\":\"x\"},\"flag\":0,\"language\":\"CPP\",\"opaque\":-1,\"remark\":\"\",\"version\":63}\n";
    let hb_body = format!(
        "{{\"clientID\":\"127.0.0.1@cpp\",\"consumerDataSet\":[{{\"consumeFromWhere\":0,\"consumeType\":1,\"groupName\":\"{group}\",\"messageModel\":1,\"subscriptionDataSet\":[{{\"subString\":\"*\",\"subVersion\":\"1795487198933\",\"topic\":\"{topic}\"}}]}}],\"producerDataSet\":[{{\"groupName\":\"cpp_pg\"}}]}}\n"
    );
    let resp = c.request_raw(&json_frame(hb_header, hb_body.as_bytes()), -1, T).await.unwrap();
    assert_code(&resp, codes::SUCCESS);
    // SEND_MESSAGE (10) with JSON numbers and "0"/"1" booleans.
    let send_header = format!(
        "{{\"code\":10,\"extFields\":{{\"AccessKey\":\"\",\"OnsChannel\":\"ALIYUN\",\"Signature\":\"x\",\"producerGroup\":\"cpp_pg\",\"topic\":\"{topic}\",\"defaultTopic\":\"TBW102\",\"defaultTopicQueueNums\":4,\"queueId\":1,\"sysFlag\":0,\"bornTimestamp\":\"{}\",\"flag\":0,\"properties\":\"TAGS\\u0001TagC\\u0002UNIQ_KEY\\u0001{}\",\"reconsumeTimes\":\"0\",\"unitMode\":\"0\",\"batch\":\"0\"}},\"flag\":0,\"language\":\"CPP\",\"opaque\":-2,\"remark\":\"\",\"version\":63}}\n",
        req::now_ms(),
        ferrocket::client::ids::unique_id()
    );
    let resp = c.request_raw(&json_frame(send_header.as_bytes(), b"from cpp"), -2, T).await.unwrap();
    let s = sent(&resp);
    assert_eq!(s.queue_id, 1);
    let (resp, msgs) = common::pull(&c, &req::Pull::new(&group, &topic, 1, 0)).await;
    assert_code(&resp, codes::SUCCESS);
    assert_eq!(msgs[0].body, b"from cpp");
    assert_eq!(msgs[0].prop("TAGS"), Some("TagC"));
    // The heartbeat's subscription lets a pull without the subscription bit through.
    let mut p = req::Pull::new(&group, &topic, 1, 0);
    p.sys_flag = 0;
    p.subscription = None;
    let (resp, _) = common::pull(&c, &p).await;
    assert_code(&resp, codes::SUCCESS);
}

/// rocketmq-client-rust 1.0.0 (a 5.x-shaped client) rejects route data whose brokerDatas lack
/// `enableActingMaster` ("core.serialization.failed" on the first send). 5.x name servers always
/// write it; 4.9 clients ignore it. Found by tests/clients/rust; un-ignore once the broker adds it.
/// Java 4.x clients get exactly the 4.9.7 form (see tests/golden_broker.rs).
#[tokio::test]
async fn route_broker_data_has_the_5x_fields() {
    let b = DevBroker::start();
    let ns = b.namesrv_client().await;
    let mut five = req::route("TBW102");
    five.version = 479; // V5_3_3
    let resp = ns.request(five, T).await.unwrap();
    let v = route_json(&resp);
    assert!(v["brokerDatas"][0]["enableActingMaster"].is_boolean(), "route: {v}");
    let mut rust = req::route("TBW102");
    rust.language = "RUST".into();
    let v = route_json(&ns.request(rust, T).await.unwrap());
    assert!(v["brokerDatas"][0]["enableActingMaster"].is_boolean(), "route: {v}");
    let v = route_json(&ns.request(req::route("TBW102"), T).await.unwrap());
    assert!(v["brokerDatas"][0].get("enableActingMaster").is_none(), "4.9 form for a 4.9 Java client: {v}");
}
