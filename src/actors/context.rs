//! Shared state of the broker role, handed to every connection.
use super::consumer_group::{ClientState, ConsumerGroupActor};
use super::queue::QueueActor;
use super::topic::{BrokerIdentity, RegisterNow, TopicActor, TopicTable};
use crate::config::BrokerConfig;
use crate::store::{GroupConfig, MessageStore, TopicConfig};
use actix::prelude::*;
use std::collections::HashMap;
use std::net::SocketAddr;
use crate::filter::sql92::{SqlFilter, SqlParseError};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Instant;

/// Subscription group configs (persisted in sled).
pub struct GroupTable {
    map: RwLock<HashMap<String, GroupConfig>>,
    store: Arc<MessageStore>,
}

/// A subscription group config with RocketMQ's defaults.
pub fn new_group(name: &str) -> GroupConfig {
    GroupConfig {
        group_name: name.to_string(),
        consume_enable: true,
        consume_from_min_enable: true,
        consume_broadcast_enable: true,
        retry_queue_nums: 1,
        retry_max_times: 16,
        broker_id: 0,
        which_broker_when_consume_slowly: 1,
        notify_consumer_ids_changed_enable: true,
    }
}

impl GroupTable {
    pub fn load(store: Arc<MessageStore>) -> Self {
        let map = store.meta().groups().into_iter().map(|g| (g.group_name.clone(), g)).collect();
        GroupTable { map: RwLock::new(map), store }
    }

    pub fn get(&self, name: &str) -> Option<GroupConfig> {
        self.map.read().ok()?.get(name).cloned()
    }

    /// The group's config, auto-created when allowed (groups `CID_RMQ_SYS_*` always are).
    pub fn get_or_create(&self, name: &str, auto_create: bool) -> Option<GroupConfig> {
        if let Some(g) = self.get(name) {
            return Some(g);
        }
        if !auto_create && !name.starts_with("CID_RMQ_SYS_") && !is_builtin_group(name) {
            return None;
        }
        let g = new_group(name);
        self.put(g.clone());
        Some(g)
    }

    pub fn put(&self, g: GroupConfig) {
        if let Err(e) = self.store.meta().put_group(&g) {
            tracing::error!(group = %g.group_name, error = %e, "failed to persist subscription group");
        }
        if let Ok(mut m) = self.map.write() {
            m.insert(g.group_name.clone(), g);
        }
    }

    pub fn remove(&self, name: &str) -> bool {
        let _ = self.store.meta().delete_group(name);
        self.map.write().map(|mut m| m.remove(name).is_some()).unwrap_or(false)
    }

    pub fn all(&self) -> Vec<GroupConfig> {
        let mut v: Vec<GroupConfig> =
            self.map.read().map(|m| m.values().cloned().collect()).unwrap_or_default();
        v.sort_by(|a, b| a.group_name.cmp(&b.group_name));
        v
    }
}

fn is_builtin_group(name: &str) -> bool {
    matches!(
        name,
        "TOOLS_CONSUMER"
            | "FILTERSRV_CONSUMER"
            | "SELF_TEST_C_GROUP"
            | "CID_ONS-HTTP-PROXY"
            | "CID_ONSAPI_PULL"
            | "CID_ONSAPI_PERMISSION"
            | "CID_ONSAPI_OWNER"
    )
}

/// Everything a broker connection needs.
pub struct BrokerContext {
    /// The live config; replaced whole on a runtime update, so readers copy a pointer.
    pub cfg: RwLock<Arc<BrokerConfig>>,
    pub identity: BrokerIdentity,
    pub store_host: SocketAddr,
    pub store: Arc<MessageStore>,
    pub topics: Arc<TopicTable>,
    pub groups: GroupTable,
    pub clients: Arc<ClientState>,
    pub topic_actor: Addr<TopicActor>,
    pub queue_actor: Addr<QueueActor>,
    /// Parked pulls (owned by the queue actor): wake-ups are sent only when it is not zero.
    pub pulls_waiting: Arc<std::sync::atomic::AtomicUsize>,
    pub group_actor: Addr<ConsumerGroupActor>,
    pub started_at: Instant,
    /// Compiled SQL92 selectors by (group, topic): (subscription version, expression, filter).
    pub sql_filters: Mutex<HashMap<(String, String), (i64, String, Arc<SqlFilter>)>>,
}

impl BrokerContext {
    /// The compiled selector of a subscription, compiled once per subscription version.
    pub fn sql_filter(&self, group: &str, topic: &str, version: i64, expr: &str) -> Result<Arc<SqlFilter>, SqlParseError> {
        let key = (group.to_string(), topic.to_string());
        if let Ok(cache) = self.sql_filters.lock() {
            if let Some((v, e, f)) = cache.get(&key) {
                if *v == version && e == expr {
                    return Ok(f.clone());
                }
            }
        }
        let f = Arc::new(SqlFilter::compile(expr)?);
        if let Ok(mut cache) = self.sql_filters.lock() {
            if cache.len() > 10_000 {
                cache.clear();
            }
            cache.insert(key, (version, expr.to_string(), f.clone()));
        }
        Ok(f)
    }

    /// A snapshot of the config (an `Arc` copy: sends and pulls read it on every request).
    pub fn config(&self) -> Arc<BrokerConfig> {
        self.cfg.read().map(|c| Arc::clone(&c)).unwrap_or_default()
    }

    /// Tell the queue actor that messages were stored, when any pull is parked.
    pub fn wake(&self, arrived: impl IntoIterator<Item = super::queue::Arrived>) {
        if self.pulls_waiting.load(std::sync::atomic::Ordering::SeqCst) == 0 {
            return;
        }
        for a in arrived {
            self.queue_actor.do_send(a);
        }
    }

    /// Register a topic change with the name servers at once.
    pub fn announce(&self, t: TopicConfig) {
        self.topic_actor.do_send(RegisterNow(Some(vec![t])));
    }

    /// `%RETRY%<group>` exists (created and announced when missing).
    pub fn ensure_retry_topic(&self, group: &str, queues: i32) -> TopicConfig {
        let name = format!("{}{}", super::topic::RETRY_PREFIX, group);
        let (tc, created) = self.topics.ensure(&name, queues.max(1), super::topic::perm::READ_WRITE);
        if created {
            self.announce(tc.clone());
        }
        tc
    }
}
