//! `/metrics`: RocketMQ 5's metric and label names (`docs/metrics.md`), encoded by
//! `prometheus-client`. Counters are registered without `_total` (the crate adds it).
//!
//! A scrape copies the broker's counters and tables into plain rows and encodes them: the labels
//! every series shares (`cluster`, `node_type`, `node_id`) are the registry's constant labels,
//! and a family of rows is encoded straight from its `Vec` (no per-series map or lock), so 10 k
//! groups x 8 queues stay cheap.
use crate::core::progress::GroupTopicLag;
use crate::core::stats::{MessageType, MESSAGE_SIZE_BOUNDS, RPC_LATENCY_BOUNDS};
use crate::core::topics::{DLQ_PREFIX, RETRY_PREFIX, SCHEDULE_TOPIC, SEND_FORBIDDEN};
use crate::core::Core;
use prometheus_client::encoding::text::encode;
use prometheus_client::encoding::{EncodeLabelSet, EncodeMetric, MetricEncoder};
use prometheus_client::metrics::MetricType;
use prometheus_client::registry::{Registry, Unit};
use std::borrow::Cow;
use std::collections::BTreeMap;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct TopicLabels {
    topic: String,
    is_system: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct GroupTopicLabels {
    topic: String,
    consumer_group: String,
    is_retry: &'static str,
    is_system: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, PartialOrd, Ord, EncodeLabelSet)]
struct ClientLabels {
    language: String,
    version: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct GroupLabels {
    consumer_group: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct SizeLabels {
    topic: String,
    message_type: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RpcLabels {
    protocol_type: &'static str,
    request_code: String,
    response_code: String,
    result: &'static str,
}

fn is_system(topic: &str) -> bool {
    topic == SCHEDULE_TOPIC || SEND_FORBIDDEN.contains(&topic) || topic.starts_with("rmq_sys_") || topic.starts_with("RMQ_SYS_")
}

fn flag(b: bool) -> &'static str {
    if b {
        "true"
    } else {
        "false"
    }
}

/// A histogram's (sum, count, per-bucket counts with their upper bounds; the last is +Inf).
type HistValue = (f64, u64, Vec<(f64, u64)>);

fn hist_value(bounds: &[f64], (sum, count, counts): (u64, u64, Vec<u64>)) -> HistValue {
    let buckets = counts.into_iter().enumerate().map(|(i, n)| (bounds.get(i).copied().unwrap_or(f64::MAX), n)).collect();
    (sum as f64, count, buckets)
}

/// What a row holds: a gauge, a counter or a histogram.
#[derive(Debug)]
enum Kind {
    Gauge(Vec<i64>),
    Counter(Vec<u64>),
    Histogram(Vec<HistValue>),
}

/// One metric family as plain rows (labels and values side by side), encoded in order.
#[derive(Debug)]
struct Rows<L> {
    labels: Vec<L>,
    values: Kind,
}

impl<L: EncodeLabelSet + std::fmt::Debug + Send + Sync> EncodeMetric for Rows<L> {
    fn encode(&self, mut encoder: MetricEncoder) -> Result<(), std::fmt::Error> {
        for (i, l) in self.labels.iter().enumerate() {
            let mut e = encoder.encode_family(l)?;
            match &self.values {
                Kind::Gauge(v) => e.encode_gauge(&v[i])?,
                Kind::Counter(v) => e.encode_counter::<(), _, u64>(&v[i], None)?,
                Kind::Histogram(v) => e.encode_histogram::<()>(v[i].0, v[i].1, &v[i].2, None)?,
            }
        }
        Ok(())
    }

    fn metric_type(&self) -> MetricType {
        match self.values {
            Kind::Gauge(_) => MetricType::Gauge,
            Kind::Counter(_) => MetricType::Counter,
            Kind::Histogram(_) => MetricType::Histogram,
        }
    }
}

struct Out {
    reg: Registry,
}

impl Out {
    fn add<L: EncodeLabelSet + std::fmt::Debug + Send + Sync + 'static>(&mut self, name: &str, help: &str, unit: Option<Unit>, labels: Vec<L>, values: Kind) {
        let rows = Rows { labels, values };
        match unit {
            Some(u) => self.reg.register_with_unit(name, help, u, rows),
            None => self.reg.register(name, help, rows),
        }
    }
    fn gauges<L: EncodeLabelSet + std::fmt::Debug + Send + Sync + 'static>(&mut self, name: &str, help: &str, unit: Option<Unit>, rows: Vec<(L, i64)>) {
        let (labels, values) = rows.into_iter().unzip();
        self.add(name, help, unit, labels, Kind::Gauge(values));
    }
    fn counters<L: EncodeLabelSet + std::fmt::Debug + Send + Sync + 'static>(&mut self, name: &str, help: &str, rows: Vec<(L, u64)>) {
        let (labels, values) = rows.into_iter().unzip();
        self.add(name, help, None, labels, Kind::Counter(values));
    }
    fn gauge(&mut self, name: &str, help: &str, unit: Option<Unit>, v: i64) {
        self.gauges(name, help, unit, vec![((), v)]);
    }
}

/// The Prometheus text for this broker at `now` (ms).
pub fn render(core: &Core, now: i64) -> String {
    let id = &core.identity;
    let node: [(Cow<'static, str>, Cow<'static, str>); 3] = [
        ("cluster".into(), id.cluster.clone().into()),
        ("node_type".into(), "broker".into()),
        ("node_id".into(), id.broker_name.clone().into()),
    ];
    let mut out = Out { reg: Registry::with_labels(node.into_iter()) };
    let topic_labels = |t: &str| TopicLabels { topic: t.to_string(), is_system: flag(is_system(t)) };
    let gt_labels = |g: &str, t: &str| GroupTopicLabels {
        topic: t.to_string(),
        consumer_group: g.to_string(),
        is_retry: flag(t.starts_with(RETRY_PREFIX)),
        is_system: flag(is_system(t)),
    };

    // Traffic: messages in do not count retry and DLQ topics (as RocketMQ's).
    let stored: Vec<(String, u64, u64)> =
        core.stats.stored_snapshot().into_iter().filter(|(t, ..)| !t.starts_with(RETRY_PREFIX) && !t.starts_with(DLQ_PREFIX)).collect();
    out.counters("rocketmq_messages_in", "Messages stored, per topic", stored.iter().map(|(t, m, _)| (topic_labels(t), *m)).collect());
    out.counters("rocketmq_throughput_in", "Bytes stored, per topic", stored.iter().map(|(t, _, b)| (topic_labels(t), *b)).collect());
    let sizes = core.stats.message_sizes();
    let (labels, values): (Vec<SizeLabels>, Vec<HistValue>) = sizes
        .into_iter()
        .filter(|((t, _), _)| !t.starts_with(RETRY_PREFIX) && !t.starts_with(DLQ_PREFIX))
        .map(|((t, ty), h): ((String, MessageType), _)| (SizeLabels { topic: t, message_type: ty.as_str() }, hist_value(&MESSAGE_SIZE_BOUNDS, h)))
        .unzip();
    out.add("rocketmq_message_size", "Sizes of message bodies stored (bytes)", None, labels, Kind::Histogram(values));
    let outflow = core.stats.out_snapshot();
    out.counters("rocketmq_messages_out", "Messages handed to consumers (pulls and pops)", outflow.iter().map(|((g, t), m, _)| (gt_labels(g, t), *m)).collect());
    out.counters("rocketmq_throughput_out", "Bytes handed to consumers", outflow.iter().map(|((g, t), _, b)| (gt_labels(g, t), *b)).collect());
    let dlq = core.stats.dlq_snapshot();
    out.counters(
        "rocketmq_send_to_dlq_messages",
        "Messages moved to a dead-letter queue",
        dlq.into_iter().map(|(g, n)| (GroupLabels { consumer_group: g }, n)).collect(),
    );
    let (labels, values): (Vec<RpcLabels>, Vec<HistValue>) = core
        .stats
        .rpc_latencies()
        .into_iter()
        .map(|((req, resp, result), h)| {
            (RpcLabels { protocol_type: "remoting", request_code: req.to_string(), response_code: resp.to_string(), result }, hist_value(&RPC_LATENCY_BOUNDS, h))
        })
        .unzip();
    out.add("rocketmq_rpc_latency", "Time from a request to its answer (remoting; parked pulls not counted)", Some(Unit::Other("milliseconds".into())), labels, Kind::Histogram(values));

    // Tables.
    out.gauge("rocketmq_topic_number", "Topics on this broker", None, core.topics.all().len() as i64);
    out.gauge("rocketmq_consumer_group_number", "Subscription groups on this broker", None, core.groups.all().len() as i64);
    // Client channels by language and version, as RocketMQ 5 labels them.
    let mut producers: BTreeMap<ClientLabels, i64> = BTreeMap::new();
    let mut consumers: BTreeMap<ClientLabels, i64> = BTreeMap::new();
    if let Ok(r) = core.clients.registry.read() {
        let key = |c: &crate::core::clients::ClientChannel| ClientLabels { language: c.language.clone(), version: c.version.to_string() };
        for c in r.producers.values().flat_map(|p| p.channels.values()) {
            *producers.entry(key(c)).or_default() += 1;
        }
        for c in r.consumers.values().flat_map(|g| g.channels.values()) {
            *consumers.entry(key(c)).or_default() += 1;
        }
    }
    out.gauges("rocketmq_producer_connections", "Producer connections, by client language and version", None, producers.into_iter().collect());
    out.gauges("rocketmq_consumer_connections", "Consumer connections, by client language and version", None, consumers.into_iter().collect());

    // Lag of online groups (a consumer heartbeat), per subscribed topic.
    let lags = core.online_lags(now);
    let labels: Vec<GroupTopicLabels> = lags.iter().map(|l| gt_labels(&l.group, &l.topic)).collect();
    let per = |f: fn(&GroupTopicLag) -> i64| Kind::Gauge(lags.iter().map(f).collect());
    out.add("rocketmq_consumer_lag_messages", "Messages not yet consumed, per online group and topic", None, labels.clone(), per(|l| l.messages));
    out.add(
        "rocketmq_consumer_lag_latency",
        "Age of the oldest message not yet consumed",
        Some(Unit::Other("milliseconds".into())),
        labels.clone(),
        per(|l| l.latency_ms),
    );
    out.add("rocketmq_consumer_inflight_messages", "Messages popped and not yet acked", None, labels.clone(), per(|l| l.inflight));
    out.add("rocketmq_consumer_ready_messages", "Messages ready to be consumed", None, labels, per(|l| (l.messages - l.inflight).max(0)));

    // Storage.
    let store = &core.store;
    let size = (store.max_commit_log_offset() - store.min_commit_log_offset()).max(0);
    out.gauge("rocketmq_storage_size", "Bytes in the commit log", Some(Unit::Bytes), size);
    out.gauge("rocketmq_storage_flush_behind", "Bytes written but not yet flushed", Some(Unit::Bytes), store.flush_behind_bytes());

    // ferrocket's own.
    let backlog = core.backlogs();
    out.gauge("ferrocket_parked_pulls", "Long-polling pulls and pops waiting", None, core.waiters.total() as i64);
    out.gauge("ferrocket_pop_inflight_messages", "POP messages in flight, all groups", None, core.pop.inflight_total() as i64);
    out.gauge("ferrocket_delay_backlog_messages", "Delay-level messages not yet delivered", None, backlog.delay_levels);
    out.gauge("ferrocket_timer_backlog_messages", "Timer messages (5.x delivery times) not yet delivered", None, backlog.timers);
    out.gauge("ferrocket_half_backlog_messages", "Half (transaction) messages the checker has not passed yet", None, backlog.half);
    let behind = core.replication.behind(store.max_commit_log_offset());
    out.gauge("ferrocket_ha_fall_behind", "Replication lag: a slave's bytes behind its master, a master's bytes its furthest slave lacks", Some(Unit::Bytes), behind);

    let mut text = String::with_capacity(1 << 16);
    if encode(&mut text, &out.reg).is_err() {
        text.clear();
    }
    text
}
