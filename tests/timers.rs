//! 5.x timer messages through the wire: due-time order, never early, recall (RECALL_MESSAGE 370),
//! restart, migration of the sled timer index of earlier versions, damaged timer files.
mod support;
use ferrocket::broker::TestBroker;
use ferrocket::client::req::{self, now_ms, Msg};
use ferrocket::client::RawClient;
use ferrocket::codec::stored::StoredMessage;
use std::time::Duration;
use support::*;

const ILLEGAL_OPERATION: i32 = 604;

fn broker_on(dir: Option<&std::path::Path>) -> TestBroker {
    let mut b = TestBroker::builder().topic("tm", 1).configure(|c| c.timer_precision_ms = 100);
    if let Some(d) = dir {
        b = b.data_dir(d);
    }
    b.start().unwrap()
}

fn due_of(m: &StoredMessage) -> i64 {
    prop(m, "TIMER_DELIVER_MS").and_then(|v| v.parse().ok()).or_else(|| prop(m, "due").and_then(|v| v.parse().ok())).expect("due")
}

async fn wait_for(c: &RawClient, topic: &str, n: usize) -> Vec<StoredMessage> {
    eventually(Duration::from_secs(20), || async {
        let v = pull_all(c, topic, 0).await;
        (v.len() >= n).then_some(v)
    })
    .await
    .unwrap_or_else(|| panic!("{n} messages delivered on {topic}"))
}

/// Send a timer message due at `due` (the due time also in a user property); returns the
/// response's recall handle.
async fn send_at(c: &RawClient, topic: &str, body: &str, due: i64) -> (Msg, Option<String>) {
    let m = Msg::new(topic, body).tags("T").prop("TIMER_DELIVER_MS", &due.to_string()).prop("due", &due.to_string());
    let resp = send(c, &m, 0).await;
    (m, resp.ext("recallHandle").map(String::from))
}

#[tokio::test]
async fn timers_fire_in_due_time_order_never_early_with_their_identity() {
    let b = broker_on(None);
    let c = RawClient::connect(b.broker_addr()).await.unwrap();
    let base = now_ms() + 600;
    // sent out of order, several per slot, across slots
    let offsets = [730i64, 10, 450, 20, 999, 15, 300, 301, 0, 620, 55, 880];
    let mut sent = Vec::new();
    for (i, o) in offsets.iter().enumerate() {
        let (m, handle) = send_at(&c, "tm", &format!("m{i}"), base + o).await;
        assert!(handle.is_some(), "a timer message's send result carries a recall handle");
        sent.push(m);
    }
    let got = wait_for(&c, "tm", offsets.len()).await;
    assert_eq!(got.len(), offsets.len(), "each delivered once");
    let dues: Vec<i64> = got.iter().map(due_of).collect();
    let mut sorted = dues.clone();
    sorted.sort();
    assert_eq!(dues, sorted, "delivered in due-time order");
    for m in &got {
        assert!(m.store_timestamp >= due_of(m), "delivered {} ms early", due_of(m) - m.store_timestamp);
        let orig = sent.iter().find(|s| Some(s.unique_id.as_str()) == prop(m, "UNIQ_KEY").as_deref()).expect("same unique id");
        assert_eq!(m.body.as_ref(), orig.body.as_slice());
        assert_eq!(prop(m, "TAGS").as_deref(), Some("T"));
        assert_eq!(m.topic, "tm");
        assert_eq!(prop(m, "TIMER_OUT_MS"), None);
    }
    // the backlog figures are reported
    let rt = c.request(ferrocket::codec::RemotingCommand::request(28, 0), T).await.unwrap();
    let body = String::from_utf8_lossy(&rt.body);
    for k in ["timerReadBehind", "timerOffsetBehind", "timerCongestNum", "timerEnqueueTps", "timerDequeueTps", "scheduleMessageOffset_1"] {
        assert!(body.contains(k), "brokerStatus has {k}: {body}");
    }
}

#[tokio::test]
async fn recall_cancels_a_waiting_timer_and_refuses_what_is_not_waiting() {
    let b = broker_on(None);
    let c = RawClient::connect(b.broker_addr()).await.unwrap();
    let due = now_ms() + 1500;
    let (gone, handle) = send_at(&c, "tm", "recalled", due).await;
    let handle = handle.expect("recall handle");
    let (_, control) = send_at(&c, "tm", "control", due + 300).await;
    // recalled right after the send (before the scheduler's next tick)
    let r = c.request(req::recall("pg", "tm", &handle), T).await.unwrap();
    assert_eq!(r.code, 0, "{:?}", r.remark);
    assert_eq!(r.ext("msgId"), Some(gone.unique_id.as_str()));
    let again = c.request(req::recall("pg", "tm", &handle), T).await.unwrap();
    assert_eq!(again.code, ILLEGAL_OPERATION);
    assert!(again.remark.as_deref().unwrap_or("").contains("already recalled"), "{:?}", again.remark);
    // malformed, wrong topic, unknown message, unknown topic
    let bad = c.request(req::recall("pg", "tm", "%%%"), T).await.unwrap();
    assert_eq!(bad.code, ILLEGAL_OPERATION, "{:?}", bad.remark);
    let other = c.request(req::recall("pg", "other", &handle), T).await.unwrap();
    assert_eq!(other.code, 17, "TOPIC_NOT_EXIST: {:?}", other.remark);
    let forged = ferrocket::codec::recall::RecallHandle {
        topic: "tm".into(),
        broker_name: "broker-a".into(),
        timestamp: (due + 1).to_string(),
        message_id: "0A00000000000000000000000000NONE".into(),
    };
    let unknown = c.request(req::recall("pg", "tm", &forged.encode()), T).await.unwrap();
    assert_eq!(unknown.code, ILLEGAL_OPERATION);
    assert!(unknown.remark.as_deref().unwrap_or("").contains("unknown"), "{:?}", unknown.remark);
    let got = wait_for(&c, "tm", 1).await;
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].body.as_ref(), b"control", "the recalled message is never delivered");
    // a delivered message cannot be recalled
    let late = c.request(req::recall("pg", "tm", &control.unwrap()), T).await.unwrap();
    assert_eq!(late.code, ILLEGAL_OPERATION);
    assert!(late.remark.as_deref().unwrap_or("").contains("already"), "{:?}", late.remark);
    assert_eq!(pull_all(&c, "tm", 0).await.len(), 1);
}

#[tokio::test]
async fn pending_timers_and_recalls_survive_a_crash() {
    let mut b = broker_on(None);
    let due = now_ms() + 2500;
    {
        let c = RawClient::connect(b.broker_addr()).await.unwrap();
        for i in 0..5 {
            let (_, h) = send_at(&c, "tm", &format!("k{i}"), due + i).await;
            if i == 2 {
                let r = c.request(req::recall("pg", "tm", &h.unwrap()), T).await.unwrap();
                assert_eq!(r.code, 0, "{:?}", r.remark);
            }
        }
    }
    b.crash_and_restart().unwrap();
    let c = RawClient::connect(b.broker_addr()).await.unwrap();
    let got = wait_for(&c, "tm", 4).await;
    let bodies: Vec<String> = got.iter().map(|m| String::from_utf8_lossy(&m.body).into_owned()).collect();
    assert_eq!(bodies, vec!["k0", "k1", "k3", "k4"]);
    assert!(got.iter().all(|m| m.store_timestamp >= due_of(m)));
}

/// Timers written the way earlier versions kept them (commit log + sled index) are converted at
/// start and fire.
#[tokio::test]
async fn timers_pending_in_the_sled_index_are_migrated_and_fire() {
    use ferrocket::store::{MessageStore, NewMessage, StoreConfig};
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let due = now_ms() + 1200;
    {
        let store = MessageStore::open(StoreConfig::new(data.clone(), "127.0.0.1:10911".parse().unwrap())).unwrap();
        let mut offsets = Vec::new();
        // i = 3: delivered by the old version (no longer in its index): must not fire again
        for i in 0..4i64 {
            let d = if i == 3 { now_ms() - 10_000 } else { due - i * 100 };
            let props = format!(
                "REAL_TOPIC\u{1}tm\u{2}REAL_QID\u{1}0\u{2}TIMER_OUT_MS\u{1}{d}\u{2}TIMER_DELIVER_MS\u{1}{d}\u{2}UNIQ_KEY\u{1}OLD{i}\u{2}due\u{1}{d}\u{2}"
            );
            let out = store
                .put(vec![NewMessage {
                    topic: "rmq_sys_wheel_timer".into(),
                    queue_id: 0,
                    flag: 0,
                    sys_flag: 0,
                    born_timestamp: now_ms(),
                    born_host: "127.0.0.1:5000".parse().unwrap(),
                    reconsume_times: 0,
                    prepared_transaction_offset: 0,
                    body: bytes::Bytes::from(format!("old{i}")),
                    properties: props,
                    tags_code: due,
                    keys: vec![],
                    uniq_key: Some(format!("OLD{i}")),
                }])
                .unwrap();
            offsets.push(out.results[0].commit_log_offset);
        }
        // the old index: three pending, cursor past all four
        for (i, off) in offsets.iter().take(3).enumerate() {
            store.meta().legacy_add_timer(due - i as i64 * 100, *off).unwrap();
        }
        store.meta().legacy_set_timer_cursor(4).unwrap();
        store.meta().flush().unwrap();
    }
    let b = broker_on(Some(&data));
    let c = RawClient::connect(b.broker_addr()).await.unwrap();
    let got = wait_for(&c, "tm", 3).await;
    let bodies: Vec<String> = got.iter().map(|m| String::from_utf8_lossy(&m.body).into_owned()).collect();
    assert_eq!(bodies, vec!["old2", "old1", "old0"], "in due-time order, each once, and not old3");
    assert!(got.iter().all(|m| m.store_timestamp >= due_of(m)));
    assert!(data.join("timer/checkpoint").exists());
}

/// Damaged timer files: the broker starts, rebuilds the index from the timer topic, and the
/// pending timers still fire.
#[tokio::test]
async fn damaged_timer_files_are_rebuilt_from_the_timer_topic() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let due = now_ms() + 2000;
    {
        let b = broker_on(Some(&data));
        let c = RawClient::connect(b.broker_addr()).await.unwrap();
        for i in 0..3 {
            send_at(&c, "tm", &format!("d{i}"), due + i).await;
        }
        // indexed and checkpointed
        eventually(Duration::from_secs(5), || async { data.join("timer/log").read_dir().ok()?.next().map(|_| ()) }).await;
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    std::fs::write(data.join("timer/checkpoint"), b"not a checkpoint at all").unwrap();
    std::fs::write(data.join("timer/wheel"), b"junk").unwrap();
    let b = broker_on(Some(&data));
    let c = RawClient::connect(b.broker_addr()).await.unwrap();
    let got = wait_for(&c, "tm", 3).await;
    let bodies: Vec<String> = got.iter().map(|m| String::from_utf8_lossy(&m.body).into_owned()).collect();
    assert_eq!(bodies, vec!["d0", "d1", "d2"]);
}

/// Timers beyond the roll window wait in roll entries, are stored again in the timer topic when the
/// window ends, and still fire once, on time, with their identity; one recalled while it waits in a
/// roll never fires.
#[tokio::test]
async fn far_timers_roll_and_can_be_recalled_while_rolling() {
    let b = TestBroker::builder()
        .topic("tm", 1)
        .configure(|c| {
            c.timer_precision_ms = 100;
            c.timer_roll_window_slot = 5;
        })
        .start()
        .unwrap();
    let c = RawClient::connect(b.broker_addr()).await.unwrap();
    let due = now_ms() + 1800;
    let (kept, _) = send_at(&c, "tm", "rolled", due).await;
    let (_, h) = send_at(&c, "tm", "recalled in a roll", due + 50).await;
    // indexed as a roll first (the recall finds it through the key index)
    tokio::time::sleep(Duration::from_millis(200)).await;
    let r = c.request(req::recall("pg", "tm", &h.unwrap()), T).await.unwrap();
    assert_eq!(r.code, 0, "{:?}", r.remark);
    let (_, control) = send_at(&c, "tm", "control", due + 400).await;
    assert!(control.is_some());
    let got = wait_for(&c, "tm", 2).await;
    let bodies: Vec<String> = got.iter().map(|m| String::from_utf8_lossy(&m.body).into_owned()).collect();
    assert_eq!(bodies, vec!["rolled", "control"]);
    assert!(got.iter().all(|m| m.store_timestamp >= due_of(m)), "never early");
    assert_eq!(prop(&got[0], "UNIQ_KEY").as_deref(), Some(kept.unique_id.as_str()));
    assert_eq!(prop(&got[0], "TIMER_ROLL_TIMES"), None);
    // the far ones were stored again: 3 sends + 1 recall marker + the rolled copies
    let max = c.request(req::max_offset("rmq_sys_wheel_timer", 0), T).await.unwrap();
    assert!(req::ext_i64(&max, "offset").unwrap_or(0) > 5, "rolled copies in the timer topic: {:?}", max.ext_fields);
}

/// SEND_BATCH_MESSAGE mixing plain and timer messages (the three 5.x properties): the plain ones
/// are readable at once, each timer waits for its own time and then arrives with its identity and
/// properties; the answer lists one recall handle per message (empty for the plain ones), and a
/// handle recalls its own message only.
#[tokio::test]
async fn timers_inside_a_batch_each_wait_for_their_own_time() {
    let b = broker_on(None);
    let c = RawClient::connect(b.broker_addr()).await.unwrap();
    let sent_at = now_ms();
    let at = |ms: i64| (sent_at + ms).to_string();
    let msgs = vec![
        Msg::new("tm", "plain0").tags("P"),
        Msg::new("tm", "deliver_ms").tags("T").prop("TIMER_DELIVER_MS", &at(2600)).prop("due", &at(2600)).prop("k", "v"),
        Msg::new("tm", "plain1").tags("P"),
        // relative delays: due at the broker's receipt + delay, so at least our send time + delay
        Msg::new("tm", "delay_ms").tags("T").prop("TIMER_DELAY_MS", "1300").prop("due", &at(1300)),
        Msg::new("tm", "delay_sec").tags("T").prop("TIMER_DELAY_SEC", "1").prop("due", &at(1000)),
        Msg::new("tm", "recalled").tags("T").prop("TIMER_DELIVER_MS", &at(2200)).prop("due", &at(2200)),
    ];
    let r = c.request(req::send_batch("pg", "tm", 0, &msgs), T).await.unwrap();
    assert_eq!(r.code, 0, "{:?}", r.remark);
    let handles: Vec<String> = r.ext("recallHandle").expect("a batch with timers answers recall handles").split(',').map(String::from).collect();
    assert_eq!(handles.len(), msgs.len(), "one handle per message: {handles:?}");
    for (m, h) in msgs.iter().zip(&handles) {
        let timer = m.properties(true).contains("TIMER_");
        assert_eq!(!h.is_empty(), timer, "a handle exactly for the timer messages ({:?})", String::from_utf8_lossy(&m.body));
    }
    let rc = c.request(req::recall("pg", "tm", &handles[5]), T).await.unwrap();
    assert_eq!(rc.code, 0, "{:?}", rc.remark);
    assert_eq!(rc.ext("msgId"), Some(msgs[5].unique_id.as_str()), "the handle names its own message");

    let now = pull_all(&c, "tm", 0).await;
    let bodies = |v: &[StoredMessage]| v.iter().map(|m| String::from_utf8_lossy(&m.body).into_owned()).collect::<Vec<_>>();
    let plain: Vec<String> = bodies(&now).into_iter().filter(|b| b.starts_with("plain")).collect();
    assert_eq!(plain, ["plain0", "plain1"], "the plain messages of the batch are readable at once");
    for m in now.iter().filter(|m| prop(m, "TAGS").as_deref() == Some("T")) {
        assert!(m.store_timestamp >= due_of(m), "{:?} delivered {} ms early", String::from_utf8_lossy(&m.body), due_of(m) - m.store_timestamp);
    }

    let got = wait_for(&c, "tm", 5).await;
    assert_eq!(bodies(&got), ["plain0", "plain1", "delay_sec", "delay_ms", "deliver_ms"], "each timer once, in due-time order, the recalled one never");
    for (m, orig) in got.iter().skip(2).map(|m| (m, msgs.iter().find(|s| s.body.as_slice() == m.body.as_ref()).unwrap())) {
        assert!(m.store_timestamp >= due_of(m), "{:?} delivered {} ms early", String::from_utf8_lossy(&m.body), due_of(m) - m.store_timestamp);
        assert_eq!(prop(m, "UNIQ_KEY").as_deref(), Some(orig.unique_id.as_str()), "the unique id is kept");
        assert_eq!(prop(m, "TAGS").as_deref(), Some("T"));
        assert_eq!(m.topic, "tm");
        assert_eq!(prop(m, "TIMER_OUT_MS"), None);
    }
    assert_eq!(prop(&got[4], "k").as_deref(), Some("v"), "user properties are kept");
    let ids: std::collections::HashSet<Option<String>> = got.iter().map(|m| prop(m, "UNIQ_KEY")).collect();
    assert_eq!(ids.len(), 5, "unique ids stay distinct");
}

/// One delivery time beyond timerMaxDelay refuses the whole batch, as it refuses a single send;
/// a batch without timers answers no recall handle.
#[tokio::test]
async fn a_batch_with_a_timer_beyond_the_max_delay_is_refused_whole() {
    let b = broker_on(None);
    let c = RawClient::connect(b.broker_addr()).await.unwrap();
    let far = (now_ms() + 8 * 86_400_000).to_string();
    let msgs = [Msg::new("tm", "plain"), Msg::new("tm", "too far").prop("TIMER_DELIVER_MS", &far)];
    let r = c.request(req::send_batch("pg", "tm", 0, &msgs), T).await.unwrap();
    assert_eq!(r.code, 13, "MESSAGE_ILLEGAL: {:?}", r.remark);
    assert!(r.remark.as_deref().unwrap_or("").contains("timerMaxDelay"), "{:?}", r.remark);
    let plain = [Msg::new("tm", "a"), Msg::new("tm", "b")];
    let r = c.request(req::send_batch("pg", "tm", 0, &plain), T).await.unwrap();
    assert_eq!(r.code, 0, "{:?}", r.remark);
    assert_eq!(r.ext("recallHandle"), None);
    let got = pull_all(&c, "tm", 0).await;
    let bodies: Vec<&[u8]> = got.iter().map(|m| m.body.as_ref()).collect();
    assert_eq!(bodies, [b"a".as_slice(), b"b"], "nothing of the refused batch was stored");
    let timer_max = c.request(req::max_offset("rmq_sys_wheel_timer", 0), T).await.unwrap();
    assert_eq!(req::ext_i64(&timer_max, "offset").unwrap_or(0), 0, "nor parked in the timer topic");
}

async fn max_offset(c: &RawClient) -> i64 {
    c.request(req::max_offset("tm", 0), T).await.ok().and_then(|r| req::ext_i64(&r, "offset")).unwrap_or(0)
}

/// A crash (no final flush, no last checkpoint) while a burst of timers due in the same slot is
/// being delivered: after the restart every acknowledged timer arrives, none before its time, and
/// only timers of the slot being delivered at the crash arrive twice (the documented duplicates);
/// the slot delivered before and the one after are delivered once. One-second slots, the burst due
/// at the start of one: the crash comes while that slot is still the one being delivered.
#[tokio::test]
async fn a_crash_while_a_burst_fires_loses_nothing_and_repeats_only_that_slot() {
    const EARLY: usize = 200;
    const BURST: usize = 50_000;
    const LATE: usize = 200;
    let mut b = TestBroker::builder().topic("tm", 1).configure(|c| c.timer_precision_ms = 1000).start().unwrap();
    let c = RawClient::connect(b.broker_addr()).await.unwrap();
    let t_burst = (now_ms() + 4500) / 1000 * 1000 + 1000;
    let (t_early, t_late) = (t_burst - 2000, t_burst + 2000);
    let mut group_of = std::collections::HashMap::new();
    let groups = [("early", EARLY, t_early), ("burst", BURST, t_burst), ("late", LATE, t_late)];
    for (name, n, due) in groups {
        let msgs: Vec<Msg> = (0..n).map(|_| Msg::new("tm", name).prop("TIMER_DELIVER_MS", &due.to_string()).prop("due", &due.to_string())).collect();
        for chunk in msgs.chunks(500) {
            let r = c.request(req::send_batch("pg", "tm", 0, chunk), T).await.unwrap();
            assert_eq!(r.code, 0, "{:?}", r.remark);
            group_of.extend(chunk.iter().map(|m| (m.unique_id.clone(), name)));
        }
    }
    assert!(now_ms() < t_early, "all sent before the first is due (a slow machine: nothing to test)");
    // the crash comes as soon as the burst's delivery has begun
    let limit = std::time::Instant::now() + Duration::from_secs(30);
    let mut before = 0;
    while before <= EARLY as i64 && std::time::Instant::now() < limit {
        tokio::time::sleep(Duration::from_millis(2)).await;
        before = max_offset(&c).await;
    }
    assert!(before > EARLY as i64, "the burst began");
    b.crash_and_restart().unwrap();
    let c = RawClient::connect(b.broker_addr()).await.unwrap();
    let total = (EARLY + BURST + LATE) as i64;
    let limit = std::time::Instant::now() + Duration::from_secs(60);
    while (max_offset(&c).await < total || now_ms() < t_late + 1000) && std::time::Instant::now() < limit {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let got = pull_all(&c, "tm", 0).await;
    let mut seen: std::collections::HashMap<String, usize> = std::collections::HashMap::new();
    for m in &got {
        assert!(m.store_timestamp >= due_of(m), "delivered {} ms early", due_of(m) - m.store_timestamp);
        *seen.entry(prop(m, "UNIQ_KEY").expect("UNIQ_KEY")).or_default() += 1;
    }
    let lost = group_of.keys().filter(|u| !seen.contains_key(*u)).count();
    assert_eq!(lost, 0, "acknowledged timers lost");
    let repeated: Vec<&str> = seen.iter().filter(|(_, n)| **n > 1).map(|(u, _)| group_of[u]).collect();
    assert!(repeated.iter().all(|g| *g == "burst"), "only the slot being delivered at the crash repeats: {:?}", repeated.iter().find(|g| **g != "burst"));
    eprintln!("{before} on the topic at the crash; {} of the burst delivered again", repeated.len());
}
