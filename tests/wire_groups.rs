//! Consumer lists, NOTIFY_CONSUMER_IDS_CHANGED pushes, and queue locks.
mod common;

use common::{assert_code, unique, DevBroker, T};
use ferrocket::client::codes;
use ferrocket::client::req::{self, ConsumerSpec};
use ferrocket::codec::RemotingCommand;
use serde_json::Value;
use std::time::Duration;
use tokio::sync::mpsc::UnboundedReceiver;

async fn join(c: &ferrocket::client::RawClient, client_id: &str, group: &str, topic: &str) {
    let resp = c.request(req::heartbeat(client_id, &[], &[ConsumerSpec::push(group, topic, "*")]), T).await.unwrap();
    assert_code(&resp, codes::SUCCESS);
}

/// Wait up to `limit` for a NOTIFY_CONSUMER_IDS_CHANGED for `group`; other requests are skipped.
async fn next_notify(rx: &mut UnboundedReceiver<RemotingCommand>, group: &str, limit: Duration) -> Option<RemotingCommand> {
    let deadline = tokio::time::Instant::now() + limit;
    loop {
        let cmd = tokio::time::timeout_at(deadline, rx.recv()).await.ok()??;
        if cmd.code == codes::NOTIFY_CONSUMER_IDS_CHANGED && cmd.ext("consumerGroup") == Some(group) {
            return Some(cmd);
        }
    }
}

/// Drop notifications already queued or arriving within `quiet`.
async fn drain(rx: &mut UnboundedReceiver<RemotingCommand>, quiet: Duration) {
    while tokio::time::timeout(quiet, rx.recv()).await.is_ok_and(|c| c.is_some()) {}
}

async fn consumer_ids(c: &ferrocket::client::RawClient, group: &str) -> Vec<String> {
    let resp = c.request(req::consumer_list(group), T).await.unwrap();
    assert_code(&resp, codes::SUCCESS);
    let v: Value = serde_json::from_slice(&resp.body).expect("consumer list JSON");
    v["consumerIdList"].as_array().expect("consumerIdList").iter().map(|s| s.as_str().unwrap().to_string()).collect()
}

#[tokio::test]
async fn consumer_list_is_sorted_and_exact() {
    let b = DevBroker::start();
    let group = unique("cg_list");
    let topic = unique("list");
    let c1 = b.client().await;
    let c2 = b.client().await;
    let c3 = b.client().await;
    join(&c1, "127.0.0.1@c", &group, &topic).await;
    join(&c2, "127.0.0.1@a", &group, &topic).await;
    join(&c3, "127.0.0.1@b", &group, &topic).await;
    assert_eq!(consumer_ids(&c1, &group).await, vec!["127.0.0.1@a", "127.0.0.1@b", "127.0.0.1@c"]);
    // Unknown group: SYSTEM_ERROR "no consumer".
    let resp = c1.request(req::consumer_list(&unique("nobody")), T).await.unwrap();
    assert_ne!(resp.code, codes::SUCCESS, "unknown group must not answer SUCCESS: {resp:?}");
    // A closed connection leaves the list.
    drop(c3);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let ids = consumer_ids(&c1, &group).await;
        if ids == ["127.0.0.1@a", "127.0.0.1@c"] {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "closed member still listed after 10 s: {ids:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn members_are_notified_on_join_unregister_and_disconnect() {
    let b = DevBroker::start();
    let group = unique("cg_notify");
    let topic = unique("notify");
    let mut first = b.client().await;
    let mut rx = first.incoming();
    join(&first, "127.0.0.1@first", &group, &topic).await;
    // The Java broker also notifies the new member itself; ignore that one.
    drain(&mut rx, Duration::from_millis(1500)).await;

    let second = b.client().await;
    join(&second, "127.0.0.1@second", &group, &topic).await;
    let n = next_notify(&mut rx, &group, Duration::from_secs(10)).await.expect("NOTIFY (40) when a member joins");
    assert!(n.is_oneway(), "NOTIFY_CONSUMER_IDS_CHANGED is oneway: {n:?}");
    assert!(!n.is_response());
    drain(&mut rx, Duration::from_millis(300)).await;

    let resp = second.request(req::unregister_consumer("127.0.0.1@second", &group), T).await.unwrap();
    assert_code(&resp, codes::SUCCESS);
    next_notify(&mut rx, &group, Duration::from_secs(10)).await.expect("NOTIFY (40) when a member unregisters");
    assert_eq!(consumer_ids(&first, &group).await, vec!["127.0.0.1@first"]);
    drain(&mut rx, Duration::from_millis(300)).await;

    let third = b.client().await;
    join(&third, "127.0.0.1@third", &group, &topic).await;
    next_notify(&mut rx, &group, Duration::from_secs(10)).await.expect("NOTIFY (40) when a third member joins");
    drain(&mut rx, Duration::from_millis(300)).await;
    drop(third);
    next_notify(&mut rx, &group, Duration::from_secs(10)).await.expect("NOTIFY (40) when a member's connection closes");
    drop(first);
}

fn locked(resp: &RemotingCommand) -> Vec<i64> {
    assert_code(resp, codes::SUCCESS);
    let v: Value = serde_json::from_slice(&resp.body)
        .unwrap_or_else(|e| panic!("lock body ({e}): {}", String::from_utf8_lossy(&resp.body)));
    let mut q: Vec<i64> = v["lockOKMQSet"]
        .as_array()
        .unwrap_or_else(|| panic!("lockOKMQSet missing: {v}"))
        .iter()
        .map(|mq| mq["queueId"].as_i64().unwrap())
        .collect();
    q.sort();
    q
}

async fn broker_name(b: &DevBroker) -> String {
    let ns = b.namesrv_client().await;
    let resp = ns.request(req::route("TBW102"), T).await.unwrap();
    let v: Value = serde_json::from_slice(&resp.body).unwrap();
    v["brokerDatas"][0]["brokerName"].as_str().unwrap().to_string()
}

#[tokio::test]
async fn queue_locks_are_exclusive_between_clients() {
    let b = DevBroker::start();
    let bn = broker_name(&b).await;
    let group = unique("cg_lock");
    let topic = unique("lock");
    let c1 = b.client().await;
    let c2 = b.client().await;
    let (id1, id2) = ("127.0.0.1@lock1", "127.0.0.1@lock2");
    join(&c1, id1, &group, &topic).await;
    join(&c2, id2, &group, &topic).await;
    let r = c1.request(req::lock_batch(id1, &group, &bn, &topic, &[0, 1]), T).await.unwrap();
    assert_eq!(locked(&r), vec![0, 1]);
    let r = c2.request(req::lock_batch(id2, &group, &bn, &topic, &[1, 2]), T).await.unwrap();
    assert_eq!(locked(&r), vec![2], "queue 1 is held by another client");
    // Renewal by the holder succeeds.
    let r = c1.request(req::lock_batch(id1, &group, &bn, &topic, &[0, 1]), T).await.unwrap();
    assert_eq!(locked(&r), vec![0, 1]);
    // Unlock by a non-holder does nothing.
    let r = c2.request(req::unlock_batch(id2, &group, &bn, &topic, &[0]), T).await.unwrap();
    assert_code(&r, codes::SUCCESS);
    let r = c2.request(req::lock_batch(id2, &group, &bn, &topic, &[0]), T).await.unwrap();
    assert_eq!(locked(&r), Vec::<i64>::new());
    // Unlock by the holder frees the queue.
    let r = c1.request(req::unlock_batch(id1, &group, &bn, &topic, &[1]), T).await.unwrap();
    assert_code(&r, codes::SUCCESS);
    let r = c2.request(req::lock_batch(id2, &group, &bn, &topic, &[1]), T).await.unwrap();
    assert_eq!(locked(&r), vec![1]);
    let r = c1.request(req::lock_batch(id1, &group, &bn, &topic, &[1]), T).await.unwrap();
    assert_eq!(locked(&r), Vec::<i64>::new());
    // Another group is independent.
    let other = unique("cg_lock_other");
    let r = c2.request(req::lock_batch(id2, &other, &bn, &topic, &[0]), T).await.unwrap();
    assert_eq!(locked(&r), vec![0]);
}

#[tokio::test]
async fn consumer_heartbeat_makes_the_retry_topic_routable() {
    // Trap 9: every clustering push consumer looks up %RETRY%<group> right after its heartbeat.
    let b = DevBroker::start();
    let group = unique("cg_retry");
    let c = b.client().await;
    let mut spec = ConsumerSpec::push(&group, &unique("retry"), "*");
    spec.subscriptions.push((format!("%RETRY%{group}"), "*".into()));
    let resp = c.request(req::heartbeat("127.0.0.1@retry", &[], &[spec]), T).await.unwrap();
    assert_code(&resp, codes::SUCCESS);
    let ns = b.namesrv_client().await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    loop {
        let resp = ns.request(req::route(&format!("%RETRY%{group}")), T).await.unwrap();
        if resp.code == codes::SUCCESS {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "%RETRY%{group} not routable 5 s after the heartbeat: {resp:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn heartbeat_with_an_illegal_group_name_creates_no_retry_topic() {
    let b = DevBroker::start();
    let c = b.client().await;
    let bad = "cg/../../x";
    let spec = ConsumerSpec::push(bad, &unique("t"), "*");
    let resp = c.request(req::heartbeat("127.0.0.1@bad", &[], &[spec]), T).await.unwrap();
    assert_code(&resp, codes::SUCCESS);
    let good = unique("cg_ok");
    let spec = ConsumerSpec::push(&good, &unique("t"), "*");
    c.request(req::heartbeat("127.0.0.1@ok", &[], &[spec]), T).await.unwrap();
    let ns = b.namesrv_client().await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    while ns.request(req::route(&format!("%RETRY%{good}")), T).await.unwrap().code != codes::SUCCESS {
        assert!(tokio::time::Instant::now() < deadline, "legal group's retry topic never routable");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let resp = ns.request(req::route(&format!("%RETRY%{bad}")), T).await.unwrap();
    assert_code(&resp, codes::TOPIC_NOT_EXIST);
}

fn bare_pull(group: &str, topic: &str) -> req::Pull {
    let mut p = req::Pull::new(group, topic, 0, 0);
    p.sys_flag = 0;
    p.subscription = None;
    p
}

#[tokio::test]
async fn pull_without_subscription_filters_by_the_heartbeat_subscription() {
    let b = DevBroker::start();
    let c = b.client().await;
    let topic = unique("nosub");
    common::send_ok(&c, &req::Msg::new(&topic, "m").tags("TagA"), 0).await;
    // After a heartbeat subscribing TagB only, the broker filters by it: nothing matches (20).
    let group = unique("cg_sub");
    let resp = c.request(req::heartbeat("127.0.0.1@sub", &[], &[ConsumerSpec::push(&group, &topic, "TagB")]), T).await.unwrap();
    assert_code(&resp, codes::SUCCESS);
    let (resp, _) = common::pull(&c, &bare_pull(&group, &topic)).await;
    assert_code(&resp, codes::PULL_RETRY_IMMEDIATELY);
    // A new heartbeat with TagA || TagB: found.
    let resp = c
        .request(req::heartbeat("127.0.0.1@sub", &[], &[ConsumerSpec::push(&group, &topic, "TagA || TagB")]), T)
        .await
        .unwrap();
    assert_code(&resp, codes::SUCCESS);
    let (resp, msgs) = common::pull(&c, &bare_pull(&group, &topic)).await;
    assert_code(&resp, codes::SUCCESS);
    assert_eq!(msgs[0].body, b"m");
}

/// 4.9.7 answers SUBSCRIPTION_NOT_EXIST (24) to a pull without the subscription flag from a
/// group with no heartbeat (`docs/protocol/pull-and-offsets.md` §1); so does ferrocket.
#[tokio::test]
async fn pull_without_subscription_from_unknown_group_is_subscription_not_exist() {
    let b = DevBroker::start();
    let c = b.client().await;
    let topic = unique("nosub");
    common::send_ok(&c, &req::Msg::new(&topic, "m").tags("TagA"), 0).await;
    let (resp, _) = common::pull(&c, &bare_pull(&unique("cg_unknown"), &topic)).await;
    assert_code(&resp, 24);
}
