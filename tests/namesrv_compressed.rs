//! Compressed broker registrations (`compressedRegister=true`, RocketMQ 4.9.7's
//! `RegisterBrokerBody.encode(true)`), through the wire:
//! - a ferrocket broker with `compressedRegister=true` registers with a ferrocket name server and
//!   its topics are routable;
//! - a body built by hand in the Java layout (zlib at best compression: data version JSON, topic
//!   count, `name read write perm filterType` lines, filter server list JSON, each length-prefixed)
//!   is accepted;
//! - a corrupt or oversized one is refused with SYSTEM_ERROR and a remark, and the name server
//!   keeps serving.
mod common;
use common::{assert_code, bounded, unique, T};
use ferrocket::broker::{Server, ServerOptions};
use ferrocket::client::{codes, req, RawClient};
use ferrocket::codec::body::TopicRouteData;
use ferrocket::codec::RemotingCommand;
use flate2::write::ZlibEncoder;
use flate2::Compression;
use std::io::Write;
use std::time::Duration;

fn namesrv() -> Server {
    let mut o = ServerOptions::dev(None);
    o.broker = false;
    Server::start(o).unwrap()
}

async fn route(ns: &RawClient, topic: &str) -> Option<TopicRouteData> {
    let r = ns.request(req::route(topic), T).await.expect("route");
    (r.code == codes::SUCCESS).then(|| TopicRouteData::from_json(&r.body).expect("route body"))
}

/// REGISTER_BROKER with a compressed `body` and its CRC, as a Java broker sends it.
fn register(broker_name: &str, body: Vec<u8>) -> RemotingCommand {
    let crc = (crc32fast::hash(&body) & 0x7FFF_FFFF) as i32;
    RemotingCommand::request(103, 0)
        .with_ext("brokerName", broker_name)
        .with_ext("brokerAddr", "127.0.0.1:1")
        .with_ext("clusterName", "DefaultCluster")
        .with_ext("haServerAddr", "127.0.0.1:2")
        .with_ext("brokerId", 0)
        .with_ext("compressed", true)
        .with_ext("bodyCrc32", crc)
        .with_body(body)
}

/// The Java layout, written out by hand (not through ferrocket's encoder).
fn java_body(topics: &[&str]) -> Vec<u8> {
    let mut raw = Vec::new();
    let chunk = |raw: &mut Vec<u8>, b: &[u8]| {
        raw.extend_from_slice(&(b.len() as i32).to_be_bytes());
        raw.extend_from_slice(b);
    };
    chunk(&mut raw, br#"{"counter":1,"timestamp":1700000000000}"#);
    raw.extend_from_slice(&(topics.len() as i32).to_be_bytes());
    for t in topics {
        chunk(&mut raw, t.as_bytes());
    }
    chunk(&mut raw, b"[]");
    let mut z = ZlibEncoder::new(Vec::new(), Compression::best());
    z.write_all(&raw).unwrap();
    z.finish().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_broker_with_compressed_register_is_routable() {
    let ns_server = namesrv();
    let ns_addr = ns_server.namesrv_addr().unwrap();
    let name = unique("zreg");
    let topic = unique("ztopic");
    let mut o = ServerOptions::dev(None);
    o.namesrv = false;
    o.config.broker_name = name.clone();
    o.config.namesrv_addr = Some(ns_addr.to_string());
    o.config.compressed_register = true;
    o.config.register_broker_interval = Duration::from_millis(200);
    let broker = Server::start(o).unwrap();
    let b = RawClient::connect(broker.broker_addr().unwrap()).await.unwrap();
    assert_code(&b.request(req::create_topic(&topic, 3), T).await.unwrap(), codes::SUCCESS);
    let ns = RawClient::connect(ns_addr).await.unwrap();
    let r = route(&ns, &topic).await.expect("routable when the create is answered");
    assert_eq!(r.broker_datas[0].broker_name, name);
    assert_eq!(r.queue_datas[0].write_queue_nums, 3);
    // and through the periodic full registrations that follow
    tokio::time::sleep(Duration::from_millis(600)).await;
    assert!(route(&ns, &topic).await.is_some());
    assert!(route(&ns, "TBW102").await.is_some(), "the full registration carries every topic");
}

#[tokio::test]
async fn a_hand_built_java_body_is_accepted_and_corrupt_ones_refused() {
    let ns_server = namesrv();
    let ns_addr = ns_server.namesrv_addr().unwrap();
    let name = unique("zjava");
    let (a, b) = (unique("za"), unique("zb"));
    let conn = RawClient::connect(ns_addr).await.unwrap();
    let lines = [format!("{a} 4 4 6 SINGLE_TAG"), format!("{b} 2 1 4 MULTI_TAG")];
    let body = java_body(&[&lines[0], &lines[1]]);
    assert_code(&conn.request(register(&name, body), T).await.unwrap(), codes::SUCCESS);
    let ns = RawClient::connect(ns_addr).await.unwrap();
    let ra = route(&ns, &a).await.expect("route of a");
    assert_eq!((ra.queue_datas[0].read_queue_nums, ra.queue_datas[0].perm), (4, 6));
    let rb = route(&ns, &b).await.expect("route of b");
    assert_eq!((rb.queue_datas[0].write_queue_nums, rb.queue_datas[0].perm), (1, 4));

    let other = unique("zbad");
    let mut truncated = java_body(&[&format!("{other} 4 4 6 SINGLE_TAG")]);
    truncated.truncate(truncated.len() - 6);
    let bomb = {
        let mut z = ZlibEncoder::new(Vec::new(), Compression::best());
        z.write_all(&vec![0u8; 80 << 20]).unwrap(); // inflates past the 64 MiB bound
        z.finish().unwrap()
    };
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("not zlib", b"plain bytes, not a zlib stream".to_vec()),
        ("truncated", truncated),
        ("four fields", java_body(&[&format!("{other} 4 4 SINGLE_TAG")])),
        ("bad filter type", java_body(&[&format!("{other} 4 4 6 NO_TAG")])),
        ("inflates too far", bomb),
    ];
    for (what, body) in cases {
        let r = conn.request(register(&name, body), T).await.unwrap();
        assert_code(&r, codes::SYSTEM_ERROR);
        let remark = r.remark.clone().unwrap_or_default();
        assert!(remark.contains("compressed registration body"), "{what}: {remark}");
    }
    assert!(route(&ns, &other).await.is_none(), "nothing of a refused body applied");
    // still serving, the earlier registration intact
    bounded(Duration::from_secs(5), "route after refusals", async {
        assert!(route(&ns, &a).await.is_some());
    })
    .await;
}
