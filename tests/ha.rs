//! Master/slave replication on RocketMQ 4.x's HA stream (docs/replication.md), through the wire:
//! `ferrocket dev` processes as master and slave, and the test itself speaking the HA protocol
//! as a Java slave (against a ferrocket master) and as a Java master (to a ferrocket slave).
mod common;

use bytes::{Bytes, BytesMut};
use common::*;
use ferrocket::client::req::{self, Msg, Pull};
use ferrocket::client::{codes, RawClient};
use ferrocket::codec::stored::{body_crc, encode_stored, StoredMessage, BLANK_MAGIC};
use std::net::SocketAddr;
use std::path::Path;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// Small segments so that tests cross segment ends (blank records) with little data.
const SEG: u64 = 65536;
const SLAVE_NOT_AVAILABLE: i32 = 11;
const SERVICE_NOT_AVAILABLE: i32 = 14;

/// A free port for the master's HA listener, named in its config so that it survives restarts.
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

fn master_conf(role: &str) -> String {
    format!(
        "brokerRole={role}\nmappedFileSizeCommitLog={SEG}\nmaxMessageSize=16384\nregisterNameServerPeriod=1000\n\
         haSendHeartbeatInterval=200\nhaHousekeepingInterval=3000\nsyncFlushTimeout=3000\nhaListenPort={}\n",
        free_port()
    )
}

fn slave_conf(master: &DevBroker) -> String {
    format!(
        "brokerRole=SLAVE\nbrokerId=1\nnamesrvAddr={}\nmappedFileSizeCommitLog={SEG}\nmaxMessageSize=16384\n\
         registerNameServerPeriod=1000\nhaSendHeartbeatInterval=200\nhaHousekeepingInterval=3000\n",
        master.namesrv
    )
}

fn start(conf: String) -> DevBroker {
    DevBroker::start_with(Launch { config: Some(conf), rust_log: None })
}

fn ha_addr(b: &DevBroker) -> SocketAddr {
    b.ha.expect("a master prints haAddr in its ready line")
}

/// The commit log as one byte string: each segment at its offset, a segment's unwritten end
/// (after its blank record) as zeros, as the HA stream carries it. Ends at the last byte written:
/// the newest segment's file runs on past its data (space reserved ahead of appends, zeros),
/// which is cut off here (the records in these tests end with their non-empty properties).
fn commit_log(data: &Path) -> Vec<u8> {
    let dir = data.join("commitlog");
    let mut segs: Vec<(u64, Vec<u8>)> = std::fs::read_dir(&dir)
        .map(|rd| {
            rd.filter_map(|e| e.ok())
                .filter_map(|e| Some((e.file_name().to_str()?.parse::<u64>().ok()?, std::fs::read(e.path()).ok()?)))
                .collect()
        })
        .unwrap_or_default();
    segs.sort();
    let Some(first) = segs.first().map(|s| s.0) else { return Vec::new() };
    let mut out = Vec::new();
    for (base, bytes) in segs {
        out.resize((base - first) as usize, 0);
        out.extend_from_slice(&bytes);
    }
    let data_end = out.len() - out.iter().rev().take_while(|b| **b == 0).count();
    out.truncate(data_end);
    out
}

fn listing(data: &Path) -> Vec<(String, u64)> {
    let mut v: Vec<(String, u64)> = std::fs::read_dir(data.join("commitlog"))
        .map(|rd| rd.filter_map(|e| e.ok()).map(|e| (e.file_name().to_string_lossy().into_owned(), e.metadata().map(|m| m.len()).unwrap_or(0))).collect())
        .unwrap_or_default();
    v.sort();
    v
}

fn log_start(data: &Path) -> u64 {
    std::fs::read_dir(data.join("commitlog"))
        .map(|rd| rd.filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u64>().ok()).min().unwrap_or(0))
        .unwrap_or(0)
}

/// Wait until the slave's commit log holds the master's: the same bytes at the same offsets from
/// where the slave's log starts (a fresh slave starts at the master's newest segment, as Java's
/// does) to the master's end. Returns the master's end offset.
fn wait_in_sync(master: &DevBroker, slave: &DevBroker) -> u64 {
    let deadline = Instant::now() + Duration::from_secs(20);
    let trimmed = |v: &[u8]| v.len() - v.iter().rev().take_while(|b| **b == 0).count();
    loop {
        let (m, s) = (commit_log(&master.data_dir), commit_log(&slave.data_dir));
        let (ms, ss) = (log_start(&master.data_dir), log_start(&slave.data_dir));
        let (m_end, s_end) = (ms + trimmed(&m) as u64, ss + trimmed(&s) as u64);
        if !m.is_empty() && ss >= ms && m_end == s_end && m[(ss - ms) as usize..trimmed(&m)] == s[..trimmed(&s)] {
            return m_end;
        }
        assert!(
            Instant::now() < deadline,
            "slave not in sync: master {ms}..{m_end}, slave {ss}..{s_end}\nmaster: {:?}\nslave: {:?}",
            listing(&master.data_dir),
            listing(&slave.data_dir)
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// `ferrocket admin -n <master's name server> ...`, which must succeed; its stdout.
fn admin(b: &DevBroker, args: &[&str]) -> String {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_ferrocket"))
        .args(["admin", "-n", &b.namesrv.to_string()])
        .args(args)
        .output()
        .expect("run ferrocket admin");
    assert!(out.status.success(), "admin {args:?} failed: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

async fn send_n(c: &RawClient, topic: &str, n: usize, tag: &str) -> Vec<Sent> {
    let mut out = Vec::new();
    for i in 0..n {
        let body = format!("{tag}-{i}-{}", "x".repeat(300));
        out.push(send_ok(c, &Msg::new(topic, body), 0).await);
    }
    out
}

/// Every body of queue 0 of `topic` on `c`, from offset 0 (bounded).
async fn pull_all(c: &RawClient, topic: &str, want: usize) -> Vec<String> {
    let group = unique("ha_cg");
    let mut bodies = Vec::new();
    let mut offset = 0;
    let deadline = Instant::now() + Duration::from_secs(20);
    while bodies.len() < want && Instant::now() < deadline {
        let (resp, msgs) = pull(c, &Pull::new(&group, topic, 0, offset).max(32)).await;
        if msgs.is_empty() {
            assert!(resp.code != codes::SUCCESS, "found without messages");
            tokio::time::sleep(Duration::from_millis(100)).await;
            continue;
        }
        offset = req::ext_i64(&resp, "nextBeginOffset").expect("nextBeginOffset");
        bodies.extend(msgs.iter().map(|m| String::from_utf8_lossy(&m.body).into_owned()));
    }
    bodies
}

/// Wait for the slave to know the topic (metadata sync from the master).
async fn wait_topic(c: &RawClient, topic: &str, queue_max: i64) {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let r = c.request(req::max_offset(topic, 0), T).await.expect("max offset");
        if r.code == codes::SUCCESS && req::ext_i64(&r, "offset") == Some(queue_max) {
            return;
        }
        assert!(Instant::now() < deadline, "slave never had {topic} up to {queue_max}: {:?} {:?}", r.code, r.ext_fields);
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Master + slave: the slave registers as brokerId 1 of the same brokerName, copies the master's
/// commit log byte for byte (across segment ends), refuses sends, and after `kill -9` of the master
/// a consumer reads every message from the slave.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slave_copies_the_log_and_serves_after_the_master_is_killed() {
    let mut master = start(master_conf("ASYNC_MASTER"));
    let slave = start(slave_conf(&master));
    let topic = unique("ha_t");
    let mc = master.client().await;
    // One message first: the slave, fresh, starts at the master's newest segment (here the first).
    let mut sent = send_n(&mc, &topic, 1, "a").await;
    wait_in_sync(&master, &slave);
    for s in send_n(&mc, &topic, 399, "b").await {
        sent.push(s);
    }
    let end = wait_in_sync(&master, &slave);
    assert!(end > 3 * SEG, "the log crossed segments ({end} bytes)");
    assert_eq!(log_start(&slave.data_dir), 0, "the slave has the whole log");

    // The route lists both brokers of broker-a.
    let ns = master.namesrv_client().await;
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let r = ns.request(req::route(&topic), T).await.expect("route");
        let body = String::from_utf8_lossy(&r.body).into_owned();
        if r.code == codes::SUCCESS && body.contains(&slave.broker.to_string()) && body.contains(&master.broker.to_string()) {
            assert!(body.contains("\"1\":") || body.contains("1:"), "slave listed as brokerId 1: {body}");
            break;
        }
        assert!(Instant::now() < deadline, "route never listed the slave: {body}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    // Admin: clusterList shows both roles, the slave not behind; brokerStatus the slave's bytes behind.
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let list = admin(&master, &["clusterList"]);
        let rows: Vec<&str> = list.lines().filter(|l| l.contains("broker-a")).collect();
        let slave_row = rows.iter().find(|l| l.contains(&slave.broker.to_string())).copied().unwrap_or("");
        if rows.len() == 2 && list.contains("ASYNC_MASTER") && slave_row.contains("SLAVE") && slave_row.trim_end().ends_with(" 0") {
            break;
        }
        assert!(Instant::now() < deadline, "clusterList never showed master and an in-sync slave:\n{list}");
        std::thread::sleep(Duration::from_millis(200));
    }
    let status = admin(&master, &["brokerStatus", "-b", &slave.broker.to_string()]);
    assert!(status.contains("slaveFallBehindMuch") && status.contains("SLAVE"), "{status}");

    // The slave refuses writes as a Java slave does.
    let sc = slave.client().await;
    let r = sc.request(req::send_v2("test_pg", &Msg::new(&topic, "nope"), 0), T).await.expect("send to slave");
    assert_code(&r, SERVICE_NOT_AVAILABLE);
    let end_tx = ferrocket::codec::RemotingCommand::request(37, 0)
        .with_ext("producerGroup", "test_pg")
        .with_ext("tranStateTableOffset", 0)
        .with_ext("commitLogOffset", 0)
        .with_ext("commitOrRollback", 8)
        .with_ext("fromTransactionCheck", false)
        .with_ext("msgId", "0");
    let r = sc.request(end_tx, T).await.expect("end transaction on the slave");
    assert_code(&r, SLAVE_NOT_AVAILABLE);

    wait_topic(&sc, &topic, sent.len() as i64).await;
    master.stop(libc::SIGKILL, Duration::from_secs(5));
    let bodies = pull_all(&sc, &topic, sent.len()).await;
    let want: Vec<String> = std::iter::once(format!("a-0-{}", "x".repeat(300)))
        .chain((0..399).map(|i| format!("b-{i}-{}", "x".repeat(300))))
        .collect();
    assert_eq!(bodies, want, "every message readable from the slave after the master died");
    // A consumer's offset commit to the slave while the master is down is kept there (as Java's
    // slave does; the consumer reports it to the master again once the master is back).
    let group = unique("ha_off");
    let r = sc.request(req::update_offset(&group, &topic, 0, 400), T).await.expect("commit offset");
    assert_code(&r, codes::SUCCESS);
    let r = sc.request(req::query_offset(&group, &topic, 0), T).await.expect("query offset");
    assert_eq!(req::ext_i64(&r, "offset"), Some(400));
}

/// SYNC_MASTER: without a slave a send is stored but answered SLAVE_NOT_AVAILABLE; with one, SEND_OK
/// only once the slave has the message (it is readable there right after the answer).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sync_master_answers_after_the_slave_has_it() {
    let master = start(master_conf("SYNC_MASTER"));
    let topic = unique("ha_sync");
    let mc = master.client().await;
    let r = mc.request(req::send_v2("test_pg", &Msg::new(&topic, "alone"), 0), T).await.expect("send");
    assert_code(&r, SLAVE_NOT_AVAILABLE);
    assert!(r.ext("msgId").is_some(), "the message is stored all the same");

    let slave = start(slave_conf(&master));
    wait_in_sync(&master, &slave);
    let sc = slave.client().await;
    for i in 0..20 {
        let r = mc.request(req::send_v2("test_pg", &Msg::new(&topic, format!("sync-{i}")), 0), T).await.expect("send");
        assert_code(&r, codes::SUCCESS);
        let s = sent(&r);
        // Acknowledged by the master only after the slave had it: the slave's log reaches it.
        let off = ferrocket::codec::message::decode_offset_msg_id(&s.msg_id).expect("offset msg id").1;
        let slave_log = commit_log(&slave.data_dir);
        assert!(log_start(&slave.data_dir) as i64 + slave_log.len() as i64 > off, "message {i} not on the slave when acknowledged");
    }
    wait_topic(&sc, &topic, 21).await;
    let bodies = pull_all(&sc, &topic, 21).await;
    assert_eq!(bodies.len(), 21);
    assert_eq!(bodies[0], "alone");
}

/// A slave whose log is ahead of a restarted master (the master lost its tail) cuts its log back
/// to the master's end, then follows again: identical logs.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slave_ahead_of_a_restarted_master_is_cut_back() {
    let mut master = start(master_conf("ASYNC_MASTER"));
    let mut slave = start(slave_conf(&master));
    let topic = unique("ha_cut");
    let mc = master.client().await;
    let sent = send_n(&mc, &topic, 50, "b").await;
    wait_in_sync(&master, &slave);
    drop(mc);
    master.stop(libc::SIGTERM, Duration::from_secs(15));
    slave.stop(libc::SIGTERM, Duration::from_secs(15));
    // The master loses its last 10 messages (cut at a record boundary; checkpoint removed).
    let cut = ferrocket::codec::message::decode_offset_msg_id(&sent[40].msg_id).expect("msg id").1 as u64;
    let seg_base = cut - cut % SEG;
    let f = std::fs::OpenOptions::new().write(true).open(master.data_dir.join("commitlog").join(format!("{seg_base:020}"))).expect("segment");
    f.set_len(cut - seg_base).expect("cut");
    let _ = std::fs::remove_file(master.data_dir.join("checkpoint"));
    let slave_before = commit_log(&slave.data_dir).len();
    master.start_again();
    slave.start_again();
    // The slave reconnects, is told the master's end, cuts its tail there.
    let end = wait_in_sync(&master, &slave);
    assert_eq!(end, cut, "both logs end where the master's does");
    assert!((end as usize) < slave_before, "the slave's old tail is gone");
    let mc = master.client().await;
    let more = send_n(&mc, &topic, 5, "c").await;
    assert_eq!(more[0].queue_offset, 40, "the master continues from its own end");
    wait_in_sync(&master, &slave);
    let sc = slave.client().await;
    wait_topic(&sc, &topic, 45).await;
    let bodies = pull_all(&sc, &topic, 45).await;
    assert_eq!(bodies[39], format!("b-39-{}", "x".repeat(300)));
    assert_eq!(bodies[40], format!("c-0-{}", "x".repeat(300)), "the slave serves the master's new messages, not its old tail");
}

/// Garbage on the HA port (a negative offset, a silent peer, a peer that closes) neither crashes
/// nor stalls the master: sends are answered and a real slave still follows.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn garbage_on_the_ha_port_is_harmless() {
    let master = start(master_conf("ASYNC_MASTER"));
    let ha = ha_addr(&master);
    let mut bad = TcpStream::connect(ha).await.expect("connect HA");
    bad.write_all(&[0xff; 64]).await.expect("write garbage");
    let mut buf = [0u8; 64];
    let n = bounded(Duration::from_secs(10), "garbage connection closed", bad.read(&mut buf)).await.unwrap_or(0);
    assert_eq!(n, 0, "a negative offset closes the connection");
    let _silent = TcpStream::connect(ha).await.expect("connect HA");
    let half = TcpStream::connect(ha).await.expect("connect HA");
    let mut half = half;
    half.write_all(&[0, 0, 0]).await.expect("partial report");
    drop(half);
    let topic = unique("ha_g");
    let mc = master.client().await;
    send_n(&mc, &topic, 5, "g").await;
    let slave = start(slave_conf(&master));
    wait_in_sync(&master, &slave);
}

async fn read_frame(s: &mut TcpStream) -> (i64, Vec<u8>) {
    let mut hdr = [0u8; 12];
    bounded(Duration::from_secs(10), "HA frame header", s.read_exact(&mut hdr)).await.expect("read header");
    let offset = i64::from_be_bytes(hdr[..8].try_into().unwrap());
    let size = i32::from_be_bytes(hdr[8..].try_into().unwrap());
    assert!((0..=32768).contains(&size), "body size {size} within haTransferBatchSize");
    let mut body = vec![0u8; size as usize];
    bounded(Duration::from_secs(10), "HA frame body", s.read_exact(&mut body)).await.expect("read body");
    (offset, body)
}

/// The test as a Java 4.9.7 slave against a ferrocket master: report offset 0 (8 bytes, big-endian),
/// get 12-byte headers (master offset, size) with the master's commit-log bytes from its newest
/// segment's start, empty frames while idle, and only the new bytes after a send.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acts_as_java_slave_against_ferrocket_master() {
    let master = start(master_conf("ASYNC_MASTER"));
    let topic = unique("ha_js");
    let mc = master.client().await;
    send_n(&mc, &topic, 300, "j").await; // > 64 KiB: the newest segment does not start at 0
    let log = commit_log(&master.data_dir);
    let start_off = log_start(&master.data_dir);
    let end = start_off + log.len() as u64;
    let newest = end - end % SEG;
    assert!(newest > 0);
    let mut s = TcpStream::connect(ha_addr(&master)).await.expect("connect HA");
    s.write_all(&0i64.to_be_bytes()).await.expect("report");
    let mut got = Vec::new();
    let mut at = newest as i64;
    while (at as u64) < end {
        let (off, body) = read_frame(&mut s).await;
        assert_eq!(off, at, "frames continue where the last one ended");
        at += body.len() as i64;
        got.extend_from_slice(&body);
    }
    assert_eq!(&got[..], &log[(newest - start_off) as usize..], "the bytes are the master's commit log from its newest segment");
    s.write_all(&at.to_be_bytes()).await.expect("report progress");
    // Idle: a heartbeat frame (size 0) at the end.
    let (off, body) = read_frame(&mut s).await;
    assert_eq!((off, body.len()), (at, 0));
    let more = send_n(&mc, &topic, 1, "k").await;
    let mut new = Vec::new();
    loop {
        let (off, body) = read_frame(&mut s).await;
        assert_eq!(off, at + new.len() as i64);
        new.extend_from_slice(&body);
        if !new.is_empty() {
            break;
        }
    }
    let moff = ferrocket::codec::message::decode_offset_msg_id(&more[0].msg_id).expect("id").1;
    assert_eq!(moff, at, "the new record starts where the slave was");
    let size = i32::from_be_bytes(new[..4].try_into().unwrap()) as usize;
    assert_eq!(new.len(), size, "one whole record");
}

fn record(topic: &str, queue_offset: i64, at: i64, body: &str) -> Bytes {
    let host: SocketAddr = "127.0.0.1:10911".parse().unwrap();
    let m = StoredMessage {
        queue_id: 0,
        flag: 0,
        queue_offset,
        commit_log_offset: at,
        sys_flag: 0,
        born_timestamp: 1_700_000_000_000,
        born_host: host,
        store_timestamp: 1_700_000_000_001,
        store_host: host,
        reconsume_times: 0,
        prepared_transaction_offset: 0,
        body: Bytes::copy_from_slice(body.as_bytes()),
        topic: topic.into(),
        properties: "TAGS\u{1}t\u{2}".into(),
        body_crc: body_crc(body.as_bytes()),
    };
    let mut out = BytesMut::new();
    encode_stored(&m, &mut out);
    out.freeze()
}

/// The test as a Java 4.9.7 master feeding a ferrocket slave: the slave reports 0, gets the log of
/// a fresh segment in frames that split records anywhere, including a full segment ending in a
/// blank record and zeros (as Java's preallocated files are sent); its commit log is then the
/// stream byte for byte, its queue index serves the messages, and it reports the end.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acts_as_java_master_feeding_a_ferrocket_slave() {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let master_ha = listener.local_addr().expect("addr");
    let conf = format!(
        "brokerRole=SLAVE\nbrokerId=1\nhaMasterAddress={master_ha}\nmappedFileSizeCommitLog={SEG}\nmaxMessageSize=16384\n\
         haSendHeartbeatInterval=200\nhaHousekeepingInterval=3000\nautoCreateTopicEnable=true\n"
    );
    let slave = start(conf);
    let (mut s, _) = bounded(Duration::from_secs(20), "slave connects", listener.accept()).await.expect("accept");
    let mut rep = [0u8; 8];
    bounded(Duration::from_secs(10), "first report", s.read_exact(&mut rep)).await.expect("report");
    assert_eq!(i64::from_be_bytes(rep), 0, "a fresh slave reports 0");
    // A Java master starts a fresh slave at its newest segment: here the third one.
    let base = 2 * SEG as i64;
    let topic = "HaJavaTopic";
    let mut stream = Vec::new();
    let mut n = 0i64;
    loop {
        let at = base + stream.len() as i64;
        let r = record(topic, 1000 + n, at, &format!("java-{n}-{}", "y".repeat(500)));
        if stream.len() + r.len() + 8 > SEG as usize {
            break;
        }
        stream.extend_from_slice(&r);
        n += 1;
    }
    let rest = SEG as usize - stream.len();
    stream.extend_from_slice(&(rest as i32).to_be_bytes());
    stream.extend_from_slice(&BLANK_MAGIC.to_be_bytes());
    stream.resize(SEG as usize, 0);
    for _ in 0..3 {
        let at = base + stream.len() as i64;
        stream.extend_from_slice(&record(topic, 1000 + n, at, &format!("java-{n}-{}", "y".repeat(500))));
        n += 1;
    }
    // Frames of 1000 bytes (records split across frames), then a heartbeat.
    let mut sent = 0usize;
    for chunk in stream.chunks(1000) {
        let mut f = Vec::with_capacity(12 + chunk.len());
        f.extend_from_slice(&(base + sent as i64).to_be_bytes());
        f.extend_from_slice(&(chunk.len() as i32).to_be_bytes());
        f.extend_from_slice(chunk);
        s.write_all(&f).await.expect("frame");
        sent += chunk.len();
    }
    let end = base + stream.len() as i64;
    let mut hb = Vec::new();
    hb.extend_from_slice(&end.to_be_bytes());
    hb.extend_from_slice(&0i32.to_be_bytes());
    s.write_all(&hb).await.expect("heartbeat");
    // The slave reports its progress until it has everything.
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        bounded(Duration::from_secs(10), "report", s.read_exact(&mut rep)).await.expect("report");
        let r = i64::from_be_bytes(rep);
        assert!(r >= 0 && r <= end, "report {r} within the stream");
        if r == end {
            break;
        }
        assert!(Instant::now() < deadline, "slave stuck at {r}");
    }
    assert_eq!(log_start(&slave.data_dir), base as u64, "the slave's log starts where the master's stream did");
    let log = commit_log(&slave.data_dir);
    assert_eq!(log, stream, "the slave's commit log is the stream byte for byte");
    // The queue index was rebuilt from the replicated records.
    let c = slave.client().await;
    let r = c.request(req::max_offset(topic, 0), T).await.expect("max offset");
    assert_eq!(req::ext_i64(&r, "offset"), Some(1000 + n), "{:?}", r.ext_fields);
    let r = c.request(req::min_offset(topic, 0), T).await.expect("min offset");
    assert_eq!(req::ext_i64(&r, "offset"), Some(1000));
    // A frame that does not continue the slave's log (a gap) closes the connection; the slave reconnects.
    let mut gap = Vec::new();
    gap.extend_from_slice(&(end + 100).to_be_bytes());
    gap.extend_from_slice(&0i32.to_be_bytes());
    s.write_all(&gap).await.expect("gap");
    let (mut s2, _) = bounded(Duration::from_secs(20), "slave reconnects", listener.accept()).await.expect("accept");
    bounded(Duration::from_secs(10), "report after reconnect", s2.read_exact(&mut rep)).await.expect("report");
    assert_eq!(i64::from_be_bytes(rep), end, "the slave reports its end again");
    // A master that stays silent (no frame, not even a heartbeat) for haHousekeepingInterval is
    // dropped: the slave connects again.
    let (mut s3, _) = bounded(Duration::from_secs(20), "slave reconnects after a silent master", listener.accept()).await.expect("accept");
    bounded(Duration::from_secs(10), "report after the silence", s3.read_exact(&mut rep)).await.expect("report");
    assert_eq!(i64::from_be_bytes(rep), end);
    drop(s2);
}

/// `suggestWhichBrokerId` in pull answers: always 0 (the master) without `slaveReadEnable`; with
/// it, the group's `brokerId` for a consumer that is not behind (here a group set to read from 1).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pull_answers_suggest_the_broker_as_java_does() {
    for (enable, want) in [(false, 0), (true, 1)] {
        let b = start(format!("{}slaveReadEnable={enable}\n", master_conf("ASYNC_MASTER")));
        let c = b.client().await;
        let topic = unique("ha_sug");
        let group = unique("ha_sug_g");
        send_ok(&c, &Msg::new(&topic, "m"), 0).await;
        let body = format!(
            r#"{{"groupName":"{group}","consumeEnable":true,"consumeFromMinEnable":true,"consumeBroadcastEnable":true,"retryQueueNums":1,"retryMaxTimes":16,"brokerId":1,"whichBrokerWhenConsumeSlowly":1,"notifyConsumerIdsChangedEnable":true}}"#
        );
        let r = c.request(ferrocket::codec::RemotingCommand::request(200, 0).with_body(body), T).await.expect("create group");
        assert_code(&r, codes::SUCCESS);
        let (resp, msgs) = pull(&c, &Pull::new(&group, &topic, 0, 0)).await;
        assert_eq!(msgs.len(), 1);
        assert_eq!(req::ext_i64(&resp, "suggestWhichBrokerId"), Some(want), "slaveReadEnable={enable}");
    }
}

/// A slave that was down while the master took more messages (across segment ends) catches up
/// from its own end when it comes back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slave_that_was_down_catches_up() {
    let master = start(master_conf("ASYNC_MASTER"));
    let mut slave = start(slave_conf(&master));
    let topic = unique("ha_lag");
    let mc = master.client().await;
    send_n(&mc, &topic, 10, "d").await;
    wait_in_sync(&master, &slave);
    slave.stop(libc::SIGKILL, Duration::from_secs(5));
    send_n(&mc, &topic, 300, "e").await;
    slave.start_again();
    let end = wait_in_sync(&master, &slave);
    assert!(end > 2 * SEG, "the master moved on by segments ({end})");
    assert_eq!(log_start(&slave.data_dir), 0, "the slave kept its log and continued it");
    let sc = slave.client().await;
    wait_topic(&sc, &topic, 310).await;
}

/// SYNC_MASTER with a slave that does not acknowledge (the test, speaking the HA protocol):
/// FLUSH_SLAVE_TIMEOUT (12) after syncFlushTimeout; once it reports the offset, SEND_OK.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sync_master_times_out_without_an_acknowledgement() {
    let master = start(master_conf("SYNC_MASTER").replace("syncFlushTimeout=3000", "syncFlushTimeout=300"));
    let mut s = TcpStream::connect(ha_addr(&master)).await.expect("connect HA");
    s.write_all(&0i64.to_be_bytes()).await.expect("report");
    let mc = master.client().await;
    let topic = unique("ha_to");
    // Connected and in sync (nothing behind): the send waits for an acknowledgement that never comes.
    let deadline = Instant::now() + Duration::from_secs(20);
    let r = loop {
        let r = mc.request(req::send_v2("test_pg", &Msg::new(&topic, "unacked"), 0), T).await.expect("send");
        if r.code != SLAVE_NOT_AVAILABLE || Instant::now() > deadline {
            break r;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_code(&r, 12);
    // Now acknowledge everything the master sends, and a send is SEND_OK.
    let pump = tokio::spawn(async move {
        loop {
            let (off, body) = read_frame(&mut s).await;
            let end = off + body.len() as i64;
            if s.write_all(&end.to_be_bytes()).await.is_err() {
                return;
            }
        }
    });
    let r = mc.request(req::send_v2("test_pg", &Msg::new(&topic, "acked"), 0), T).await.expect("send");
    assert_code(&r, codes::SUCCESS);
    pump.abort();
}

/// SYNC_MASTER under load, `kill -9` of the master: every SEND_OK message is read from the slave;
/// the master restarted on its data takes the slave back, the two commit logs are byte-identical up
/// to the master's end, and new sends are SEND_OK again (the slave follows the restarted master).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_master_restarts_and_the_pair_converges() {
    let mut master = start(master_conf("SYNC_MASTER"));
    let slave = start(slave_conf(&master));
    let topic = unique("ha_conv");
    let mc = master.client().await;
    // The first send may come before the slave follows (SLAVE_NOT_AVAILABLE; stored all the same).
    let r = mc.request(req::send_v2("test_pg", &Msg::new(&topic, "first"), 0), T).await.expect("send");
    assert!(r.code == codes::SUCCESS || r.code == SLAVE_NOT_AVAILABLE, "{:?}", r.code);
    wait_in_sync(&master, &slave);
    // the slave's metadata sync (every second here) connects to the master meanwhile
    tokio::time::sleep(Duration::from_millis(1500)).await;

    // One producer sends without pause; the master dies under it.
    let acked = std::sync::Arc::new(std::sync::Mutex::new(Vec::<String>::new()));
    let load = {
        let (acked, topic) = (acked.clone(), topic.clone());
        tokio::spawn(async move {
            for i in 0.. {
                let body = format!("load-{i}-{}", "y".repeat(200));
                match mc.request(req::send_v2("test_pg", &Msg::new(&topic, body.clone()), 0), T).await {
                    Ok(r) if r.code == codes::SUCCESS => acked.lock().unwrap().push(body),
                    Ok(r) => panic!("a SYNC_MASTER with a slave in sync answered {} ({:?})", r.code, r.remark),
                    Err(_) => return, // the master is gone
                }
            }
        })
    };
    let deadline = Instant::now() + Duration::from_secs(30);
    while acked.lock().unwrap().len() < 300 {
        assert!(Instant::now() < deadline, "only {} sends acknowledged in 30 s", acked.lock().unwrap().len());
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    master.stop(libc::SIGKILL, Duration::from_secs(5));
    bounded(Duration::from_secs(20), "the producer notices the dead master", load).await.expect("producer task");
    let acked = acked.lock().unwrap().clone();

    let sc = slave.client().await;
    let deadline = Instant::now() + Duration::from_secs(20);
    let on_slave = loop {
        let bodies = pull_all(&sc, &topic, acked.len() + 1).await;
        if acked.iter().all(|b| bodies.contains(b)) {
            break bodies;
        }
        assert!(Instant::now() < deadline, "the slave lacks acknowledged messages ({} of {} read)", bodies.len(), acked.len() + 1);
    };
    assert_eq!(on_slave[0], "first");

    master.start_again();
    let end = wait_in_sync(&master, &slave);
    assert!(end > 0);
    let mc = master.client().await;
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        // SEND_OK once the slave follows the restarted master again.
        let r = mc.request(req::send_v2("test_pg", &Msg::new(&topic, "after"), 0), T).await.expect("send");
        if r.code == codes::SUCCESS {
            break;
        }
        assert_code(&r, SLAVE_NOT_AVAILABLE);
        assert!(Instant::now() < deadline, "no SEND_OK after the master's restart");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    wait_in_sync(&master, &slave);
    let bodies = pull_all(&sc, &topic, on_slave.len() + 1).await;
    assert_eq!(bodies.last().map(String::as_str), Some("after"), "the slave serves what the restarted master took");
    // The slave's log names its metadata-sync link to the master as such, not as a name server.
    let log = slave.log_tail(2000);
    let master_addr = master.broker.to_string();
    assert!(log.lines().any(|l| l.contains("to the master") && l.contains(&master_addr)), "no line about the link to the master:\n{log}");
    assert!(!log.lines().any(|l| l.contains("name server") && l.contains(&master_addr)), "the master called a name server:\n{log}");
}

/// Two slaves of one master (brokerId 1 and 2): both copy the log byte for byte and are in the
/// route; a SYNC_MASTER answers SEND_OK as soon as one slave has a message, so a second peer on the
/// HA port that never acknowledges does not hold sends back, and either slave alone suffices.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_slaves_copy_and_sync_master_answers_once_one_has_it() {
    let master = start(master_conf("SYNC_MASTER"));
    let mut s1 = start(slave_conf(&master));
    let mut s2 = start(slave_conf(&master).replace("brokerId=1", "brokerId=2"));
    let topic = unique("ha_two");
    let mc = master.client().await;
    let _ = mc.request(req::send_v2("test_pg", &Msg::new(&topic, "first"), 0), T).await.expect("send");
    wait_in_sync(&master, &s1);
    wait_in_sync(&master, &s2);

    // A peer that reports offset 0 once, then only reads (a stuck slave): never acknowledges.
    let mut stuck = TcpStream::connect(ha_addr(&master)).await.expect("connect HA");
    stuck.write_all(&0i64.to_be_bytes()).await.expect("report");
    let drain = tokio::spawn(async move {
        let mut buf = vec![0u8; 65536];
        while matches!(stuck.read(&mut buf).await, Ok(n) if n > 0) {}
    });

    let send = |body: String| {
        let mc = &mc;
        let topic = &topic;
        async move { mc.request(req::send_v2("test_pg", &Msg::new(topic, body), 0), T).await.expect("send") }
    };
    for i in 0..20 {
        assert_code(&send(format!("both-{i}")).await, codes::SUCCESS);
    }
    let ns = master.namesrv_client().await;
    let r = ns.request(req::route(&topic), T).await.expect("route");
    let body = String::from_utf8_lossy(&r.body).into_owned();
    assert!(body.contains(&s1.broker.to_string()) && body.contains(&s2.broker.to_string()), "both slaves in the route: {body}");

    // Either slave alone is enough.
    s2.stop(libc::SIGKILL, Duration::from_secs(5));
    for i in 0..10 {
        assert_code(&send(format!("s1-{i}")).await, codes::SUCCESS);
    }
    s2.start_again();
    wait_in_sync(&master, &s2);
    s1.stop(libc::SIGKILL, Duration::from_secs(5));
    for i in 0..10 {
        assert_code(&send(format!("s2-{i}")).await, codes::SUCCESS);
    }
    s1.start_again();
    let end = wait_in_sync(&master, &s1);
    assert_eq!(wait_in_sync(&master, &s2), end, "both slaves end where the master does");
    drain.abort();
    for s in [&s1, &s2] {
        let c = s.client().await;
        wait_topic(&c, &topic, 41).await;
        assert_eq!(pull_all(&c, &topic, 41).await.len(), 41);
    }
}

/// gRPC SendMessage on a SYNC_MASTER: HA_NOT_AVAILABLE without a slave (the message is stored),
/// OK once a slave follows, and the message is then on the slave.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn grpc_send_on_a_sync_master() {
    use ferrocket::grpc::pb::{self, messaging_service_client::MessagingServiceClient, Code};
    let master = start(master_conf("SYNC_MASTER"));
    let topic = unique("ha_grpc");
    let mc = master.client().await;
    let r = mc.request(req::send_v2("test_pg", &Msg::new(&topic, "remoting"), 0), T).await.expect("send");
    assert_code(&r, SLAVE_NOT_AVAILABLE);
    let endpoint = format!("http://{}", master.grpc.expect("grpcAddr in the ready line"));
    let g = MessagingServiceClient::connect(endpoint).await.expect("connect to gRPC");
    let message = |id: &str, body: &str| pb::Message {
        topic: Some(pb::Resource { resource_namespace: String::new(), name: topic.clone() }),
        user_properties: Default::default(),
        system_properties: Some(pb::SystemProperties {
            message_id: id.into(),
            message_type: pb::MessageType::Normal as i32,
            born_timestamp: Some(prost_types::Timestamp { seconds: 1_700_000_000, nanos: 0 }),
            ..Default::default()
        }),
        body: bytes::Bytes::copy_from_slice(body.as_bytes()),
    };
    let send = |m: pb::Message| {
        let mut g = g.clone();
        async move {
            let r = g.send_message(pb::SendMessageRequest { messages: vec![m] }).await.expect("SendMessage answered").into_inner();
            Code::try_from(r.status.expect("a status").code).expect("a known code")
        }
    };
    assert_eq!(send(message("01AABBCCDDEEFF00112233445566770001", "alone")).await, Code::HaNotAvailable);

    let slave = start(slave_conf(&master));
    wait_in_sync(&master, &slave);
    let deadline = Instant::now() + Duration::from_secs(20);
    let has = |log: &[u8], body: &str| log.windows(body.len()).any(|w| w == body.as_bytes());
    for n in 2.. {
        let body = format!("grpc-ok-{n}");
        let c = send(message(&format!("01AABBCCDDEEFF001122334455667700{n:02}"), &body)).await;
        if c == Code::Ok {
            // answered only once the slave had it: its log holds the message at the answer
            assert!(has(&commit_log(&slave.data_dir), &body), "{body} not on the slave when answered OK");
            break;
        }
        assert_eq!(c, Code::HaNotAvailable, "until the slave is counted in sync");
        assert!(Instant::now() < deadline, "no OK from the SYNC_MASTER with a slave");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(has(&commit_log(&master.data_dir), "alone"), "HA_NOT_AVAILABLE: stored on the master all the same");
}

/// Every message of queue 0 of `topic` on `c` from offset 0, as stored (one bounded pass).
async fn pull_stored(c: &RawClient, topic: &str) -> Vec<stored::StoredMsg> {
    let group = unique("ha_cg");
    let (mut out, mut offset) = (Vec::new(), 0);
    loop {
        let (resp, msgs) = pull(c, &Pull::new(&group, topic, 0, offset).max(32)).await;
        if msgs.is_empty() {
            return out;
        }
        offset = req::ext_i64(&resp, "nextBeginOffset").expect("nextBeginOffset");
        out.extend(msgs);
    }
}

/// An operator's promotion after the master died: the slave's store restarted as a master
/// (brokerRole ASYNC_MASTER, brokerId 0) rebuilds its timer wheel from the replicated log. It
/// delivers the 5.x timer still pending, once and not before its due time, and not again the one
/// the old master had delivered (its delivery is in the log).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_promoted_slave_delivers_the_pending_timers_once() {
    const FAST: &str = "timerPrecisionMs=100\n";
    let mut master = start(format!("{}{FAST}", master_conf("ASYNC_MASTER")));
    let mut slave = start(format!("{}{FAST}", slave_conf(&master)));
    let topic = unique("ha_tm");
    let mc = master.client().await;
    send_ok(&mc, &Msg::new(&topic, "plain"), 0).await;
    let timer = |body: &str, due: i64| Msg::new(&topic, body).prop("TIMER_DELIVER_MS", &due.to_string());
    let now = req::now_ms();
    send_ok(&mc, &timer("early", now + 500), 0).await;
    let late_due = now + 10_000;
    send_ok(&mc, &timer("late", late_due), 0).await;
    let deadline = Instant::now() + Duration::from_secs(20);
    while !pull_stored(&mc, &topic).await.iter().any(|m| m.body == b"early") {
        assert!(Instant::now() < deadline, "the master never delivered the early timer");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    wait_in_sync(&master, &slave);
    master.stop(libc::SIGKILL, Duration::from_secs(5));
    assert!(req::now_ms() < late_due - 2000, "the late timer is still pending when the master dies");
    slave.stop(libc::SIGTERM, Duration::from_secs(15));

    // Promotion: the same store, the master's role and id.
    let conf = slave.data_dir.parent().expect("tmp dir").join("broker.conf");
    std::fs::write(&conf, format!("{}{FAST}", master_conf("ASYNC_MASTER"))).expect("rewrite broker.conf");
    slave.start_again();
    let pc = slave.client().await;
    let deadline = Instant::now() + Duration::from_secs(30);
    while !pull_stored(&pc, &topic).await.iter().any(|m| m.body == b"late") {
        assert!(Instant::now() < deadline, "the promoted broker never delivered the pending timer");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    tokio::time::sleep(Duration::from_secs(2)).await; // a late duplicate would show now
    let got = pull_stored(&pc, &topic).await;
    let bodies: Vec<String> = got.iter().map(|m| String::from_utf8_lossy(&m.body).into_owned()).collect();
    assert_eq!(bodies, ["plain", "early", "late"], "each timer delivered once");
    assert!(got[2].store_timestamp >= late_due, "not before its due time");
    // New timers work on the promoted broker.
    let due = req::now_ms() + 300;
    send_ok(&pc, &timer("new", due), 0).await;
    let deadline = Instant::now() + Duration::from_secs(20);
    while !pull_stored(&pc, &topic).await.iter().any(|m| m.body == b"new") {
        assert!(Instant::now() < deadline, "a timer sent to the promoted broker is delivered");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// A half message (TRAN_MSG) of `group`, its send request, and its UNIQ_KEY.
fn half_send(topic: &str, body: &str, group: &str) -> (ferrocket::codec::RemotingCommand, String) {
    let m = Msg::new(topic, body).prop("TRAN_MSG", "true").prop("PGROUP", group);
    let mut cmd = req::send_v2(group, &m, 0);
    cmd.set_ext("f", 4); // sysFlag: TRANSACTION_PREPARED
    let uniq = ferrocket::codec::message::parse_properties(cmd.ext("i").expect("properties")).get("UNIQ_KEY").expect("UNIQ_KEY").to_string();
    (cmd, uniq)
}

/// END_TRANSACTION (37) as the Java producer sends it.
fn end_tx(group: &str, clog: &str, table_offset: &str, uniq: &str, decision: i32, from_check: bool) -> ferrocket::codec::RemotingCommand {
    ferrocket::codec::RemotingCommand::oneway(37, 0)
        .with_ext("producerGroup", group)
        .with_ext("tranStateTableOffset", table_offset)
        .with_ext("commitLogOffset", clog)
        .with_ext("commitOrRollback", decision)
        .with_ext("fromTransactionCheck", from_check)
        .with_ext("msgId", uniq)
        .with_ext("transactionId", uniq)
}

/// An operator's promotion with transactions in flight: the old master had committed one half,
/// rolled one back and left one undecided when it died. The slave's store restarted as master
/// checks back the halves it holds no decision for (decisions are the master's metadata); the
/// producer answers from its own state, and the real topic ends up with the committed message
/// once (not stored again on the repeated COMMIT) and the pending one, never the rolled-back one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_promoted_slave_checks_back_pending_transactions() {
    const SLOW_CHECK: &str = "transactionTimeOut=600000\ntransactionCheckInterval=600000\n";
    let mut master = start(format!("{}{SLOW_CHECK}", master_conf("ASYNC_MASTER")));
    let mut slave = start(slave_conf(&master));
    let topic = unique("ha_tx");
    let group = unique("ha_txg");
    let mc = master.client().await;
    send_ok(&mc, &Msg::new(&topic, "plain"), 0).await;
    let mut decided = std::collections::HashMap::new();
    for (body, decision) in [("committed", 8), ("rolled-back", 12), ("pending", 0)] {
        let (cmd, uniq) = half_send(&topic, body, &group);
        let r = mc.request(cmd, T).await.expect("half send");
        assert_code(&r, codes::SUCCESS);
        let clog = ferrocket::codec::message::decode_offset_msg_id(r.ext("msgId").expect("msgId")).expect("offset id").1;
        let table = r.ext("queueOffset").expect("queueOffset").to_string();
        mc.oneway(end_tx(&group, &clog.to_string(), &table, &uniq, decision, false)).await.expect("end transaction");
        // What the producer's application says when asked: its transactions' outcomes.
        decided.insert(uniq, if decision == 0 { 8 } else { decision });
    }
    let deadline = Instant::now() + Duration::from_secs(20);
    while pull_all(&mc, &topic, 2).await.len() < 2 {
        assert!(Instant::now() < deadline, "the master never stored the committed message");
    }
    wait_in_sync(&master, &slave);
    master.stop(libc::SIGKILL, Duration::from_secs(5));
    slave.stop(libc::SIGTERM, Duration::from_secs(15));

    let conf = slave.data_dir.parent().expect("tmp dir").join("broker.conf");
    let fast = "transactionTimeOut=500\ntransactionCheckInterval=300\ntransactionCheckMax=50\n";
    std::fs::write(&conf, format!("{}{fast}", master_conf("ASYNC_MASTER"))).expect("rewrite broker.conf");
    slave.start_again();
    let mut producer = slave.client().await;
    let mut incoming = producer.incoming();
    let hb = producer.request(req::heartbeat("127.0.0.1@ha_txp", &[&group], &[]), T).await.expect("heartbeat");
    assert_code(&hb, codes::SUCCESS);
    let mut asked = std::collections::HashSet::new();
    let deadline = Instant::now() + Duration::from_secs(30);
    // Answer check-backs until every half was asked about and nothing new is asked for 2 s.
    loop {
        match tokio::time::timeout(Duration::from_secs(2), incoming.recv()).await {
            Ok(Some(check)) if check.code == 39 => {
                let uniq = check.ext("msgId").expect("msgId").to_string();
                let decision = *decided.get(&uniq).unwrap_or_else(|| panic!("check-back for an unknown message {uniq}"));
                let (clog, table) = (check.ext("commitLogOffset").expect("offset"), check.ext("tranStateTableOffset").expect("table offset"));
                producer.oneway(end_tx(&group, clog, table, &uniq, decision, true)).await.expect("answer");
                asked.insert(uniq);
            }
            Ok(Some(_)) => {}
            Ok(None) => panic!("the promoted broker closed the producer's connection"),
            Err(_) if asked.len() >= 3 => break,
            Err(_) => assert!(Instant::now() < deadline, "check-backs for {} of 3 halves", asked.len()),
        }
        assert!(Instant::now() < deadline + Duration::from_secs(10), "check-backs never stopped");
    }
    let bodies = pull_all(&producer, &topic, 3).await;
    assert_eq!(bodies, ["plain", "committed", "pending"], "committed once, the pending one after its check, no rollback");
}
