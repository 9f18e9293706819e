//! Floods and slow peers, through the wire against a `ferrocket dev` child process whose memory is
//! read from `/proc/<pid>/status`:
//!
//! * many concurrent idle connections (RSS per connection reported; a normal client still served);
//! * a client that sends and never reads (its requests are no longer read past
//!   `maxQueuedResponseBytes`: bounded broker memory, others unaffected, every answer delivered
//!   once it reads);
//! * a pipelining client far above `maxRequestsInFlight` (reading pauses at the cap: no
//!   SYSTEM_BUSY, every request answered, bounded memory), for sends under SYNC_FLUSH and for
//!   long-polling pulls;
//! * a large backlog read by a slow consumer (bounded broker RSS).
//!
//! Sizes come from `RELIABILITY_*` variables (short CI defaults here, long ones in
//! `scripts/reliability.sh`). Memory bounds are asserted generously; timings never.
mod common;
mod reliability_support;

use ferrocket::client::req::{self, Msg};
use ferrocket::client::{codes, RawClient};
use ferrocket::codec::frame::encode_command;
use reliability_support::{report, Broker, Knobs};
use serde_json::json;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

const T: Duration = Duration::from_secs(15);
const SYSTEM_BUSY: i32 = 2;

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("runtime")
}

/// Raise the soft open-files limit to the hard one (the broker child inherits it).
fn raise_nofile() -> u64 {
    let mut r = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
    // SAFETY: getrlimit/setrlimit with a valid out-parameter.
    unsafe {
        libc::getrlimit(libc::RLIMIT_NOFILE, &mut r);
        r.rlim_cur = r.rlim_max;
        libc::setrlimit(libc::RLIMIT_NOFILE, &r);
        libc::getrlimit(libc::RLIMIT_NOFILE, &mut r);
    }
    r.rlim_cur
}

fn start(tmp: &tempfile::TempDir, conf: &[(&str, String)]) -> Broker {
    Broker::start(&tmp.path().join("data"), conf).unwrap_or_else(|e| panic!("{e}"))
}

/// One send and one pull round trip: the broker still serves a well-behaved client.
async fn healthy(addr: std::net::SocketAddr, topic: &str) -> bool {
    let Ok(c) = RawClient::connect(addr).await else { return false };
    let m = Msg::new(topic, b"still here".to_vec());
    let Ok(r) = c.request(req::send_v2("rel_pg", &m, 0), T).await else { return false };
    if r.code != codes::SUCCESS {
        return false;
    }
    let off = req::ext_i64(&r, "queueOffset").unwrap_or(0);
    match c.request(req::Pull::new("rel_cg", topic, 0, off).max(1).build(), T).await {
        Ok(p) => p.code == codes::SUCCESS,
        Err(_) => false,
    }
}

#[test]
fn reliability_flood_idle_connections() {
    let n = Knobs::u64("IDLE_CONNS", 1000) as usize;
    let limit = raise_nofile();
    assert!(limit as usize > n + 100, "open-files limit {limit} too low for {n} connections (raise ulimit -n)");
    let tmp = tempfile::tempdir().unwrap();
    let broker = start(&tmp, &[]);
    let addr = broker.addr();
    let rt = rt();
    let topic = common::unique("rel_idle");
    assert!(rt.block_on(healthy(addr, &topic)));
    std::thread::sleep(Duration::from_millis(300));
    let before = broker.rss_kib().unwrap_or(0);
    let conns = rt.block_on(async {
        let mut v = Vec::with_capacity(n);
        for i in 0..n {
            let c = RawClient::connect(addr).await.unwrap_or_else(|e| panic!("connection {i}: {e}"));
            v.push(c);
        }
        // One request on each, so every connection is fully set up on the broker side.
        for (i, c) in v.iter().enumerate() {
            let r = c.request(req::max_offset(&topic, 0), T).await.unwrap_or_else(|e| panic!("request on connection {i}: {e}"));
            assert_eq!(r.code, codes::SUCCESS);
        }
        v
    });
    std::thread::sleep(Duration::from_millis(500));
    let after = broker.rss_kib().unwrap_or(0);
    let ok = rt.block_on(healthy(addr, &topic));
    let open = conns.iter().filter(|c| !c.is_closed()).count();
    drop(conns);
    let per_conn = after.saturating_sub(before) as f64 / n as f64;
    report(
        "flood_idle_connections",
        json!({"connections": n, "still_open": open, "rss_before_kib": before, "rss_after_kib": after,
               "rss_per_connection_kib": (per_conn * 10.0).round() / 10.0, "healthy_client_served": ok}),
    );
    assert!(ok, "a normal client was not served with {n} idle connections open");
    assert_eq!(open, n, "idle connections were closed");
}

/// Fill `topic` queue 0 with `n` messages of `size` bytes (batches).
async fn fill(c: &RawClient, topic: &str, n: usize, size: usize) {
    let mut sent = 0;
    while sent < n {
        let k = (n - sent).min((1 << 20) / (size + 64)).max(1);
        let msgs: Vec<Msg> = (0..k).map(|i| Msg::new(topic, vec![b'a' + ((sent + i) % 26) as u8; size])).collect();
        let mut cmd = req::send_batch("rel_pg", topic, 0, &msgs);
        if std::env::var("RELIABILITY_NO_UNIQ_KEY").is_ok() {
            // Experiment: the same batch without UNIQ_KEY properties (no key-index entries).
            cmd.body = no_key_batch(&msgs).into();
        }
        let r = c.request(cmd, T).await.expect("batch send");
        assert_eq!(r.code, codes::SUCCESS, "batch send: {:?}", r.remark);
        sent += k;
    }
}

/// A batch body whose entries carry no properties at all.
fn no_key_batch(msgs: &[Msg]) -> Vec<u8> {
    let mut out = Vec::new();
    for m in msgs {
        let total = 4 + 4 + 4 + 4 + 4 + m.body.len() + 2;
        for v in [total as i32, 0, 0, m.flag, m.body.len() as i32] {
            out.extend_from_slice(&v.to_be_bytes());
        }
        out.extend_from_slice(&m.body);
        out.extend_from_slice(&0i16.to_be_bytes());
    }
    out
}

#[test]
fn reliability_slow_reader_is_paused() {
    let limit: u64 = Knobs::u64("SLOW_READER_LIMIT", 4 << 20);
    let tmp = tempfile::tempdir().unwrap();
    // maxQueuedResponseBytes must be at least maxFrameSize.
    let broker = start(&tmp, &[("maxFrameSize", (1u64 << 20).to_string()), ("maxMessageSize", (512u64 << 10).to_string()), ("maxQueuedResponseBytes", limit.to_string())]);
    let addr = broker.addr();
    let rt = rt();
    let topic = common::unique("rel_slow");
    // 32 messages of 8 KiB: every pull answer is ~260 KiB.
    rt.block_on(async {
        let c = RawClient::connect(addr).await.unwrap();
        fill(&c, &topic, 32, 8 * 1024).await;
    });
    let before = broker.rss_kib().unwrap_or(0);
    // A raw socket that writes pulls and never reads: answers total many times the limit.
    // Loopback TCP buffers absorb tens of MiB (tcp_rmem max 32 MiB here): ask for far more.
    let requests = (((96u64 << 20) + limit * 8) / (256 * 1024)) as usize;
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_write_timeout(Some(Duration::from_secs(10))).unwrap();
    let mut frames = bytes::BytesMut::new();
    for i in 0..requests {
        let mut cmd = req::Pull::new("rel_slow_cg", &topic, 0, 0).max(32).build();
        cmd.opaque = i as i32 + 1;
        encode_command(&cmd, &mut frames);
    }
    let mut write_error = None;
    for chunk in frames.chunks(64 * 1024) {
        if let Err(e) = s.write_all(chunk) {
            write_error = Some(e.to_string());
            break;
        }
    }
    // Meanwhile a well-behaved client is served.
    let ok = rt.block_on(healthy(addr, &topic));
    let peak = broker.peak_rss_kib().unwrap_or(0);
    // Now read: the broker resumes reading the peer's requests as its answers drain.
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    let (mut got, mut ended) = (0usize, None);
    let mut buf = vec![0u8; 1 << 20];
    while Instant::now() < deadline {
        match s.read(&mut buf) {
            Ok(0) => {
                ended = Some("eof".to_string());
                break;
            }
            Ok(k) => got += k,
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock || e.kind() == std::io::ErrorKind::TimedOut => break,
            Err(e) => {
                ended = Some(e.to_string());
                break;
            }
        }
    }
    let answers_bytes = requests as u64 * 260 * 1024;
    report(
        "flood_slow_reader",
        json!({"limit_bytes": limit, "requests": requests, "answer_bytes_requested": answers_bytes,
               "bytes_read_after": got, "closed": ended.is_some(), "how": ended, "write_error": write_error,
               "rss_before_kib": before, "peak_rss_kib": peak, "healthy_client_served": ok}),
    );
    assert!(ok, "a normal client was not served while a peer did not read");
    // Reading paused at the limit: the broker itself never queued much more than its limit,
    // and the peer, once it reads, gets its answers on a connection that stayed open.
    let grew_kib = peak.saturating_sub(before);
    assert!(
        grew_kib < limit / 1024 * 2 + 32 * 1024,
        "the broker grew by {grew_kib} KiB for a peer that did not read (limit {limit} bytes)"
    );
    assert!(ended.is_none(), "the paused connection was closed: {ended:?}");
    assert!(got > 0, "no answer arrived once the peer read");
}

/// Write `n` commands back to back on one raw connection, then read every answer.
/// Returns (answers by code, requests unanswered).
fn pipeline(addr: std::net::SocketAddr, cmds: Vec<ferrocket::codec::RemotingCommand>, wait: Duration) -> (std::collections::BTreeMap<i32, u64>, usize) {
    let rt = rt();
    rt.block_on(async move {
        let c = RawClient::connect(addr).await.unwrap();
        let n = cmds.len();
        let mut futs = Vec::with_capacity(n);
        let c = std::sync::Arc::new(c);
        for cmd in cmds {
            let c = c.clone();
            futs.push(tokio::spawn(async move { c.request(cmd, wait).await.map(|r| r.code) }));
        }
        let mut by_code = std::collections::BTreeMap::new();
        let mut missing = 0;
        for f in futs {
            match f.await {
                Ok(Ok(code)) => *by_code.entry(code).or_insert(0u64) += 1,
                _ => missing += 1,
            }
        }
        (by_code, missing)
    })
}

#[test]
fn reliability_pipelined_sends_over_in_flight_cap() {
    let n = Knobs::u64("PIPELINE_SENDS", 20_000) as usize;
    let cap = 64;
    let tmp = tempfile::tempdir().unwrap();
    let broker = start(&tmp, &[("maxRequestsInFlight", cap.to_string()), ("flushDiskType", "SYNC_FLUSH".into())]);
    let topic = common::unique("rel_pipe");
    let cmds: Vec<_> = (0..n).map(|i| req::send_v2("rel_pg", &Msg::new(&topic, format!("m{i}").into_bytes()), 0)).collect();
    let before = broker.rss_kib().unwrap_or(0);
    let (by_code, missing) = pipeline(broker.addr(), cmds, Duration::from_secs(60));
    let peak = broker.peak_rss_kib().unwrap_or(0);
    let busy = by_code.get(&SYSTEM_BUSY).copied().unwrap_or(0);
    report(
        "flood_pipelined_sends",
        json!({"requests": n, "in_flight_cap": cap, "answers_by_code": by_code, "unanswered": missing,
               "system_busy": busy, "rss_before_kib": before, "peak_rss_kib": peak}),
    );
    assert_eq!(missing, 0, "requests left unanswered");
    // Reading pauses at the cap instead of refusing: every send is stored.
    assert_eq!(busy, 0, "SYSTEM_BUSY with {n} pipelined SYNC_FLUSH sends over a cap of {cap}: {by_code:?}");
    assert_eq!(by_code.get(&0).copied().unwrap_or(0), n as u64, "{by_code:?}");
    assert!(peak < 1024 * 1024, "broker RSS reached {peak} KiB");
}

#[test]
fn reliability_pipelined_long_polls_over_in_flight_cap() {
    // Parked pulls count against the cap: reading pauses while `cap` are parked (2 s each), so
    // n / cap rounds of 2 s.
    let n = Knobs::u64("PIPELINE_PULLS", 640) as usize;
    let cap = 64;
    let tmp = tempfile::tempdir().unwrap();
    let broker = start(&tmp, &[("maxRequestsInFlight", cap.to_string())]);
    let topic = common::unique("rel_poll");
    let rt = rt();
    rt.block_on(async {
        let c = RawClient::connect(broker.addr()).await.unwrap();
        fill(&c, &topic, 1, 10).await;
    });
    // Long polls at the end of the queue: each would be parked for 2 s.
    let cmds: Vec<_> = (0..n).map(|_| req::Pull::new("rel_poll_cg", &topic, 0, 1).suspend(2_000).build()).collect();
    let before = broker.rss_kib().unwrap_or(0);
    let (by_code, missing) = pipeline(broker.addr(), cmds, Duration::from_secs(60));
    let peak = broker.peak_rss_kib().unwrap_or(0);
    let busy = by_code.get(&SYSTEM_BUSY).copied().unwrap_or(0);
    report(
        "flood_pipelined_long_polls",
        json!({"requests": n, "in_flight_cap": cap, "answers_by_code": by_code, "unanswered": missing,
               "system_busy": busy,
               "rss_before_kib": before, "peak_rss_kib": peak}),
    );
    assert_eq!(missing, 0, "long polls left unanswered");
    assert_eq!(busy, 0, "SYSTEM_BUSY for {n} parked pulls over a cap of {cap}: {by_code:?}");
    assert!(peak < 512 * 1024, "broker RSS reached {peak} KiB");
}

#[test]
fn reliability_backlog_slow_consumer() {
    let n = Knobs::u64("BACKLOG", 100_000) as usize;
    let read = Knobs::u64("BACKLOG_READ", 20_000).min(n as u64) as usize;
    let tmp = tempfile::tempdir().unwrap();
    let broker = start(&tmp, &[]);
    let topic = common::unique("rel_backlog");
    let rt = rt();
    let started = Instant::now();
    let mut samples = Vec::new();
    let (produced_rss, consumed) = rt.block_on(async {
        let c = RawClient::connect(broker.addr()).await.unwrap();
        let mut sent = 0;
        while sent < n {
            let k = (n - sent).min(5_000);
            fill(&c, &topic, k, 100).await;
            sent += k;
            samples.push(broker.rss_kib().unwrap_or(0));
        }
        let produced_rss = broker.rss_kib().unwrap_or(0);
        // Idle a moment: background work (flush, key index) catches up.
        tokio::time::sleep(Duration::from_secs(2)).await;
        let idle_rss = broker.rss_kib().unwrap_or(0);
        samples.push(idle_rss);
        // The slow consumer: small pulls with a pause, from the start and from random places.
        let mut off = 0i64;
        let mut consumed = 0usize;
        let mut pulls = 0u64;
        while consumed < read {
            let (resp, msgs) = common::pull(&c, &req::Pull::new("rel_backlog_cg", &topic, 0, off).max(32)).await;
            assert_eq!(resp.code, codes::SUCCESS, "pull at {off}: {:?}", resp.remark);
            for m in &msgs {
                assert_eq!(m.queue_offset, off, "gap or reorder in the backlog");
                off += 1;
            }
            consumed += msgs.len();
            pulls += 1;
            if pulls.is_multiple_of(64) {
                samples.push(broker.rss_kib().unwrap_or(0));
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        }
        ((produced_rss, idle_rss), consumed)
    });
    let (produced_rss, idle_rss) = produced_rss;
    let peak = broker.peak_rss_kib().unwrap_or(0);
    let max_sample = samples.iter().copied().max().unwrap_or(0);
    report(
        "flood_backlog_slow_consumer",
        json!({"backlog": n, "consumed": consumed, "rss_after_produce_kib": produced_rss, "rss_after_idle_kib": idle_rss,
               "uniq_keys": std::env::var("RELIABILITY_NO_UNIQ_KEY").is_err(), "rss_max_sampled_kib": max_sample,
               "peak_rss_kib": peak, "seconds": started.elapsed().as_secs()}),
    );
    assert!(peak < 1024 * 1024, "broker RSS reached {peak} KiB with a backlog of {n}");
}
