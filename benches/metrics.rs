//! `/metrics` scrape cost (issue 20): a broker core with G online consumer groups, each
//! subscribed to one topic of 8 queues with some lag, then `http::render` timed.
//! A plain `harness = false` main.
//!
//! `cargo bench --bench metrics` (optionally `-- <groups>`, default 10000); figures in BENCHMARKS.md.
use ferrocket::codec::body::{ConsumerData, HeartbeatData, SubscriptionData};
use ferrocket::codec::RemotingCommand;
use ferrocket::core::topics::{new_topic, BrokerIdentity, TopicTable};
use ferrocket::core::{Answer, ConnHandle, Core, Outlet};
use ferrocket::store::{MessageStore, NewMessage, StoreConfig};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

struct Nowhere;
impl Outlet for Nowhere {
    fn send(&self, _: RemotingCommand) {}
    fn request(&self, _: RemotingCommand, _: Duration) -> Answer {
        Box::pin(async { None })
    }
    fn connected(&self) -> bool {
        true
    }
}

fn main() {
    let groups: usize = std::env::args().nth(1).and_then(|a| a.parse().ok()).unwrap_or(10_000);
    let topics = 100;
    let dir = tempfile::tempdir().unwrap();
    let host: SocketAddr = "127.0.0.1:10911".parse().unwrap();
    let mut sc = StoreConfig::new(dir.path().to_path_buf(), host);
    sc.segment_size = 64 << 20;
    let store = MessageStore::open(sc).unwrap();
    let table = Arc::new(TopicTable::load(store.clone()));
    for t in 0..topics {
        let name = format!("T{t}");
        table.put(new_topic(&name, 8, 6));
        for q in 0..8 {
            let m = NewMessage {
                topic: name.clone().into(),
                queue_id: q,
                flag: 0,
                sys_flag: 0,
                born_timestamp: 0,
                born_host: host,
                reconsume_times: 0,
                prepared_transaction_offset: 0,
                body: bytes::Bytes::from_static(b"x"),
                properties: String::new(),
                tags_code: 0,
                keys: Vec::new(),
                uniq_key: None,
            };
            store.put(vec![m.clone(), m.clone(), m]).unwrap();
        }
    }
    let id = BrokerIdentity { cluster: "c".into(), broker_name: "b".into(), broker_id: 0, broker_addr: host.to_string(), ha_addr: String::new() };
    let core = Core::new(Default::default(), id, host, store.clone(), table);
    let setup = Instant::now();
    for g in 0..groups {
        let group = format!("G{g}");
        let topic = format!("T{}", g % topics);
        let hb = HeartbeatData {
            client_id: format!("client-{g}"),
            consumer_data_set: vec![ConsumerData {
                group_name: group.clone(),
                consume_type: "CONSUME_PASSIVELY".into(),
                message_model: "CLUSTERING".into(),
                consume_from_where: "CONSUME_FROM_LAST_OFFSET".into(),
                subscription_data_set: vec![SubscriptionData { topic: topic.clone(), sub_string: "*".into(), ..Default::default() }],
                unit_mode: false,
            }],
            producer_data_set: Vec::new(),
        };
        let conn = ConnHandle { id: g as u64 + 1, peer: host, out: Arc::new(Nowhere) };
        core.clients.registry.write().unwrap().heartbeat(&conn, "JAVA", 0, &hb, Instant::now());
        for q in 0..8 {
            store.meta().set_consumer_offset(&group, &topic, q, 1).unwrap();
        }
    }
    eprintln!("setup: {groups} online groups x 8 queues in {:?}", setup.elapsed());
    let mut times = Vec::new();
    let mut bytes = 0;
    for _ in 0..7 {
        let t = Instant::now();
        let text = ferrocket::http::render(&core, ferrocket::core::now_ms());
        times.push(t.elapsed());
        bytes = text.len();
    }
    times.sort();
    // The part that reads the broker's tables (offsets, max offsets, store times) on its own.
    let mut lag_times: Vec<_> = (0..7)
        .map(|_| {
            let t = Instant::now();
            std::hint::black_box(core.online_lags(ferrocket::core::now_ms()));
            t.elapsed()
        })
        .collect();
    lag_times.sort();
    println!(
        "{{\"groups\":{groups},\"queues_per_group\":8,\"scrape_bytes\":{bytes},\"min_ms\":{:.1},\"median_ms\":{:.1},\"max_ms\":{:.1},\"lags_median_ms\":{:.1}}}",
        times[0].as_secs_f64() * 1e3,
        times[times.len() / 2].as_secs_f64() * 1e3,
        times[times.len() - 1].as_secs_f64() * 1e3,
        lag_times[lag_times.len() / 2].as_secs_f64() * 1e3
    );
}
