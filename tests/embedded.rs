//! The embedding API (`ferrocket::broker::TestBroker`): pre-declared topics are routable at once,
//! restart and crash keep data, many brokers run in one process, and it works from several
//! runtimes.
use ferrocket::broker::TestBroker;
use ferrocket::client::req::{self, Msg, Pull};
use ferrocket::client::RawClient;
use ferrocket::codec::stored::decode_all_stored;
use std::time::Duration;

const T: Duration = Duration::from_secs(5);

async fn send(c: &RawClient, topic: &str, body: &str, queue: i32) -> i64 {
    let resp = c.request(req::send_v2("pg", &Msg::new(topic, body), queue), T).await.expect("send");
    assert_eq!(resp.code, 0, "send failed: {:?}", resp.remark);
    resp.ext("queueOffset").and_then(|v| v.parse().ok()).expect("queueOffset")
}

async fn pull_bodies(c: &RawClient, topic: &str, queue: i32) -> Vec<String> {
    let resp = c.request(Pull::new("cg", topic, queue, 0).max(32).build(), T).await.expect("pull");
    if resp.code != 0 {
        return Vec::new();
    }
    decode_all_stored(&resp.body)
        .expect("stored messages decode")
        .into_iter()
        .map(|m| String::from_utf8_lossy(&m.body).into_owned())
        .collect()
}

#[tokio::test]
async fn predeclared_topic_is_routable_when_start_returns() {
    let b = TestBroker::builder().topic("orders", 3).group("billing").start().unwrap();
    let ns = RawClient::connect(b.namesrv_addr()).await.unwrap();
    let resp = ns.request(req::route("orders"), T).await.unwrap();
    assert_eq!(resp.code, 0, "route: {:?}", resp.remark);
    let body: serde_json::Value = serde_json::from_slice(&resp.body).unwrap();
    assert_eq!(body["queueDatas"][0]["readQueueNums"], 3);
    assert_eq!(body["brokerDatas"][0]["brokerAddrs"]["0"], b.broker_addr().to_string());
}

#[tokio::test]
async fn restart_and_crash_keep_messages_and_ports() {
    let mut b = TestBroker::builder().topic("keep", 1).start().unwrap();
    let addr = b.broker_addr();
    {
        let c = RawClient::connect(addr).await.unwrap();
        for i in 0..3 {
            assert_eq!(send(&c, "keep", &format!("m{i}"), 0).await, i);
        }
    }
    b.restart().unwrap();
    assert_eq!(b.broker_addr(), addr, "restart keeps the port");
    let c = RawClient::connect(addr).await.unwrap();
    assert_eq!(send(&c, "keep", "m3", 0).await, 3);
    drop(c);
    b.crash_and_restart().unwrap();
    let c = RawClient::connect(b.broker_addr()).await.unwrap();
    assert_eq!(pull_bodies(&c, "keep", 0).await, vec!["m0", "m1", "m2", "m3"]);
}

#[test]
fn twenty_brokers_in_one_process_from_plain_threads() {
    let handles: Vec<_> = (0..20)
        .map(|i| {
            std::thread::spawn(move || {
                let b = TestBroker::builder().topic("t", 1).start().expect("start");
                let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
                rt.block_on(async {
                    let c = RawClient::connect(b.broker_addr()).await.unwrap();
                    send(&c, "t", &format!("from broker {i}"), 0).await;
                    assert_eq!(pull_bodies(&c, "t", 0).await, vec![format!("from broker {i}")]);
                });
                b.data_dir().to_path_buf()
            })
        })
        .collect();
    let dirs: Vec<_> = handles.into_iter().map(|h| h.join().expect("broker thread")).collect();
    for d in dirs {
        assert!(!d.exists(), "temporary data dir {} removed on drop", d.display());
    }
}

#[actix_rt::test]
async fn works_under_actix_rt() {
    let b = TestBroker::start().unwrap();
    let c = RawClient::connect(b.broker_addr()).await.unwrap();
    // auto-created topic through TBW102
    assert_eq!(send(&c, "auto_topic", "x", 0).await, 0);
}

/// Issue 16 (8): a graceful shutdown answers the pulls parked by long polling (with what their
/// queue holds) instead of dropping their connections unanswered.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_answers_parked_pulls() {
    let b = TestBroker::builder().topic("sd_parked", 1).start().unwrap();
    let c = RawClient::connect(b.broker_addr()).await.unwrap();
    let pull = Pull::new("sd_cg", "sd_parked", 0, 0).suspend(20_000).build();
    let pending = tokio::spawn(async move {
        let r = c.request(pull, Duration::from_secs(30)).await;
        (r, c)
    });
    // Let the pull reach the broker and park (an empty queue at offset 0).
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(!pending.is_finished(), "the pull should be parked, not answered");
    tokio::task::spawn_blocking(move || drop(b)).await.unwrap();
    let (resp, _c) = pending.await.unwrap();
    let resp = resp.expect("the parked pull was answered before the connection closed");
    assert_eq!(resp.code, 19, "PULL_NOT_FOUND for an empty queue: {:?}", resp.remark);
}
