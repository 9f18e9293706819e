//! ferrocket through the rocketmq-rust client (crates.io `rocketmq-client-rust` 1.0.0):
//! a producer sends, a clustering push consumer receives every message once with its body and tag.
//!
//! The broker binary comes from FERROCKET_BIN (default: ../../../target/debug/ferrocket).
#![recursion_limit = "512"]

mod common;

use cheetah_string::CheetahString;
use rocketmq_client_rust::{
    AclClientRPCHook, SessionCredentials,
    ClientResult, ConsumeConcurrentlyContext, ConsumeConcurrentlyStatus,
    DefaultMQProducer, DefaultMQPushConsumer, MQPushConsumer, MessageListenerConcurrently,
};
use common::{client_runtime, now_ms, start_broker, start_broker_with};
use rocketmq_model::common::consumer::consume_from_where::ConsumeFromWhere;
use rocketmq_model::common::message::message_ext::MessageExt;
use rocketmq_model::common::message::message_single::Message;
use rocketmq_model::common::message::MessageTrait;
use rocketmq_runtime::{RuntimeConfig, RuntimeOwner};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

#[derive(Debug, Clone)]
struct Got {
    body: Vec<u8>,
    tag: Option<String>,
    uniq: Option<String>,
}

struct Collect(Arc<Mutex<Vec<Got>>>);

impl MessageListenerConcurrently for Collect {
    fn consume_message(
        &self,
        msgs: &[&MessageExt],
        _context: &ConsumeConcurrentlyContext,
    ) -> ClientResult<ConsumeConcurrentlyStatus> {
        let mut v = self.0.lock().unwrap();
        for m in msgs {
            v.push(Got {
                body: m.body().map(|b| b.to_vec()).unwrap_or_default(),
                tag: m.get_tags().map(|t| t.to_string()),
                uniq: m.property(&CheetahString::from_static_str("UNIQ_KEY")).map(|s| s.to_string()),
            });
        }
        Ok(ConsumeConcurrentlyStatus::ConsumeSuccess)
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn producer_sends_and_push_consumer_receives_each_message_once() {
    let broker = start_broker().await;
    let owner = RuntimeOwner::plan(RuntimeConfig { thread_name: "ferrocket-rust-client".into(), ..Default::default() })
        .expect("runtime plan")
        .build()
        .expect("runtime");
    let topic = format!("rust_topic_{}", now_ms());
    let group = format!("rust_cg_{}", now_ms());

    let mut producer = DefaultMQProducer::builder(client_runtime(&owner, "producer"))
        .producer_group(format!("rust_pg_{}", now_ms()))
        .name_server_addr(broker.namesrv.clone())
        .build();
    producer.start().await.expect("producer start");

    let mut sent: HashMap<Vec<u8>, (String, String)> = HashMap::new();
    let send = |i: usize| {
        let tag = if i % 2 == 0 { "TagA" } else { "TagB" };
        let body = format!("rust body {i}");
        (Message::builder().topic(topic.as_str()).tags(tag).body_slice(body.as_bytes()).build_unchecked(), tag, body)
    };
    // The first half goes out before the consumer exists (the topic is auto-created through
    // TBW102); the consumer starts from the first offset, so it must see those too.
    for i in 0..10 {
        let (msg, tag, body) = send(i);
        let res = producer.send_with_timeout(msg, 5000).await.expect("send").expect("send result");
        let id = res.msg_id.map(|s| s.to_string()).unwrap_or_default();
        sent.insert(body.into_bytes(), (tag.to_string(), id));
    }

    let got = Arc::new(Mutex::new(Vec::new()));
    let mut consumer = DefaultMQPushConsumer::builder(client_runtime(&owner, "consumer"))
        .consumer_group(group.clone())
        .name_server_addr(broker.namesrv.clone())
        .consume_from_where(ConsumeFromWhere::ConsumeFromFirstOffset)
        .build();
    consumer.subscribe(topic.as_str(), "*").await.expect("subscribe");
    consumer.register_message_listener_concurrently(Collect(got.clone()));
    consumer.start().await.expect("consumer start");

    for i in 10..20 {
        let (msg, tag, body) = send(i);
        let res = producer.send_with_timeout(msg, 5000).await.expect("send").expect("send result");
        let id = res.msg_id.map(|s| s.to_string()).unwrap_or_default();
        sent.insert(body.into_bytes(), (tag.to_string(), id));
    }

    let deadline = Instant::now() + Duration::from_secs(60);
    while got.lock().unwrap().len() < 20 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    tokio::time::sleep(Duration::from_secs(2)).await; // settle: catch late duplicates
    let got = got.lock().unwrap().clone();
    assert_eq!(got.len(), 20, "received {} of 20 (or duplicates)", got.len());
    for g in &got {
        let (tag, id) = sent.get(&g.body).unwrap_or_else(|| panic!("unexpected body {:?}", g.body));
        assert_eq!(g.tag.as_deref(), Some(tag.as_str()));
        if !id.is_empty() {
            assert_eq!(g.uniq.as_deref(), Some(id.as_str()), "UNIQ_KEY vs the send result's msgId");
        }
    }
    let bodies: std::collections::HashSet<_> = got.iter().map(|g| g.body.clone()).collect();
    assert_eq!(bodies.len(), 20);

    consumer.shutdown().await;
    producer.shutdown().await;
    drop(broker);
}

/// ACL: the client's AclClientRPCHook signs with the account's keys and its sends are accepted;
/// the same send signed with a wrong secret, or not signed, is refused and stores nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acl_hook_signs_and_a_wrong_secret_is_refused() {
    let dir = std::env::temp_dir().join(format!("ferrocket-rustclient-acl-{}-{}", std::process::id(), now_ms()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join("plain_acl.yml"),
        "accounts:\n  - accessKey: rustKey1\n    secretKey: rust-secret-1\n    defaultTopicPerm: DENY\n    defaultGroupPerm: SUB\n    topicPerms:\n      - RustAclT=PUB|SUB\n",
    )
    .unwrap();
    std::fs::write(dir.join("broker.conf"), "aclEnable=true\naclFilePath=plain_acl.yml\n").unwrap();
    let conf = dir.join("broker.conf");
    let broker = start_broker_with(&["--topic", "RustAclT:2", "--config", conf.to_str().unwrap()]).await;
    let owner = RuntimeOwner::plan(RuntimeConfig { thread_name: "ferrocket-rust-acl".into(), ..Default::default() })
        .expect("runtime plan")
        .build()
        .expect("runtime");
    let producer_with = |scope: &'static str, secret: Option<&str>| {
        let mut b = DefaultMQProducer::builder(client_runtime(&owner, scope))
            .producer_group(format!("rust_acl_pg_{scope}_{}", now_ms()))
            .name_server_addr(broker.namesrv.clone());
        if let Some(secret) = secret {
            b = b.rpc_hook(Arc::new(AclClientRPCHook::new(SessionCredentials::with_keys("rustKey1", secret.to_string()))));
        }
        b.build()
    };
    let msg = |body: &str| Message::builder().topic("RustAclT").tags("TagA").body_slice(body.as_bytes()).build_unchecked();

    let mut signed = producer_with("signed", Some("rust-secret-1"));
    signed.start().await.expect("producer start");
    let res = signed.send_with_timeout(msg("signed"), 5000).await.expect("a signed send is accepted").expect("send result");
    assert!(res.msg_id.is_some());

    let mut wrong = producer_with("wrong", Some("not-the-secret"));
    wrong.start().await.expect("producer start");
    assert!(wrong.send_with_timeout(msg("wrong"), 5000).await.is_err(), "a send signed with a wrong secret is refused");

    let mut unsigned = producer_with("unsigned", None);
    unsigned.start().await.expect("producer start");
    assert!(unsigned.send_with_timeout(msg("unsigned"), 5000).await.is_err(), "an unsigned send is refused");

    signed.shutdown().await;
    wrong.shutdown().await;
    unsigned.shutdown().await;
    drop(broker);
    let _ = std::fs::remove_dir_all(&dir);
}
