//! Consumers: pull every queue of a topic with one PULL_MESSAGE in flight per queue, either
//! until given end offsets are reached (draining a backlog) or until a deadline (end-to-end
//! latency, with long polling). Bodies stamped by the generator are counted per (connection,
//! sequence) for the exactly-once check.
use super::wire::{decode, encode_with_opaque, next_frame, stored_bodies, Stamp, OPAQUE_BASE};
use super::{instant_of, new_hist, Latency};
use ferrocket::client::{codes, req::Pull, RawClient};
use ferrocket::codec::RemotingCommand;
use hdrhistogram::Histogram;
use serde::Serialize;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// What one consumer run does.
#[derive(Debug, Clone)]
pub struct ConsumeCfg {
    pub addr: SocketAddr,
    pub topic: String,
    pub group: String,
    pub conns: usize,
    pub max_msgs: i32,
    /// First offset of each queue.
    pub from: Vec<i64>,
    /// Stop each queue at this offset (drain); `None`: run until `deadline`.
    pub to: Option<Vec<i64>>,
    pub deadline: Instant,
    /// Long-poll (suspend) when a queue is empty.
    pub long_poll: bool,
    pub json: bool,
    /// Keep stamps of this run for the exactly-once check / end-to-end latency.
    pub run_id: Option<u32>,
    /// Record end-to-end latency of stamped messages sent at or after this instant.
    pub e2e_from: Option<Instant>,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct ConsumeReport {
    pub msgs: u64,
    pub bytes: u64,
    pub seconds: f64,
    pub msgs_per_s: f64,
    pub pulls: u64,
    pub empty_pulls: u64,
    pub io_errors: Vec<String>,
    /// Queues not drained to their end offset before the deadline.
    pub unfinished_queues: usize,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub e2e_latency_us: Option<Latency>,
    #[serde(skip)]
    pub stamps: Vec<(u32, u64)>,
}

/// GET_MAX_OFFSET of each queue.
pub async fn max_offsets(addr: SocketAddr, topic: &str, queues: u32) -> Result<Vec<i64>, String> {
    let c = RawClient::connect(addr)
        .await
        .map_err(|e| format!("connect {addr}: {e}"))?;
    let mut out = Vec::new();
    for q in 0..queues {
        let cmd = RemotingCommand::request(codes::GET_MAX_OFFSET, 0)
            .with_ext("topic", topic)
            .with_ext("queueId", q);
        let r = c
            .request(cmd, Duration::from_secs(5))
            .await
            .map_err(|e| e.to_string())?;
        let off = r.ext("offset").and_then(|v| v.parse().ok());
        out.push(if r.code == 0 { off.unwrap_or(0) } else { 0 });
    }
    Ok(out)
}

struct QueueState {
    queue: i32,
    next: i64,
    end: Option<i64>,
    in_flight: bool,
    retry_at: Option<Instant>,
}

struct ConnOut {
    msgs: u64,
    bytes: u64,
    pulls: u64,
    empty: u64,
    unfinished: usize,
    stamps: Vec<(u32, u64)>,
    hist: Histogram<u64>,
    io_error: Option<String>,
}

pub async fn run(cfg: ConsumeCfg) -> ConsumeReport {
    let start = Instant::now();
    let nq = cfg.from.len();
    let conns = cfg.conns.clamp(1, nq.max(1));
    let mut tasks = Vec::new();
    for c in 0..conns {
        let qs: Vec<QueueState> = (0..nq)
            .filter(|q| q % conns == c)
            .map(|q| QueueState {
                queue: q as i32,
                next: cfg.from[q],
                end: cfg.to.as_ref().map(|t| t[q]),
                in_flight: false,
                retry_at: None,
            })
            .collect();
        let cfg = cfg.clone();
        tasks.push(tokio::spawn(async move {
            let mut out = ConnOut {
                msgs: 0,
                bytes: 0,
                pulls: 0,
                empty: 0,
                unfinished: 0,
                stamps: Vec::new(),
                hist: new_hist(),
                io_error: None,
            };
            let mut qs = qs;
            if let Err(e) = conn_loop(&cfg, &mut qs, &mut out).await {
                out.io_error = Some(e);
            }
            out.unfinished = qs
                .iter()
                .filter(|q| q.end.is_some_and(|e| q.next < e))
                .count();
            out
        }));
    }
    let mut rep = ConsumeReport::default();
    let mut hist = new_hist();
    for t in tasks {
        match t.await {
            Ok(o) => {
                rep.msgs += o.msgs;
                rep.bytes += o.bytes;
                rep.pulls += o.pulls;
                rep.empty_pulls += o.empty;
                rep.unfinished_queues += o.unfinished;
                rep.stamps.extend(o.stamps);
                rep.io_errors.extend(o.io_error);
                hist.add(&o.hist).expect("same bounds");
            }
            Err(e) => rep.io_errors.push(format!("task: {e}")),
        }
    }
    let secs = start.elapsed().as_secs_f64();
    rep.seconds = (secs * 1000.0).round() / 1000.0;
    rep.msgs_per_s = (rep.msgs as f64 / secs.max(1e-9)).round();
    if cfg.e2e_from.is_some() {
        rep.e2e_latency_us = Some(Latency::of(&hist));
    }
    rep
}

fn pull_cmd(cfg: &ConsumeCfg, q: &QueueState) -> RemotingCommand {
    let mut p = Pull::new(&cfg.group, &cfg.topic, q.queue, q.next).max(cfg.max_msgs);
    if cfg.long_poll {
        p = p.suspend(1000);
    } else {
        p.suspend_ms = 0;
    }
    p.build()
}

async fn conn_loop(
    cfg: &ConsumeCfg,
    qs: &mut [QueueState],
    out: &mut ConnOut,
) -> Result<(), String> {
    if qs.is_empty() {
        return Ok(());
    }
    let stream = TcpStream::connect(cfg.addr)
        .await
        .map_err(|e| format!("connect: {e}"))?;
    stream.set_nodelay(true).map_err(|e| e.to_string())?;
    let (mut rd, mut wr) = stream.into_split();
    let mut by_opaque: HashMap<i32, usize> = HashMap::new();
    let mut opaque = OPAQUE_BASE;
    let mut wbuf = bytes::BytesMut::with_capacity(16 * 1024);
    let mut rbuf = bytes::BytesMut::with_capacity(1 << 20);
    loop {
        let now = Instant::now();
        if now >= cfg.deadline {
            break;
        }
        let mut all_done = true;
        let mut next_retry: Option<Instant> = None;
        for (i, q) in qs.iter_mut().enumerate() {
            if q.end.is_some_and(|e| q.next >= e) {
                continue;
            }
            all_done = false;
            if q.in_flight {
                continue;
            }
            if let Some(t) = q.retry_at {
                if t > now {
                    next_retry = Some(next_retry.map_or(t, |n: Instant| n.min(t)));
                    continue;
                }
            }
            q.retry_at = None;
            encode_with_opaque(&pull_cmd(cfg, q), opaque, cfg.json, &mut wbuf);
            by_opaque.insert(opaque, i);
            q.in_flight = true;
            out.pulls += 1;
            opaque += 1;
        }
        if all_done && cfg.to.is_some() {
            break;
        }
        if !wbuf.is_empty() {
            wr.write_all(&wbuf)
                .await
                .map_err(|e| format!("write: {e}"))?;
            wbuf.clear();
        }
        let wake = next_retry.unwrap_or(cfg.deadline).min(cfg.deadline);
        tokio::select! {
            r = rd.read_buf(&mut rbuf) => {
                if r.map_err(|e| format!("read: {e}"))? == 0 {
                    return Err("closed by broker".into());
                }
                let now = Instant::now();
                while let Some(frame) = next_frame(&mut rbuf, 64 << 20)? {
                    let resp = decode(&frame)?;
                    let Some(i) = by_opaque.remove(&resp.opaque) else { continue };
                    let q = &mut qs[i];
                    q.in_flight = false;
                    on_pull(cfg, q, &resp, now, out)?;
                }
            }
            _ = tokio::time::sleep_until(wake.into()) => {}
        }
    }
    Ok(())
}

fn on_pull(
    cfg: &ConsumeCfg,
    q: &mut QueueState,
    resp: &RemotingCommand,
    now: Instant,
    out: &mut ConnOut,
) -> Result<(), String> {
    let next: Option<i64> = resp.ext("nextBeginOffset").and_then(|v| v.parse().ok());
    match resp.code {
        0 => {
            let bodies = stored_bodies(&resp.body)?;
            out.msgs += bodies.len() as u64;
            out.bytes += resp.body.len() as u64;
            for b in bodies {
                let Some(run) = cfg.run_id else { continue };
                let Some(s) = Stamp::read(b) else { continue };
                if s.run != run {
                    continue;
                }
                out.stamps.push((s.conn, s.seq));
                if let Some(from) = cfg.e2e_from {
                    let sent = instant_of(s.t_ns);
                    if sent >= from {
                        let _ = out
                            .hist
                            .record(now.saturating_duration_since(sent).as_nanos().max(1) as u64);
                    }
                }
            }
            if let Some(n) = next {
                q.next = n.max(q.next);
            }
        }
        codes::PULL_OFFSET_MOVED => {
            if let Some(n) = next {
                q.next = n;
            }
        }
        _ => {
            // not found / retry: nothing new yet
            out.empty += 1;
            if !cfg.long_poll {
                q.retry_at = Some(now + Duration::from_millis(1));
            }
        }
    }
    Ok(())
}

/// The exactly-once check: every acknowledged (connection, sequence) consumed exactly once.
#[derive(Debug, Clone, Default, Serialize)]
pub struct VerifyReport {
    pub acknowledged: u64,
    /// Distinct acknowledged messages consumed.
    pub consumed: u64,
    pub missing: u64,
    pub duplicates: u64,
    /// Consumed but never acknowledged (sent, response lost or timed out): allowed.
    pub unacknowledged_consumed: u64,
    pub ok: bool,
}

pub fn verify(acked: &[Vec<u64>], stamps: &[(u32, u64)]) -> VerifyReport {
    let mut seen: HashMap<(u32, u64), u32> = HashMap::with_capacity(stamps.len());
    for s in stamps {
        *seen.entry(*s).or_default() += 1;
    }
    let mut r = VerifyReport::default();
    let mut acked_set = std::collections::HashSet::new();
    for (conn, seqs) in acked.iter().enumerate() {
        for s in seqs {
            let key = (conn as u32, *s);
            acked_set.insert(key);
            r.acknowledged += 1;
            match seen.get(&key) {
                None => r.missing += 1,
                Some(n) => {
                    r.consumed += 1;
                    if *n > 1 {
                        r.duplicates += 1;
                    }
                }
            }
        }
    }
    r.unacknowledged_consumed = seen.keys().filter(|k| !acked_set.contains(k)).count() as u64;
    r.ok = r.missing == 0 && r.duplicates == 0 && r.consumed == r.acknowledged;
    r
}
