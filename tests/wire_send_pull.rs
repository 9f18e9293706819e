//! Sends (V2, V1, batch, oneway) and pulls (every status, long polling), through the wire.
mod common;

use common::{assert_code, pull, send_ok, sent, unique, DevBroker, T};
use ferrocket::client::ids::decode_offset_msg_id;
use ferrocket::client::req::{self, ext_i64, Msg, Pull};
use ferrocket::client::codes;
use std::time::{Duration, Instant};

#[tokio::test]
async fn send_v2_then_pull_returns_the_same_message() {
    let b = DevBroker::start();
    let c = b.client().await;
    let topic = unique("v2");
    let msg = Msg::new(&topic, "hello rocketmq").tags("TagA").keys("k1 k2").prop("color", "red").flag(7);
    let s = send_ok(&c, &msg, 1).await;
    assert_eq!((s.queue_id, s.queue_offset), (1, 0));
    let (addr, clog_off) = decode_offset_msg_id(&s.msg_id).expect("offset msgId is 32 hex digits");
    assert_eq!(addr, b.broker, "offset msgId must encode the broker address");

    let (resp, msgs) = pull(&c, &Pull::new("cg_v2", &topic, 1, 0)).await;
    assert_code(&resp, codes::SUCCESS);
    assert_eq!(ext_i64(&resp, "nextBeginOffset"), Some(1));
    assert_eq!(ext_i64(&resp, "maxOffset"), Some(1));
    assert_eq!(ext_i64(&resp, "minOffset"), Some(0));
    assert_eq!(msgs.len(), 1);
    let m = &msgs[0];
    assert_eq!(m.body, b"hello rocketmq");
    assert_eq!(m.topic, topic);
    assert_eq!((m.queue_id, m.queue_offset, m.flag), (1, 0, 7));
    assert_eq!(m.commit_log_offset, clog_off, "msgId offset vs stored commitLogOffset");
    assert_eq!(m.store_host, b.broker);
    assert_eq!(m.born_host, c.local_addr(), "bornHost must be the client's socket address");
    assert_eq!(m.prop("TAGS"), Some("TagA"));
    assert_eq!(m.prop("KEYS"), Some("k1 k2"));
    assert_eq!(m.prop("color"), Some("red"));
    assert_eq!(m.prop("UNIQ_KEY"), Some(msg.unique_id.as_str()));
    assert!(m.prop("CLUSTER").is_some(), "CLUSTER property missing: {:?}", m.properties);
    assert_eq!(m.prop("WAIT"), None, "WAIT is removed before storing (vector 0009 vs 0028)");
    assert!(m.store_timestamp >= m.born_timestamp - 60_000);
}

#[tokio::test]
async fn send_v1_long_names_then_pull() {
    let b = DevBroker::start();
    let c = b.client().await;
    let topic = unique("v1");
    let msg = Msg::new(&topic, "long names").tags("TagL").keys("key-l");
    let resp = c.request(req::send_v1("pg_v1", &msg, 2), T).await.unwrap();
    let s = sent(&resp);
    assert_eq!((s.queue_id, s.queue_offset), (2, 0));
    let (resp, msgs) = pull(&c, &Pull::new("cg_v1", &topic, 2, 0)).await;
    assert_code(&resp, codes::SUCCESS);
    assert_eq!(msgs.len(), 1);
    assert_eq!(msgs[0].body, b"long names");
    assert_eq!(msgs[0].prop("TAGS"), Some("TagL"));
    assert_eq!(msgs[0].prop("UNIQ_KEY"), Some(msg.unique_id.as_str()));
}

#[tokio::test]
async fn batch_send_stores_consecutive_offsets() {
    let b = DevBroker::start();
    let c = b.client().await;
    let topic = unique("batch");
    // One single message first, so the batch does not start at offset 0.
    send_ok(&c, &Msg::new(&topic, "before"), 1).await;
    let msgs: Vec<Msg> = (0..5)
        .map(|i| Msg::new(&topic, format!("batch body {i}")).tags("TagBatch").keys(&format!("bk-{i}")))
        .collect();
    let resp = c.request(req::send_batch("pg_batch", &topic, 1, &msgs), T).await.unwrap();
    let s = sent(&resp);
    assert_eq!((s.queue_id, s.queue_offset), (1, 1));
    let ids: Vec<&str> = s.msg_id.split(',').collect();
    assert_eq!(ids.len(), 5, "one offset msgId per entry: {}", s.msg_id);
    let offs: Vec<i64> = ids.iter().map(|id| decode_offset_msg_id(id).expect("msgId").1).collect();

    let (resp, got) = pull(&c, &Pull::new("cg_batch", &topic, 1, 1)).await;
    assert_code(&resp, codes::SUCCESS);
    assert_eq!(got.len(), 5);
    assert_eq!(ext_i64(&resp, "nextBeginOffset"), Some(6));
    for (i, m) in got.iter().enumerate() {
        assert_eq!(m.queue_offset, 1 + i as i64);
        assert_eq!(m.body, format!("batch body {i}").as_bytes());
        assert_eq!(m.prop("UNIQ_KEY"), Some(msgs[i].unique_id.as_str()));
        assert_eq!(m.prop("KEYS"), Some(format!("bk-{i}").as_str()));
        assert_eq!(m.prop("TAGS"), Some("TagBatch"));
        assert_eq!(m.commit_log_offset, offs[i], "msgId #{i} vs stored commitLogOffset");
    }
}

#[tokio::test]
async fn oneway_send_is_stored() {
    let b = DevBroker::start();
    let c = b.client().await;
    let topic = unique("oneway");
    // Create the topic with a normal send first, then send oneway.
    send_ok(&c, &Msg::new(&topic, "first"), 3).await;
    let msg = Msg::new(&topic, "oneway body").tags("TagB");
    c.oneway(req::send_v2("pg_ow", &msg, 3)).await.unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let (resp, got) = pull(&c, &Pull::new("cg_ow", &topic, 3, 1)).await;
        if resp.code == codes::SUCCESS {
            assert_eq!(got[0].body, b"oneway body");
            assert_eq!(got[0].prop("UNIQ_KEY"), Some(msg.unique_id.as_str()));
            break;
        }
        assert!(Instant::now() < deadline, "oneway message not stored within 10 s");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn pull_statuses_and_next_offsets() {
    let b = DevBroker::start();
    let c = b.client().await;
    let topic = unique("status");
    for i in 0..2 {
        send_ok(&c, &Msg::new(&topic, format!("m{i}")).tags("TagP"), 0).await;
    }
    let g = "cg_status";
    // Empty queue of an existing topic, offset 0: 19 with next 0.
    let (resp, _) = pull(&c, &Pull::new(g, &topic, 1, 0)).await;
    assert_code(&resp, codes::PULL_NOT_FOUND);
    assert_eq!(ext_i64(&resp, "nextBeginOffset"), Some(0));
    // At the end: 19, next = request offset.
    let (resp, _) = pull(&c, &Pull::new(g, &topic, 0, 2)).await;
    assert_code(&resp, codes::PULL_NOT_FOUND);
    assert_eq!(ext_i64(&resp, "nextBeginOffset"), Some(2));
    assert_eq!(ext_i64(&resp, "maxOffset"), Some(2));
    // Past the end: 21, next = max.
    let (resp, _) = pull(&c, &Pull::new(g, &topic, 0, 100)).await;
    assert_code(&resp, codes::PULL_OFFSET_MOVED);
    assert_eq!(ext_i64(&resp, "nextBeginOffset"), Some(2));
    // Filter matches nothing: 20, next moves past the scanned entries.
    let (resp, _) = pull(&c, &Pull::new(g, &topic, 0, 0).subscription("TagZ")).await;
    assert_code(&resp, codes::PULL_RETRY_IMMEDIATELY);
    assert_eq!(ext_i64(&resp, "nextBeginOffset"), Some(2));
    // Matching filter: found.
    let (resp, got) = pull(&c, &Pull::new(g, &topic, 0, 0).subscription("TagZ || TagP")).await;
    assert_code(&resp, codes::SUCCESS);
    assert_eq!(got.len(), 2);
    // maxMsgNums is honoured.
    let (resp, got) = pull(&c, &Pull::new(g, &topic, 0, 0).max(1)).await;
    assert_code(&resp, codes::SUCCESS);
    assert_eq!(got.len(), 1);
    assert_eq!(ext_i64(&resp, "nextBeginOffset"), Some(1));
}

#[tokio::test]
async fn long_poll_is_answered_when_a_message_arrives() {
    let b = DevBroker::start();
    let consumer = std::sync::Arc::new(b.client().await);
    let producer = b.client().await;
    let topic = unique("lp");
    send_ok(&producer, &Msg::new(&topic, "m0"), 2).await;
    let p = Pull::new("cg_lp", &topic, 2, 1).suspend(20_000);
    let started = Instant::now();
    let held = {
        let consumer = consumer.clone();
        tokio::spawn(async move { consumer.request(p.build(), Duration::from_secs(40)).await })
    };
    // Give the pull time to be parked, then send.
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(!held.is_finished(), "a pull at the end with the suspend flag must be held, not answered at once");
    send_ok(&producer, &Msg::new(&topic, "wake up").tags("TagW"), 2).await;
    let resp = common::bounded(Duration::from_secs(25), "held pull", held).await.unwrap().unwrap();
    assert_code(&resp, codes::SUCCESS);
    let got = common::stored::decode_all(&resp.body).unwrap();
    assert_eq!(got[0].body, b"wake up");
    assert!(
        started.elapsed() < Duration::from_secs(15),
        "held pull answered only after {:?}: woken by timeout, not by the arrival",
        started.elapsed()
    );
}

#[tokio::test]
async fn long_poll_times_out_with_pull_not_found() {
    let b = DevBroker::start();
    let c = b.client().await;
    let topic = unique("lpto");
    send_ok(&c, &Msg::new(&topic, "m0"), 0).await;
    let started = Instant::now();
    let resp = c.request(Pull::new("cg_lpto", &topic, 0, 1).suspend(3000).build(), Duration::from_secs(30)).await.unwrap();
    let waited = started.elapsed();
    assert_code(&resp, codes::PULL_NOT_FOUND);
    assert_eq!(ext_i64(&resp, "nextBeginOffset"), Some(1));
    assert!(waited >= Duration::from_millis(1000), "suspended pull answered after only {waited:?}");
}

#[tokio::test]
async fn long_poll_on_empty_queue_wakes_on_first_message() {
    let b = DevBroker::start();
    let consumer = std::sync::Arc::new(b.client().await);
    let producer = b.client().await;
    let topic = unique("lp0");
    send_ok(&producer, &Msg::new(&topic, "other queue"), 0).await;
    let p = Pull::new("cg_lp0", &topic, 3, 0).suspend(20_000);
    let held = {
        let consumer = consumer.clone();
        tokio::spawn(async move { consumer.request(p.build(), Duration::from_secs(40)).await })
    };
    tokio::time::sleep(Duration::from_millis(500)).await;
    send_ok(&producer, &Msg::new(&topic, "first in q3"), 3).await;
    let resp = common::bounded(Duration::from_secs(25), "held pull", held).await.unwrap().unwrap();
    assert_code(&resp, codes::SUCCESS);
    assert_eq!(common::stored::decode_all(&resp.body).unwrap()[0].body, b"first in q3");
}

#[tokio::test]
async fn stored_messages_carry_region_and_trace_switch() {
    // As the 5.x broker: every stored message (single and batch) carries MSG_REGION and TRACE_ON
    // (the 5.x client drops consume-trace records of messages without MSG_REGION).
    let b = DevBroker::start();
    let c = b.client().await;
    let topic = unique("stamp");
    send_ok(&c, &Msg::new(&topic, "one"), 0).await;
    let r = c.request(req::send_batch("pg", &topic, 0, &[Msg::new(&topic, "b0"), Msg::new(&topic, "b1")]), T).await.unwrap();
    assert_code(&r, codes::SUCCESS);
    let (resp, msgs) = pull(&c, &req::Pull::new("cg_stamp", &topic, 0, 0)).await;
    assert_code(&resp, codes::SUCCESS);
    assert_eq!(msgs.len(), 3);
    for m in &msgs {
        assert_eq!(m.prop("MSG_REGION"), Some("DefaultRegion"));
        assert_eq!(m.prop("TRACE_ON"), Some("true"));
    }
}
