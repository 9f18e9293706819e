//! Consumer offsets, min/max, search by time, and persistence across a restart.
mod common;

use common::{assert_code, pull, send_ok, unique, DevBroker, T};
use ferrocket::client::codes;
use ferrocket::client::req::{self, ext_i64, Msg, Pull};
use std::time::{Duration, Instant};

#[tokio::test]
async fn new_group_has_no_offset_or_zero() {
    let b = DevBroker::start();
    let c = b.client().await;
    let topic = unique("qoff");
    send_ok(&c, &Msg::new(&topic, "m"), 0).await;
    let resp = c.request(req::query_offset(&unique("newgroup"), &topic, 0), T).await.unwrap();
    // 4.9.7: QUERY_NOT_FOUND, or 0 when the queue's first message is still in memory (vector 0026).
    match resp.code {
        codes::QUERY_NOT_FOUND => {}
        codes::SUCCESS => assert_eq!(resp.ext("offset"), Some("0"), "{resp:?}"),
        other => panic!("new group: expected 22 or SUCCESS offset 0, got {other} ({:?})", resp.remark),
    }
}

#[tokio::test]
async fn update_then_query_offset_including_backwards() {
    let b = DevBroker::start();
    let c = b.client().await;
    let topic = unique("uoff");
    let group = unique("g");
    for i in 0..6 {
        send_ok(&c, &Msg::new(&topic, format!("m{i}")), 1).await;
    }
    let resp = c.request(req::update_offset(&group, &topic, 1, 5), T).await.unwrap();
    assert_code(&resp, codes::SUCCESS);
    let resp = c.request(req::query_offset(&group, &topic, 1), T).await.unwrap();
    assert_code(&resp, codes::SUCCESS);
    assert_eq!(ext_i64(&resp, "offset"), Some(5));
    // Offsets may move backwards (reset tools rely on it).
    c.request(req::update_offset(&group, &topic, 1, 2), T).await.unwrap();
    let resp = c.request(req::query_offset(&group, &topic, 1), T).await.unwrap();
    assert_eq!(ext_i64(&resp, "offset"), Some(2));
    // Oneway commit, as push consumers send it.
    c.oneway(req::update_offset(&group, &topic, 1, 4)).await.unwrap();
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let resp = c.request(req::query_offset(&group, &topic, 1), T).await.unwrap();
        if ext_i64(&resp, "offset") == Some(4) {
            break;
        }
        assert!(Instant::now() < deadline, "oneway offset commit not visible within 5 s: {resp:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // Other queues of the group are untouched.
    let resp = c.request(req::query_offset(&group, &topic, 0), T).await.unwrap();
    assert!(resp.code == codes::QUERY_NOT_FOUND || ext_i64(&resp, "offset") == Some(0), "{resp:?}");
}

#[tokio::test]
async fn commit_offset_piggybacked_on_pull_is_stored() {
    let b = DevBroker::start();
    let c = b.client().await;
    let topic = unique("pboff");
    let group = unique("g");
    for i in 0..3 {
        send_ok(&c, &Msg::new(&topic, format!("m{i}")), 0).await;
    }
    let mut p = Pull::new(&group, &topic, 0, 2);
    p.sys_flag |= 1;
    p.commit_offset = 2;
    let (resp, _) = pull(&c, &p).await;
    assert_code(&resp, codes::SUCCESS);
    let resp = c.request(req::query_offset(&group, &topic, 0), T).await.unwrap();
    assert_eq!(ext_i64(&resp, "offset"), Some(2), "{resp:?}");
}

#[tokio::test]
async fn min_and_max_offsets() {
    let b = DevBroker::start();
    let c = b.client().await;
    let topic = unique("minmax");
    for i in 0..3 {
        send_ok(&c, &Msg::new(&topic, format!("m{i}")), 2).await;
    }
    let resp = c.request(req::max_offset(&topic, 2), T).await.unwrap();
    assert_code(&resp, codes::SUCCESS);
    assert_eq!(ext_i64(&resp, "offset"), Some(3));
    let resp = c.request(req::min_offset(&topic, 2), T).await.unwrap();
    assert_code(&resp, codes::SUCCESS);
    assert_eq!(ext_i64(&resp, "offset"), Some(0));
    let resp = c.request(req::max_offset(&topic, 0), T).await.unwrap();
    assert_eq!(ext_i64(&resp, "offset"), Some(0), "empty queue");
    let resp = c.request(req::max_offset(&unique("nosuch"), 0), T).await.unwrap();
    assert_code(&resp, codes::SUCCESS);
    assert_eq!(ext_i64(&resp, "offset"), Some(0), "unknown topic");
}

#[tokio::test]
async fn search_offset_by_timestamp() {
    let b = DevBroker::start();
    let c = b.client().await;
    let topic = unique("search");
    for i in 0..4 {
        send_ok(&c, &Msg::new(&topic, format!("m{i}")), 0).await;
        // Distinct store timestamps (setup, not an assertion).
        tokio::time::sleep(Duration::from_millis(30)).await;
    }
    let (_, msgs) = pull(&c, &Pull::new("cg_search", &topic, 0, 0)).await;
    assert_eq!(msgs.len(), 4);
    for m in &msgs {
        let resp = c.request(req::search_offset(&topic, 0, m.store_timestamp), T).await.unwrap();
        assert_code(&resp, codes::SUCCESS);
        assert_eq!(ext_i64(&resp, "offset"), Some(m.queue_offset), "store time {}", m.store_timestamp);
    }
    let resp = c.request(req::search_offset(&topic, 0, 1), T).await.unwrap();
    assert_eq!(ext_i64(&resp, "offset"), Some(0), "timestamp before every message");
}

#[tokio::test]
async fn restart_keeps_messages_and_committed_offsets() {
    let mut b = DevBroker::start();
    let topic = unique("durable");
    let group = unique("g");
    let mut sent_ids = Vec::new();
    {
        let c = b.client().await;
        for i in 0..3 {
            let m = Msg::new(&topic, format!("durable {i}")).tags("TagD");
            send_ok(&c, &m, 0).await;
            sent_ids.push(m.unique_id);
        }
        let resp = c.request(req::update_offset(&group, &topic, 0, 2), T).await.unwrap();
        assert_code(&resp, codes::SUCCESS);
    }
    b.restart();
    let c = b.client().await;
    let (resp, msgs) = pull(&c, &Pull::new(&group, &topic, 0, 0)).await;
    assert_code(&resp, codes::SUCCESS);
    assert_eq!(msgs.len(), 3);
    for (i, m) in msgs.iter().enumerate() {
        assert_eq!(m.body, format!("durable {i}").as_bytes());
        assert_eq!(m.prop("UNIQ_KEY"), Some(sent_ids[i].as_str()));
        assert_eq!(m.queue_offset, i as i64);
        // storeHost is written at store time (the fixture restarts on the same ports).
    }
    let resp = c.request(req::query_offset(&group, &topic, 0), T).await.unwrap();
    assert_eq!(ext_i64(&resp, "offset"), Some(2), "committed offset after restart: {resp:?}");
    let resp = c.request(req::max_offset(&topic, 0), T).await.unwrap();
    assert_eq!(ext_i64(&resp, "offset"), Some(3));
    let s = send_ok(&c, &Msg::new(&topic, "after restart"), 0).await;
    assert_eq!(s.queue_offset, 3);
    // The topic's route survives too.
    let ns = b.namesrv_client().await;
    let resp = ns.request(req::route(&topic), T).await.unwrap();
    assert_code(&resp, codes::SUCCESS);
}

#[tokio::test]
async fn kill_9_keeps_acknowledged_messages() {
    // Java semantics: an acknowledged send is in the page cache, which survives a process crash.
    let mut b = DevBroker::start();
    let topic = unique("crash");
    let mut ids = Vec::new();
    {
        let c = b.client().await;
        for i in 0..20 {
            let m = Msg::new(&topic, format!("crash {i}"));
            send_ok(&c, &m, i % 2).await;
            ids.push(m.unique_id);
        }
    }
    b.kill_and_restart();
    let c = b.client().await;
    let mut got = Vec::new();
    for q in 0..2 {
        let (resp, msgs) = pull(&c, &Pull::new("cg_crash", &topic, q, 0)).await;
        assert_code(&resp, codes::SUCCESS);
        got.extend(msgs.into_iter().map(|m| m.prop("UNIQ_KEY").unwrap().to_string()));
    }
    got.sort();
    ids.sort();
    assert_eq!(got, ids, "acknowledged messages lost by kill -9");
}
