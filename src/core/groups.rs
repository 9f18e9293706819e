//! Subscription group configs (persisted in sled through the store).
use crate::store::{GroupConfig, MessageStore};
use std::collections::HashMap;
use std::sync::{Arc, RwLock};

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
        consume_message_orderly: false,
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

