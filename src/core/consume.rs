//! The checks before a POP-style read, shared by the remoting (POP_MESSAGE, NOTIFICATION, ...)
//! and the gRPC (ReceiveMessage) front ends: group, topic, permission, queue id, and the
//! subscription's filter. Each front end maps a [`ConsumeRefusal`] to its own codes.
use super::pop::{origin_topic, read_one, PopError, PROP_POP_CK};
use super::pull::Filter;
use super::topics::{perm, validate_topic_name, DLQ_PREFIX, RETRY_PREFIX};
use super::Core;
use crate::codec::message::{offset_msg_id, parse_properties, prop};
use crate::codec::stored::decode_stored;
use crate::store::TopicConfig;

/// Why a consumer may not read what it asked for.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConsumeRefusal {
    #[error("illegal consumer group [{0}]: {1}")]
    GroupName(String, String),
    #[error("subscription group [{0}] does not exist")]
    GroupNotFound(String),
    #[error("subscription group no permission, {0}")]
    GroupDisabled(String),
    #[error("topic[{0}] not exist, apply first please!")]
    TopicNotFound(String),
    #[error("the topic[{0}] peeking message is forbidden")]
    NotReadable(String),
    #[error("queueId[{queue_id}] is illegal, topic:[{topic}] topicConfig.readQueueNums:[{read_queues}]")]
    BadQueue { topic: String, queue_id: i32, read_queues: i32 },
    #[error("The broker does not support consumer to filter message by SQL92 (enablePropertyFilter=false)")]
    SqlDisabled,
    #[error("parse the consumer's subscription[{0}] failed: {1}")]
    BadFilter(String, String),
}

impl Core {
    /// Group and topic checks of a POP read; returns the topic's config and the group's retry
    /// budget (`retryMaxTimes`). Creates the group when `autoCreateSubscriptionGroup`, and the
    /// group's `%RETRY%` topic (it routes admin tools to this broker).
    pub fn pop_target(&self, group: &str, topic: &str, queue_id: i32) -> Result<(TopicConfig, i32), ConsumeRefusal> {
        // The group names topics (%RETRY%g_t, %DLQ%g) and so directories: no `/`, no `..`.
        if let Err(e) = validate_topic_name(&format!("{RETRY_PREFIX}{group}")) {
            return Err(ConsumeRefusal::GroupName(group.to_string(), e.to_string()));
        }
        let cfg = self.config();
        let Some(g) = self.groups.get_or_create(group, cfg.auto_create_subscription_group) else {
            return Err(ConsumeRefusal::GroupNotFound(group.to_string()));
        };
        if !g.consume_enable {
            return Err(ConsumeRefusal::GroupDisabled(group.to_string()));
        }
        let Some(tc) = self.topics.get(topic) else {
            return Err(ConsumeRefusal::TopicNotFound(topic.to_string()));
        };
        if tc.perm & perm::READ == 0 {
            return Err(ConsumeRefusal::NotReadable(topic.to_string()));
        }
        if self.topics.get(&format!("{RETRY_PREFIX}{group}")).is_none() {
            self.ensure_retry_topic(group, g.retry_queue_nums.max(1));
        }
        if queue_id >= tc.read_queue_nums.max(1) || queue_id < -1 {
            return Err(ConsumeRefusal::BadQueue { topic: topic.to_string(), queue_id, read_queues: tc.read_queue_nums });
        }
        Ok((tc, g.retry_max_times))
    }

    /// The filter of a subscription: a tag expression, or an SQL92 selector (`sql`) compiled
    /// once and cached.
    pub fn consume_filter(&self, group: &str, topic: &str, sql: bool, expr: &str) -> Result<Filter, ConsumeRefusal> {
        if !sql {
            return Ok(Filter::from_tag_expression(expr));
        }
        if !self.config().enable_property_filter {
            return Err(ConsumeRefusal::SqlDisabled);
        }
        self.sql_filter(group, topic, 0, expr).map(Filter::Sql).map_err(|e| ConsumeRefusal::BadFilter(expr.to_string(), e.to_string()))
    }
}

impl Core {
    /// A consumer gives up on a popped message (gRPC ForwardMessageToDeadLetterQueue): the
    /// in-flight entry of its receipt is acked, then the message is stored in `%DLQ%<group>`
    /// with its origin. `Ok(false)` when the receipt is stale (nothing moved).
    pub fn pop_to_dlq(&self, group: &str, topic: &str, queue_id: i32, offset: i64, pop_time: i64) -> Result<bool, PopError> {
        if self.pop_ack(group, topic, queue_id, &[(offset, pop_time)])? == 0 {
            return Ok(false);
        }
        let Some(raw) = read_one(&self.store, topic, queue_id, offset) else {
            return Ok(true);
        };
        let (m, _) = decode_stored(&raw).map_err(|e| PopError::Store(e.to_string()))?;
        let mut props = parse_properties(&m.properties);
        props.remove(PROP_POP_CK);
        if props.get(prop::ORIGIN_MESSAGE_ID).is_none() {
            props.insert(prop::ORIGIN_MESSAGE_ID, offset_msg_id(m.store_host, m.commit_log_offset));
        }
        if props.get(prop::RETRY_TOPIC).is_none() {
            props.insert(prop::RETRY_TOPIC, origin_topic(group, topic));
        }
        let dlq = format!("{DLQ_PREFIX}{group}");
        self.ensure_topic(&dlq, 1);
        let mut msg = super::message::restore(&m, dlq, 0, &props);
        msg.prepared_transaction_offset = 0;
        self.append(vec![msg]).map_err(|e| PopError::Store(e.to_string()))?;
        self.stats.to_dlq(group);
        tracing::info!(group, topic = %origin_topic(group, topic), offset, "message forwarded to the dead-letter queue by its consumer");
        Ok(true)
    }
}
