//! The checks before a POP-style read, shared by the remoting (POP_MESSAGE, NOTIFICATION, ...)
//! and the gRPC (ReceiveMessage) front ends: group, topic, permission, queue id, and the
//! subscription's filter. Each front end maps a [`ConsumeRefusal`] to its own codes.
use super::pull::Filter;
use super::topics::{perm, validate_topic_name, RETRY_PREFIX};
use super::Core;
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
