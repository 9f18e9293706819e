//! Transactional messages: half messages invisible, commit once, rollback never, check-back.
mod support;
use ferrocket::broker::TestBroker;
use ferrocket::client::req::{self, Msg};
use ferrocket::client::RawClient;
use ferrocket::codec::message::parse_properties;
use ferrocket::codec::stored::decode_all_stored;
use ferrocket::codec::RemotingCommand;
use std::time::Duration;
use support::*;

fn half(topic: &str, body: &str, group: &str) -> RemotingCommand {
    let m = Msg::new(topic, body).tags("TagTx").prop("TRAN_MSG", "true").prop("PGROUP", group);
    let mut cmd = req::send_v2(group, &m, 0);
    cmd.set_ext("f", 4);
    cmd
}

fn end_tx(group: &str, send_resp: &RemotingCommand, uniq: &str, decision: i32, from_check: bool) -> RemotingCommand {
    let clog = ferrocket::codec::message::decode_offset_msg_id(send_resp.ext("msgId").unwrap()).unwrap().1;
    RemotingCommand::oneway(37, 0)
        .with_ext("producerGroup", group)
        .with_ext("tranStateTableOffset", send_resp.ext("queueOffset").unwrap())
        .with_ext("commitLogOffset", clog)
        .with_ext("commitOrRollback", decision)
        .with_ext("fromTransactionCheck", from_check)
        .with_ext("msgId", uniq)
}

fn uniq_of(cmd: &RemotingCommand) -> String {
    let p = parse_properties(cmd.ext("i").unwrap());
    p.get("UNIQ_KEY").unwrap().to_string()
}

/// The messages of topic `tx` once a commit made any visible.
async fn delivered(c: &RawClient) -> Vec<ferrocket::codec::stored::StoredMessage> {
    eventually(Duration::from_secs(5), || async {
        let v = pull_all(c, "tx", 0).await;
        (!v.is_empty()).then_some(v)
    })
    .await
    .expect("committed message delivered")
}

fn broker() -> TestBroker {
    TestBroker::builder()
        .topic("tx", 1)
        .transaction_check(Duration::from_millis(200), Duration::from_millis(300), 3)
        .start()
        .unwrap()
}

#[tokio::test]
async fn commit_delivers_exactly_once_and_rollback_never() {
    let b = broker();
    let c = RawClient::connect(b.broker_addr()).await.unwrap();
    let h1 = half("tx", "commit me", "txg");
    let u1 = uniq_of(&h1);
    let r1 = c.request(h1, T).await.unwrap();
    assert_eq!(r1.code, 0);
    let h2 = half("tx", "roll me back", "txg");
    let u2 = uniq_of(&h2);
    let r2 = c.request(h2, T).await.unwrap();
    assert_eq!(r2.code, 0);
    assert!(pull_all(&c, "tx", 0).await.is_empty(), "half messages are invisible");
    c.oneway(end_tx("txg", &r1, &u1, 8, false)).await.unwrap();
    c.oneway(end_tx("txg", &r1, &u1, 8, false)).await.unwrap(); // repeated: applied once
    c.oneway(end_tx("txg", &r2, &u2, 12, false)).await.unwrap();
    let got = delivered(&c).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let got_again = pull_all(&c, "tx", 0).await;
    assert_eq!(got_again.len(), 1, "exactly one delivery: {got:?}");
    let m = &got_again[0];
    assert_eq!(m.body.as_ref(), b"commit me");
    assert_eq!(prop(m, "UNIQ_KEY").as_deref(), Some(u1.as_str()));
    assert_eq!(m.sys_flag & 12, 8, "sysFlag carries COMMIT");
    let half_offset = ferrocket::codec::message::decode_offset_msg_id(r1.ext("msgId").unwrap()).unwrap().1;
    assert_eq!(m.prepared_transaction_offset, half_offset, "points at the half message");
    assert_eq!(prop(m, "REAL_TOPIC"), None);
}

#[tokio::test]
async fn unknown_outcome_is_checked_back_and_commit_after_check_delivers() {
    let b = broker();
    let mut producer = RawClient::connect(b.broker_addr()).await.unwrap();
    let mut incoming = producer.incoming();
    let hb = producer.request(req::heartbeat("127.0.0.1@txp", &["txg2"], &[]), T).await.unwrap();
    assert_eq!(hb.code, 0);
    let h = half("tx", "decide later", "txg2");
    let u = uniq_of(&h);
    let r = producer.request(h, T).await.unwrap();
    producer.oneway(end_tx("txg2", &r, &u, 0, false)).await.unwrap();
    let check = tokio::time::timeout(Duration::from_secs(10), incoming.recv())
        .await
        .expect("check-back within 10 s")
        .expect("connection open");
    assert_eq!(check.code, 39);
    assert!(check.is_oneway());
    assert_eq!(check.ext("msgId"), Some(u.as_str()));
    assert_eq!(check.ext("transactionId"), Some(u.as_str()));
    let body = decode_all_stored(&check.body).unwrap();
    assert_eq!(body[0].topic, "tx", "check-back shows the real topic");
    assert_eq!(body[0].body.as_ref(), b"decide later");
    assert_eq!(prop(&body[0], "PGROUP").as_deref(), Some("txg2"));
    // answer as the Java client does
    let answer = RemotingCommand::oneway(37, 0)
        .with_ext("producerGroup", "txg2")
        .with_ext("tranStateTableOffset", check.ext("tranStateTableOffset").unwrap())
        .with_ext("commitLogOffset", check.ext("commitLogOffset").unwrap())
        .with_ext("commitOrRollback", 8)
        .with_ext("fromTransactionCheck", true)
        .with_ext("msgId", &u)
        .with_ext("transactionId", &u);
    producer.oneway(answer).await.unwrap();
    let got = eventually(Duration::from_secs(5), || async {
        let v = pull_all(&producer, "tx", 0).await;
        (!v.is_empty()).then_some(v)
    })
    .await
    .expect("delivered after the check-back commit");
    assert_eq!(got.len(), 1);
    drop(incoming);
    let _ = &mut producer;
}

#[tokio::test]
async fn pending_transaction_survives_restart_and_is_discarded_after_max_checks() {
    let mut b = broker();
    {
        let c = RawClient::connect(b.broker_addr()).await.unwrap();
        let h = half("tx", "pending", "txg3");
        let r = c.request(h, T).await.unwrap();
        assert_eq!(r.code, 0);
    }
    b.restart().unwrap();
    let mut producer = RawClient::connect(b.broker_addr()).await.unwrap();
    let mut incoming = producer.incoming();
    producer.request(req::heartbeat("127.0.0.1@txp3", &["txg3"], &[]), T).await.unwrap();
    let mut checks = 0;
    while let Ok(Some(cmd)) = tokio::time::timeout(Duration::from_secs(3), incoming.recv()).await {
        if cmd.code == 39 {
            checks += 1;
        }
    }
    assert_eq!(checks, 3, "checked back transactionCheckMax times after the restart, then discarded");
    assert!(pull_all(&producer, "tx", 0).await.is_empty());
    let _ = &mut producer;
}

/// Issue 16 (1): END_TRANSACTION from several connections (each on its own broker worker thread)
/// racing on the same half message stores exactly one committed copy.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn racing_commits_on_one_half_store_one_copy() {
    let b = broker();
    let c = RawClient::connect(b.broker_addr()).await.unwrap();
    let mut halves = Vec::new();
    for i in 0..20 {
        let h = half("tx", &format!("race {i}"), "txg");
        let u = uniq_of(&h);
        let r = c.request(h, T).await.unwrap();
        assert_eq!(r.code, 0);
        halves.push((r, u));
    }
    let mut conns = Vec::new();
    for _ in 0..8 {
        conns.push(std::sync::Arc::new(RawClient::connect(b.broker_addr()).await.unwrap()));
    }
    // Every connection commits every half at the same time, two-way so that each one is applied
    // before the pull below.
    let mut tasks = Vec::new();
    for conn in &conns {
        let (conn, halves) = (conn.clone(), halves.clone());
        tasks.push(tokio::spawn(async move {
            for (r, u) in &halves {
                let mut cmd = end_tx("txg", r, u, 8, false);
                cmd.flag = 0;
                let resp = conn.request(cmd, T).await.unwrap();
                assert_eq!(resp.code, 0, "{:?}", resp.remark);
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    let got = pull_all(&c, "tx", 0).await;
    let mut bodies: Vec<String> = got.iter().map(|m| String::from_utf8_lossy(&m.body).into_owned()).collect();
    bodies.sort();
    let mut want: Vec<String> = (0..20).map(|i| format!("race {i}")).collect();
    want.sort();
    assert_eq!(bodies, want, "each half committed exactly once");
}

/// Issue 16 (2): the committed copy is an ordinary message: no TRAN_MSG, REAL_TOPIC or REAL_QID
/// (the Java broker clears them), its own properties kept.
#[tokio::test]
async fn committed_copy_carries_no_transaction_properties() {
    let b = broker();
    let c = RawClient::connect(b.broker_addr()).await.unwrap();
    let h = half("tx", "plain after commit", "txg");
    let u = uniq_of(&h);
    let r = c.request(h, T).await.unwrap();
    c.oneway(end_tx("txg", &r, &u, 8, false)).await.unwrap();
    let got = delivered(&c).await;
    let m = &got[0];
    assert_eq!(prop(m, "TRAN_MSG"), None, "committed copy still flagged transactional");
    assert_eq!(prop(m, "REAL_TOPIC"), None);
    assert_eq!(prop(m, "REAL_QID"), None);
    assert_eq!(prop(m, "TAGS").as_deref(), Some("TagTx"));
    assert_eq!(prop(m, "PGROUP").as_deref(), Some("txg"));
    assert_eq!(m.topic, "tx");
}

/// Issue 16 (3): `transactionCheckInterval` is a runtime key: lowering it with
/// UPDATE_BROKER_CONFIG makes the next check-back come at the new pace, not a long round later.
#[tokio::test]
async fn check_interval_update_takes_effect_at_once() {
    let b = TestBroker::builder()
        .topic("tx", 1)
        .transaction_check(Duration::from_secs(3600), Duration::from_millis(300), 3)
        .start()
        .unwrap();
    let mut producer = RawClient::connect(b.broker_addr()).await.unwrap();
    let mut incoming = producer.incoming();
    let hb = producer.request(req::heartbeat("127.0.0.1@txp3", &["txg3"], &[]), T).await.unwrap();
    assert_eq!(hb.code, 0);
    let h = half("tx", "checked after the update", "txg3");
    let r = producer.request(h, T).await.unwrap();
    assert_eq!(r.code, 0);
    // An hour between rounds: no check-back now, although the half is past its 300 ms timeout.
    assert!(
        tokio::time::timeout(Duration::from_millis(1500), incoming.recv()).await.is_err(),
        "a check-back came before the interval was lowered"
    );
    let update = RemotingCommand::request(25, 0).with_body(&b"transactionCheckInterval=200\n"[..]);
    let resp = producer.request(update, T).await.unwrap();
    assert_eq!(resp.code, 0, "{:?}", resp.remark);
    let check = tokio::time::timeout(Duration::from_secs(5), incoming.recv())
        .await
        .expect("check-back after lowering transactionCheckInterval")
        .expect("connection open");
    assert_eq!(check.code, 39);
    drop(incoming);
    let _ = &mut producer;
}
