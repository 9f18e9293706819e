//! `ferrocket-bench`: a load generator for RocketMQ-protocol brokers (ferrocket, rocketmq-rust,
//! Apache RocketMQ). Prints one JSON object per run on stdout. See BENCHMARKS.md.
mod gen;

// The broker's allocator: with glibc's, a gRPC generator spent ~12 % of its core in malloc/free
// and bound the figures before the broker did.
#[global_allocator]
static ALLOC: mimalloc::MiMalloc = mimalloc::MiMalloc;

use clap::{Args, Parser, Subcommand};
use crate::gen::consume::{self, ConsumeCfg};
use crate::gen::proc_stats::{self, Rss};
use crate::gen::produce::{self, ProduceCfg};
use crate::gen::wire::SendSpec;
use crate::gen::{epoch, Latency};
use ferrocket::client::RawClient;
use serde_json::{json, Value};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

#[derive(Parser)]
#[command(
    name = "ferrocket-bench",
    about = "Load generator for RocketMQ-protocol brokers"
)]
struct Cli {
    /// Generator threads (1 = current-thread runtime).
    #[arg(long, global = true, default_value_t = 1)]
    threads: usize,
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Send messages (closed loop, or open loop with --rate) and report throughput and latency.
    Produce(ProduceArgs),
    /// Drain a topic from its first offsets to its current max offsets and report msg/s.
    Consume(ConsumeArgs),
    /// POP consumers (5.x): pop batches from any queue and batch-ack them (or hold them in
    /// flight with --no-ack) until --total messages; report msg/s, broker CPU and RSS.
    Pop(PopArgs),
    /// gRPC (5.x SDK protocol) producers: closed-loop SendMessage, 1 message per call.
    GrpcSend(GrpcSendArgs),
    /// Open-loop producer plus long-polling consumers: end-to-end latency.
    E2e(ProduceArgs),
    /// Create (or update) a topic with UPDATE_AND_CREATE_TOPIC.
    CreateTopic(TopicArgs),
    /// Spawn a broker command, time until the first SEND_OK, then report idle RSS.
    Startup(StartupArgs),
    /// Time the embedded API (TestBroker::start) and this process's RSS growth.
    Embedded,
    /// The machine's floor for S1 on one connection: a blocking loopback echo between two
    /// pinned threads with S1's sizes, no broker (round trips/s and latency).
    Floor(FloorArgs),
    /// Scale scenarios (issue 21): topics, routes, registration size, offset commits, pull latency.
    #[command(subcommand)]
    Scale(gen::scale::ScaleCmd),
}

#[derive(Args, Clone)]
struct FloorArgs {
    /// CPU of the echoing thread (the broker's in scripts/bench.sh).
    #[arg(long, default_value_t = 0)]
    server_cpu: usize,
    /// CPU of the requesting thread (the generator's).
    #[arg(long, default_value_t = 1)]
    client_cpu: usize,
    #[arg(long, default_value_t = 50_000)]
    count: usize,
    /// Request bytes (a SEND_MESSAGE_V2 frame with a 1 KiB body is ~1.1 KiB).
    #[arg(long, default_value_t = 1100)]
    request: usize,
    /// Answer bytes (a send's answer is ~200).
    #[arg(long, default_value_t = 200)]
    answer: usize,
}

#[derive(Args, Clone)]
struct Target {
    /// Broker address (host:port).
    #[arg(long, default_value = "127.0.0.1:10911")]
    broker: SocketAddr,
    #[arg(long, default_value = "bench")]
    topic: String,
    #[arg(long, default_value_t = 8)]
    queues: u32,
    /// JSON headers instead of the compact binary (ROCKETMQ) ones.
    #[arg(long)]
    json: bool,
    /// Broker process id: report its CPU time per message and RSS.
    #[arg(long)]
    pid: Option<u32>,
}

#[derive(Args, Clone)]
struct ProduceArgs {
    #[command(flatten)]
    target: Target,
    #[arg(long, default_value_t = 1)]
    conns: usize,
    /// Requests in flight per connection (closed loop) or their cap (open loop).
    #[arg(long, default_value_t = 1)]
    inflight: usize,
    /// Body size in bytes (at least 28, the stamp).
    #[arg(long, default_value_t = 1024)]
    body: usize,
    /// Messages per request (SEND_BATCH_MESSAGE when > 1).
    #[arg(long, default_value_t = 1)]
    batch: usize,
    /// Open loop: messages per second over all connections.
    #[arg(long)]
    rate: Option<f64>,
    #[arg(long, default_value = "1s", value_parser = humantime::parse_duration)]
    warmup: Duration,
    #[arg(long, default_value = "5s", value_parser = humantime::parse_duration)]
    duration: Duration,
    /// Stop after this many messages (fill a backlog).
    #[arg(long)]
    total: Option<u64>,
    /// Give every message a UNIQ_KEY property, as the Java client does.
    #[arg(long)]
    uniq_key: bool,
    /// After sending, drain the topic and check every acknowledged message is consumed once.
    #[arg(long)]
    verify: bool,
    /// ACL: sign every send with this access key (with --secret-key; binary headers only).
    #[arg(long, requires = "secret_key")]
    access_key: Option<String>,
    #[arg(long, requires = "access_key")]
    secret_key: Option<String>,
    /// Timer messages (5.x): every message gets a TIMER_DELIVER_MS from 1 h ahead to 1 h before
    /// this far ahead (at least 3h; "7d" spreads them over the default timerMaxDelay).
    #[arg(long, value_parser = humantime::parse_duration)]
    timer_spread: Option<Duration>,
}

#[derive(Args, Clone)]
struct GrpcSendArgs {
    /// The gRPC endpoint (grpcServerPort).
    #[arg(long, default_value = "127.0.0.1:8081")]
    grpc: SocketAddr,
    #[arg(long, default_value = "bench")]
    topic: String,
    #[arg(long, default_value_t = 1)]
    conns: usize,
    /// Calls in flight per connection.
    #[arg(long, default_value_t = 1)]
    inflight: usize,
    #[arg(long, default_value_t = 1024)]
    body: usize,
    #[arg(long, default_value = "1s", value_parser = humantime::parse_duration)]
    warmup: Duration,
    #[arg(long, default_value = "5s", value_parser = humantime::parse_duration)]
    duration: Duration,
}

#[derive(Args, Clone)]
struct ConsumeArgs {
    #[command(flatten)]
    target: Target,
    #[arg(long, default_value_t = 1)]
    conns: usize,
    #[arg(long, default_value_t = 32)]
    max_msgs: i32,
    #[arg(long, default_value = "bench_consumer")]
    group: String,
    /// Give up after this long.
    #[arg(long, default_value = "120s", value_parser = humantime::parse_duration)]
    timeout: Duration,
}

#[derive(Args, Clone)]
struct PopArgs {
    #[command(flatten)]
    target: Target,
    #[arg(long, default_value_t = 1)]
    conns: usize,
    #[arg(long, default_value_t = 32)]
    max_msgs: i32,
    #[arg(long, default_value = "bench_pop")]
    group: String,
    /// Stop after this many messages were popped.
    #[arg(long)]
    total: u64,
    /// Hold popped messages in flight (no acks): the broker's RSS growth per message.
    #[arg(long)]
    no_ack: bool,
    #[arg(long, default_value = "120s", value_parser = humantime::parse_duration)]
    timeout: Duration,
}

#[derive(Args, Clone)]
struct TopicArgs {
    #[command(flatten)]
    target: Target,
}

#[derive(Args, Clone)]
struct StartupArgs {
    #[command(flatten)]
    target: Target,
    /// Give up after this long.
    #[arg(long, default_value = "60s", value_parser = humantime::parse_duration)]
    timeout: Duration,
    /// Wait this long after the first SEND_OK before reading RSS.
    #[arg(long, default_value = "2s", value_parser = humantime::parse_duration)]
    settle: Duration,
    /// Leave the process running (print its pid) instead of stopping it.
    #[arg(long)]
    keep: bool,
    /// The broker command and its arguments.
    #[arg(last = true, required = true)]
    command: Vec<String>,
}

fn main() {
    let cli = Cli::parse();
    let _ = epoch();
    let rt = if cli.threads <= 1 {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
    } else {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(cli.threads)
            .enable_all()
            .build()
    }
    .expect("tokio runtime");
    let out = match cli.cmd {
        Cmd::Embedded => embedded(),
        Cmd::Floor(f) => gen::floor::run(f.server_cpu, f.client_cpu, f.count.max(1), f.request.max(1), f.answer.max(1)),
        cmd => rt.block_on(run(cmd)),
    };
    println!("{out}");
}

async fn run(cmd: Cmd) -> Value {
    match cmd {
        Cmd::Produce(a) => produce_cmd(a, false).await,
        Cmd::E2e(a) => produce_cmd(a, true).await,
        Cmd::GrpcSend(a) => {
            let cfg = gen::grpc::GrpcSendCfg {
                addr: a.grpc,
                topic: a.topic,
                conns: a.conns,
                inflight: a.inflight,
                body: a.body,
                warmup: a.warmup,
                duration: a.duration,
            };
            match gen::grpc::run(cfg).await {
                Ok(r) => json!({"grpcSend": r, "loadavg": loadavg()}),
                Err(e) => json!({"error": e}),
            }
        }
        Cmd::Consume(a) => consume_cmd(a).await,
        Cmd::Pop(a) => pop_cmd(a).await,
        Cmd::CreateTopic(a) => match create_topic(&a.target).await {
            Ok(()) => json!({"created": a.target.topic}),
            Err(e) => json!({"error": e}),
        },
        Cmd::Startup(a) => startup(a).await,
        Cmd::Scale(s) => gen::scale::run(s).await,
        Cmd::Embedded | Cmd::Floor(_) => unreachable!(),
    }
}

fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .unwrap_or_default()
        .split_whitespace()
        .take(3)
        .collect::<Vec<_>>()
        .join(" ")
}

fn spec(a: &ProduceArgs) -> SendSpec {
    SendSpec {
        topic: a.target.topic.clone(),
        group: "bench_producer".into(),
        body: a.body,
        batch: a.batch,
        json: a.target.json,
        uniq_key: a.uniq_key,
        credentials: a.access_key.clone().zip(a.secret_key.clone()),
        timer_spread: a.timer_spread,
    }
}

/// Samples the broker's CPU time over [from, to] and its peak RSS until stopped.
fn sample_broker(
    pid: u32,
    from: Instant,
    to: Instant,
    done: Arc<AtomicBool>,
) -> tokio::task::JoinHandle<(u64, Rss)> {
    tokio::spawn(async move {
        tokio::time::sleep_until(from.into()).await;
        let c0 = proc_stats::cpu_us(pid).unwrap_or(0);
        let mut peak = Rss::default();
        while Instant::now() < to && !done.load(Ordering::Relaxed) {
            if let Some(r) = proc_stats::rss(pid) {
                peak = peak.max(r);
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let c1 = proc_stats::cpu_us(pid).unwrap_or(c0);
        (c1.saturating_sub(c0), peak)
    })
}

async fn produce_cmd(a: ProduceArgs, e2e: bool) -> Value {
    let t = &a.target;
    let run_id =
        (std::process::id() ^ (epoch().elapsed().as_nanos() as u32)).wrapping_mul(2654435761) | 1;
    let need_offsets = a.verify || e2e;
    let from = if need_offsets {
        match consume::max_offsets(t.broker, &t.topic, t.queues).await {
            Ok(f) => Some(f),
            Err(e) => return json!({"error": e}),
        }
    } else {
        None
    };
    let cfg = ProduceCfg {
        addr: t.broker,
        spec: spec(&a),
        queues: t.queues,
        conns: a.conns,
        inflight: a.inflight.max(1),
        rate: a.rate,
        warmup: a.warmup,
        duration: a.duration,
        total: a.total,
        drain_timeout: Duration::from_secs(10),
        run_id,
        record_acks: a.verify,
    };
    let start = Instant::now();
    let warm_end = start + a.warmup + Duration::from_millis(20);
    let end = warm_end + a.duration;
    let done = Arc::new(AtomicBool::new(false));
    let (s_from, s_to) = if a.total.is_some() {
        (start, end)
    } else {
        (warm_end, end)
    };
    let sampler = t
        .pid
        .map(|pid| sample_broker(pid, s_from, s_to, done.clone()));
    let consumer = if e2e {
        let c = ConsumeCfg {
            addr: t.broker,
            topic: t.topic.clone(),
            group: "bench_e2e".into(),
            conns: 1,
            max_msgs: 32,
            from: from.clone().unwrap_or_default(),
            to: None,
            deadline: end + Duration::from_millis(500),
            long_poll: true,
            json: t.json,
            run_id: Some(run_id),
            e2e_from: Some(warm_end),
        };
        Some(tokio::spawn(consume::run(c)))
    } else {
        None
    };
    let rep = produce::run(cfg).await;
    done.store(true, Ordering::Relaxed);
    let mut out = json!({
        "mode": if e2e { "e2e" } else if a.rate.is_some() { "open" } else { "closed" },
        "conns": a.conns, "inflight": a.inflight, "body": a.body, "batch": a.batch,
        "rate": a.rate, "header": if t.json { "json" } else { "rocketmq" },
        "produce": rep,
        "load": loadavg(),
    });
    if let Some(s) = sampler {
        if let Ok((cpu, rss)) = s.await {
            let msgs = rep.msgs_per_s * rep.measured_s;
            out["broker"] = json!({
                "cpu_us": cpu,
                "cpu_us_per_msg": if msgs > 0.0 { ((cpu as f64 / msgs) * 1000.0).round() / 1000.0 } else { 0.0 },
                "cpu_util": ((cpu as f64 / 1e6 / rep.measured_s.max(1e-3)) * 100.0).round() / 100.0,
                "rss_kb": rss.rss_kb, "rss_anon_kb": rss.anon_kb,
            });
        }
    }
    if let Some(c) = consumer {
        if let Ok(c) = c.await {
            out["consume"] = serde_json::to_value(&c).unwrap_or_default();
        }
    }
    if a.verify {
        let to = match consume::max_offsets(t.broker, &t.topic, t.queues).await {
            Ok(v) => v,
            Err(e) => return json!({"error": e}),
        };
        let c = ConsumeCfg {
            addr: t.broker,
            topic: t.topic.clone(),
            group: "bench_verify".into(),
            conns: 2,
            max_msgs: 32,
            from: from.unwrap_or_default(),
            to: Some(to),
            deadline: Instant::now() + Duration::from_secs(120),
            long_poll: false,
            json: t.json,
            run_id: Some(run_id),
            e2e_from: None,
        };
        let crep = consume::run(c).await;
        let v = consume::verify(&rep.acked, &crep.stamps);
        out["verify_consume"] = serde_json::to_value(&crep).unwrap_or_default();
        out["verify"] = serde_json::to_value(&v).unwrap_or_default();
    }
    out
}

async fn consume_cmd(a: ConsumeArgs) -> Value {
    let t = &a.target;
    let to = match consume::max_offsets(t.broker, &t.topic, t.queues).await {
        Ok(v) => v,
        Err(e) => return json!({"error": e}),
    };
    let c = ConsumeCfg {
        addr: t.broker,
        topic: t.topic.clone(),
        group: a.group.clone(),
        conns: a.conns,
        max_msgs: a.max_msgs,
        from: vec![0; to.len()],
        to: Some(to.clone()),
        deadline: Instant::now() + a.timeout,
        long_poll: false,
        json: t.json,
        run_id: None,
        e2e_from: None,
    };
    let c0 = t.pid.and_then(proc_stats::cpu_us);
    let rep = consume::run(c).await;
    let mut out = json!({"mode": "consume", "backlog": to.iter().sum::<i64>(), "consume": rep, "load": loadavg()});
    if let (Some(pid), Some(c0)) = (t.pid, c0) {
        let cpu = proc_stats::cpu_us(pid).unwrap_or(c0) - c0;
        let rss = proc_stats::rss(pid).unwrap_or_default();
        out["broker"] = json!({"cpu_us": cpu,
            "cpu_us_per_msg": if rep.msgs > 0 { (cpu as f64 / rep.msgs as f64 * 1000.0).round() / 1000.0 } else { 0.0 },
            "rss_kb": rss.rss_kb, "rss_anon_kb": rss.anon_kb});
    }
    out
}

async fn pop_cmd(a: PopArgs) -> Value {
    let t = &a.target;
    let c0 = t.pid.and_then(proc_stats::cpu_us);
    let rss0 = t.pid.and_then(proc_stats::rss).unwrap_or_default();
    let rep = crate::gen::pop::run(crate::gen::pop::PopCfg {
        addr: t.broker,
        topic: t.topic.clone(),
        group: a.group.clone(),
        conns: a.conns,
        max_msgs: a.max_msgs,
        total: a.total,
        ack: !a.no_ack,
        deadline: Instant::now() + a.timeout,
    })
    .await;
    let mut out = json!({"mode": if a.no_ack { "pop-hold" } else { "pop-ack" }, "pop": rep, "load": loadavg()});
    if let (Some(pid), Some(c0)) = (t.pid, c0) {
        let cpu = proc_stats::cpu_us(pid).unwrap_or(c0) - c0;
        let rss = proc_stats::rss(pid).unwrap_or_default();
        let per = |x: f64| if rep.msgs > 0 { (x / rep.msgs as f64 * 1000.0).round() / 1000.0 } else { 0.0 };
        out["broker"] = json!({"cpu_us": cpu, "cpu_us_per_msg": per(cpu as f64),
            "rss_kb_before": rss0.rss_kb, "rss_kb": rss.rss_kb, "rss_anon_kb": rss.anon_kb,
            "rss_growth_bytes_per_msg": per((rss.anon_kb as f64 - rss0.anon_kb as f64) * 1024.0)});
    }
    out
}

async fn create_topic(t: &Target) -> Result<(), String> {
    let c = RawClient::connect(t.broker)
        .await
        .map_err(|e| format!("connect {}: {e}", t.broker))?;
    let cmd = ferrocket::client::req::create_topic(&t.topic, t.queues as i32);
    let r = c
        .request(cmd, Duration::from_secs(10))
        .await
        .map_err(|e| e.to_string())?;
    if r.code == 0 {
        Ok(())
    } else {
        Err(format!(
            "UPDATE_AND_CREATE_TOPIC: code {} {:?}",
            r.code, r.remark
        ))
    }
}

/// One SEND_OK to `t`, or why not.
async fn send_once(t: &Target) -> Result<(), String> {
    let c = RawClient::connect(t.broker)
        .await
        .map_err(|e| e.to_string())?;
    let s = SendSpec {
        topic: t.topic.clone(),
        group: "bench_producer".into(),
        body: 64,
        batch: 1,
        json: t.json,
        uniq_key: true,
        credentials: None,
        timer_spread: None,
    };
    let tpl = crate::gen::wire::SendTemplate::new(&s, 0);
    let cmd = crate::gen::wire::decode(&bytes::Bytes::from(tpl.frame))
        .map_err(|e| e.to_string())?;
    let r = c
        .request(cmd, Duration::from_secs(2))
        .await
        .map_err(|e| e.to_string())?;
    if r.code == 0 {
        Ok(())
    } else {
        Err(format!("code {} {:?}", r.code, r.remark))
    }
}

async fn startup(a: StartupArgs) -> Value {
    let t0 = Instant::now();
    let mut child = match std::process::Command::new(&a.command[0])
        .args(&a.command[1..])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
    {
        Ok(c) => c,
        Err(e) => return json!({"error": format!("spawn {:?}: {e}", a.command)}),
    };
    let pid = child.id();
    let mut last = String::new();
    let mut ready = None;
    while t0.elapsed() < a.timeout {
        match send_once(&a.target).await {
            Ok(()) => {
                ready = Some(t0.elapsed());
                break;
            }
            Err(e) => last = e,
        }
        if let Ok(Some(st)) = child.try_wait() {
            return json!({"error": format!("broker exited: {st}"), "last": last});
        }
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    let rss_ready = proc_stats::rss(pid).unwrap_or_default();
    tokio::time::sleep(a.settle).await;
    let rss = proc_stats::rss(pid).unwrap_or_default();
    let out = json!({
        "mode": "startup",
        "command": a.command.join(" "),
        "first_send_ok_ms": ready.map(|d| (d.as_secs_f64() * 1e4).round() / 10.0),
        "error": if ready.is_none() { Some(last) } else { None },
        "rss_at_ready_kb": rss_ready.rss_kb,
        "idle_rss_kb": rss.rss_kb, "idle_rss_anon_kb": rss.anon_kb,
        "pid": pid,
        "load": loadavg(),
    });
    if !a.keep {
        unsafe { libc::kill(pid as i32, libc::SIGTERM) };
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = child.try_wait() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let _ = child.kill();
        let _ = child.wait();
    }
    out
}

fn embedded() -> Value {
    let me = std::process::id();
    let before = proc_stats::rss(me).unwrap_or_default();
    let t0 = Instant::now();
    let b = ferrocket::broker::TestBroker::builder()
        .topic("bench", 8)
        .start();
    let ready = t0.elapsed();
    let b = match b {
        Ok(b) => b,
        Err(e) => return json!({"error": e.to_string()}),
    };
    std::thread::sleep(Duration::from_secs(1));
    let after = proc_stats::rss(me).unwrap_or_default();
    let out = json!({
        "mode": "embedded",
        "start_to_ready_ms": (ready.as_secs_f64() * 1e4).round() / 10.0,
        "rss_before_kb": before.rss_kb, "rss_idle_kb": after.rss_kb,
        "rss_growth_kb": after.rss_kb.saturating_sub(before.rss_kb),
        "anon_growth_kb": after.anon_kb.saturating_sub(before.anon_kb),
        "broker_addr": b.broker_addr().to_string(),
        "load": loadavg(),
    });
    drop(b);
    let _ = Latency::default();
    out
}
