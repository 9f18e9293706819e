//! Kill loop while timers fire: a `ferrocket dev` process receives timer messages (due 0.1 to 2.5 s
//! ahead, precision 100 ms) from a producer that records every acknowledged one, and is SIGKILLed
//! at random moments and restarted on the same directory, `RELIABILITY_TIMER_CYCLES` times (default
//! 4). Every other cycle is a burst instead: `RELIABILITY_TIMER_BURST` timers (default 20 000) sent
//! in SEND_BATCH_MESSAGE batches, all due in the same millisecond, and the kill comes 0-40 ms after
//! that due time, while the burst is being delivered. Then every acknowledged timer must arrive on
//! its topic (**lost** = 0) and none before its due time (**early** = 0). Duplicates (a slot being
//! delivered at a kill is delivered again) are counted and reported. Nothing here asserts a timing.
mod reliability_support;

use ferrocket::client::req::{self, now_ms, Msg};
use ferrocket::client::RawClient;
use ferrocket::codec::message::parse_properties;
use ferrocket::codec::stored::decode_all_stored;
use reliability_support::{report, Broker, Knobs, Rng};
use serde_json::json;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::watch;

const TOPIC: &str = "rel_timer";

async fn producer(mut addr: watch::Receiver<Option<SocketAddr>>, acked: Arc<Mutex<HashMap<String, i64>>>, stop: Arc<AtomicBool>, seed: u64) {
    let mut rng = Rng::new(seed);
    while !stop.load(Ordering::Acquire) {
        let Some(target) = *addr.borrow_and_update() else {
            let _ = tokio::time::timeout(Duration::from_millis(100), addr.changed()).await;
            continue;
        };
        let Ok(Ok(c)) = tokio::time::timeout(Duration::from_secs(2), RawClient::connect(target)).await else {
            let _ = tokio::time::timeout(Duration::from_millis(100), addr.changed()).await;
            continue;
        };
        while !stop.load(Ordering::Acquire) {
            let due = now_ms() + rng.range(100, 2500) as i64;
            let m = Msg::new(TOPIC, "t").prop("TIMER_DELIVER_MS", &due.to_string());
            match c.request(req::send_v2("pg", &m, 0), Duration::from_secs(3)).await {
                Ok(r) if r.code == 0 => {
                    acked.lock().unwrap().insert(m.unique_id.clone(), due);
                }
                Ok(_) => tokio::time::sleep(Duration::from_millis(20)).await,
                Err(_) => break, // connection gone: reconnect to the restarted broker
            }
        }
    }
}

/// Send `n` timers due in the same millisecond (batches of 500), recording the acknowledged ones;
/// returns the due time.
async fn burst(addr: SocketAddr, n: u64, acked: &Mutex<HashMap<String, i64>>) -> i64 {
    let due = now_ms() + 1000;
    let Ok(c) = RawClient::connect(addr).await else { return due };
    let msgs: Vec<Msg> = (0..n).map(|_| Msg::new(TOPIC, "b").prop("TIMER_DELIVER_MS", &due.to_string())).collect();
    for chunk in msgs.chunks(500) {
        if let Ok(r) = c.request(req::send_batch("pg", TOPIC, 0, chunk), Duration::from_secs(5)).await {
            if r.code == 0 {
                acked.lock().unwrap().extend(chunk.iter().map(|m| (m.unique_id.clone(), due)));
            }
        }
    }
    due
}

#[test]
fn kill9_loop_while_timers_fire_loses_nothing_and_delivers_nothing_early() {
    let cycles = Knobs::u64("TIMER_CYCLES", 4);
    let seed = Rng::seed();
    let mut rng = Rng::new(seed);
    let tmp = tempfile::Builder::new().prefix("ferrocket-timer-kill-").tempdir().expect("tempdir");
    let data = tmp.path().join("data");
    let conf = vec![("timerPrecisionMs", "100".to_string())];
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("runtime");
    let acked = Arc::new(Mutex::new(HashMap::new()));
    let stop = Arc::new(AtomicBool::new(false));
    let (tx, rx) = watch::channel(None);
    let mut broker = Broker::start(&data, &conf).unwrap_or_else(|e| panic!("{e}"));
    // the topic exists before the first send (dev mode creates it on first use)
    rt.block_on(async {
        let c = RawClient::connect(broker.addr()).await.unwrap();
        let r = c.request(req::send_v2("pg", &Msg::new(TOPIC, "hello"), 0), Duration::from_secs(5)).await.unwrap();
        assert_eq!(r.code, 0, "{:?}", r.remark);
    });
    tx.send_replace(Some(broker.addr()));
    let task = rt.spawn(producer(rx, acked.clone(), stop.clone(), seed ^ 0x5eed));
    let burst_size = Knobs::u64("TIMER_BURST", 20_000);
    for cycle in 0..cycles {
        if cycle % 2 == 1 {
            let due = rt.block_on(burst(broker.addr(), burst_size, &acked));
            let kill_at = due + rng.range(0, 40) as i64;
            std::thread::sleep(Duration::from_millis((kill_at - now_ms()).max(0) as u64));
        } else {
            std::thread::sleep(Duration::from_millis(rng.range(700, 2000)));
        }
        broker.kill9();
        tx.send_replace(None);
        broker.restart().unwrap_or_else(|e| panic!("restart after cycle {cycle}: {e}"));
        assert!(broker.is_running(), "broker died after restart:\n{}", broker.log_tail(40));
        tx.send_replace(Some(broker.addr()));
    }
    std::thread::sleep(Duration::from_millis(500));
    stop.store(true, Ordering::Release);
    let _ = rt.block_on(task);
    let acked = acked.lock().unwrap().clone();
    let last_due = acked.values().copied().max().unwrap_or(0);
    let addr = broker.addr();
    let (seen, early, dups) = rt.block_on(async {
        let c = RawClient::connect(addr).await.unwrap();
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let mut seen: HashMap<String, u32> = HashMap::new();
            let mut early = 0u64;
            let mut offset = 0i64;
            loop {
                let resp = c.request(req::Pull::new("reader", TOPIC, 0, offset).max(32).build(), Duration::from_secs(5)).await.unwrap();
                if resp.code != 0 {
                    break;
                }
                for m in decode_all_stored(&resp.body).expect("decodes") {
                    let p = parse_properties(&m.properties);
                    let Some(u) = p.get("UNIQ_KEY") else { continue };
                    if let Some(due) = p.get("TIMER_DELIVER_MS").and_then(|v| v.parse::<i64>().ok()) {
                        early += (m.store_timestamp < due) as u64;
                    }
                    *seen.entry(u.to_string()).or_default() += 1;
                }
                offset = resp.ext("nextBeginOffset").and_then(|v| v.parse().ok()).unwrap_or(offset);
            }
            let missing = acked.keys().filter(|u| !seen.contains_key(*u)).count();
            if (missing == 0 && now_ms() > last_due) || Instant::now() > deadline {
                let dups = seen.values().filter(|n| **n > 1).count() as u64;
                return (seen, early, dups);
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    });
    let lost: Vec<&String> = acked.keys().filter(|u| !seen.contains_key(*u)).collect();
    report(
        "timer_kill_loop",
        json!({ "seed": seed, "cycles": cycles, "burst": burst_size, "acked": acked.len(), "lost": lost.len(), "early": early, "duplicated": dups }),
    );
    assert!(acked.len() > 10, "the producer got acknowledgements ({})", acked.len());
    assert!(lost.is_empty(), "{} acknowledged timers never delivered (e.g. {:?}); seed {seed}\n{}", lost.len(), lost.first(), broker.log_tail(30));
    assert_eq!(early, 0, "timers delivered before their due time; seed {seed}");
}
