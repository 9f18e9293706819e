//! Producers: one task per connection, each writing pre-encoded sends and reading responses on
//! the same socket. Closed loop keeps `inflight` requests outstanding per connection; open loop
//! sends at a fixed rate and measures latency from the intended send time, so a stalled broker
//! shows up in the histogram instead of slowing the generator down (no coordinated omission).
use super::wire::{next_frame, peek_code_opaque, SendSpec, SendTemplate, Stamp, OPAQUE_BASE};
use super::{new_hist, since_epoch_ns, Latency};
use hdrhistogram::Histogram;
use serde::Serialize;
use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// What one producer run does.
#[derive(Debug, Clone)]
pub struct ProduceCfg {
    pub addr: SocketAddr,
    pub spec: SendSpec,
    pub queues: u32,
    pub conns: usize,
    /// Requests outstanding per connection (closed loop), or the cap on them (open loop).
    pub inflight: usize,
    /// Open loop: messages per second over all connections.
    pub rate: Option<f64>,
    pub warmup: Duration,
    pub duration: Duration,
    /// Stop after this many messages in total (filling a backlog), whatever the duration.
    pub total: Option<u64>,
    /// How long to wait for outstanding responses after the end.
    pub drain_timeout: Duration,
    pub run_id: u32,
    /// Keep the sequence numbers of acknowledged messages (for the exactly-once check).
    pub record_acks: bool,
}

/// Outcome of one producer run.
#[derive(Debug, Clone, Default, Serialize)]
pub struct ProduceReport {
    /// Messages acknowledged with SEND_OK within the measured window, per second.
    pub msgs_per_s: f64,
    pub reqs_per_s: f64,
    pub measured_s: f64,
    pub sent_msgs: u64,
    pub acked_msgs: u64,
    /// Non-SUCCESS response codes and their counts (messages).
    pub errors: BTreeMap<i32, u64>,
    /// Requests still unanswered after the drain timeout.
    pub timeouts: u64,
    /// Connection-level failures (connect, read, write, bad frame).
    pub io_errors: Vec<String>,
    pub latency_us: Latency,
    #[serde(skip)]
    pub acked: Vec<Vec<u64>>,
}

struct ConnOut {
    hist: Histogram<u64>,
    sent: u64,
    acked: u64,
    acked_in_window: u64,
    reqs_in_window: u64,
    errors: BTreeMap<i32, u64>,
    timeouts: u64,
    io_error: Option<String>,
    acked_seqs: Vec<u64>,
}

/// Run the producers to completion on the current tokio runtime.
pub async fn run(cfg: ProduceCfg) -> ProduceReport {
    let start = Instant::now() + Duration::from_millis(20);
    let budget = Arc::new(AtomicI64::new(
        cfg.total.map(|t| t as i64).unwrap_or(i64::MAX),
    ));
    let mut tasks = Vec::new();
    for conn in 0..cfg.conns {
        tasks.push(tokio::spawn(conn_task(
            cfg.clone(),
            conn as u32,
            start,
            budget.clone(),
        )));
    }
    let mut rep = ProduceReport::default();
    let mut hist = new_hist();
    let (mut win_msgs, mut win_reqs) = (0u64, 0u64);
    for t in tasks {
        let o = match t.await {
            Ok(o) => o,
            Err(e) => {
                rep.io_errors.push(format!("task: {e}"));
                continue;
            }
        };
        hist.add(&o.hist).expect("same histogram bounds");
        rep.sent_msgs += o.sent;
        rep.acked_msgs += o.acked;
        win_msgs += o.acked_in_window;
        win_reqs += o.reqs_in_window;
        for (c, n) in o.errors {
            *rep.errors.entry(c).or_default() += n;
        }
        rep.timeouts += o.timeouts;
        rep.io_errors.extend(o.io_error);
        rep.acked.push(o.acked_seqs);
    }
    let measured = if cfg.total.is_some() {
        // filling: the whole run counts
        start.elapsed().as_secs_f64().max(1e-9)
    } else {
        cfg.duration.as_secs_f64()
    };
    if cfg.total.is_some() {
        win_msgs = rep.acked_msgs;
    }
    rep.measured_s = (measured * 1000.0).round() / 1000.0;
    rep.msgs_per_s = (win_msgs as f64 / measured).round();
    rep.reqs_per_s = (win_reqs as f64 / measured).round();
    rep.latency_us = Latency::of(&hist);
    rep
}

async fn conn_task(cfg: ProduceCfg, conn: u32, start: Instant, budget: Arc<AtomicI64>) -> ConnOut {
    let mut out = ConnOut {
        hist: new_hist(),
        sent: 0,
        acked: 0,
        acked_in_window: 0,
        reqs_in_window: 0,
        errors: BTreeMap::new(),
        timeouts: 0,
        io_error: None,
        acked_seqs: Vec::new(),
    };
    if let Err(e) = conn_loop(&cfg, conn, start, &budget, &mut out).await {
        out.io_error = Some(format!("connection {conn}: {e}"));
    }
    out
}

/// Register the producer group with a HEART_BEAT first, as every real client does (and some
/// brokers treat sends from unregistered producers differently). The answer is read and ignored.
async fn heartbeat(
    rd: &mut tokio::net::tcp::OwnedReadHalf,
    wr: &mut tokio::net::tcp::OwnedWriteHalf,
    group: &str,
    conn: u32,
) -> Result<(), String> {
    let mut hb = ferrocket::client::req::heartbeat(&format!("127.0.0.1@ferrocket-bench-{conn}"), &[group], &[]);
    hb.opaque = 1;
    let mut b = bytes::BytesMut::new();
    ferrocket::codec::frame::encode_command(&hb, &mut b);
    wr.write_all(&b).await.map_err(|e| format!("heartbeat: {e}"))?;
    let mut len = [0u8; 4];
    rd.read_exact(&mut len).await.map_err(|e| format!("heartbeat answer: {e}"))?;
    let n = u32::from_be_bytes(len) as usize;
    if n > 16 << 20 {
        return Err(format!("heartbeat answer of {n} bytes"));
    }
    let mut rest = vec![0u8; n];
    rd.read_exact(&mut rest).await.map_err(|e| format!("heartbeat answer: {e}"))?;
    Ok(())
}

async fn conn_loop(
    cfg: &ProduceCfg,
    conn: u32,
    start: Instant,
    budget: &AtomicI64,
    out: &mut ConnOut,
) -> Result<(), String> {
    let stream = TcpStream::connect(cfg.addr)
        .await
        .map_err(|e| format!("connect: {e}"))?;
    stream.set_nodelay(true).map_err(|e| e.to_string())?;
    if cfg.rate.is_some() {
        tight_timer_slack();
    }
    let fd = std::os::fd::AsRawFd::as_raw_fd(&stream);
    let (mut rd, mut wr) = stream.into_split();
    heartbeat(&mut rd, &mut wr, &cfg.spec.group, conn).await?;
    let queues = cfg.queues.max(1);
    let mut templates: Vec<SendTemplate> = (0..queues)
        .map(|q| SendTemplate::new(&cfg.spec, q as i32))
        .collect();
    let batch = templates[0].messages() as u64;
    let warm_end = start + cfg.warmup;
    let end = warm_end + cfg.duration;
    // open loop: this connection's share of the rate, staggered across connections
    let interval = cfg
        .rate
        .map(|r| Duration::from_secs_f64(cfg.conns as f64 * batch as f64 / r.max(1e-3)));
    let mut next_due = start
        + interval
            .map(|i| i.mul_f64(conn as f64 / cfg.conns as f64))
            .unwrap_or_default();
    let mut pending: HashMap<i32, (Instant, u64)> = HashMap::with_capacity(cfg.inflight * 2);
    let mut opaque = OPAQUE_BASE;
    let mut seq = 0u64;
    let mut queue = conn % queues;
    let mut wbuf: Vec<u8> = Vec::with_capacity(256 * 1024);
    let mut rbuf = bytes::BytesMut::with_capacity(256 * 1024);
    let mut stopping = false;
    let mut drain_deadline = end + cfg.drain_timeout;
    tokio::time::sleep_until(start.into()).await;
    loop {
        let now = Instant::now();
        if !stopping && (now >= end || budget.load(Ordering::Relaxed) <= 0) {
            stopping = true;
            drain_deadline = now + cfg.drain_timeout;
        }
        if !stopping {
            while pending.len() < cfg.inflight {
                let intended = match interval {
                    None => now,
                    Some(i) if next_due <= now => {
                        let t = next_due;
                        next_due += i;
                        t
                    }
                    Some(_) => break,
                };
                if budget.fetch_sub(batch as i64, Ordering::Relaxed) <= 0 {
                    stopping = true;
                    drain_deadline = now + cfg.drain_timeout;
                    break;
                }
                let t_ns = since_epoch_ns(intended);
                let tpl = &mut templates[queue as usize];
                tpl.patch(opaque, |i| Stamp {
                    run: cfg.run_id,
                    conn,
                    seq: seq + i as u64,
                    t_ns,
                });
                wbuf.extend_from_slice(&tpl.frame);
                pending.insert(opaque, (intended, seq));
                out.sent += batch;
                seq += batch;
                opaque = if opaque >= 1_999_999_999 {
                    OPAQUE_BASE
                } else {
                    opaque + 1
                };
                queue = (queue + 1) % queues;
            }
        }
        if !wbuf.is_empty() {
            wr.write_all(&wbuf)
                .await
                .map_err(|e| format!("write: {e}"))?;
            wbuf.clear();
        }
        if stopping && pending.is_empty() {
            break;
        }
        let wake = if stopping {
            drain_deadline
        } else if interval.is_some() && pending.len() < cfg.inflight {
            next_due.min(end)
        } else {
            end
        };
        // tokio's timer has a 1 ms tick: sleep to within a tick of the next send, then wait for
        // the socket or the send time with ppoll (ns timeout, 1 µs timer slack).
        let spin = !stopping
            && wake.saturating_duration_since(Instant::now()) < Duration::from_micros(1500);
        let wake = if spin || stopping {
            wake
        } else {
            wake - Duration::from_millis(1)
        };
        tokio::select! {
            biased;
            r = rd.read_buf(&mut rbuf) => {
                let n = r.map_err(|e| format!("read: {e}"))?;
                if n == 0 {
                    return Err("closed by broker".into());
                }
                let now = Instant::now();
                while let Some(frame) = next_frame(&mut rbuf, 16 << 20)? {
                    let (code, op) = peek_code_opaque(&frame)?;
                    let Some((sent_at, first_seq)) = pending.remove(&op) else { continue };
                    if code == 0 {
                        out.acked += batch;
                        if cfg.record_acks {
                            out.acked_seqs.extend(first_seq..first_seq + batch);
                        }
                        if now >= warm_end && now <= end {
                            out.acked_in_window += batch;
                            out.reqs_in_window += 1;
                        }
                        if sent_at >= warm_end && sent_at <= end {
                            let _ = out.hist.record((now - sent_at).as_nanos().max(1) as u64);
                        }
                    } else {
                        *out.errors.entry(code).or_default() += batch;
                    }
                }
            }
            _ = async { precise_wait(fd, wake); tokio::task::yield_now().await }, if spin => {}
            _ = tokio::time::sleep_until(wake.into()), if !spin => {
                if stopping && Instant::now() >= drain_deadline {
                    out.timeouts += pending.len() as u64;
                    break;
                }
            }
        }
    }
    let _ = wr.shutdown().await;
    Ok(())
}

/// Block until `sock` is readable or `until` (at most 200 µs, so other connections on this
/// thread are not starved), with nanosecond resolution.
fn precise_wait(fd: std::os::fd::RawFd, until: Instant) {
    let d = until
        .saturating_duration_since(Instant::now())
        .min(Duration::from_micros(200));
    if d.is_zero() {
        return;
    }
    let mut pfd = libc::pollfd {
        fd,
        events: libc::POLLIN,
        revents: 0,
    };
    let ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: d.as_nanos() as libc::c_long,
    };
    // SAFETY: one valid pollfd, a valid timespec, no signal mask.
    unsafe { libc::ppoll(&mut pfd, 1, &ts, std::ptr::null()) };
}

/// Ask the kernel for 1 µs timer slack (default 50 µs) so paced sends leave on time.
pub fn tight_timer_slack() {
    // SAFETY: PR_SET_TIMERSLACK takes a plain integer.
    unsafe { libc::prctl(libc::PR_SET_TIMERSLACK, 1000 as libc::c_ulong, 0, 0, 0) };
}
