//! Delay accuracy and pending-message memory (issue "Delayed messages" benchmark).
//!
//! ```sh
//! cargo build --release && cargo run --release --example delay_bench
//! DELAY_BENCH_MESSAGES=100000 DELAY_BENCH_PENDING=1000000 cargo run --release --example delay_bench
//! ```
//! Starts `target/release/ferrocket dev` (or `$FERROCKET_BIN`), sends N messages whose delivery
//! times (`TIMER_DELIVER_MS`) are spread over 10 s, consumes them with long-polling pulls and
//! reports the delivery error (store time on the real topic minus the requested time). Then sends
//! M messages due in an hour and reports the broker's RSS while they wait.
use ferrocket::client::req::{self, Msg, Pull};
use ferrocket::client::RawClient;
use ferrocket::codec::message::parse_properties;
use ferrocket::codec::stored::decode_all_stored;
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

fn env_usize(k: &str, d: usize) -> usize {
    std::env::var(k).ok().and_then(|v| v.parse().ok()).unwrap_or(d)
}

fn rss_mib(pid: u32) -> f64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| s.lines().find(|l| l.starts_with("VmRSS")).map(String::from))
        .and_then(|l| l.split_whitespace().nth(1).and_then(|v| v.parse::<f64>().ok()))
        .map(|kb| kb / 1024.0)
        .unwrap_or(0.0)
}

async fn send_all(c: &Arc<RawClient>, msgs: Vec<Msg>, in_flight: usize) {
    let sem = Arc::new(tokio::sync::Semaphore::new(in_flight));
    let mut tasks = Vec::with_capacity(msgs.len());
    for m in msgs {
        let permit = sem.clone().acquire_owned().await.unwrap();
        let c = c.clone();
        tasks.push(tokio::spawn(async move {
            let r = c.request(req::send_v2("bench_pg", &m, 0), Duration::from_secs(30)).await;
            drop(permit);
            matches!(r, Ok(ref r) if r.code == 0)
        }));
    }
    let mut ok = 0;
    for t in tasks {
        if t.await.unwrap_or(false) {
            ok += 1;
        }
    }
    eprintln!("sent {ok} acknowledged");
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let n = env_usize("DELAY_BENCH_MESSAGES", 100_000);
    let pending = env_usize("DELAY_BENCH_PENDING", 1_000_000);
    let bin = std::env::var("FERROCKET_BIN").unwrap_or_else(|_| "target/release/ferrocket".into());
    let mut child = Command::new(&bin)
        .args(["dev", "--topic", "delay_bench:1", "--topic", "pending_bench:1"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("start ferrocket dev");
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
    let info: serde_json::Value = serde_json::from_str(&line).unwrap();
    let broker: std::net::SocketAddr = info["brokerAddr"].as_str().unwrap().parse().unwrap();
    let pid = info["pid"].as_u64().unwrap() as u32;
    let c = Arc::new(RawClient::connect(broker).await.unwrap());

    // 1. accuracy: N messages due over the next 10 s (starting 3 s from now)
    let start = req::now_ms() + 3_000;
    let msgs: Vec<Msg> = (0..n)
        .map(|i| {
            let at = start + (i as i64 * 10_000) / n as i64;
            Msg::new("delay_bench", "x").prop("TIMER_DELIVER_MS", &at.to_string()).prop("intended", &at.to_string())
        })
        .collect();
    let t = Instant::now();
    send_all(&c, msgs, 256).await;
    eprintln!("send took {:?}", t.elapsed());
    let consumer = RawClient::connect(broker).await.unwrap();
    let mut errors: Vec<i64> = Vec::with_capacity(n);
    let mut offset = 0;
    let deadline = Instant::now() + Duration::from_secs(60);
    while errors.len() < n && Instant::now() < deadline {
        let pull = Pull::new("bench_cg", "delay_bench", 0, offset).suspend(5000).max(32).build();
        let Ok(resp) = consumer.request(pull, Duration::from_secs(30)).await else { continue };
        if let Some(next) = resp.ext("nextBeginOffset").and_then(|v| v.parse().ok()) {
            offset = next;
        }
        if resp.code != 0 {
            continue;
        }
        for m in decode_all_stored(&resp.body).unwrap_or_default() {
            if let Some(intended) = parse_properties(&m.properties).get("intended").and_then(|v| v.parse::<i64>().ok()) {
                errors.push(m.store_timestamp - intended);
            }
        }
    }
    errors.sort_unstable();
    let pct = |p: f64| errors.get(((errors.len() as f64 - 1.0) * p) as usize).copied().unwrap_or(0);
    println!(
        "delivered {}/{n}; delivery error ms: min {} p50 {} p99 {} max {}",
        errors.len(),
        errors.first().copied().unwrap_or(0),
        pct(0.5),
        pct(0.99),
        errors.last().copied().unwrap_or(0)
    );

    // 2. memory while `pending` messages wait (due in an hour)
    let before = rss_mib(pid);
    let due = req::now_ms() + 3_600_000;
    let msgs: Vec<Msg> =
        (0..pending).map(|_| Msg::new("pending_bench", "p").prop("TIMER_DELIVER_MS", &due.to_string())).collect();
    let t = Instant::now();
    send_all(&c, msgs, 256).await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    println!(
        "{pending} pending timer messages (sent in {:?}): broker RSS {:.1} MiB before, {:.1} MiB after",
        t.elapsed(),
        before,
        rss_mib(pid)
    );
    drop(child.stdin.take());
    let _ = child.wait();
}
