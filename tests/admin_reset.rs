//! Message backtracking (INVOKE_BROKER_TO_RESET_OFFSET 222): offline groups get their offsets
//! stored, online members also get RESET_CONSUMER_CLIENT_OFFSET (220); either way a consumer
//! resuming from the stored offsets gets exactly the messages stored at or after the timestamp.
mod admin_support;
mod common;

use admin_support::{cmd, create_topic};
use common::{assert_code, pull, send_ok, unique, DevBroker, T};
use ferrocket::client::req::{self, ConsumerSpec, Msg, Pull};
use ferrocket::client::{codes, RawClient};
use ferrocket::codec::body::ResetOffsetBody;
use std::time::Duration;

const QUEUES: i32 = 2;

/// Two "early" messages per queue, then (after the returned timestamp) three "late" ones; the
/// group has consumed everything.
async fn setup(b: &DevBroker, c: &RawClient, topic: &str, group: &str) -> i64 {
    create_topic(b, c, topic, QUEUES).await;
    for q in 0..QUEUES {
        for i in 0..2 {
            send_ok(c, &Msg::new(topic, format!("early-{q}-{i}")), q).await;
        }
    }
    // SEARCH_OFFSET_BY_TIMESTAMP answers the *nearest* message (Java's rule): keep the later
    // messages much closer to `ts` than the earlier ones.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let ts = req::now_ms();
    tokio::time::sleep(Duration::from_millis(5)).await;
    for q in 0..QUEUES {
        for i in 0..3 {
            send_ok(c, &Msg::new(topic, format!("late-{q}-{i}")), q).await;
        }
        assert_code(&c.request(req::update_offset(group, topic, q, 5), T).await.unwrap(), codes::SUCCESS);
    }
    ts
}

fn reset_req(topic: &str, group: &str, ts: i64, force: bool) -> ferrocket::codec::RemotingCommand {
    cmd(222).with_ext("topic", topic).with_ext("group", group).with_ext("timestamp", ts).with_ext("isForce", force)
}

/// Bodies a consumer resuming from the stored offsets gets, per queue.
async fn redelivered(c: &RawClient, topic: &str, group: &str) -> Vec<Vec<String>> {
    let mut out = Vec::new();
    for q in 0..QUEUES {
        let r = c.request(req::query_offset(group, topic, q), T).await.unwrap();
        let off = req::ext_i64(&r, "offset").expect("stored offset");
        let (_, msgs) = pull(c, &Pull::new(group, topic, q, off)).await;
        out.push(msgs.iter().map(|m| String::from_utf8_lossy(&m.body).into_owned()).collect());
    }
    out
}

fn late(q: i32) -> Vec<String> {
    (0..3).map(|i| format!("late-{q}-{i}")).collect()
}

fn offsets(body: &ResetOffsetBody) -> Vec<(i32, i64)> {
    let mut v: Vec<(i32, i64)> = body.offset_table.iter().map(|(mq, o)| (mq.queue_id, *o)).collect();
    v.sort();
    v
}

#[tokio::test]
async fn offline_reset_stores_offsets_and_redelivers_exactly_the_later_messages() {
    let b = DevBroker::start();
    let c = b.client().await;
    let (topic, group) = (unique("rs_off"), unique("g"));
    let ts = setup(&b, &c, &topic, &group).await;
    let r = c.request(reset_req(&topic, &group, ts, true), T).await.unwrap();
    assert_code(&r, codes::SUCCESS);
    assert!(String::from_utf8_lossy(&r.body).starts_with("{\"offsetTable\":{{\"brokerName\":"));
    assert_eq!(offsets(&ResetOffsetBody::from_json(&r.body).unwrap()), vec![(0, 2), (1, 2)]);
    assert_eq!(redelivered(&c, &topic, &group).await, vec![late(0), late(1)]);
}

#[tokio::test]
async fn online_reset_pushes_220_to_members_and_stores_offsets() {
    let b = DevBroker::start();
    let c = b.client().await;
    let (topic, group) = (unique("rs_on"), unique("g"));
    let ts = setup(&b, &c, &topic, &group).await;
    let mut member = b.client().await;
    let mut incoming = member.incoming();
    let hb = req::heartbeat("10.1.1.1@reset", &[], &[ConsumerSpec::push(&group, &topic, "*")]);
    assert_code(&member.request(hb, T).await.unwrap(), codes::SUCCESS);
    let r = c.request(reset_req(&topic, &group, ts, true), T).await.unwrap();
    assert_code(&r, codes::SUCCESS);
    let push = common::bounded(T, "RESET_CONSUMER_CLIENT_OFFSET", async {
        loop {
            let m = incoming.recv().await.expect("member connection open");
            if m.code == 220 {
                return m;
            }
        }
    })
    .await;
    assert!(push.is_oneway());
    assert_eq!(push.ext("topic"), Some(topic.as_str()));
    assert_eq!(push.ext("group"), Some(group.as_str()));
    assert_eq!(push.ext("timestamp"), Some(ts.to_string().as_str()));
    let body = ResetOffsetBody::from_json(&push.body).expect("object-keyed ResetOffsetBody");
    assert_eq!(offsets(&body), vec![(0, 2), (1, 2)]);
    let route = admin_support::wait_route(&b, &topic).await;
    assert!(body.offset_table.iter().all(|(mq, _)| mq.broker_name == route.broker_datas[0].broker_name && mq.topic == topic));
    assert_eq!(redelivered(&c, &topic, &group).await, vec![late(0), late(1)]);
    drop(member);
}

#[tokio::test]
async fn reset_without_force_only_moves_back_and_now_means_max() {
    let b = DevBroker::start();
    let c = b.client().await;
    let (topic, group) = (unique("rs_nf"), unique("g"));
    let ts = setup(&b, &c, &topic, &group).await;
    c.request(req::update_offset(&group, &topic, 0, 1), T).await.unwrap();
    let r = c.request(reset_req(&topic, &group, ts, false), T).await.unwrap();
    assert_code(&r, codes::SUCCESS);
    // queue 0 stays at 1 (the target 2 is ahead), queue 1 goes back from 5 to 2
    assert_eq!(offsets(&ResetOffsetBody::from_json(&r.body).unwrap()), vec![(0, 1), (1, 2)]);
    let r = c.request(reset_req(&topic, &group, -1, true), T).await.unwrap();
    assert_eq!(offsets(&ResetOffsetBody::from_json(&r.body).unwrap()), vec![(0, 5), (1, 5)]);
    let r = c.request(reset_req(&unique("nosuch"), &group, ts, true), T).await.unwrap();
    assert_code(&r, codes::SYSTEM_ERROR);
}

#[tokio::test]
async fn cpp_admin_gets_list_form_pushed() {
    let b = DevBroker::start();
    let c = b.client().await;
    let (topic, group) = (unique("rs_cpp"), unique("g"));
    let ts = setup(&b, &c, &topic, &group).await;
    let mut member = b.client().await;
    let mut incoming = member.incoming();
    let hb = req::heartbeat("10.1.1.2@cpp", &[], &[ConsumerSpec::push(&group, &topic, "*")]);
    member.request(hb, T).await.unwrap();
    let mut q = reset_req(&topic, &group, ts, true);
    q.language = "CPP".into();
    assert_code(&c.request(q, T).await.unwrap(), codes::SUCCESS);
    let push = common::bounded(T, "220", async {
        loop {
            let m = incoming.recv().await.unwrap();
            if m.code == 220 {
                return m;
            }
        }
    })
    .await;
    let v: serde_json::Value = serde_json::from_slice(&push.body).expect("C++ form is plain JSON");
    assert_eq!(v["offsetTable"].as_array().unwrap().len(), 2);
    assert_eq!(offsets(&ResetOffsetBody::from_json(&push.body).unwrap()), vec![(0, 2), (1, 2)]);
    drop(member);
}

/// mqadmin 4.9.7's fallback when 222 answers CONSUMER_NOT_ONLINE (`resetOffsetByTimestampOld`):
/// GET_CONSUME_STATS for the group, then per queue of the topic SEARCH_OFFSET_BY_TIMESTAMP and a
/// sync UPDATE_CONSUMER_OFFSET when forced or lower. The same sequence here must redeliver
/// exactly the later messages.
#[tokio::test]
async fn old_style_reset_sequence_works() {
    let b = DevBroker::start();
    let c = b.client().await;
    let (topic, group) = (unique("rs_old"), unique("g"));
    let ts = setup(&b, &c, &topic, &group).await;
    let r = c.request(cmd(208).with_ext("consumerGroup", &group), T).await.unwrap();
    assert_code(&r, codes::SUCCESS);
    let stats = ferrocket::codec::body::ConsumeStats::from_json(&r.body).unwrap();
    let mine: Vec<_> = stats.offset_table.iter().filter(|(mq, _)| mq.topic == topic).collect();
    assert_eq!(mine.len(), QUEUES as usize);
    for (mq, o) in mine {
        assert_eq!(o.consumer_offset, 5);
        let r = c.request(req::search_offset(&topic, mq.queue_id, ts), T).await.unwrap();
        assert_code(&r, codes::SUCCESS);
        let target = req::ext_i64(&r, "offset").unwrap();
        assert_eq!(target, 2);
        let r = c.request(req::update_offset(&group, &topic, mq.queue_id, target), T).await.unwrap();
        assert_code(&r, codes::SUCCESS);
    }
    assert_eq!(redelivered(&c, &topic, &group).await, vec![late(0), late(1)]);
    // "now" in the old path is GET_MAX_OFFSET.
    let r = c.request(req::max_offset(&topic, 0), T).await.unwrap();
    assert_eq!(req::ext_i64(&r, "offset"), Some(5));
}

/// The store's time search answers the nearest message (Java's rule), here the one stored just
/// *before* the timestamp; the reset still starts at the first message stored at or after it.
#[tokio::test]
async fn reset_never_redelivers_a_message_stored_before_the_timestamp() {
    let b = DevBroker::start();
    let c = b.client().await;
    let (topic, group) = (unique("rs_near"), unique("g"));
    create_topic(&b, &c, &topic, 1).await;
    send_ok(&c, &Msg::new(&topic, "before"), 0).await;
    tokio::time::sleep(Duration::from_millis(5)).await;
    let ts = req::now_ms();
    tokio::time::sleep(Duration::from_millis(300)).await;
    send_ok(&c, &Msg::new(&topic, "after"), 0).await;
    c.request(req::update_offset(&group, &topic, 0, 2), T).await.unwrap();
    let r = c.request(reset_req(&topic, &group, ts, true), T).await.unwrap();
    assert_code(&r, codes::SUCCESS);
    assert_eq!(offsets(&ResetOffsetBody::from_json(&r.body).unwrap()), vec![(0, 1)]);
    let (_, msgs) = pull(&c, &Pull::new(&group, &topic, 0, 1)).await;
    assert_eq!(msgs.iter().map(|m| m.body.clone()).collect::<Vec<_>>(), vec![b"after".to_vec()]);
}
