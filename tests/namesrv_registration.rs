//! A broker's registration with its name servers, through the wire:
//! - one long-lived connection per name server carries every registration and the final
//!   unregistration, and is re-established when the name server drops it;
//! - ferrocket's name server drops a broker as soon as that connection closes (`kill -9`);
//! - a topic is routable the moment UPDATE_AND_CREATE_TOPIC answers, also for many creates at
//!   once from several connections, and stays routable through later re-registrations.
mod common;
use common::{assert_code, bounded, unique, T};
use ferrocket::broker::{Server, ServerOptions};
use ferrocket::client::{codes, req, RawClient};
use ferrocket::codec::body::TopicRouteData;
use ferrocket::codec::{RemotingCodec, RemotingCommand};
use futures_util::{SinkExt, StreamExt};
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio_util::codec::Framed;

const REGISTER_BROKER: i32 = 103;
const UNREGISTER_BROKER: i32 = 104;

/// What a fake name server saw: per accepted connection, the request codes in arrival order.
#[derive(Default)]
struct Seen {
    conns: Vec<Vec<i32>>,
}

impl Seen {
    fn registrations(&self) -> usize {
        self.conns
            .iter()
            .flatten()
            .filter(|c| **c == REGISTER_BROKER)
            .count()
    }
}

/// A name server that answers every request with SUCCESS and records what arrives on which
/// connection. Sending on the returned channel closes the connection that is open at that time.
async fn fake_namesrv() -> (
    SocketAddr,
    Arc<Mutex<Seen>>,
    tokio::sync::watch::Sender<u32>,
) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let seen = Arc::new(Mutex::new(Seen::default()));
    let (drop_tx, drop_rx) = tokio::sync::watch::channel(0u32);
    let s = seen.clone();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let idx = {
                let mut g = s.lock().unwrap();
                g.conns.push(Vec::new());
                g.conns.len() - 1
            };
            let (s, mut drop_rx) = (s.clone(), drop_rx.clone());
            drop_rx.mark_unchanged();
            tokio::spawn(async move {
                let mut framed = Framed::new(stream, RemotingCodec::default());
                loop {
                    tokio::select! {
                        _ = drop_rx.changed() => return, // close this connection
                        item = framed.next() => {
                            let Some(Ok(cmd)) = item else { return };
                            s.lock().unwrap().conns[idx].push(cmd.code);
                            let resp = RemotingCommand::response_to(&cmd, 0, None);
                            if framed.send(resp).await.is_err() {
                                return;
                            }
                        }
                    }
                }
            });
        }
    });
    (addr, seen, drop_tx)
}

fn broker_options(name: &str, namesrv: SocketAddr, period: Duration) -> ServerOptions {
    let mut o = ServerOptions::dev(None);
    o.namesrv = false;
    o.config.broker_name = name.into();
    o.config.namesrv_addr = Some(namesrv.to_string());
    o.config.register_broker_interval = period;
    o
}

async fn until(limit: Duration, what: &str, mut f: impl FnMut() -> bool) {
    bounded(limit, what, async {
        while !f() {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await
}

// multi-threaded: the fake name server must answer while `Server::start` blocks this thread
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn registrations_and_unregistration_share_one_long_lived_connection() {
    let (ns, seen, drop_conn) = fake_namesrv().await;
    let t0 = Instant::now();
    let broker = Server::start(broker_options(
        &unique("reg-a"),
        ns,
        Duration::from_millis(100),
    ))
    .unwrap();
    eprintln!("started after {:?}", t0.elapsed());
    until(Duration::from_secs(20), "six registrations", || {
        seen.lock().unwrap().registrations() >= 6
    })
    .await;
    {
        let g = seen.lock().unwrap();
        assert_eq!(
            g.conns.len(),
            1,
            "every registration over one connection: {:?}",
            g.conns
        );
    }
    // The name server drops the connection: the broker reconnects and registers again.
    let t0 = Instant::now();
    drop_conn.send(1).unwrap();
    until(
        Duration::from_secs(20),
        "a registration over a second connection",
        || {
            let g = seen.lock().unwrap();
            g.conns.len() >= 2 && g.conns[1].contains(&REGISTER_BROKER)
        },
    )
    .await;
    eprintln!(
        "re-registered over a new connection after {:?}",
        t0.elapsed()
    );
    let before = seen.lock().unwrap().registrations();
    until(Duration::from_secs(20), "more registrations", || {
        seen.lock().unwrap().registrations() >= before + 3
    })
    .await;
    // A graceful shutdown unregisters over that same connection.
    tokio::task::spawn_blocking(move || broker.shutdown())
        .await
        .unwrap();
    let g = seen.lock().unwrap();
    assert_eq!(
        g.conns.len(),
        2,
        "no connection per registration: {:?}",
        g.conns
    );
    assert_eq!(
        g.conns[1].last(),
        Some(&UNREGISTER_BROKER),
        "unregistered last, on the registration connection"
    );
}

/// A broker process (the real binary) registering with `namesrv`; killed on drop.
struct BrokerProcess {
    child: Child,
    _dir: tempfile::TempDir,
}

impl BrokerProcess {
    fn spawn(name: &str, namesrv: SocketAddr) -> BrokerProcess {
        let dir = tempfile::tempdir().unwrap();
        let conf = dir.path().join("broker.conf");
        std::fs::write(
            &conf,
            format!("brokerName={name}\nbrokerIP1=127.0.0.1\nvipChannelEnabled=false\nmappedFileSizeCommitLog=67108864\n"),
        )
        .unwrap();
        let child = Command::new(env!("CARGO_BIN_EXE_ferrocket"))
            .args([
                "broker",
                "--port",
                "0",
                "--bind",
                "127.0.0.1",
                "--namesrv",
                &namesrv.to_string(),
            ])
            .arg("--config")
            .arg(&conf)
            .arg("--data-dir")
            .arg(dir.path().join("data"))
            .env("RUST_LOG", "warn")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .spawn()
            .expect("spawn ferrocket broker");
        BrokerProcess { child, _dir: dir }
    }
}

impl Drop for BrokerProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

async fn brokers_in_route(ns: &RawClient, topic: &str) -> Vec<String> {
    let r = ns.request(req::route(topic), T).await.expect("route");
    if r.code != codes::SUCCESS {
        return Vec::new();
    }
    let route = TopicRouteData::from_json(&r.body).expect("route body");
    route
        .broker_datas
        .into_iter()
        .map(|b| b.broker_name)
        .collect()
}

#[tokio::test]
async fn a_killed_broker_leaves_the_routes_when_its_connection_closes() {
    let mut o = ServerOptions::dev(None);
    o.broker = false;
    let namesrv = Server::start(o).unwrap();
    let ns_addr = namesrv.namesrv_addr().unwrap();
    let ns = RawClient::connect(ns_addr).await.unwrap();
    let name = unique("kill9");
    let mut broker = BrokerProcess::spawn(&name, ns_addr);
    // every broker registers the topic named after itself
    bounded(
        Duration::from_secs(30),
        "the broker process registers",
        async {
            while brokers_in_route(&ns, &name).await.is_empty() {
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        },
    )
    .await;
    broker.child.kill().unwrap(); // SIGKILL: no unregistration
    let killed = Instant::now();
    let _ = broker.child.wait();
    // The expiry is 120 s (checked every 10 s); the connection closing is what removes it.
    bounded(
        Duration::from_secs(5),
        "the killed broker leaves the route",
        async {
            while !brokers_in_route(&ns, &name).await.is_empty() {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        },
    )
    .await;
    eprintln!("removed from routes {:?} after kill -9", killed.elapsed());
    let info = ns
        .request(RemotingCommand::request(106, 0), T)
        .await
        .unwrap();
    let info: serde_json::Value = serde_json::from_slice(&info.body).unwrap();
    assert!(
        info["brokerAddrTable"].get(&name).is_none(),
        "gone from the cluster list: {info}"
    );
}

/// A TCP proxy to `upstream` that holds every chunk bound upstream for `delay`: registrations
/// reach the name server late, so an answer given before the name server acknowledged one shows.
async fn slow_proxy(upstream: SocketAddr, delay: Duration) -> SocketAddr {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((client, _)) = listener.accept().await {
            let Ok(server) = tokio::net::TcpStream::connect(upstream).await else {
                continue;
            };
            let (mut cr, mut cw) = client.into_split();
            let (mut sr, mut sw) = server.into_split();
            tokio::spawn(async move {
                let mut buf = vec![0u8; 64 * 1024];
                while let Ok(n) = cr.read(&mut buf).await {
                    if n == 0 {
                        break;
                    }
                    tokio::time::sleep(delay).await;
                    if sw.write_all(&buf[..n]).await.is_err() {
                        break;
                    }
                }
                let _ = sw.shutdown().await;
            });
            tokio::spawn(async move {
                let _ = tokio::io::copy(&mut sr, &mut cw).await;
            });
        }
    });
    addr
}

fn create(topic: &str, queues: i32) -> RemotingCommand {
    req::create_topic(topic, queues)
}

async fn write_queues(ns: &RawClient, topic: &str) -> Option<i32> {
    let r = ns.request(req::route(topic), T).await.expect("route");
    if r.code != codes::SUCCESS {
        return None;
    }
    let route = TopicRouteData::from_json(&r.body).expect("route body");
    route.queue_datas.first().map(|q| q.write_queue_nums)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fifty_concurrent_creates_are_routable_when_answered_and_later() {
    let mut o = ServerOptions::dev(None);
    o.broker = false;
    let namesrv = Server::start(o).unwrap();
    let ns_addr = namesrv.namesrv_addr().unwrap();
    // The broker registers through a proxy that delays its registrations (an answer given before
    // the name server acknowledged shows), with a short period: several full re-registrations
    // happen during the test.
    let proxy = slow_proxy(ns_addr, Duration::from_millis(100)).await;
    let o = broker_options(&unique("create"), proxy, Duration::from_millis(200));
    let broker = tokio::task::spawn_blocking(move || Server::start(o).unwrap())
        .await
        .unwrap();
    let broker_addr = broker.broker_addr().unwrap();
    let prefix = unique("c50");
    let mut tasks = Vec::new();
    for conn in 0..5 {
        let admin = Arc::new(RawClient::connect(broker_addr).await.unwrap());
        let ns = Arc::new(RawClient::connect(ns_addr).await.unwrap());
        for i in 0..10 {
            let (admin, ns) = (admin.clone(), ns.clone());
            let topic = format!("{prefix}_{conn}_{i}");
            let queues = 1 + (i % 4);
            tasks.push(tokio::spawn(async move {
                let resp = admin
                    .request(create(&topic, queues), T)
                    .await
                    .expect("create");
                assert_code(&resp, codes::SUCCESS);
                // the moment the create answers, the name server has the route
                assert_eq!(
                    write_queues(&ns, &topic).await,
                    Some(queues),
                    "{topic} routable when its create answered"
                );
                (topic, queues)
            }));
        }
    }
    let mut created = Vec::new();
    for t in tasks {
        created.push(t.await.expect("create task"));
    }
    assert_eq!(created.len(), 50);
    // ...and after several re-registration periods (full tables, later versions)
    tokio::time::sleep(Duration::from_millis(1200)).await;
    let ns = RawClient::connect(ns_addr).await.unwrap();
    for (topic, queues) in &created {
        assert_eq!(
            write_queues(&ns, topic).await,
            Some(*queues),
            "{topic} still routable"
        );
    }
    // a changed topic (fewer queues, read-only) is routed as changed when the update answers
    let admin = RawClient::connect(broker_addr).await.unwrap();
    let (topic, _) = &created[0];
    assert_code(
        &admin
            .request(create(topic, 7).with_ext("perm", 4), T)
            .await
            .unwrap(),
        codes::SUCCESS,
    );
    let r = ns.request(req::route(topic), T).await.unwrap();
    let route = TopicRouteData::from_json(&r.body).unwrap();
    assert_eq!(
        (
            route.queue_datas[0].write_queue_nums,
            route.queue_datas[0].perm
        ),
        (7, 4)
    );
    tokio::task::spawn_blocking(move || drop(broker))
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_create_is_answered_when_a_name_server_is_down() {
    let (up, seen, _drop) = fake_namesrv().await;
    let down = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap() // closed again when `l` drops: nothing listens there
    };
    let mut o = broker_options(&unique("half"), up, Duration::from_secs(30));
    o.config.namesrv_addr = Some(format!("{down};{up}"));
    let broker = tokio::task::spawn_blocking(move || Server::start(o).unwrap())
        .await
        .unwrap();
    let admin = RawClient::connect(broker.broker_addr().unwrap())
        .await
        .unwrap();
    let before = seen.lock().unwrap().registrations();
    let resp = admin
        .request(create(&unique("t"), 2), T)
        .await
        .expect("answered");
    assert_code(&resp, codes::SUCCESS);
    assert!(
        seen.lock().unwrap().registrations() > before,
        "the reachable name server got the change before the answer"
    );
    tokio::task::spawn_blocking(move || drop(broker))
        .await
        .unwrap();
}

#[tokio::test]
async fn query_data_version_and_the_registration_connection_on_the_wire() {
    use ferrocket::codec::body::DataVersion;
    use ferrocket::core::topics::{new_topic, registration, BrokerIdentity, RegistrationData};
    let mut o = ServerOptions::dev(None);
    o.broker = false;
    let namesrv = Server::start(o).unwrap();
    let ns_addr = namesrv.namesrv_addr().unwrap();
    let name = unique("wire");
    let id = BrokerIdentity {
        cluster: "DefaultCluster".into(),
        broker_name: name.clone(),
        broker_id: 0,
        broker_addr: "127.0.0.1:1".into(),
        ha_addr: "127.0.0.1:2".into(),
    };
    let version = DataVersion {
        timestamp: 1_000,
        counter: 3,
    };
    let data = RegistrationData {
        version: version.clone(),
        topics: vec![new_topic(&name, 2, 6)],
    };
    let broker_conn = RawClient::connect(ns_addr).await.unwrap();
    assert_code(
        &broker_conn
            .request(registration(&id, &data, false), T)
            .await
            .unwrap(),
        codes::SUCCESS,
    );
    let query = |v: &DataVersion| {
        RemotingCommand::request(322, 0)
            .with_ext("brokerName", &name)
            .with_ext("brokerAddr", "127.0.0.1:1")
            .with_ext("clusterName", "DefaultCluster")
            .with_ext("brokerId", 0)
            .with_body(v.to_json())
    };
    let same = broker_conn.request(query(&version), T).await.unwrap();
    assert_code(&same, codes::SUCCESS);
    assert_eq!(same.ext("changed"), Some("false"));
    assert_eq!(DataVersion::from_json(&same.body).unwrap(), version);
    let other = broker_conn
        .request(
            query(&DataVersion {
                timestamp: 1_000,
                counter: 4,
            }),
            T,
        )
        .await
        .unwrap();
    assert_eq!(other.ext("changed"), Some("true"));
    let bad = broker_conn
        .request(query(&version).with_body(b"not json".to_vec()), T)
        .await
        .unwrap();
    assert_code(&bad, codes::SYSTEM_ERROR);
    // an older registration does not replace the topic's queues
    let older = RegistrationData {
        version: DataVersion {
            timestamp: 1_000,
            counter: 2,
        },
        topics: vec![new_topic(&name, 9, 6)],
    };
    assert_code(
        &broker_conn
            .request(registration(&id, &older, false), T)
            .await
            .unwrap(),
        codes::SUCCESS,
    );
    let ns = RawClient::connect(ns_addr).await.unwrap();
    assert_eq!(write_queues(&ns, &name).await, Some(2));
    // closing the registration connection removes the broker
    broker_conn.shutdown().await;
    bounded(
        Duration::from_secs(5),
        "the broker leaves with its connection",
        async {
            while write_queues(&ns, &name).await.is_some() {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        },
    )
    .await;
}
