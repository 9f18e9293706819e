//! Delayed messages, consume retry and dead-letter queues, through the wire.
mod support;
use ferrocket::broker::TestBroker;
use ferrocket::client::req::Msg;
use ferrocket::client::RawClient;
use ferrocket::codec::RemotingCommand;
use std::time::{Duration, Instant};
use support::*;

fn broker() -> TestBroker {
    TestBroker::builder()
        .topic("delayed", 1)
        .group("cg")
        .delay_levels(vec![Duration::from_millis(300), Duration::from_millis(600), Duration::from_millis(200), Duration::from_millis(200), Duration::from_millis(200)])
        .start()
        .unwrap()
}

#[tokio::test]
async fn delayed_message_arrives_when_due_with_its_identity() {
    let b = broker();
    let c = RawClient::connect(b.broker_addr()).await.unwrap();
    let m = Msg::new("delayed", "later").tags("TagD").keys("k1").prop("DELAY", "2").prop("color", "blue");
    let sent_at = Instant::now();
    send(&c, &m, 0).await;
    let (resp, now) = pull(&c, "g", "delayed", 0, 0).await;
    assert!(now.is_empty(), "not visible before it is due: {resp:?}");
    let got = eventually(Duration::from_secs(10), || async {
        let v = pull_all(&c, "delayed", 0).await;
        (!v.is_empty()).then_some(v)
    })
    .await
    .expect("delayed message delivered");
    assert!(sent_at.elapsed() >= Duration::from_millis(550), "delivered too early: {:?}", sent_at.elapsed());
    assert_eq!(got.len(), 1);
    let d = &got[0];
    assert_eq!(d.body.as_ref(), b"later");
    assert_eq!(prop(d, "UNIQ_KEY").as_deref(), Some(m.unique_id.as_str()));
    assert_eq!(prop(d, "TAGS").as_deref(), Some("TagD"));
    assert_eq!(prop(d, "KEYS").as_deref(), Some("k1"));
    assert_eq!(prop(d, "color").as_deref(), Some("blue"));
    assert_eq!(prop(d, "DELAY"), None);
    assert_eq!(d.topic, "delayed");
}

#[tokio::test]
async fn delayed_messages_survive_restart_and_are_not_lost() {
    let mut b = TestBroker::builder()
        .topic("delayed", 1)
        .delay_levels(vec![Duration::from_millis(800)])
        .start()
        .unwrap();
    {
        let c = RawClient::connect(b.broker_addr()).await.unwrap();
        for i in 0..5 {
            send(&c, &Msg::new("delayed", format!("d{i}")).prop("DELAY", "1"), 0).await;
        }
    }
    b.restart().unwrap();
    let c = RawClient::connect(b.broker_addr()).await.unwrap();
    let got = eventually(Duration::from_secs(10), || async {
        let v = pull_all(&c, "delayed", 0).await;
        (v.len() >= 5).then_some(v)
    })
    .await
    .expect("all delayed messages delivered after restart");
    let bodies: Vec<String> = got.iter().map(|m| String::from_utf8_lossy(&m.body).into_owned()).collect();
    assert_eq!(bodies, vec!["d0", "d1", "d2", "d3", "d4"]);
}

fn send_back(offset: i64, group: &str, delay_level: i32, max: i32) -> RemotingCommand {
    RemotingCommand::request(36, 0)
        .with_ext("offset", offset)
        .with_ext("group", group)
        .with_ext("delayLevel", delay_level)
        .with_ext("originMsgId", "x")
        .with_ext("originTopic", "delayed")
        .with_ext("unitMode", false)
        .with_ext("maxReconsumeTimes", max)
}

#[tokio::test]
async fn send_back_retries_then_dead_letters() {
    let b = broker();
    let c = RawClient::connect(b.broker_addr()).await.unwrap();
    let m = Msg::new("delayed", "poison").tags("TagP").keys("pk");
    send(&c, &m, 0).await;
    let (_, msgs) = pull(&c, "cg", "delayed", 0, 0).await;
    let mut current = msgs[0].clone();
    // maxReconsumeTimes 2: two retries, then the DLQ.
    for attempt in 1..=2 {
        let resp = c.request(send_back(current.commit_log_offset, "cg", 0, 2), T).await.unwrap();
        assert_eq!(resp.code, 0, "send back: {:?}", resp.remark);
        let retried = eventually(Duration::from_secs(10), || async {
            let v = pull_all(&c, "%RETRY%cg", 0).await;
            (v.len() >= attempt).then(|| v[attempt - 1].clone())
        })
        .await
        .expect("retry delivered");
        assert_eq!(retried.reconsume_times, attempt as i32);
        assert_eq!(prop(&retried, "RETRY_TOPIC").as_deref(), Some("delayed"));
        assert_eq!(prop(&retried, "UNIQ_KEY").as_deref(), Some(m.unique_id.as_str()));
        assert!(prop(&retried, "ORIGIN_MESSAGE_ID").is_some());
        current = retried;
    }
    let resp = c.request(send_back(current.commit_log_offset, "cg", 0, 2), T).await.unwrap();
    assert_eq!(resp.code, 0);
    let dlq = pull_all(&c, "%DLQ%cg", 0).await;
    assert_eq!(dlq.len(), 1, "message in the dead-letter queue");
    assert_eq!(dlq[0].body.as_ref(), b"poison");
    assert_eq!(dlq[0].reconsume_times, 3);
    assert_eq!(prop(&dlq[0], "RETRY_TOPIC").as_deref(), Some("delayed"));
    // and it is routable for inspection
    let ns = RawClient::connect(b.namesrv_addr()).await.unwrap();
    let route = ns.request(ferrocket::client::req::route("%DLQ%cg"), T).await.unwrap();
    assert_eq!(route.code, 0);
}

#[tokio::test]
async fn negative_delay_level_goes_straight_to_dlq() {
    let b = broker();
    let c = RawClient::connect(b.broker_addr()).await.unwrap();
    send(&c, &Msg::new("delayed", "bad"), 0).await;
    let (_, msgs) = pull(&c, "cg", "delayed", 0, 0).await;
    let resp = c.request(send_back(msgs[0].commit_log_offset, "cg", -1, 16), T).await.unwrap();
    assert_eq!(resp.code, 0);
    assert_eq!(pull_all(&c, "%DLQ%cg", 0).await.len(), 1);
}

#[tokio::test]
async fn client_fallback_send_to_retry_topic_past_limit_goes_to_dlq() {
    let b = broker();
    let c = RawClient::connect(b.broker_addr()).await.unwrap();
    let m = Msg::new("%RETRY%cg", "fallback").prop("RETRY_TOPIC", "delayed");
    let mut cmd = ferrocket::client::req::send_v2("CLIENT_INNER_PRODUCER", &m, 0);
    cmd.set_ext("j", 16).set_ext("l", 16);
    let resp = c.request(cmd, T).await.unwrap();
    assert_eq!(resp.code, 0, "{:?}", resp.remark);
    let dlq = pull_all(&c, "%DLQ%cg", 0).await;
    assert_eq!(dlq.len(), 1);
}

#[tokio::test]
async fn timer_properties_deliver_at_the_requested_time_and_far_future_is_refused() {
    let b = broker();
    let c = RawClient::connect(b.broker_addr()).await.unwrap();
    let sent_at = Instant::now();
    send(&c, &Msg::new("delayed", "in 700 ms").prop("TIMER_DELAY_MS", "700"), 0).await;
    let deliver_at = ferrocket::client::req::now_ms() + 300;
    send(&c, &Msg::new("delayed", "at a time").prop("TIMER_DELIVER_MS", &deliver_at.to_string()), 0).await;
    send(&c, &Msg::new("delayed", "past").prop("TIMER_DELIVER_MS", "1000"), 0).await;
    let first = pull_all(&c, "delayed", 0).await;
    assert_eq!(first.len(), 1, "a time in the past is delivered at once");
    assert_eq!(first[0].body.as_ref(), b"past");
    let all = eventually(Duration::from_secs(10), || async {
        let v = pull_all(&c, "delayed", 0).await;
        (v.len() >= 3).then_some(v)
    })
    .await
    .expect("timer messages delivered");
    assert!(sent_at.elapsed() >= Duration::from_millis(650));
    let bodies: Vec<String> = all.iter().map(|m| String::from_utf8_lossy(&m.body).into_owned()).collect();
    assert_eq!(bodies, vec!["past", "at a time", "in 700 ms"]);
    assert_eq!(prop(&all[2], "TIMER_DELAY_MS"), None);
    // beyond timerMaxDelay (7 days by default)
    let far = Msg::new("delayed", "too far").prop("TIMER_DELAY_SEC", &(30 * 24 * 3600).to_string());
    let resp = c.request(ferrocket::client::req::send_v2("pg", &far, 0), T).await.unwrap();
    assert_eq!(resp.code, 13, "MESSAGE_ILLEGAL: {:?}", resp.remark);
}

/// A delayed message the store refuses when it falls due (here: a real topic with an illegal name,
/// planted in the schedule topic) is dropped with an error instead of blocking its delay level.
#[tokio::test]
async fn undeliverable_delayed_message_does_not_block_its_level() {
    use ferrocket::store::{MessageStore, NewMessage, StoreConfig};
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    {
        let store = MessageStore::open(StoreConfig::new(data.clone(), "127.0.0.1:10911".parse().unwrap())).unwrap();
        let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_millis() as i64;
        store
            .put(vec![NewMessage {
                topic: "SCHEDULE_TOPIC_XXXX".into(),
                queue_id: 0,
                flag: 0,
                sys_flag: 0,
                born_timestamp: now,
                born_host: "127.0.0.1:5000".parse().unwrap(),
                reconsume_times: 0,
                prepared_transaction_offset: 0,
                body: bytes::Bytes::from_static(b"poison"),
                properties: "REAL_TOPIC\u{1}bad topic!\u{2}REAL_QID\u{1}0\u{2}DELAY\u{1}1".into(),
                tags_code: now,
                keys: vec![],
                uniq_key: None,
            }])
            .unwrap();
    }
    let b = TestBroker::builder()
        .data_dir(&data)
        .topic("delayed", 1)
        .delay_levels(vec![Duration::from_millis(200)])
        .start()
        .unwrap();
    let c = RawClient::connect(b.broker_addr()).await.unwrap();
    send(&c, &Msg::new("delayed", "good").prop("DELAY", "1"), 0).await;
    let got = eventually(Duration::from_secs(10), || async {
        let v = pull_all(&c, "delayed", 0).await;
        (!v.is_empty()).then_some(v)
    })
    .await
    .expect("the later message of the same level is delivered");
    assert_eq!(got[0].body.as_ref(), b"good");
}
