//! Who is connected (from heartbeats), their subscriptions, membership notifications, channel
//! expiry, and queue locks for ordered consumption.
//!
//! [`ClientRegistry`] is plain state behind a lock, read by pulls without an actor round trip;
//! the group-expiry actor calls [`ClientRegistry::expire`] on a timer. Mutations return the connections to notify, and
//! the caller sends NOTIFY_CONSUMER_IDS_CHANGED (oneway, best effort).
use super::ConnHandle;
use crate::codec::body::{ConsumerData, HeartbeatData, MessageQueue, SubscriptionData};
use crate::codec::codes::RequestCode;
use crate::codec::header::NotifyConsumerIdsChangedRequestHeader;
use crate::codec::RemotingCommand;
use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

/// One client connection registered in a group.
#[derive(Clone, Debug)]
pub struct ClientChannel {
    pub client_id: String,
    pub conn: ConnHandle,
    pub language: String,
    pub version: i32,
    pub last_update: Instant,
}

/// A consumer group as seen from heartbeats.
#[derive(Debug, Default)]
pub struct ConsumerGroupInfo {
    pub consume_type: String,
    pub message_model: String,
    pub consume_from_where: String,
    pub subscriptions: HashMap<String, SubscriptionData>,
    /// connection id -> channel
    pub channels: HashMap<u64, ClientChannel>,
}

#[derive(Debug, Default)]
pub struct ProducerGroupInfo {
    pub channels: HashMap<u64, ClientChannel>,
}

/// Every consumer and producer group with its live connections.
#[derive(Debug, Default)]
pub struct ClientRegistry {
    pub consumers: HashMap<String, ConsumerGroupInfo>,
    pub producers: HashMap<String, ProducerGroupInfo>,
}

/// Connections to notify that a group's membership changed.
pub type Notifications = Vec<(String, Vec<ConnHandle>)>;

impl ClientRegistry {
    /// Apply one heartbeat; returns the groups whose membership or topic set changed.
    pub fn heartbeat(
        &mut self,
        conn: &ConnHandle,
        language: &str,
        version: i32,
        hb: &HeartbeatData,
        now: Instant,
    ) -> Notifications {
        let mut notify = Vec::new();
        for p in &hb.producer_data_set {
            let g = self.producers.entry(p.group_name.clone()).or_default();
            g.channels.insert(conn.id, channel(conn, &hb.client_id, language, version, now));
        }
        for c in &hb.consumer_data_set {
            if self.consumer_heartbeat(conn, language, version, &hb.client_id, c, now) {
                notify.push((c.group_name.clone(), self.group_conns(&c.group_name)));
            }
        }
        notify
    }

    fn consumer_heartbeat(
        &mut self,
        conn: &ConnHandle,
        language: &str,
        version: i32,
        client_id: &str,
        c: &ConsumerData,
        now: Instant,
    ) -> bool {
        let g = self.consumers.entry(c.group_name.clone()).or_default();
        g.consume_type = c.consume_type.clone();
        g.message_model = c.message_model.clone();
        g.consume_from_where = c.consume_from_where.clone();
        let new_channel = match g.channels.get_mut(&conn.id) {
            Some(ch) => {
                ch.last_update = now;
                ch.client_id != client_id
            }
            None => true,
        };
        g.channels.insert(conn.id, channel(conn, client_id, language, version, now));
        let before: BTreeSet<String> = g.subscriptions.keys().cloned().collect();
        let mut seen = BTreeSet::new();
        for s in &c.subscription_data_set {
            seen.insert(s.topic.clone());
            match g.subscriptions.get(&s.topic) {
                Some(old) if old.sub_version >= s.sub_version => {}
                _ => {
                    g.subscriptions.insert(s.topic.clone(), s.clone());
                }
            }
        }
        g.subscriptions.retain(|t, _| seen.contains(t));
        new_channel || before != seen
    }

    /// A producer known through another protocol (a gRPC Telemetry stream) joins `group`: it is
    /// listed like a remoting producer and reached for transaction check-backs.
    pub fn add_producer(&mut self, group: &str, conn: &ConnHandle, client_id: &str, language: &str, now: Instant) {
        let g = self.producers.entry(group.to_string()).or_default();
        g.channels.insert(conn.id, channel(conn, client_id, language, 0, now));
    }

    /// A client id is alive (a gRPC Heartbeat): its channels are not expired.
    pub fn touch(&mut self, client_id: &str, now: Instant) {
        let producers = self.producers.values_mut().flat_map(|g| g.channels.values_mut());
        let consumers = self.consumers.values_mut().flat_map(|g| g.channels.values_mut());
        for ch in producers.chain(consumers).filter(|ch| ch.client_id == client_id) {
            ch.last_update = now;
        }
    }

    /// Remove a client from groups (UNREGISTER_CLIENT); returns groups to notify.
    pub fn unregister(
        &mut self,
        conn_id: u64,
        producer_group: Option<&str>,
        consumer_group: Option<&str>,
    ) -> Notifications {
        if let Some(pg) = producer_group {
            if let Some(g) = self.producers.get_mut(pg) {
                g.channels.remove(&conn_id);
                if g.channels.is_empty() {
                    self.producers.remove(pg);
                }
            }
        }
        let mut notify = Vec::new();
        if let Some(cg) = consumer_group {
            if self.remove_consumer_channel(cg, conn_id) {
                notify.push((cg.to_string(), self.group_conns(cg)));
            }
        }
        notify
    }

    fn remove_consumer_channel(&mut self, group: &str, conn_id: u64) -> bool {
        let Some(g) = self.consumers.get_mut(group) else { return false };
        let removed = g.channels.remove(&conn_id).is_some();
        if g.channels.is_empty() {
            self.consumers.remove(group);
        }
        removed
    }

    /// A connection closed: remove it everywhere.
    pub fn connection_closed(&mut self, conn_id: u64) -> Notifications {
        for g in self.producers.values_mut() {
            g.channels.remove(&conn_id);
        }
        self.producers.retain(|_, g| !g.channels.is_empty());
        let groups: Vec<String> = self
            .consumers
            .iter()
            .filter(|(_, g)| g.channels.contains_key(&conn_id))
            .map(|(n, _)| n.clone())
            .collect();
        let mut notify = Vec::new();
        for name in groups {
            if self.remove_consumer_channel(&name, conn_id) {
                notify.push((name.clone(), self.group_conns(&name)));
            }
        }
        notify
    }

    /// Drop channels silent for longer than `timeout`.
    pub fn expire(&mut self, now: Instant, timeout: Duration) -> Notifications {
        let stale = |ch: &ClientChannel| now.saturating_duration_since(ch.last_update) > timeout;
        for g in self.producers.values_mut() {
            g.channels.retain(|_, ch| !stale(ch));
        }
        self.producers.retain(|_, g| !g.channels.is_empty());
        let mut notify = Vec::new();
        let names: Vec<String> = self.consumers.keys().cloned().collect();
        for name in names {
            let Some(g) = self.consumers.get_mut(&name) else { continue };
            let before = g.channels.len();
            g.channels.retain(|_, ch| !stale(ch));
            if g.channels.len() != before {
                tracing::info!(group = %name, removed = before - g.channels.len(), "consumer channels expired");
                if g.channels.is_empty() {
                    self.consumers.remove(&name);
                } else {
                    notify.push((name.clone(), self.group_conns(&name)));
                }
            }
        }
        notify
    }

    fn group_conns(&self, group: &str) -> Vec<ConnHandle> {
        self.consumers
            .get(group)
            .map(|g| g.channels.values().map(|c| c.conn.clone()).collect())
            .unwrap_or_default()
    }

    /// Client ids of a group, sorted and de-duplicated (every member must see the same list).
    pub fn consumer_ids(&self, group: &str) -> Vec<String> {
        let set: BTreeSet<String> = self
            .consumers
            .get(group)
            .map(|g| g.channels.values().map(|c| c.client_id.clone()).collect())
            .unwrap_or_default();
        set.into_iter().collect()
    }

    pub fn subscription(&self, group: &str, topic: &str) -> Option<SubscriptionData> {
        self.consumers.get(group)?.subscriptions.get(topic).cloned()
    }

    /// A live producer connection of the group (transaction check-back), if any.
    pub fn producer_conn(&self, group: &str) -> Option<ConnHandle> {
        self.producers.get(group)?.channels.values().next().map(|c| c.conn.clone())
    }

    /// The producer connection of a client id (request-reply).
    pub fn producer_by_client_id(&self, client_id: &str) -> Option<ConnHandle> {
        self.producers
            .values()
            .flat_map(|g| g.channels.values())
            .find(|c| c.client_id == client_id)
            .map(|c| c.conn.clone())
    }

    /// A consumer connection by group and client id (admin relays).
    pub fn consumer_conn(&self, group: &str, client_id: &str) -> Option<ConnHandle> {
        self.consumers
            .get(group)?
            .channels
            .values()
            .find(|c| c.client_id == client_id)
            .map(|c| c.conn.clone())
    }
}

fn channel(conn: &ConnHandle, client_id: &str, language: &str, version: i32, now: Instant) -> ClientChannel {
    ClientChannel {
        client_id: client_id.to_string(),
        conn: conn.clone(),
        language: language.to_string(),
        version,
        last_update: now,
    }
}

/// Send NOTIFY_CONSUMER_IDS_CHANGED to every listed connection (oneway, best effort).
impl super::Core {
    /// Tell the members of groups whose membership changed, except groups that turned the
    /// notification off (`notifyConsumerIdsChangedEnable=false`).
    pub fn notify_members(&self, n: Notifications) {
        send_notifications(n.into_iter().filter(|(g, _)| self.groups.get(g).map(|c| c.notify_consumer_ids_changed_enable).unwrap_or(true)).collect());
    }
}

pub fn send_notifications(n: Notifications) {
    for (group, conns) in n {
        for c in conns {
            let mut cmd = RemotingCommand::oneway(
                RequestCode::NotifyConsumerIdsChanged.as_i32(),
                super::topics::next_opaque(),
            );
            cmd.set_header(&NotifyConsumerIdsChangedRequestHeader { consumer_group: group.clone() });
            c.send(cmd);
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Queue locks (LOCK_BATCH_MQ / UNLOCK_BATCH_MQ).

#[derive(Default)]
pub struct LockTable {
    locks: HashMap<(String, MessageQueue), (String, Instant)>,
}

impl LockTable {
    /// Grant or renew each queue that is free, expired or already ours; returns the granted set.
    pub fn lock(
        &mut self,
        group: &str,
        client_id: &str,
        mqs: &[MessageQueue],
        now: Instant,
        expire: Duration,
    ) -> Vec<MessageQueue> {
        let mut ok = Vec::new();
        for mq in mqs {
            let key = (group.to_string(), mq.clone());
            let grant = match self.locks.get(&key) {
                None => true,
                Some((owner, at)) => owner == client_id || now.saturating_duration_since(*at) > expire,
            };
            if grant {
                self.locks.insert(key, (client_id.to_string(), now));
                ok.push(mq.clone());
            }
        }
        ok
    }

    pub fn unlock(&mut self, group: &str, client_id: &str, mqs: &[MessageQueue]) {
        for mq in mqs {
            let key = (group.to_string(), mq.clone());
            if matches!(self.locks.get(&key), Some((owner, _)) if owner == client_id) {
                self.locks.remove(&key);
            }
        }
    }
}

/// Shared consumer-side state.
pub struct ClientState {
    pub registry: RwLock<ClientRegistry>,
    pub locks: Mutex<LockTable>,
}

impl ClientState {
    pub fn new() -> Arc<Self> {
        Arc::new(ClientState { registry: RwLock::new(ClientRegistry::default()), locks: Mutex::new(LockTable::default()) })
    }
}
