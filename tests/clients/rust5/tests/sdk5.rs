//! The official 5.x Rust SDK against `ferrocket dev`'s gRPC endpoint: a producer sends, a
//! SimpleConsumer receives with a tag filter and acks.
use rocketmq::conf::{ClientOption, ProducerOption, SimpleConsumerOption};
use rocketmq::model::common::{FilterExpression, FilterType};
use rocketmq::model::message::MessageBuilder;
use rocketmq::{Producer, SimpleConsumer};
use std::collections::HashSet;
use std::process::Stdio;
use std::time::{Duration, Instant};
use tokio::io::{AsyncBufReadExt, BufReader};

const TOPIC: &str = "RustSdkTopic";

/// `ferrocket dev --topic TOPIC:4` (killed on drop) and its gRPC address.
async fn start_broker() -> (tokio::process::Child, String) {
    let bin = std::env::var("FERROCKET_BIN").unwrap_or_else(|_| concat!(env!("CARGO_MANIFEST_DIR"), "/../../../target/debug/ferrocket").into());
    let mut child = tokio::process::Command::new(bin)
        .args(["dev", "--topic", &format!("{TOPIC}:4")])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("spawn ferrocket dev");
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let grpc = tokio::time::timeout(Duration::from_secs(30), async {
        while let Some(l) = lines.next_line().await.unwrap() {
            if let Ok(v) = serde_json::from_str::<serde_json::Value>(&l) {
                if let Some(a) = v["grpcAddr"].as_str() {
                    return a.to_string();
                }
            }
        }
        panic!("no ready line")
    })
    .await
    .expect("ready within 30 s");
    (child, grpc)
}

fn client_option(addr: &str) -> ClientOption {
    let mut o = ClientOption::default();
    o.set_access_url(addr);
    o.set_enable_tls(false);
    o.set_long_polling_timeout(Duration::from_secs(2));
    o
}

#[tokio::test]
async fn send_receive_ack() {
    let (_broker, addr) = start_broker().await;
    let mut po = ProducerOption::default();
    po.set_topics(vec![TOPIC]);
    let mut producer = Producer::new(po, client_option(&addr)).unwrap();
    producer.start().await.expect("producer starts");
    let mut co = SimpleConsumerOption::default();
    co.set_topics(vec![TOPIC]);
    co.set_consumer_group("rust_sdk_group");
    let mut consumer = SimpleConsumer::new(co, client_option(&addr)).unwrap();
    consumer.start().await.expect("consumer starts");

    let mut ids = HashSet::new();
    for i in 0..3 {
        let m = MessageBuilder::builder().set_topic(TOPIC).set_tag("TagA").set_body(format!("rust {i}").into_bytes()).build().unwrap();
        ids.insert(producer.send(m).await.expect("sent").message_id().to_string());
    }
    let other = MessageBuilder::builder().set_topic(TOPIC).set_tag("TagB").set_body(b"other".to_vec()).build().unwrap();
    producer.send(other).await.expect("sent");

    let filter = FilterExpression::new(FilterType::Tag, "TagA");
    let mut got = Vec::new();
    let until = Instant::now() + Duration::from_secs(30);
    while got.len() < 3 && Instant::now() < until {
        got.extend(consumer.receive(TOPIC.to_string(), &filter).await.expect("receive"));
    }
    let got_ids: HashSet<String> = got.iter().map(|m| m.message_id().to_string()).collect();
    assert_eq!(got_ids, ids);
    for m in &got {
        assert_eq!(m.tag(), Some("TagA"));
        consumer.ack(m).await.expect("ack");
    }
    let again = consumer.receive(TOPIC.to_string(), &filter).await.expect("receive");
    assert!(again.is_empty(), "acked messages do not come back");
    let _ = consumer.shutdown().await;
    let _ = producer.shutdown().await;
}
