//! Scale scenarios (issue 21, `scripts/bench-scale.sh`): how cost grows with the number of topics,
//! consumer groups, the message size and the backlog. `ferrocket-bench scale <what>`:
//!
//! - `topics`: create `--count` topics `<prefix>-<i>` (UPDATE_AND_CREATE_TOPIC, pipelined);
//! - `routes`: GET_ROUTEINFO_BY_TOPIC on the name server over random topics of those: latency;
//! - `register`: the broker's full registration body (from GET_ALL_TOPIC_CONFIG, built as the
//!   broker builds it) plain and compressed: bytes, encode time, and the name server's answer
//!   time for each, sent as a probe broker that leaves when its connection closes;
//! - `offsets`: `--groups` groups committing `--queues` offsets each every `--interval`
//!   (UPDATE_CONSUMER_OFFSET): broker CPU, bytes written (`/proc/PID/io`) and store growth per
//!   commit;
//! - `pull-lat`: one pull at a time at random queues, at the tail or the start of the backlog.
use super::proc_stats;
use super::{new_hist, Latency};
use clap::{Args, Subcommand};
use ferrocket::client::{codes, req, RawClient};
use ferrocket::codec::body::{encode_compressed, RegisterBrokerBody, TopicConfigSerializeWrapper};
use ferrocket::codec::RemotingCommand;
use futures_util::stream::{self, StreamExt};
use serde_json::{json, Value};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

const T: Duration = Duration::from_secs(30);

#[derive(Subcommand, Clone)]
pub enum ScaleCmd {
    /// Create --count topics named <prefix>-<i> with --queues queues each.
    Topics(TopicsArgs),
    /// Route lookups (GET_ROUTEINFO_BY_TOPIC) over random topics <prefix>-<i>, i < --count.
    Routes(RoutesArgs),
    /// The broker's full registration, plain and compressed: size, encode time, answer time.
    Register(RegisterArgs),
    /// Consumer groups committing offsets (UPDATE_CONSUMER_OFFSET) every --interval.
    Offsets(OffsetsArgs),
    /// Pull latency, one pull in flight, at the tail or the start of each queue's backlog.
    PullLat(PullLatArgs),
}

#[derive(Args, Clone)]
pub struct TopicsArgs {
    #[arg(long, default_value = "127.0.0.1:10911")]
    broker: SocketAddr,
    #[arg(long, default_value = "scale")]
    prefix: String,
    #[arg(long, default_value_t = 10_000)]
    count: u32,
    #[arg(long, default_value_t = 8)]
    queues: i32,
    /// Creates in flight.
    #[arg(long, default_value_t = 64)]
    inflight: usize,
    #[arg(long)]
    pid: Option<u32>,
}

#[derive(Args, Clone)]
pub struct RoutesArgs {
    #[arg(long, default_value = "127.0.0.1:9876")]
    namesrv: SocketAddr,
    #[arg(long, default_value = "scale")]
    prefix: String,
    #[arg(long, default_value_t = 10_000)]
    count: u32,
    #[arg(long, default_value_t = 200_000)]
    lookups: u64,
    #[arg(long, default_value_t = 1)]
    conns: usize,
    /// Lookups in flight per connection (1: each lookup's latency alone).
    #[arg(long, default_value_t = 1)]
    inflight: usize,
    /// Name server process id: its CPU per lookup and RSS.
    #[arg(long)]
    pid: Option<u32>,
}

#[derive(Args, Clone)]
pub struct RegisterArgs {
    #[arg(long, default_value = "127.0.0.1:10911")]
    broker: SocketAddr,
    #[arg(long, default_value = "127.0.0.1:9876")]
    namesrv: SocketAddr,
    /// Registrations of each kind (timed one after another).
    #[arg(long, default_value_t = 20)]
    rounds: u32,
}

#[derive(Args, Clone)]
pub struct OffsetsArgs {
    #[arg(long, default_value = "127.0.0.1:10911")]
    broker: SocketAddr,
    #[arg(long, default_value = "scale-offsets")]
    topic: String,
    #[arg(long, default_value_t = 10_000)]
    groups: u32,
    /// Queues committed per group per round.
    #[arg(long, default_value_t = 1)]
    queues: u32,
    #[arg(long, default_value = "5s", value_parser = humantime::parse_duration)]
    interval: Duration,
    #[arg(long, default_value = "60s", value_parser = humantime::parse_duration)]
    duration: Duration,
    /// Commits in flight (the Java client sends them one way, without waiting).
    #[arg(long, default_value_t = 64)]
    inflight: usize,
    #[arg(long)]
    pid: Option<u32>,
    /// The broker's store directory: its size (and `meta/`, sled) before and after.
    #[arg(long)]
    store_dir: Option<PathBuf>,
    /// Watch the idle broker this long first: bytes it writes without commits.
    #[arg(long, default_value = "0s", value_parser = humantime::parse_duration)]
    baseline: Duration,
}

#[derive(Args, Clone)]
pub struct PullLatArgs {
    #[arg(long, default_value = "127.0.0.1:10911")]
    broker: SocketAddr,
    #[arg(long, default_value = "bench")]
    topic: String,
    #[arg(long, default_value_t = 8)]
    queues: u32,
    /// `tail` (the last --max-msgs of a queue), `head` (offset 0) or `random`.
    #[arg(long, default_value = "tail")]
    at: String,
    #[arg(long, default_value_t = 2000)]
    samples: u64,
    #[arg(long, default_value_t = 32)]
    max_msgs: i32,
    #[arg(long)]
    pid: Option<u32>,
}

pub async fn run(cmd: ScaleCmd) -> Value {
    let r = match cmd {
        ScaleCmd::Topics(a) => topics(a).await,
        ScaleCmd::Routes(a) => routes(a).await,
        ScaleCmd::Register(a) => register(a).await,
        ScaleCmd::Offsets(a) => offsets(a).await,
        ScaleCmd::PullLat(a) => pull_lat(a).await,
    };
    r.unwrap_or_else(|e| json!({ "error": e }))
}

async fn connect(addr: SocketAddr) -> Result<RawClient, String> {
    RawClient::connect(addr).await.map_err(|e| format!("connect {addr}: {e}"))
}

/// A small deterministic generator (xorshift64*), so runs pick the same sequence.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D) % n.max(1)
    }
}

fn broker_stats(pid: Option<u32>, cpu0: Option<u64>, per: u64) -> Value {
    let Some(pid) = pid else { return Value::Null };
    let cpu = proc_stats::cpu_us(pid).unwrap_or(0).saturating_sub(cpu0.unwrap_or(0));
    let rss = proc_stats::rss(pid).unwrap_or_default();
    json!({"cpu_us": cpu, "cpu_us_per_op": (cpu as f64 / per.max(1) as f64 * 1000.0).round() / 1000.0,
        "rss_kb": rss.rss_kb, "rss_anon_kb": rss.anon_kb})
}

async fn topics(a: TopicsArgs) -> Result<Value, String> {
    let c = connect(a.broker).await?;
    let cpu0 = a.pid.and_then(proc_stats::cpu_us);
    let t0 = Instant::now();
    let results: Vec<Result<i32, String>> = stream::iter(0..a.count)
        .map(|i| {
            let cmd = req::create_topic(&format!("{}-{i}", a.prefix), a.queues);
            let c = &c;
            async move { c.request(cmd, T).await.map(|r| r.code).map_err(|e| e.to_string()) }
        })
        .buffer_unordered(a.inflight.max(1))
        .collect()
        .await;
    let secs = t0.elapsed().as_secs_f64();
    let ok = results.iter().filter(|r| matches!(r, Ok(0))).count();
    let first_err = results.iter().find(|r| !matches!(r, Ok(0))).map(|r| format!("{r:?}"));
    Ok(json!({"mode": "scale-topics", "created": ok, "count": a.count, "queues": a.queues, "seconds": secs,
        "creates_per_s": ok as f64 / secs.max(1e-9), "first_error": first_err,
        "broker": broker_stats(a.pid, cpu0, ok as u64), "load": crate::loadavg()}))
}

async fn routes(a: RoutesArgs) -> Result<Value, String> {
    let cpu0 = a.pid.and_then(proc_stats::cpu_us);
    let t0 = Instant::now();
    let per_conn = a.lookups / a.conns.max(1) as u64;
    let mut tasks = Vec::new();
    for ci in 0..a.conns.max(1) {
        let c = connect(a.namesrv).await?;
        let (prefix, count, inflight) = (a.prefix.clone(), a.count, a.inflight.max(1));
        tasks.push(tokio::spawn(async move {
            let mut rng = Rng(0x9E37_79B9_7F4A_7C15 ^ (ci as u64 + 1));
            let picks: Vec<u64> = (0..per_conn).map(|_| rng.below(u64::from(count))).collect();
            let c = &c;
            let prefix = &prefix;
            let out: Vec<(u64, i32, usize)> = stream::iter(picks)
                .map(|i| async move {
                    let s = Instant::now();
                    match c.request(req::route(&format!("{prefix}-{i}")), T).await {
                        Ok(r) => (s.elapsed().as_nanos() as u64, r.code, r.body.len()),
                        Err(_) => (s.elapsed().as_nanos() as u64, -1, 0),
                    }
                })
                .buffer_unordered(inflight)
                .collect()
                .await;
            out
        }));
    }
    let mut h = new_hist();
    let (mut ok, mut failed, mut bytes) = (0u64, 0u64, 0u64);
    for t in tasks {
        for (ns, code, len) in t.await.map_err(|e| e.to_string())? {
            let _ = h.record(ns.max(1));
            if code == codes::SUCCESS {
                ok += 1;
                bytes += len as u64;
            } else {
                failed += 1;
            }
        }
    }
    let secs = t0.elapsed().as_secs_f64();
    Ok(json!({"mode": "scale-routes", "topics": a.count, "lookups": ok + failed, "ok": ok, "not_found_or_error": failed,
        "conns": a.conns, "inflight": a.inflight, "lookups_per_s": (ok + failed) as f64 / secs.max(1e-9),
        "route_body_bytes_mean": bytes / ok.max(1), "latency_us": Latency::of(&h),
        "namesrv": broker_stats(a.pid, cpu0, ok + failed), "load": crate::loadavg()}))
}

async fn register(a: RegisterArgs) -> Result<Value, String> {
    let b = connect(a.broker).await?;
    let r = b.request(RemotingCommand::request(21, 0), T).await.map_err(|e| e.to_string())?;
    if r.code != codes::SUCCESS {
        return Err(format!("GET_ALL_TOPIC_CONFIG: code {} {:?}", r.code, r.remark));
    }
    let wrapper = TopicConfigSerializeWrapper::from_json(&r.body).map_err(|e| e.to_string())?;
    let topics = wrapper.topic_config_table.len();
    let mut body = RegisterBrokerBody { topic_config_serialize_wrapper: wrapper, filter_server_list: vec![] };
    let t = Instant::now();
    std::hint::black_box(body.to_json());
    let plain_encode = t.elapsed();
    let t = Instant::now();
    std::hint::black_box(encode_compressed(&body));
    let packed_encode = t.elapsed();
    let ns = connect(a.namesrv).await?;
    let mut out = json!({"mode": "scale-register", "topics": topics, "load": crate::loadavg()});
    for (kind, compressed, encode) in [("plain", false, plain_encode), ("compressed", true, packed_encode)] {
        let mut h = new_hist();
        let mut size = 0;
        for _ in 0..a.rounds {
            // a newer data version each time: the name server applies the whole table
            body.topic_config_serialize_wrapper.data_version.counter += 1;
            let bytes = if compressed { encode_compressed(&body) } else { body.to_json() };
            size = bytes.len();
            let cmd = probe_registration(bytes, compressed);
            let s = Instant::now();
            let r = ns.request(cmd, T).await.map_err(|e| e.to_string())?;
            let _ = h.record(s.elapsed().as_nanos() as u64);
            if r.code != codes::SUCCESS {
                return Err(format!("REGISTER_BROKER ({kind}): code {} {:?}", r.code, r.remark));
            }
        }
        out[kind] = json!({"body_bytes": size, "encode_ms": encode.as_secs_f64() * 1e3, "answer_us": Latency::of(&h)});
    }
    ns.shutdown().await; // the probe broker leaves every route with its connection
    Ok(out)
}

fn probe_registration(body: Vec<u8>, compressed: bool) -> RemotingCommand {
    let crc = (crc32fast::hash(&body) & 0x7FFF_FFFF) as i32;
    RemotingCommand::request(103, 0)
        .with_ext("brokerName", "scale-probe")
        .with_ext("brokerAddr", "127.0.0.1:1")
        .with_ext("clusterName", "ScaleProbe")
        .with_ext("haServerAddr", "127.0.0.1:2")
        .with_ext("brokerId", 0)
        .with_ext("compressed", compressed)
        .with_ext("bodyCrc32", crc)
        .with_body(body)
}

/// Bytes under `dir` (files only, not following links).
fn du(dir: &Path) -> u64 {
    let Ok(rd) = std::fs::read_dir(dir) else { return 0 };
    rd.flatten()
        .map(|e| match e.metadata() {
            Ok(m) if m.is_dir() => du(&e.path()),
            Ok(m) => m.len(),
            Err(_) => 0,
        })
        .sum()
}

fn sizes(dir: &Option<PathBuf>) -> Value {
    match dir {
        Some(d) => json!({"store_bytes": du(d), "meta_bytes": du(&d.join("meta"))}),
        None => Value::Null,
    }
}

async fn offsets(a: OffsetsArgs) -> Result<Value, String> {
    let c = connect(a.broker).await?;
    let mut base = json!({});
    if let (Some(pid), true) = (a.pid, !a.baseline.is_zero()) {
        let w0 = proc_stats::write_bytes(pid).unwrap_or(0);
        let c0 = proc_stats::cpu_us(pid).unwrap_or(0);
        tokio::time::sleep(a.baseline).await;
        base = json!({"seconds": a.baseline.as_secs_f64(),
            "write_bytes": proc_stats::write_bytes(pid).unwrap_or(0).saturating_sub(w0),
            "cpu_us": proc_stats::cpu_us(pid).unwrap_or(0).saturating_sub(c0)});
    }
    let before = sizes(&a.store_dir);
    let w0 = a.pid.and_then(proc_stats::write_bytes);
    let cpu0 = a.pid.and_then(proc_stats::cpu_us);
    let t0 = Instant::now();
    let mut h = new_hist();
    let (mut commits, mut failed, mut round) = (0u64, 0u64, 0i64);
    let mut round_ms = Vec::new();
    while t0.elapsed() < a.duration {
        let start = t0 + a.interval * round as u32;
        tokio::time::sleep_until(start.into()).await;
        round += 1;
        let work = (0..a.groups).flat_map(|g| (0..a.queues).map(move |q| (g, q)));
        let (c, topic) = (&c, &a.topic);
        let res: Vec<(u64, bool)> = stream::iter(work)
            .map(|(g, q)| async move {
                let cmd = req::update_offset(&format!("scale-g{g}"), topic, q as i32, round * 10);
                let s = Instant::now();
                let ok = matches!(c.request(cmd, T).await, Ok(r) if r.code == codes::SUCCESS);
                (s.elapsed().as_nanos() as u64, ok)
            })
            .buffer_unordered(a.inflight.max(1))
            .collect()
            .await;
        round_ms.push((start.elapsed().as_secs_f64() * 1e4).round() / 10.0);
        for (ns, ok) in res {
            let _ = h.record(ns.max(1));
            if ok { commits += 1 } else { failed += 1 }
        }
    }
    let secs = t0.elapsed().as_secs_f64();
    let written = a.pid.and_then(proc_stats::write_bytes).zip(w0).map(|(w1, w0)| w1.saturating_sub(w0));
    tokio::time::sleep(Duration::from_millis(1500)).await; // sled's flush_every_ms
    let after = sizes(&a.store_dir);
    let per = |b: u64| (b as f64 / commits.max(1) as f64 * 10.0).round() / 10.0;
    Ok(json!({"mode": "scale-offsets", "groups": a.groups, "queues_per_group": a.queues,
        "interval_s": a.interval.as_secs_f64(), "rounds": round, "seconds": secs, "commits": commits, "failed": failed,
        "commits_per_s": commits as f64 / secs.max(1e-9), "round_ms": round_ms, "latency_us": Latency::of(&h),
        "write_bytes": written, "write_bytes_per_commit": written.map(per),
        "store_before": before, "store_after": after, "idle_baseline": base,
        "broker": broker_stats(a.pid, cpu0, commits), "load": crate::loadavg()}))
}

async fn pull_lat(a: PullLatArgs) -> Result<Value, String> {
    let max = super::consume::max_offsets(a.broker, &a.topic, a.queues).await?;
    let c = connect(a.broker).await?;
    let cpu0 = a.pid.and_then(proc_stats::cpu_us);
    let mut rng = Rng(0x5DEE_CE66_D1CE_4E5B);
    let mut h = new_hist();
    let (mut msgs, mut bytes, mut empty) = (0u64, 0u64, 0u64);
    let t0 = Instant::now();
    for _ in 0..a.samples {
        let q = rng.below(u64::from(a.queues)) as usize;
        let end = max[q];
        let offset = match a.at.as_str() {
            "head" => 0,
            "random" => rng.below(end.max(1) as u64) as i64,
            _ => (end - i64::from(a.max_msgs)).max(0),
        };
        let cmd = req::Pull::new("scale-pull-lat", &a.topic, q as i32, offset).max(a.max_msgs).build();
        let s = Instant::now();
        let r = c.request(cmd, T).await.map_err(|e| e.to_string())?;
        let _ = h.record(s.elapsed().as_nanos() as u64);
        if r.code == codes::SUCCESS {
            let n = super::wire::stored_bodies(&r.body).map(|b| b.len()).unwrap_or(0);
            msgs += n as u64;
            bytes += r.body.len() as u64;
        } else {
            empty += 1;
        }
    }
    let secs = t0.elapsed().as_secs_f64();
    Ok(json!({"mode": "scale-pull-lat", "at": a.at, "queues": a.queues, "backlog": max.iter().sum::<i64>(),
        "pulls": a.samples, "not_found": empty, "msgs_per_pull": msgs as f64 / a.samples.max(1) as f64,
        "bytes_per_pull": bytes / a.samples.max(1), "seconds": secs, "latency_us": Latency::of(&h),
        "broker": broker_stats(a.pid, cpu0, a.samples), "load": crate::loadavg()}))
}
