//! `/metrics`: RocketMQ 5's metric and label names (`docs/metrics.md`), encoded by
//! `prometheus-client`. Counters are registered without `_total` (the crate adds it).
use crate::core::topics::{DLQ_PREFIX, RETRY_PREFIX, SCHEDULE_TOPIC, SEND_FORBIDDEN};
use crate::core::Core;
use prometheus_client::encoding::text::encode;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::{Registry, Unit};
use crate::core::progress::GroupTopicLag;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct Node {
    cluster: String,
    node_type: String,
    node_id: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct TopicLabels {
    cluster: String,
    node_type: String,
    node_id: String,
    topic: String,
    is_system: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct GroupTopicLabels {
    cluster: String,
    node_type: String,
    node_id: String,
    topic: String,
    consumer_group: String,
    is_retry: String,
    is_system: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct GroupLabels {
    cluster: String,
    node_type: String,
    node_id: String,
    consumer_group: String,
}

fn is_system(topic: &str) -> bool {
    topic == SCHEDULE_TOPIC || SEND_FORBIDDEN.contains(&topic) || topic.starts_with("rmq_sys_") || topic.starts_with("RMQ_SYS_")
}

fn flag(b: bool) -> String {
    if b { "true" } else { "false" }.to_string()
}

fn counter_family<L: Clone + std::hash::Hash + Eq + EncodeLabelSet + std::fmt::Debug + Send + Sync + 'static>(
    reg: &mut Registry,
    name: &str,
    help: &str,
    values: impl IntoIterator<Item = (L, u64)>,
) {
    let f = Family::<L, Counter>::default();
    for (l, v) in values {
        f.get_or_create(&l).inc_by(v);
    }
    reg.register(name, help, f);
}

fn gauge_family<L: Clone + std::hash::Hash + Eq + EncodeLabelSet + std::fmt::Debug + Send + Sync + 'static>(
    reg: &mut Registry,
    name: &str,
    help: &str,
    unit: Option<Unit>,
    values: impl IntoIterator<Item = (L, i64)>,
) {
    let f = Family::<L, Gauge>::default();
    for (l, v) in values {
        f.get_or_create(&l).set(v);
    }
    match unit {
        Some(u) => reg.register_with_unit(name, help, u, f),
        None => reg.register(name, help, f),
    }
}

/// The Prometheus text for this broker at `now` (ms).
pub fn render(core: &Core, now: i64) -> String {
    let id = &core.identity;
    let node = Node { cluster: id.cluster.clone(), node_type: "broker".into(), node_id: id.broker_name.clone() };
    let topic_labels = |t: &str| TopicLabels {
        cluster: node.cluster.clone(),
        node_type: node.node_type.clone(),
        node_id: node.node_id.clone(),
        topic: t.to_string(),
        is_system: flag(is_system(t)),
    };
    let gt_labels = |g: &str, t: &str| GroupTopicLabels {
        cluster: node.cluster.clone(),
        node_type: node.node_type.clone(),
        node_id: node.node_id.clone(),
        topic: t.to_string(),
        consumer_group: g.to_string(),
        is_retry: flag(t.starts_with(RETRY_PREFIX)),
        is_system: flag(is_system(t)),
    };
    let mut reg = Registry::default();

    // Traffic: messages in do not count retry and DLQ topics (as RocketMQ's).
    let stored: Vec<(String, u64, u64)> =
        core.stats.stored_snapshot().into_iter().filter(|(t, ..)| !t.starts_with(RETRY_PREFIX) && !t.starts_with(DLQ_PREFIX)).collect();
    counter_family(&mut reg, "rocketmq_messages_in", "Messages stored, per topic", stored.iter().map(|(t, m, _)| (topic_labels(t), *m)));
    counter_family(&mut reg, "rocketmq_throughput_in", "Bytes stored, per topic", stored.iter().map(|(t, _, b)| (topic_labels(t), *b)));
    let out = core.stats.out_snapshot();
    counter_family(&mut reg, "rocketmq_messages_out", "Messages handed to consumers (pulls and pops)", out.iter().map(|((g, t), m, _)| (gt_labels(g, t), *m)));
    counter_family(&mut reg, "rocketmq_throughput_out", "Bytes handed to consumers", out.iter().map(|((g, t), _, b)| (gt_labels(g, t), *b)));
    let dlq = core.stats.dlq_snapshot();
    let group_labels = |g: &str| GroupLabels {
        cluster: node.cluster.clone(),
        node_type: node.node_type.clone(),
        node_id: node.node_id.clone(),
        consumer_group: g.to_string(),
    };
    counter_family(&mut reg, "rocketmq_send_to_dlq_messages", "Messages moved to a dead-letter queue", dlq.iter().map(|(g, n)| (group_labels(g), *n)));

    // Tables.
    let topics = core.topics.all();
    gauge_family(&mut reg, "rocketmq_topic_number", "Topics on this broker", None, [(node.clone(), topics.len() as i64)]);
    gauge_family(&mut reg, "rocketmq_consumer_group_number", "Subscription groups on this broker", None, [(node.clone(), core.groups.all().len() as i64)]);
    let (producers, consumers): (i64, i64) = match core.clients.registry.read() {
        Ok(r) => (r.producers.values().map(|p| p.channels.len() as i64).sum(), r.consumers.values().map(|c| c.channels.len() as i64).sum()),
        Err(_) => (0, 0),
    };
    gauge_family(&mut reg, "rocketmq_producer_connections", "Producer connections", None, [(node.clone(), producers)]);
    gauge_family(&mut reg, "rocketmq_consumer_connections", "Consumer connections", None, [(node.clone(), consumers)]);

    // Lag of online groups (a consumer heartbeat), per subscribed topic.
    let lags = core.online_lags(now);
    let per = |f: fn(&GroupTopicLag) -> i64| lags.iter().map(move |l| (gt_labels(&l.group, &l.topic), f(l))).collect::<Vec<_>>();
    gauge_family(&mut reg, "rocketmq_consumer_lag_messages", "Messages not yet consumed, per online group and topic", None, per(|l| l.messages));
    gauge_family(
        &mut reg,
        "rocketmq_consumer_lag_latency",
        "Age of the oldest message not yet consumed",
        Some(Unit::Other("milliseconds".into())),
        per(|l| l.latency_ms),
    );
    gauge_family(&mut reg, "rocketmq_consumer_inflight_messages", "Messages popped and not yet acked", None, per(|l| l.inflight));
    gauge_family(&mut reg, "rocketmq_consumer_ready_messages", "Messages ready to be consumed", None, per(|l| (l.messages - l.inflight).max(0)));

    // Storage.
    let store = &core.store;
    let size = (store.max_commit_log_offset() - store.min_commit_log_offset()).max(0);
    gauge_family(&mut reg, "rocketmq_storage_size", "Bytes in the commit log", Some(Unit::Bytes), [(node.clone(), size)]);
    gauge_family(&mut reg, "rocketmq_storage_flush_behind", "Bytes written but not yet flushed", Some(Unit::Bytes), [(node.clone(), store.flush_behind_bytes())]);

    // ferrocket's own.
    gauge_family(&mut reg, "ferrocket_parked_pulls", "Long-polling pulls and pops waiting", None, [(node.clone(), core.waiters.total() as i64)]);
    gauge_family(&mut reg, "ferrocket_pop_inflight_messages", "POP messages in flight, all groups", None, [(node.clone(), core.pop.inflight_total() as i64)]);

    let mut text = String::new();
    if encode(&mut text, &reg).is_err() {
        text.clear();
    }
    text
}
