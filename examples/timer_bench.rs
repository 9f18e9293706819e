//! Timer wheel benchmarks (issue 22), not run in CI; `scripts/bench-timer.sh` runs them.
//!
//! ```sh
//! TIMER_BENCH_MODE=pending TIMER_BENCH_PENDING=10000000 cargo run --release --example timer_bench
//! TIMER_BENCH_MODE=lateness TIMER_BENCH_RATE=10000 TIMER_BENCH_SECS=60 cargo run --release --example timer_bench
//! TIMER_BENCH_MODE=burst TIMER_BENCH_BURST=1000000 cargo run --release --example timer_bench
//! ```
//! Starts `$FERROCKET_BIN` (default `target/release/ferrocket`) as `dev` on `$TIMER_BENCH_DIR`
//! (default a fresh directory under /tmp, deleted afterwards) and reports one `TIMER_BENCH {json}`
//! line per measurement:
//!
//! * `pending`: N timers (16-byte bodies) due 1 h to 7 days ahead, sent over 4 connections with
//!   256 requests in flight each: acknowledged send rate, time until all are indexed
//!   (`timerOffsetBehind` = 0), broker RSS (now and peak) and disk use; then the broker is
//!   restarted without its `timer/` directory, which rebuilds the wheel from the timer topic: the
//!   pure index (insert) rate and the RSS while inserting.
//! * `fill`: for sizes the send path cannot fill in reasonable time (100 M timers at ~20 k
//!   single sends/s would take 80 minutes): N timers (16-byte bodies, due 1 h to 7 days ahead)
//!   are written straight into a store on `$TIMER_BENCH_DIR` in batches, as the send path stores
//!   them (the client's properties, the broker's stamps, the same timer redirect), with no broker
//!   running; then the broker is started on it and indexes them all (its wheel is new): the
//!   insert rate, the broker RSS while inserting and with N pending, and the disk use;
//!   `$TIMER_BENCH_INSERT_RUNS` (1) times, each into a new wheel.
//! * `lateness`: open loop, R timers per second due 3 s after sending, for S seconds, at
//!   `timerPrecisionMs=100`; lateness = store time on the real topic - due time (never negative).
//! * `burst`: N timers due in the same millisecond; drain rate from the due time until all are on
//!   the real topic (polled with GET_MAX_OFFSET).
//! * `wire`: timers inserted through the wire by the load generator (`$FERROCKET_BENCH_BIN`,
//!   default `target/release/ferrocket-bench`: `produce --timer-spread 7d`), SEND_BATCH_MESSAGE
//!   batches of `$TIMER_BENCH_BATCH` (64) over `$TIMER_BENCH_CONNS` (4) connections with
//!   `$TIMER_BENCH_INFLIGHT` (8) requests in flight each, due times scattered from 1 h to 7 days
//!   ahead, for `$TIMER_BENCH_SECS` seconds or `$TIMER_BENCH_WIRE_TOTAL` timers: timers/s
//!   acknowledged, the broker's CPU per timer (while sending, and until all are indexed), the time
//!   until all are indexed after the last answer, RSS. With `$TIMER_BENCH_PREFILL` > 0 the store
//!   is first filled as in `fill` and indexed (the wheel then holds that many pending) before the
//!   sends start.
use ferrocket::client::req::{self, now_ms, Msg, Pull};
use ferrocket::client::RawClient;
use ferrocket::codec::message::parse_properties;
use ferrocket::codec::stored::decode_all_stored;
use ferrocket::codec::RemotingCommand;
use ferrocket::core::redirect::redirect_timer;
use ferrocket::store::{MessageStore, NewMessage, StoreConfig};
use futures_util::StreamExt;
use serde_json::json;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

const TOPIC: &str = "timer_bench";

fn env_u64(k: &str, d: u64) -> u64 {
    std::env::var(k).ok().and_then(|v| v.parse().ok()).unwrap_or(d)
}

fn proc_kib(pid: u32, field: &str) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| s.lines().find(|l| l.starts_with(field)).map(String::from))
        .and_then(|l| l.split_whitespace().nth(1).and_then(|v| v.parse().ok()))
        .unwrap_or(0)
}

fn du_mib(p: &Path) -> f64 {
    fn walk(p: &Path) -> u64 {
        use std::os::unix::fs::MetadataExt;
        let Ok(m) = std::fs::symlink_metadata(p) else { return 0 };
        if m.is_dir() {
            std::fs::read_dir(p).map(|rd| rd.filter_map(|e| e.ok()).map(|e| walk(&e.path())).sum()).unwrap_or(0)
        } else {
            m.blocks() * 512
        }
    }
    walk(p) as f64 / (1 << 20) as f64
}

struct Broker {
    child: Child,
    addr: std::net::SocketAddr,
    pid: u32,
}

fn start(dir: &Path, conf: &str) -> Broker {
    let bin = std::env::var("FERROCKET_BIN").unwrap_or_else(|_| "target/release/ferrocket".into());
    let conf_path = dir.with_extension("conf");
    std::fs::write(&conf_path, conf).unwrap();
    let mut child = Command::new(&bin)
        .args(["dev", "--topic", &format!("{TOPIC}:1"), "--data-dir"])
        .arg(dir)
        .arg("-c")
        .arg(&conf_path)
        .env("FERROCKET_LOG", "warn")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("start ferrocket dev");
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
    let info: serde_json::Value = serde_json::from_str(&line).expect("ready line");
    let addr = info["brokerAddr"].as_str().unwrap().parse().unwrap();
    let pid = info["pid"].as_u64().unwrap() as u32;
    Broker { child, addr, pid }
}

fn stop(mut b: Broker) {
    drop(b.child.stdin.take());
    let _ = b.child.wait();
}

fn report(name: &str, v: serde_json::Value) {
    println!("TIMER_BENCH {}", json!({ "bench": name, "figures": v }));
}

async fn status(c: &RawClient) -> serde_json::Map<String, serde_json::Value> {
    let r = c.request(RemotingCommand::request(28, 0), Duration::from_secs(10)).await.expect("brokerStatus");
    let v: serde_json::Value = serde_json::from_slice(&r.body).unwrap_or_default();
    v.get("table").and_then(|t| t.as_object()).cloned().unwrap_or_default()
}

fn stat_i64(s: &serde_json::Map<String, serde_json::Value>, k: &str) -> i64 {
    s.get(k).and_then(|v| v.as_str()).and_then(|v| v.parse().ok()).unwrap_or(-1)
}

/// Send `n` timers over `conns` connections; `due(i)` gives each one's due time. Returns acked.
async fn send_many(addr: std::net::SocketAddr, n: u64, conns: u64, inflight: usize, due: Arc<dyn Fn(u64) -> i64 + Send + Sync>, pid: u32) -> u64 {
    let mut tasks = Vec::new();
    let started = Instant::now();
    for k in 0..conns {
        let due = due.clone();
        tasks.push(tokio::spawn(async move {
            let c = RawClient::connect(addr).await.unwrap();
            let c = &c;
            let idx = (k..n).step_by(conns as usize);
            futures_util::stream::iter(idx)
                .map(|i| {
                    let m = Msg::new(TOPIC, "0123456789abcdef").prop("TIMER_DELIVER_MS", &due(i).to_string());
                    async move { matches!(c.request(req::send_v2("bench_pg", &m, 0), Duration::from_secs(60)).await, Ok(r) if r.code == 0) }
                })
                .buffer_unordered(inflight)
                .fold((0u64, 0u64), |(ok, seen), good| async move {
                    let seen = seen + 1;
                    if k == 0 && seen % 500_000 == 0 {
                        let total = seen * conns;
                        eprintln!(
                            "  sent ~{total} in {:.0?} ({:.0}/s), broker RSS {} MiB",
                            started.elapsed(),
                            total as f64 / started.elapsed().as_secs_f64(),
                            proc_kib(pid, "VmRSS:") / 1024
                        );
                    }
                    (ok + good as u64, seen)
                })
                .await
                .0
        }));
    }
    let mut ok = 0;
    for t in tasks {
        ok += t.await.unwrap_or(0);
    }
    ok
}

async fn wait_indexed(c: &RawClient, pid: u32, limit: Duration) -> (Duration, u64) {
    let t = Instant::now();
    let mut peak = 0;
    loop {
        let s = status(c).await;
        peak = peak.max(proc_kib(pid, "VmRSS:"));
        if stat_i64(&s, "timerOffsetBehind") == 0 || t.elapsed() > limit {
            return (t.elapsed(), peak);
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn pending(dir: &Path) {
    let n = env_u64("TIMER_BENCH_PENDING", 10_000_000);
    let b = start(dir, "");
    let base = now_ms() + 3_600_000;
    let span = 7 * 86_400_000 - 2 * 3_600_000;
    let due: Arc<dyn Fn(u64) -> i64 + Send + Sync> = Arc::new(move |i| base + (i as i64 * span) / n as i64);
    let t = Instant::now();
    let acked = send_many(b.addr, n, 4, 256, due, b.pid).await;
    let send_secs = t.elapsed().as_secs_f64();
    let c = RawClient::connect(b.addr).await.unwrap();
    let (lag, _) = wait_indexed(&c, b.pid, Duration::from_secs(600)).await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let s = status(&c).await;
    report(
        "pending",
        json!({
            "timers": n, "acked": acked, "send_rate": (acked as f64 / send_secs).round(),
            "indexed_after_send_ms": lag.as_millis() as u64,
            "timerCongestNum": stat_i64(&s, "timerCongestNum"),
            "rss_mib": proc_kib(b.pid, "VmRSS:") / 1024, "peak_rss_mib": proc_kib(b.pid, "VmHWM:") / 1024,
            "disk_mib": { "total": du_mib(dir), "commitlog": du_mib(&dir.join("commitlog")), "consumequeue": du_mib(&dir.join("consumequeue")),
                          "index": du_mib(&dir.join("index")), "timer": du_mib(&dir.join("timer")), "meta": du_mib(&dir.join("meta")) },
        }),
    );
    stop(b);
    // the pure insert rate: rebuild the wheel from the timer topic
    std::fs::remove_dir_all(dir.join("timer")).unwrap();
    let t = Instant::now();
    let b = start(dir, "");
    let c = RawClient::connect(b.addr).await.unwrap();
    let (_, peak) = wait_indexed(&c, b.pid, Duration::from_secs(1800)).await;
    let secs = t.elapsed().as_secs_f64();
    let s = status(&c).await;
    report(
        "insert (rebuild from the timer topic)",
        json!({ "timers": n, "secs": secs, "insert_rate": (n as f64 / secs).round(), "timerCongestNum": stat_i64(&s, "timerCongestNum"),
                "rss_mib": proc_kib(b.pid, "VmRSS:") / 1024, "peak_rss_mib_sampled": peak / 1024, "peak_rss_mib": proc_kib(b.pid, "VmHWM:") / 1024 }),
    );
    stop(b);
}

/// Write `n` timer messages into a store as the send path would (see the module docs).
fn free_gib(p: &Path) -> u64 {
    let c = std::ffi::CString::new(p.as_os_str().as_encoded_bytes()).unwrap();
    let mut st: libc::statvfs = unsafe { std::mem::zeroed() };
    // SAFETY: a valid NUL-terminated path and a zeroed statvfs to fill
    if unsafe { libc::statvfs(c.as_ptr(), &mut st) } != 0 {
        return 0;
    }
    (st.f_bavail as u64 * st.f_frsize as u64) >> 30
}

/// Returns (timers written, seconds). Stops early when less than `$TIMER_BENCH_MIN_FREE_GIB`
/// (20) would be left free on the disk.
fn fill_store(dir: &Path, n: u64) -> (u64, f64) {
    let min_free = env_u64("TIMER_BENCH_MIN_FREE_GIB", 20);
    let mut written = n;
    let mut cfg = StoreConfig::new(dir.to_path_buf(), "127.0.0.1:10911".parse().unwrap());
    cfg.segment_size = 64 << 20; // as `ferrocket dev` (its mappedFileSizeCommitLog)
    let store = MessageStore::open(cfg).expect("open store");
    let now = now_ms();
    let base = now + 3_600_000;
    let span = 7 * 86_400_000 - 2 * 3_600_000;
    let max_delay = Duration::from_secs(7 * 86_400 + 3600);
    let host: std::net::SocketAddr = "127.0.0.1:40000".parse().unwrap();
    let t = Instant::now();
    let mut batch = Vec::with_capacity(4096);
    for i in 0..n {
        let due = base + (i as i64 * span) / n as i64;
        let client = Msg::new(TOPIC, "0123456789abcdef").prop("TIMER_DELIVER_MS", &due.to_string());
        let uniq = client.unique_id.clone();
        let mut props = parse_properties(&client.properties(true));
        props.remove("WAIT");
        props.insert("CLUSTER", "DefaultCluster");
        props.insert("MSG_REGION", "DefaultRegion");
        props.insert("TRACE_ON", "false");
        let mut m = NewMessage {
            topic: TOPIC.into(),
            queue_id: 0,
            flag: 0,
            sys_flag: 0,
            born_timestamp: now,
            born_host: host,
            reconsume_times: 0,
            prepared_transaction_offset: 0,
            body: bytes::Bytes::from_static(b"0123456789abcdef"),
            properties: props.encode(),
            tags_code: 0,
            keys: Vec::new(),
            uniq_key: Some(uniq),
        };
        assert!(redirect_timer(&mut m, &|| now, max_delay).expect("within timerMaxDelay"), "a timer");
        batch.push(m);
        if batch.len() == 4096 || i + 1 == n {
            store.put(std::mem::take(&mut batch)).expect("put");
        }
        if (i + 1) % 1_000_000 == 0 && free_gib(dir) < min_free {
            eprintln!("  stopped at {} timers: less than {min_free} GiB would be left free on the disk", i + 1);
            if !batch.is_empty() {
                store.put(std::mem::take(&mut batch)).expect("put");
            }
            written = i + 1;
            break;
        }
        if (i + 1) % 10_000_000 == 0 {
            eprintln!("  written {} in {:.0?} ({:.0}/s), disk {:.0} MiB", i + 1, t.elapsed(), (i + 1) as f64 / t.elapsed().as_secs_f64(), du_mib(dir));
        }
    }
    store.flush().expect("flush");
    drop(store);
    (written, t.elapsed().as_secs_f64())
}

async fn fill(dir: &Path) {
    let (n, write_secs) = fill_store(dir, env_u64("TIMER_BENCH_PENDING", 10_000_000));
    let written_mib = du_mib(dir);
    eprintln!("  {n} timers written in {write_secs:.0} s, {written_mib:.0} MiB; starting the broker");
    // each run indexes the whole timer topic into a new wheel (the timer directory is removed)
    for run in 1..=env_u64("TIMER_BENCH_INSERT_RUNS", 1) {
        let _ = std::fs::remove_dir_all(dir.join("timer"));
        let t = Instant::now();
        let b = start(dir, "");
        let c = RawClient::connect(b.addr).await.unwrap();
        let (_, peak) = wait_indexed(&c, b.pid, Duration::from_secs(7200)).await;
        let secs = t.elapsed().as_secs_f64();
        tokio::time::sleep(Duration::from_secs(2)).await;
        let s = status(&c).await;
        report(
            "fill + insert (index the timer topic)",
            json!({ "run": run, "timers": n, "write_secs": write_secs, "insert_secs": secs, "insert_rate": (n as f64 / secs).round(),
                    "timerCongestNum": stat_i64(&s, "timerCongestNum"), "timerOffsetBehind": stat_i64(&s, "timerOffsetBehind"),
                    "rss_mib": proc_kib(b.pid, "VmRSS:") / 1024, "peak_rss_mib_sampled": peak / 1024, "peak_rss_mib": proc_kib(b.pid, "VmHWM:") / 1024,
                    "disk_mib": { "total": du_mib(dir), "commitlog": du_mib(&dir.join("commitlog")), "consumequeue": du_mib(&dir.join("consumequeue")),
                                  "index": du_mib(&dir.join("index")), "timer": du_mib(&dir.join("timer")), "meta": du_mib(&dir.join("meta")) } }),
        );
        stop(b);
    }
}

async fn lateness(dir: &Path) {
    let rate = env_u64("TIMER_BENCH_RATE", 10_000);
    let secs = env_u64("TIMER_BENCH_SECS", 60);
    let precision = env_u64("TIMER_BENCH_PRECISION", 100);
    let b = start(dir, &format!("timerPrecisionMs={precision}\n"));
    let total = rate * secs;
    let producer = Arc::new(RawClient::connect(b.addr).await.unwrap());
    let addr = b.addr;
    let consumer = tokio::spawn(async move {
        let c = RawClient::connect(addr).await.unwrap();
        let mut late: Vec<i64> = Vec::with_capacity(total as usize);
        let mut offset = 0;
        let deadline = Instant::now() + Duration::from_secs(secs + 60);
        while (late.len() as u64) < total && Instant::now() < deadline {
            let Ok(resp) = c.request(Pull::new("bench_cg", TOPIC, 0, offset).suspend(2000).max(32).build(), Duration::from_secs(10)).await else { continue };
            if let Some(next) = resp.ext("nextBeginOffset").and_then(|v| v.parse().ok()) {
                offset = next;
            }
            if resp.code == 0 {
                for m in decode_all_stored(&resp.body).unwrap_or_default() {
                    if let Some(due) = parse_properties(&m.properties).get("due").and_then(|v| v.parse::<i64>().ok()) {
                        late.push(m.store_timestamp - due);
                    }
                }
            }
        }
        late
    });
    let per_tick = (rate / 100).max(1);
    let mut tick = tokio::time::interval(Duration::from_millis(10));
    let started = Instant::now();
    let mut sent = 0u64;
    while sent < total {
        tick.tick().await;
        for _ in 0..per_tick {
            let due = now_ms() + 3000;
            let m = Msg::new(TOPIC, "0123456789abcdef").prop("TIMER_DELIVER_MS", &due.to_string()).prop("due", &due.to_string());
            let p = producer.clone();
            tokio::spawn(async move { p.request(req::send_v2("bench_pg", &m, 0), Duration::from_secs(30)).await });
            sent += 1;
        }
    }
    let send_secs = started.elapsed().as_secs_f64();
    let mut late = consumer.await.unwrap();
    late.sort_unstable();
    let pct = |p: f64| late.get(((late.len() as f64 - 1.0) * p) as usize).copied().unwrap_or(-1);
    report(
        "lateness",
        json!({ "rate": rate, "secs": secs, "timerPrecisionMs": precision, "sent": sent, "achieved_send_rate": (sent as f64 / send_secs).round(),
                "delivered": late.len(), "early": late.iter().filter(|l| **l < 0).count(),
                "lateness_ms": { "min": late.first(), "p50": pct(0.5), "p99": pct(0.99), "p999": pct(0.999), "max": late.last() },
                "peak_rss_mib": proc_kib(b.pid, "VmHWM:") / 1024 }),
    );
    stop(b);
}

async fn burst(dir: &Path) {
    let n = env_u64("TIMER_BENCH_BURST", 1_000_000);
    let b = start(dir, "");
    // due once all are sent and indexed: at least 30 s, or n at 12 k/s
    let due = now_ms() + 30_000.max(n as i64 / 12);
    let t = Instant::now();
    let acked = send_many(b.addr, n, 4, 256, Arc::new(move |_| due), b.pid).await;
    eprintln!("  {acked} sent in {:.1?}; due in {} ms", t.elapsed(), due - now_ms());
    let c = RawClient::connect(b.addr).await.unwrap();
    let (mut first, mut done) = (None, None);
    while done.is_none() {
        let m = c.request(req::max_offset(TOPIC, 0), Duration::from_secs(10)).await.ok().and_then(|r| req::ext_i64(&r, "offset")).unwrap_or(0);
        let now = now_ms();
        if m > 0 && first.is_none() {
            first = Some(now);
        }
        if m as u64 >= acked {
            done = Some(now);
        }
        if now > due + 600_000 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let (first, done) = (first.unwrap_or(0), done.unwrap_or(0));
    report(
        "burst",
        json!({ "timers": n, "acked": acked, "first_after_due_ms": first - due, "all_after_due_ms": done - due,
                "drain_rate": (acked as f64 * 1000.0 / ((done - due).max(1)) as f64).round(), "peak_rss_mib": proc_kib(b.pid, "VmHWM:") / 1024 }),
    );
    stop(b);
}

/// The broker's user + system CPU time so far, µs (from /proc/<pid>/stat, clock ticks of 10 ms).
fn cpu_us(pid: u32) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // the fields after the command name (which may hold spaces) in parentheses
    let rest = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or("");
    let f: Vec<u64> = rest.split_whitespace().map(|v| v.parse().unwrap_or(0)).collect();
    (f.get(11).copied().unwrap_or(0) + f.get(12).copied().unwrap_or(0)) * 10_000
}

fn disk(dir: &Path) -> serde_json::Value {
    json!({ "total": du_mib(dir), "commitlog": du_mib(&dir.join("commitlog")), "consumequeue": du_mib(&dir.join("consumequeue")),
            "index": du_mib(&dir.join("index")), "timer": du_mib(&dir.join("timer")), "meta": du_mib(&dir.join("meta")) })
}

async fn wire(dir: &Path) {
    let prefill = env_u64("TIMER_BENCH_PREFILL", 0);
    let mut prefilled = json!(null);
    if prefill > 0 {
        let (n, write_secs) = fill_store(dir, prefill);
        eprintln!("  {n} timers written in {write_secs:.0} s; the broker indexes them");
        prefilled = json!({ "timers": n, "write_secs": write_secs });
    }
    let t = Instant::now();
    let b = start(dir, "");
    let c = RawClient::connect(b.addr).await.unwrap();
    if prefill > 0 {
        let (_, peak) = wait_indexed(&c, b.pid, Duration::from_secs(7200)).await;
        let secs = t.elapsed().as_secs_f64();
        let s = status(&c).await;
        prefilled["index_secs"] = json!(secs);
        prefilled["index_rate"] = json!((stat_i64(&s, "timerCongestNum") as f64 / secs).round());
        prefilled["timerCongestNum"] = json!(stat_i64(&s, "timerCongestNum"));
        prefilled["rss_mib"] = json!(proc_kib(b.pid, "VmRSS:") / 1024);
        prefilled["peak_rss_mib_sampled"] = json!(peak / 1024);
        eprintln!("  indexed: {prefilled}");
    }
    let bench = std::env::var("FERROCKET_BENCH_BIN").unwrap_or_else(|_| "target/release/ferrocket-bench".into());
    let (conns, inflight, batch) = (env_u64("TIMER_BENCH_CONNS", 4), env_u64("TIMER_BENCH_INFLIGHT", 8), env_u64("TIMER_BENCH_BATCH", 64));
    let mut args: Vec<String> = ["produce", "--broker", &b.addr.to_string(), "--topic", TOPIC, "--queues", "1", "--body", "16", "--uniq-key", "--timer-spread", "7d"]
        .iter()
        .map(|v| v.to_string())
        .collect();
    for (k, v) in [("--conns", conns), ("--inflight", inflight), ("--batch", batch), ("--pid", b.pid as u64)] {
        args.extend([k.to_string(), v.to_string()]);
    }
    match std::env::var("TIMER_BENCH_WIRE_TOTAL").ok().and_then(|v| v.parse::<u64>().ok()) {
        Some(total) => args.extend(["--total".into(), total.to_string(), "--warmup".into(), "0s".into(), "--duration".into(), "3600s".into()]),
        None => args.extend(["--warmup".into(), "2s".into(), "--duration".into(), format!("{}s", env_u64("TIMER_BENCH_SECS", 20))]),
    }
    let pending_before = stat_i64(&status(&c).await, "timerCongestNum").max(0);
    let cpu0 = cpu_us(b.pid);
    let sent = Instant::now();
    let out = Command::new(&bench).args(&args).stderr(Stdio::inherit()).output().expect("run ferrocket-bench");
    let send_secs = sent.elapsed().as_secs_f64();
    let gen: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|_| json!({ "unparsed": String::from_utf8_lossy(&out.stdout) }));
    let (lag, peak) = wait_indexed(&c, b.pid, Duration::from_secs(1800)).await;
    let cpu = cpu_us(b.pid).saturating_sub(cpu0);
    let s = status(&c).await;
    let pending = stat_i64(&s, "timerCongestNum");
    let acked = gen["produce"]["acked_msgs"].as_u64().unwrap_or(0);
    report(
        "wire",
        json!({
            "conns": conns, "inflight": inflight, "batch": batch, "args": args.join(" "),
            "prefilled": prefilled,
            "acked": acked, "timers_per_s": gen["produce"]["msgs_per_s"], "errors": gen["produce"]["errors"],
            "latency_us": gen["produce"]["latency_us"],
            "broker_while_sending": gen["broker"],
            "indexed_after_last_answer_ms": lag.as_millis() as u64,
            "broker_cpu_us_per_timer_incl_indexing": if acked > 0 { (cpu as f64 / acked as f64 * 100.0).round() / 100.0 } else { 0.0 },
            "send_secs": send_secs,
            "timerCongestNum": pending, "added_to_wheel": pending - pending_before,
            "rss_mib": proc_kib(b.pid, "VmRSS:") / 1024, "peak_rss_mib_sampled": peak / 1024, "peak_rss_mib": proc_kib(b.pid, "VmHWM:") / 1024,
            "load": std::fs::read_to_string("/proc/loadavg").unwrap_or_default().trim(),
            "disk_mib": disk(dir),
        }),
    );
    stop(b);
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let mode = std::env::var("TIMER_BENCH_MODE").unwrap_or_else(|_| "all".into());
    let keep = std::env::var("TIMER_BENCH_DIR").ok().map(PathBuf::from);
    let tmp = tempfile::Builder::new().prefix("ferrocket-timer-bench-").tempdir().unwrap();
    let root = keep.unwrap_or_else(|| tmp.path().to_path_buf());
    for m in ["pending", "lateness", "burst", "fill", "wire"] {
        if mode == m || (mode == "all" && m != "fill") {
            let dir = root.join(m);
            let _ = std::fs::remove_dir_all(&dir);
            std::fs::create_dir_all(&dir).unwrap();
            match m {
                "pending" => pending(&dir).await,
                "lateness" => lateness(&dir).await,
                "fill" => fill(&dir).await,
                "wire" => wire(&dir).await,
                _ => burst(&dir).await,
            }
            let _ = std::fs::remove_dir_all(&dir);
        }
    }
}
