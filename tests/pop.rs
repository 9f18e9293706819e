//! POP consumption through the wire (5.x remoting codes), read the way the 5.x Java client reads
//! it (`ferrocket::client::pop`: receipts from startOffsetInfo/msgOffsetInfo or POP_CK).
mod admin_support;
mod common;

use common::*;
use ferrocket::client::pop::{self as pop, Pop, Popped};
use ferrocket::client::req::{self, Msg};
use ferrocket::client::{codes, RawClient};
use ferrocket::codec::RemotingCommand;
use std::collections::{BTreeSet, HashSet};
use std::time::{Duration, Instant};

const BROKER: &str = "broker-a";

async fn pop_msgs(c: &RawClient, p: &Pop) -> (RemotingCommand, Vec<Popped>) {
    let wait = T + Duration::from_millis(p.poll_ms.max(0) as u64);
    let r = c.request(p.build(), wait).await.expect("pop answered");
    assert!(
        [codes::SUCCESS, codes::POLLING_TIMEOUT, codes::PULL_NOT_FOUND].contains(&r.code),
        "pop answered {} {:?}",
        r.code,
        r.remark
    );
    let got = pop::read_pop(&r, &p.group, &p.topic, BROKER).expect("the Java client could read this pop answer");
    (r, got)
}

async fn ack_ok(c: &RawClient, group: &str, p: &Popped) {
    let r = c.request(pop::ack(group, p), T).await.unwrap();
    assert_code(&r, codes::SUCCESS);
}

/// A topic with `queues` queues and `n` messages ("m0".."m{n-1}") spread over them.
async fn topic_with(b: &DevBroker, c: &RawClient, prefix: &str, queues: i32, n: usize) -> String {
    let topic = unique(prefix);
    admin_support::create_topic(b, c, &topic, queues).await;
    for i in 0..n {
        send_ok(c, &Msg::new(&topic, format!("m{i}")), i as i32 % queues).await;
    }
    topic
}

async fn create_group(c: &RawClient, group: &str, retry_max: i32) {
    let body = serde_json::json!({"groupName": group, "consumeEnable": true, "consumeFromMinEnable": true,
        "consumeBroadcastEnable": true, "retryQueueNums": 1, "retryMaxTimes": retry_max, "brokerId": 0,
        "whichBrokerWhenConsumeSlowly": 1, "notifyConsumerIdsChangedEnable": true});
    let r = c.request(RemotingCommand::request(200, 0).with_body(body.to_string()), T).await.unwrap();
    assert_code(&r, codes::SUCCESS);
}

fn bodies(ps: &[Popped]) -> BTreeSet<String> {
    ps.iter().map(|p| p.body()).collect()
}

/// Pop until `want` messages came or `limit` passed.
async fn pop_until(c: &RawClient, p: &Pop, want: usize, limit: Duration) -> Vec<Popped> {
    let end = Instant::now() + limit;
    let mut all = Vec::new();
    while all.len() < want && Instant::now() < end {
        let (_, got) = pop_msgs(c, p).await;
        if got.is_empty() {
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        all.extend(got);
    }
    all
}

#[tokio::test]
async fn pop_ack_then_never_again() {
    let b = DevBroker::start();
    let c = b.client().await;
    let topic = topic_with(&b, &c, "pop_ack", 4, 12).await;
    let g = unique("gpop");
    let p = Pop::new(&g, &topic).invisible(1500);
    let got = pop_until(&c, &p, 12, T).await;
    assert_eq!(got.len(), 12, "every message popped once");
    assert_eq!(bodies(&got).len(), 12, "no message twice");
    for m in &got {
        assert_eq!(m.msg.topic, topic);
        assert_eq!(m.reconsume_times, 0);
        ack_ok(&c, &g, m).await;
    }
    // Past the invisible time: nothing comes back.
    tokio::time::sleep(Duration::from_millis(2500)).await;
    let (r, again) = pop_msgs(&c, &p).await;
    assert!(again.is_empty(), "acked messages came back: {:?}", bodies(&again));
    assert_eq!(r.code, codes::POLLING_TIMEOUT);
    assert!(r.ext("popTime").is_some() && r.ext("restNum").is_some(), "an empty answer still carries the mandatory header");
}

#[tokio::test]
async fn unacked_comes_back_with_attempt_two_and_change_invisible_extends() {
    let b = DevBroker::start();
    let c = b.client().await;
    let topic = topic_with(&b, &c, "pop_revive", 1, 2).await;
    let g = unique("gpop");
    let p = Pop::new(&g, &topic).invisible(1000);
    let first = pop_until(&c, &p, 2, T).await;
    assert_eq!(first.len(), 2);
    let (keep, extend) = (&first[0], &first[1]);
    // Extend one to 6 s: the new receipt works, the old one is stale.
    let r = c.request(pop::change_invisible(&g, extend, 6000), T).await.unwrap();
    assert_code(&r, codes::SUCCESS);
    let new_receipt = pop::changed_receipt(extend, &r).expect("change answer carries popTime/invisibleTime/reviveQid");
    // The other one is not acked: back after ~1 s with reconsumeTimes 1 (attempt 2).
    let back = pop_until(&c, &p, 1, Duration::from_secs(8)).await;
    assert_eq!(back.len(), 1, "exactly the un-acked, un-extended message came back");
    assert_eq!(back[0].body(), keep.body());
    assert_eq!(back[0].reconsume_times, 1, "attempt 2");
    assert_eq!(back[0].msg.topic, topic, "a revived message carries its original topic");
    assert!(back[0].ack_topic.starts_with("%RETRY%"), "acks of a revived message name the retry topic");
    assert!(back[0].prop("POP_CK").is_some());
    ack_ok(&c, &g, &back[0]).await;
    // The old receipt of the extended one is stale: acking it changes nothing...
    ack_ok(&c, &g, extend).await;
    // ... so it comes back after its new invisible time (~6 s from the change).
    let later = pop_until(&c, &p, 1, Duration::from_secs(10)).await;
    assert_eq!(later.len(), 1);
    assert_eq!(later[0].body(), extend.body());
    assert_eq!(later[0].reconsume_times, 1);
    // Ack with the new receipt of the first delivery is stale now too; ack the redelivery.
    let mut with_new = extend.clone();
    with_new.receipt = new_receipt;
    ack_ok(&c, &g, &with_new).await;
    ack_ok(&c, &g, &later[0]).await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let (_, none) = pop_msgs(&c, &p).await;
    assert!(none.is_empty(), "acked redeliveries came back: {:?}", bodies(&none));
}

#[tokio::test]
async fn too_many_deliveries_go_to_the_dlq() {
    let b = DevBroker::start();
    let c = b.client().await;
    let topic = topic_with(&b, &c, "pop_dlq", 1, 1).await;
    let g = unique("gpop");
    create_group(&c, &g, 1).await;
    let p = Pop::new(&g, &topic).invisible(500);
    // retryMaxTimes 1: delivered twice (reconsumeTimes 0 and 1), then to %DLQ%<group>.
    let d1 = pop_until(&c, &p, 1, T).await;
    assert_eq!(d1[0].reconsume_times, 0);
    let d2 = pop_until(&c, &p, 1, T).await;
    assert_eq!(d2[0].reconsume_times, 1);
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let (_, d3) = pop_msgs(&c, &p).await;
    assert!(d3.is_empty(), "delivered a third time");
    let dlq = format!("%DLQ%{g}");
    let end = Instant::now() + T;
    loop {
        let (r, msgs) = pull(&c, &req::Pull::new("dlq_reader", &dlq, 0, 0)).await;
        if r.code == codes::SUCCESS {
            assert_eq!(msgs.len(), 1);
            assert_eq!(String::from_utf8_lossy(&msgs[0].body), "m0");
            break;
        }
        assert!(Instant::now() < end, "nothing in {dlq}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test]
async fn fifo_pop_keeps_order_with_a_redelivered_message() {
    let b = DevBroker::start();
    let c = b.client().await;
    let topic = topic_with(&b, &c, "pop_fifo", 1, 4).await;
    let g = unique("gfifo");
    let p = Pop::new(&g, &topic).queue(0).order().max(2).invisible(1000);
    let (r, first) = pop_msgs(&c, &p).await;
    assert_code(&r, codes::SUCCESS);
    assert_eq!(first.iter().map(|m| m.body()).collect::<Vec<_>>(), ["m0", "m1"]);
    assert!(first[0].receipt.split(' ').nth(3) == Some("999"), "FIFO receipts use revive queue 999");
    // Blocked while m0/m1 are in flight.
    let (_, blocked) = pop_msgs(&c, &p).await;
    assert!(blocked.is_empty(), "FIFO handed out more while earlier messages were in flight");
    // Ack m1 only; m0 comes back in place after the invisible time, with its attempt count.
    ack_ok(&c, &g, &first[1]).await;
    let again = pop_until(&c, &p, 1, Duration::from_secs(8)).await;
    assert_eq!(again[0].body(), "m0", "the un-acked FIFO message comes back first");
    assert_eq!(again[0].reconsume_times, 1);
    assert_eq!(again.len(), 1, "m1 was acked: not delivered again");
    ack_ok(&c, &g, &again[0]).await;
    let rest = pop_until(&c, &p, 2, T).await;
    assert_eq!(rest.iter().map(|m| m.body()).collect::<Vec<_>>(), ["m2", "m3"]);
}

#[tokio::test]
async fn long_polled_pop_is_answered_by_a_send() {
    let b = DevBroker::start();
    let c = b.client().await;
    let topic = topic_with(&b, &c, "pop_poll", 2, 0).await;
    let g = unique("gpoll");
    let p = Pop::new(&g, &topic).poll(20_000);
    let c2 = b.client().await;
    let started = Instant::now();
    let waiter = tokio::spawn(async move { pop_msgs(&c2, &p).await });
    tokio::time::sleep(Duration::from_millis(500)).await;
    let r = c.request(pop_polling_info(&g, &topic), T).await.unwrap();
    assert_code(&r, codes::SUCCESS);
    assert_eq!(r.ext("pollingNum"), Some("1"), "the pop is parked");
    send_ok(&c, &Msg::new(&topic, "wake"), 1).await;
    let (r, got) = waiter.await.unwrap();
    assert_code(&r, codes::SUCCESS);
    assert_eq!(bodies(&got), BTreeSet::from(["wake".to_string()]));
    assert!(started.elapsed() < Duration::from_secs(15), "answered by the send, not by the poll time");
}

fn pop_polling_info(group: &str, topic: &str) -> RemotingCommand {
    RemotingCommand::request(codes::POLLING_INFO, 0)
        .with_ext("consumerGroup", group)
        .with_ext("topic", topic)
        .with_ext("queueId", -1)
}

#[tokio::test]
async fn two_consumers_never_share_an_invisible_message() {
    let b = DevBroker::start();
    let c = b.client().await;
    let topic = topic_with(&b, &c, "pop_share", 4, 200).await;
    let g = unique("gshare");
    let (c1, c2) = (b.client().await, b.client().await);
    let run = |c: RawClient, g: String, t: String| async move {
        let p = Pop::new(&g, &t).max(8).invisible(60_000);
        let mut seen = Vec::new();
        for _ in 0..60 {
            let (_, got) = pop_msgs(&c, &p).await;
            seen.extend(got.iter().map(|m| m.body()));
        }
        seen
    };
    let (a, bb) = tokio::join!(run(c1, g.clone(), topic.clone()), run(c2, g.clone(), topic.clone()));
    let sa: HashSet<_> = a.iter().cloned().collect();
    let sb: HashSet<_> = bb.iter().cloned().collect();
    assert_eq!(sa.len(), a.len(), "one consumer got a message twice");
    assert!(sa.is_disjoint(&sb), "both consumers got {:?}", sa.intersection(&sb).collect::<Vec<_>>());
    assert_eq!(sa.len() + sb.len(), 200, "every message handed out once");
}

#[tokio::test]
async fn batch_ack_and_notification() {
    let b = DevBroker::start();
    let c = b.client().await;
    let topic = topic_with(&b, &c, "pop_batch", 2, 10).await;
    let g = unique("gbatch");
    let notify = |q: i32| {
        RemotingCommand::request(codes::NOTIFICATION, 0)
            .with_ext("consumerGroup", &g)
            .with_ext("topic", &topic)
            .with_ext("queueId", q)
            .with_ext("pollTime", 0)
            .with_ext("bornTime", req::now_ms())
    };
    let r = c.request(notify(-1), T).await.unwrap();
    assert_code(&r, codes::SUCCESS);
    assert_eq!(r.ext("hasMsg"), Some("true"));
    let p = Pop::new(&g, &topic).invisible(1000);
    let got = pop_until(&c, &p, 10, T).await;
    assert_eq!(got.len(), 10);
    let refs: Vec<&Popped> = got.iter().collect();
    let r = c.request(pop::batch_ack(&g, &topic, &refs), T).await.unwrap();
    assert_code(&r, codes::SUCCESS);
    tokio::time::sleep(Duration::from_millis(2000)).await;
    let (_, again) = pop_msgs(&c, &p).await;
    assert!(again.is_empty(), "batch-acked messages came back: {:?}", bodies(&again));
    let r = c.request(notify(-1), T).await.unwrap();
    assert_eq!(r.ext("hasMsg"), Some("false"));
}

#[tokio::test]
async fn kill_9_keeps_pop_state() {
    let mut b = DevBroker::start();
    let topic;
    let g = unique("gcrash");
    {
        let c = b.client().await;
        topic = topic_with(&b, &c, "pop_crash", 2, 6).await;
        let p = Pop::new(&g, &topic).invisible(2000);
        let got = pop_until(&c, &p, 6, T).await;
        assert_eq!(got.len(), 6);
        // Ack three; three stay in flight.
        for m in got.iter().filter(|m| ["m0", "m2", "m4"].contains(&m.body().as_str())) {
            ack_ok(&c, &g, m).await;
        }
    }
    b.kill_and_restart();
    let c = b.client().await;
    let p = Pop::new(&g, &topic).invisible(60_000);
    // Still invisible right after the restart.
    let (_, early) = pop_msgs(&c, &p).await;
    assert!(early.is_empty(), "in-flight messages visible again too early: {:?}", bodies(&early));
    let back = pop_until(&c, &p, 3, T).await;
    assert_eq!(bodies(&back), BTreeSet::from(["m1".into(), "m3".into(), "m5".into()]), "exactly the un-acked ones come back");
    for m in &back {
        assert_eq!(m.reconsume_times, 1);
        ack_ok(&c, &g, m).await;
    }
    // New messages continue after the popped ones (the cursor survived too).
    send_ok(&c, &Msg::new(&topic, "fresh"), 0).await;
    let fresh = pop_until(&c, &p, 1, T).await;
    assert_eq!(bodies(&fresh), BTreeSet::from(["fresh".to_string()]));
}

#[tokio::test]
async fn pop_mode_assignment_and_request_modes() {
    let b = DevBroker::start();
    let c = b.client().await;
    let topic = topic_with(&b, &c, "pop_mode", 4, 0).await;
    let g = unique("gmode");
    let cid = "127.0.0.1@pop-test";
    let hb = req::heartbeat(cid, &[], &[req::ConsumerSpec::push(&g, &topic, "*")]);
    assert_code(&c.request(hb, T).await.unwrap(), codes::SUCCESS);
    // Default PULL: this client (alone) gets every queue.
    let r = c.request(pop::query_assignment(&topic, &g, cid), T).await.unwrap();
    assert_code(&r, codes::SUCCESS);
    let v: serde_json::Value = serde_json::from_slice(&r.body).unwrap();
    let a = v["messageQueueAssignments"].as_array().unwrap();
    assert_eq!(a.len(), 4);
    assert!(a.iter().all(|x| x["mode"] == "PULL"));
    // Switched to POP: one assignment, queue -1.
    assert_code(&c.request(pop::set_request_mode(&topic, &g, "POP"), T).await.unwrap(), codes::SUCCESS);
    let r = c.request(pop::query_assignment(&topic, &g, cid), T).await.unwrap();
    let v: serde_json::Value = serde_json::from_slice(&r.body).unwrap();
    let a = v["messageQueueAssignments"].as_array().unwrap();
    assert_eq!(a.len(), 1);
    assert_eq!(a[0]["mode"], "POP");
    assert_eq!(a[0]["messageQueue"]["queueId"], -1);
    let r = c.request(RemotingCommand::request(codes::GET_ALL_MESSAGE_REQUEST_MODE, 0), T).await.unwrap();
    let v: serde_json::Value = serde_json::from_slice(&r.body).unwrap();
    assert_eq!(v["messageRequestModeMap"][&topic][&g]["mode"], "POP");
    // A consumer in POP mode consumes everything exactly once when it acks.
    for i in 0..40 {
        send_ok(&c, &Msg::new(&topic, format!("m{i}")), i % 4).await;
    }
    let p = Pop::new(&g, &topic).max(16).invisible(30_000);
    let got = pop_until(&c, &p, 40, T).await;
    assert_eq!(got.len(), 40);
    assert_eq!(bodies(&got).len(), 40);
    for m in &got {
        ack_ok(&c, &g, m).await;
    }
}

#[tokio::test]
async fn bad_pop_requests_get_clear_errors() {
    let b = DevBroker::start();
    let c = b.client().await;
    let topic = topic_with(&b, &c, "pop_bad", 1, 1).await;
    let g = unique("gbad");
    let r = c.request(Pop::new(&g, &topic).max(33).build(), T).await.unwrap();
    assert_code(&r, codes::INVALID_PARAMETER);
    let r = c.request(Pop::new(&g, "no_such_topic_xyz").build(), T).await.unwrap();
    assert_code(&r, codes::TOPIC_NOT_EXIST);
    let bad_ack = RemotingCommand::request(codes::ACK_MESSAGE, 0)
        .with_ext("consumerGroup", &g)
        .with_ext("topic", &topic)
        .with_ext("queueId", 0)
        .with_ext("extraInfo", "not a receipt")
        .with_ext("offset", 0);
    let r = c.request(bad_ack, T).await.unwrap();
    assert_code(&r, codes::INVALID_PARAMETER);
    let r = c.request(RemotingCommand::request(codes::BATCH_ACK_MESSAGE, 0).with_body("{not json"), T).await.unwrap();
    assert_ne!(r.code, codes::SUCCESS);
    // The connection is still usable.
    let (r, got) = pop_msgs(&c, &Pop::new(&g, &topic)).await;
    assert_code(&r, codes::SUCCESS);
    assert_eq!(got.len(), 1);
}

#[tokio::test]
async fn pop_filters_by_tag_and_sql92() {
    let b = DevBroker::start_with(Launch { config: Some("enablePropertyFilter=true\n".into()), ..Default::default() });
    let c = b.client().await;
    let topic = unique("pop_filter");
    admin_support::create_topic(&b, &c, &topic, 1).await;
    for (i, (tag, color)) in [("A", "red"), ("B", "blue"), ("A", "blue"), ("C", "red")].iter().enumerate() {
        send_ok(&c, &Msg::new(&topic, format!("m{i}")).tags(tag).prop("color", color), 0).await;
    }
    let tag = Pop::new(&unique("gtag"), &topic).tags("A || C");
    assert_eq!(bodies(&pop_until(&c, &tag, 3, T).await), BTreeSet::from(["m0".into(), "m2".into(), "m3".into()]));
    let mut sql = Pop::new(&unique("gsql"), &topic);
    sql.exp = Some(("SQL92".into(), "color = 'blue'".into()));
    assert_eq!(bodies(&pop_until(&c, &sql, 2, T).await), BTreeSet::from(["m1".into(), "m2".into()]));
    // The filtered-out messages are skipped for good: nothing more for either group.
    let (_, none) = pop_msgs(&c, &sql).await;
    assert!(none.is_empty());
    let mut bad = Pop::new(&unique("gbadsql"), &topic);
    bad.exp = Some(("SQL92".into(), "color = ".into()));
    let r = c.request(bad.build(), T).await.unwrap();
    assert_code(&r, 23);
}

#[tokio::test]
async fn notification_long_polls_and_polling_full() {
    let b = DevBroker::start_with(Launch { config: Some("maxPopPollingSize=1\n".into()), ..Default::default() });
    let c = b.client().await;
    let topic = topic_with(&b, &c, "pop_notify", 1, 0).await;
    let g = unique("gnotify");
    let notify = RemotingCommand::request(codes::NOTIFICATION, 0)
        .with_ext("consumerGroup", &g)
        .with_ext("topic", &topic)
        .with_ext("queueId", -1)
        .with_ext("pollTime", 20_000)
        .with_ext("bornTime", req::now_ms());
    let c2 = b.client().await;
    let waiter = tokio::spawn(async move { c2.request(notify, Duration::from_secs(30)).await.unwrap() });
    tokio::time::sleep(Duration::from_millis(500)).await;
    // The one parking slot is taken: a long-polled pop answers POLLING_FULL.
    let r = c.request(Pop::new(&g, &topic).poll(5_000).build(), T).await.unwrap();
    assert_eq!(r.code, codes::POLLING_FULL, "{:?}", r.remark);
    assert!(r.ext("popTime").is_some(), "POLLING_FULL carries the mandatory header");
    send_ok(&c, &Msg::new(&topic, "x"), 0).await;
    let r = waiter.await.unwrap();
    assert_code(&r, codes::SUCCESS);
    assert_eq!(r.ext("hasMsg"), Some("true"));
}
