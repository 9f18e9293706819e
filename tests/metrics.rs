//! `/metrics`, `/healthz`, `/readyz` with `metricsExporterType=PROM`: counters and lag after
//! known traffic, read with a Prometheus text parser.
mod common;

use common::*;
use ferrocket::client::req::{self, ConsumerSpec, Msg, Pull};
use ferrocket::client::codes;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// One HTTP/1.0 GET: (status, body).
fn get(addr: SocketAddr, path: &str) -> (u16, String) {
    let mut s = TcpStream::connect(addr).expect("connect to the metrics port");
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    write!(s, "GET {path} HTTP/1.0\r\nHost: localhost\r\n\r\n").unwrap();
    let mut raw = String::new();
    s.read_to_string(&mut raw).unwrap();
    let (head, body) = raw.split_once("\r\n\r\n").unwrap_or((&raw, ""));
    let status = head.split_whitespace().nth(1).and_then(|c| c.parse().ok()).unwrap_or(0);
    (status, body.to_string())
}

fn value(scrape: &prometheus_parse::Scrape, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    scrape
        .samples
        .iter()
        .find(|s| s.metric == name && labels.iter().all(|(k, v)| s.labels.get(k) == Some(*v)))
        .map(|s| match s.value {
            prometheus_parse::Value::Counter(v) | prometheus_parse::Value::Gauge(v) | prometheus_parse::Value::Untyped(v) => v,
            _ => f64::NAN,
        })
}

/// The cumulative buckets (upper bound, count) of a histogram series.
fn buckets(scrape: &prometheus_parse::Scrape, name: &str, labels: &[(&str, &str)]) -> Option<Vec<(f64, f64)>> {
    scrape.samples.iter().find(|s| s.metric == name && labels.iter().all(|(k, v)| s.labels.get(k) == Some(*v))).and_then(|s| match &s.value {
        prometheus_parse::Value::Histogram(h) => Some(h.iter().map(|b| (b.less_than, b.count)).collect()),
        _ => None,
    })
}

fn scrape(addr: SocketAddr) -> prometheus_parse::Scrape {
    let (status, body) = get(addr, "/metrics");
    assert_eq!(status, 200);
    prometheus_parse::Scrape::parse(body.lines().map(|l| Ok(l.to_string()))).expect("Prometheus text")
}

#[tokio::test]
async fn metrics_count_known_traffic_and_lag() {
    let port = free_port();
    let conf = format!("metricsExporterType=PROM\nmetricsPromExporterPort={port}\n");
    let b = DevBroker::start_with(Launch { config: Some(conf), ..Default::default() });
    let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    assert_eq!(get(addr, "/healthz").0, 200);
    assert_eq!(get(addr, "/readyz").0, 200);
    assert_eq!(get(addr, "/nothing").0, 404);

    let c = b.client().await;
    let topic = unique("metrics");
    let group = unique("gmetrics");
    for i in 0..5 {
        send_ok(&c, &Msg::new(&topic, format!("m{i}")), 0).await;
    }
    let hb = req::heartbeat("127.0.0.1@metrics", &[], &[ConsumerSpec::push(&group, &topic, "*")]);
    assert_code(&c.request(hb, T).await.unwrap(), codes::SUCCESS);
    let (r, msgs) = pull(&c, &Pull::new(&group, &topic, 0, 0).max(3)).await;
    assert_code(&r, codes::SUCCESS);
    assert_eq!(msgs.len(), 3);
    assert_code(&c.request(req::update_offset(&group, &topic, 0, 3), T).await.unwrap(), codes::SUCCESS);

    let s = scrape(addr);
    let t = [("topic", topic.as_str())];
    let gt = [("topic", topic.as_str()), ("consumer_group", group.as_str())];
    assert_eq!(value(&s, "rocketmq_messages_in_total", &t), Some(5.0));
    assert!(value(&s, "rocketmq_throughput_in_total", &t).unwrap() > 5.0 * 90.0, "stored bytes counted");
    assert_eq!(value(&s, "rocketmq_messages_out_total", &gt), Some(3.0));
    assert_eq!(value(&s, "rocketmq_consumer_lag_messages", &gt), Some(2.0));
    assert_eq!(value(&s, "rocketmq_consumer_ready_messages", &gt), Some(2.0));
    assert_eq!(value(&s, "rocketmq_consumer_inflight_messages", &gt), Some(0.0));
    assert!(value(&s, "rocketmq_consumer_lag_latency_milliseconds", &gt).is_some());
    assert_eq!(value(&s, "rocketmq_consumer_connections", &[("node_type", "broker"), ("language", "JAVA")]), Some(1.0));
    assert!(value(&s, "rocketmq_topic_number", &[]).unwrap() >= 1.0);
    assert!(value(&s, "rocketmq_storage_size_bytes", &[]).unwrap() > 0.0);
    // Body sizes: five 2-byte bodies, all in the first bucket (1 KiB), type Normal.
    let sizes = buckets(&s, "rocketmq_message_size", &[("topic", topic.as_str()), ("message_type", "normal")]).expect("message size histogram");
    assert_eq!(sizes.first(), Some(&(1024.0, 5.0)), "{sizes:?}");
    assert_eq!(sizes.last().map(|b| b.1), Some(5.0));
    // RPC latency: every send answered SUCCESS is one observation under its request code.
    let sends: f64 = s
        .samples
        .iter()
        .filter(|x| x.metric == "rocketmq_rpc_latency_milliseconds" && matches!(x.labels.get("request_code"), Some("10" | "310")) && x.labels.get("response_code") == Some("0"))
        .filter_map(|x| match &x.value {
            prometheus_parse::Value::Histogram(h) => h.last().map(|b| b.count),
            _ => None,
        })
        .sum();
    assert_eq!(sends, 5.0, "five sends timed");
    assert!(buckets(&s, "rocketmq_rpc_latency_milliseconds", &[("request_code", "34"), ("protocol_type", "remoting")]).is_some(), "heartbeats timed");
    assert_eq!(value(&s, "ferrocket_delay_backlog_messages", &[]), Some(0.0));

    // A message held for delay level 5 (1 min): a delay backlog of one, sized under type Delay.
    send_ok(&c, &Msg::new(&topic, "later").prop("DELAY", "5"), 0).await;
    let s = scrape(addr);
    assert_eq!(value(&s, "ferrocket_delay_backlog_messages", &[]), Some(1.0));
    let delayed = buckets(&s, "rocketmq_message_size", &[("message_type", "delay")]).expect("delay size histogram");
    assert_eq!(delayed.last().map(|b| b.1), Some(1.0));
    // A timer message an hour ahead: a timer backlog of one (waiting in the wheel, or stored and
    // not yet indexed: both count).
    let at = (std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_millis() as i64 + 3_600_000).to_string();
    assert_eq!(value(&s, "ferrocket_timer_backlog_messages", &[]), Some(0.0));
    send_ok(&c, &Msg::new(&topic, "in an hour").prop("TIMER_DELIVER_MS", &at), 0).await;
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    let s = loop {
        let s = scrape(addr);
        if value(&s, "ferrocket_timer_backlog_messages", &[]) == Some(1.0) || std::time::Instant::now() > deadline {
            break s;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(value(&s, "ferrocket_timer_backlog_messages", &[]), Some(1.0));
    for sample in &s.samples {
        if sample.metric.starts_with("rocketmq_") {
            assert!(sample.labels.get("cluster").is_some() && sample.labels.get("node_id").is_some(), "{sample:?}");
        }
    }
}

#[tokio::test]
async fn metrics_are_off_by_default() {
    let b = DevBroker::start();
    let c = b.client().await;
    send_ok(&c, &Msg::new(&unique("off"), "x"), 0).await;
    let log = b.log_tail(400);
    assert!(log.contains("broker started"), "the log is read: {log}");
    assert!(!log.contains("/metrics"), "no metrics endpoint unless metricsExporterType=PROM: {log}");
    assert!(TcpStream::connect("127.0.0.1:5557").is_err(), "nothing listens on the default metrics port");
}
