//! Limits per client address (`maxConnectionsPerIp`) and an unauthenticated flood against an ACL
//! broker: connections past the limit are closed at once, a freed slot is usable again, and the
//! flood leaves the broker's memory bounded and its signed clients served.
mod common;

use common::{DevBroker, Launch, T};
use ferrocket::client::req::{self, Msg};
use ferrocket::client::RawClient;
use std::time::{Duration, Instant};

fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let line = status.lines().find(|l| l.starts_with("VmRSS:")).unwrap();
    line.split_whitespace().nth(1).unwrap().parse().unwrap()
}

/// Whether a fresh connection from 127.0.0.1 is served.
async fn served(addr: std::net::SocketAddr) -> bool {
    match RawClient::connect(addr).await {
        Ok(c) => c.request(req::max_offset("TBW102", 0), Duration::from_secs(5)).await.is_ok(),
        Err(_) => false,
    }
}

#[tokio::test]
async fn connections_past_the_per_ip_limit_are_closed() {
    let b = DevBroker::start_with(Launch { config: Some("maxConnectionsPerIp=4\n".into()), ..Default::default() });
    // the broker's own connection to its name server (same address, all ports count) takes one
    let mut held = Vec::new();
    for _ in 0..3 {
        let c = RawClient::connect(b.broker).await.unwrap();
        let r = c.request(req::max_offset("TBW102", 0), T).await;
        assert!(r.is_ok(), "{r:?}");
        held.push(c);
    }
    assert!(!served(b.broker).await, "a fourth connection from the same address was served");
    held.pop().unwrap().shutdown().await;
    let deadline = Instant::now() + Duration::from_secs(15);
    while !served(b.broker).await {
        assert!(Instant::now() < deadline, "the freed slot was never given back");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    for c in &held {
        assert!(c.request(req::max_offset("TBW102", 0), T).await.is_ok(), "held connections keep working");
    }
}

#[tokio::test]
async fn an_unauthenticated_flood_stays_within_the_per_ip_limits() {
    let dir = tempfile::tempdir().unwrap();
    let acl = dir.path().join("plain_acl.yml");
    std::fs::write(&acl, "accounts:\n  - accessKey: floodUser\n    secretKey: flood-secret\n    admin: true\n").unwrap();
    let conf = format!(
        "aclEnable=true\naclFilePath={}\nmaxConnectionsPerIp=8\nmaxFrameSize=1048576\nmaxMessageSize=786432\nmaxQueuedResponseBytes=1048576\nmaxRequestsInFlight=64\n",
        acl.display()
    );
    let b = DevBroker::start_with(Launch { config: Some(conf), ..Default::default() });
    let pid = b.pid().unwrap();
    let before = rss_kib(pid);
    // 40 connections (32 over the limit), each writing unsigned 512 KiB sends and never reading
    let body = vec![b'x'; 512 * 1024];
    let mut tasks = Vec::new();
    for _ in 0..40 {
        let addr = b.broker;
        let body = body.clone();
        tasks.push(tokio::spawn(async move {
            let Ok(c) = RawClient::connect(addr).await else { return };
            for _ in 0..50 {
                if c.oneway(req::send_v2("pg", &Msg::new("flood", body.clone()), 0)).await.is_err() {
                    break;
                }
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
            c.shutdown().await;
        }));
    }
    for t in tasks {
        let _ = tokio::time::timeout(Duration::from_secs(60), t).await;
    }
    let after = rss_kib(pid);
    // 8 connections x (a 1 MiB frame + 1 MiB queued + socket buffers) and the allocator's slack
    assert!(after < before + 96 * 1024, "RSS grew from {before} KiB to {after} KiB");
    // the broker still serves a signed client, and stored nothing from the flood
    let c = RawClient::connect(b.broker).await.unwrap();
    c.set_credentials("floodUser", "flood-secret");
    let r = c.request(req::max_offset("flood", 0), T).await.unwrap();
    assert_eq!(req::ext_i64(&r, "offset").unwrap_or(0), 0, "{r:?}");
}

/// Whether a fresh gRPC connection from 127.0.0.1 is served (a QueryRoute answered).
async fn grpc_served(addr: std::net::SocketAddr) -> bool {
    use ferrocket::grpc::pb::{self, messaging_service_client::MessagingServiceClient};
    let call = async {
        let mut c = MessagingServiceClient::connect(format!("http://{addr}")).await.ok()?;
        let topic = Some(pb::Resource { resource_namespace: String::new(), name: "TBW102".into() });
        c.query_route(pb::QueryRouteRequest { topic, endpoints: None }).await.ok()
    };
    matches!(tokio::time::timeout(Duration::from_secs(5), call).await, Ok(Some(_)))
}

#[tokio::test]
async fn grpc_connections_share_the_per_ip_limit() {
    let b = ferrocket::broker::TestBroker::builder().configure(|c| c.max_connections_per_ip = 3).start().unwrap();
    // fill the address's slots with remoting connections (the broker's own name-server link may hold one)
    let mut held = Vec::new();
    loop {
        let c = RawClient::connect(b.broker_addr()).await.unwrap();
        if c.request(req::max_offset("TBW102", 0), Duration::from_secs(5)).await.is_err() {
            break;
        }
        held.push(c);
        assert!(held.len() <= 3, "more remoting connections served than maxConnectionsPerIp");
    }
    assert!(!grpc_served(b.grpc_addr()).await, "a gRPC connection past the per-IP limit was served");
    // a freed slot serves gRPC; the gRPC connection then holds it against remoting
    held.pop().unwrap().shutdown().await;
    let deadline = Instant::now() + Duration::from_secs(15);
    let grpc = loop {
        let c = ferrocket::grpc::pb::messaging_service_client::MessagingServiceClient::connect(format!("http://{}", b.grpc_addr())).await;
        if let Ok(mut c) = c {
            let topic = Some(ferrocket::grpc::pb::Resource { resource_namespace: String::new(), name: "TBW102".into() });
            if c.query_route(ferrocket::grpc::pb::QueryRouteRequest { topic, endpoints: None }).await.is_ok() {
                break c;
            }
        }
        assert!(Instant::now() < deadline, "the freed slot was never given to gRPC");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert!(!served(b.broker_addr()).await, "an open gRPC connection did not count against the limit");
    drop(grpc);
    let deadline = Instant::now() + Duration::from_secs(15);
    while !served(b.broker_addr()).await {
        assert!(Instant::now() < deadline, "the slot of a closed gRPC connection was never given back");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The broker process's CPU time so far (user + system), in clock ticks.
fn cpu_ticks(pid: u32) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    let after = &stat[stat.rfind(')').unwrap() + 2..];
    let f: Vec<&str> = after.split_whitespace().collect();
    f[11].parse::<u64>().unwrap() + f[12].parse::<u64>().unwrap()
}

#[tokio::test]
async fn with_the_default_idle_spin_sends_one_at_a_time_work_and_an_idle_broker_sleeps() {
    // idleSpin is on by default (200us)
    let b = DevBroker::start();
    let c = b.client().await;
    let topic = common::unique("spin");
    for i in 0..300 {
        common::send_ok(&c, &Msg::new(&topic, format!("m{i}")), 0).await;
    }
    let mut got = Vec::new();
    let mut off = 0;
    while got.len() < 300 {
        let (resp, msgs) = common::pull(&c, &req::Pull::new("spin_g", &topic, 0, off).max(32)).await;
        assert!(!msgs.is_empty(), "pull at {off}: {} {:?}", resp.code, resp.remark);
        off += msgs.len() as i64;
        got.extend(msgs.into_iter().map(|m| String::from_utf8(m.body.to_vec()).unwrap()));
    }
    assert_eq!(got, (0..300).map(|i| format!("m{i}")).collect::<Vec<_>>());
    // the spin ends when requests stop: a second with nothing to answer costs (nearly) no CPU
    let pid = b.pid().unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;
    let before = cpu_ticks(pid);
    tokio::time::sleep(Duration::from_secs(1)).await;
    let used = cpu_ticks(pid) - before;
    assert!(used < 30, "an idle broker used {used} ticks of CPU in a second");
}

/// `clientIdleTimeout` (RocketMQ's `serverChannelMaxIdleTimeSeconds`): a connection that sends
/// nothing for that long is closed; one that keeps sending stays open past it.
#[tokio::test]
async fn idle_connections_are_closed_after_the_idle_timeout_and_busy_ones_stay() {
    use tokio::io::AsyncReadExt;
    let b = DevBroker::start_with(Launch { config: Some("clientIdleTimeout=1s\n".into()), ..Default::default() });
    let busy = RawClient::connect(b.broker).await.unwrap();
    let mut idle = tokio::net::TcpStream::connect(b.broker).await.unwrap();
    let start = Instant::now();
    // the busy one asks something every 200 ms; the idle one never writes
    let mut buf = [0u8; 64];
    let closed = loop {
        assert!(busy.request(req::max_offset("TBW102", 0), T).await.is_ok(), "a busy connection was closed");
        match tokio::time::timeout(Duration::from_millis(200), idle.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) => break start.elapsed(),
            Ok(Ok(n)) => panic!("{n} bytes on a connection that asked nothing"),
            Err(_) => assert!(start.elapsed() < Duration::from_secs(15), "an idle connection was never closed"),
        }
    };
    assert!(closed >= Duration::from_secs(1), "closed after {closed:?}, before the idle timeout");
    // past the timeout, the busy connection is still served
    assert!(start.elapsed() > Duration::from_secs(1));
    assert!(busy.request(req::max_offset("TBW102", 0), T).await.is_ok(), "a busy connection was closed");
}
