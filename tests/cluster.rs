//! Several brokers behind one name server form one cluster: routes name all of them and each
//! takes traffic; a broker that stops disappears from routes.
mod support;
use ferrocket::broker::{Server, ServerOptions};
use ferrocket::client::req::{self, Msg};
use ferrocket::client::RawClient;
use support::*;

fn namesrv() -> Server {
    let mut o = ServerOptions::dev(None);
    o.broker = false;
    Server::start(o).unwrap()
}

fn broker(name: &str, namesrv: std::net::SocketAddr, dir: &std::path::Path) -> Server {
    let mut o = ServerOptions::dev(Some(dir.join(name)));
    o.namesrv = false;
    o.config.broker_name = name.into();
    o.config.namesrv_addr = Some(namesrv.to_string());
    o.topics.push(("shared".into(), 2));
    Server::start(o).unwrap()
}

#[tokio::test]
async fn two_brokers_share_routes_and_traffic() {
    let tmp = tempfile::tempdir().unwrap();
    let ns = namesrv();
    let ns_addr = ns.namesrv_addr().unwrap();
    let a = broker("broker-a", ns_addr, tmp.path());
    let b = broker("broker-b", ns_addr, tmp.path());
    let c = RawClient::connect(ns_addr).await.unwrap();
    let resp = c.request(req::route("shared"), T).await.unwrap();
    assert_eq!(resp.code, 0);
    let route: serde_json::Value = serde_json::from_slice(&resp.body).unwrap();
    let mut names: Vec<String> =
        route["brokerDatas"].as_array().unwrap().iter().map(|b| b["brokerName"].as_str().unwrap().to_string()).collect();
    names.sort();
    assert_eq!(names, vec!["broker-a", "broker-b"]);
    let addrs: Vec<String> =
        route["brokerDatas"].as_array().unwrap().iter().map(|b| b["brokerAddrs"]["0"].as_str().unwrap().to_string()).collect();
    // both take traffic
    for addr in addrs {
        let bc = RawClient::connect(addr.parse().unwrap()).await.unwrap();
        send(&bc, &Msg::new("shared", format!("to {addr}")), 1).await;
        let got = pull_all(&bc, "shared", 1).await;
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].body.as_ref(), format!("to {addr}").as_bytes());
    }
    // cluster info lists both under one cluster
    let info = c.request(ferrocket::codec::RemotingCommand::request(106, 0), T).await.unwrap();
    let info: serde_json::Value = serde_json::from_slice(&info.body).unwrap();
    assert_eq!(info["clusterAddrTable"]["DefaultCluster"].as_array().unwrap().len(), 2);
    // a broker that shuts down unregisters
    b.shutdown();
    let resp = c.request(req::route("shared"), T).await.unwrap();
    let route: serde_json::Value = serde_json::from_slice(&resp.body).unwrap();
    assert_eq!(route["brokerDatas"].as_array().unwrap().len(), 1);
    drop(a);
}
