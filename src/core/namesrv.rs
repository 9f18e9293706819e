//! The name-server role: broker registrations, routes, KV config, broker expiry.
//!
//! [`RouteInfo`] is plain state (unit-tested without a runtime; time is passed in). The
//! `actors::namesrv` owns the expiry timer; request handlers live in `handlers/namesrv.rs`.
use crate::codec::body::{BrokerData, ClusterInfo, QueueData, TopicConfigWire, TopicRouteData};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// What the name server knows about one registered broker address.
#[derive(Debug, Clone)]
pub struct LiveBroker {
    pub last_update: Instant,
    pub broker_name: String,
    pub cluster: String,
    pub broker_id: i64,
    pub ha_addr: String,
    pub data_version: (i64, i64),
}

/// The name server's tables.
#[derive(Default, Debug)]
pub struct RouteInfo {
    /// topic -> brokerName -> queue data
    pub topic_queues: BTreeMap<String, BTreeMap<String, QueueData>>,
    /// brokerName -> broker data
    pub brokers: BTreeMap<String, BrokerData>,
    /// cluster -> brokerNames
    pub clusters: BTreeMap<String, BTreeSet<String>>,
    /// brokerAddr -> liveness
    pub live: HashMap<String, LiveBroker>,
    /// namespace -> key -> value
    pub kv: BTreeMap<String, BTreeMap<String, String>>,
}

/// A registration, as decoded from REGISTER_BROKER.
pub struct Registration {
    pub cluster: String,
    pub broker_name: String,
    pub broker_addr: String,
    pub broker_id: i64,
    pub ha_addr: String,
    pub data_version: (i64, i64),
    pub topics: Vec<TopicConfigWire>,
}

impl RouteInfo {
    /// Apply a registration (topics are merged, never replaced wholesale).
    pub fn register(&mut self, r: Registration, now: Instant) {
        self.clusters.entry(r.cluster.clone()).or_default().insert(r.broker_name.clone());
        let bd = self.brokers.entry(r.broker_name.clone()).or_insert_with(|| BrokerData {
            cluster: r.cluster.clone(),
            broker_name: r.broker_name.clone(),
            broker_addrs: BTreeMap::new(),
        });
        bd.cluster = r.cluster.clone();
        bd.broker_addrs.retain(|id, addr| *addr != r.broker_addr || *id == r.broker_id);
        bd.broker_addrs.insert(r.broker_id, r.broker_addr.clone());
        let prev = self.live.get(&r.broker_addr).map(|l| l.data_version);
        let changed = prev != Some(r.data_version) || prev.is_none();
        // As the Java name server: topic data is re-read only when the broker's data version
        // changed (or on its first registration), so a periodic re-registration does not undo
        // WIPE_WRITE_PERM_OF_BROKER.
        if r.broker_id == 0 && changed {
            for t in &r.topics {
                self.topic_queues.entry(t.topic_name.clone()).or_default().insert(
                    r.broker_name.clone(),
                    QueueData {
                        broker_name: r.broker_name.clone(),
                        read_queue_nums: t.read_queue_nums,
                        write_queue_nums: t.write_queue_nums,
                        perm: t.perm,
                        topic_sys_flag: t.topic_sys_flag,
                    },
                );
            }
        }
        self.live.insert(
            r.broker_addr.clone(),
            LiveBroker {
                last_update: now,
                broker_name: r.broker_name,
                cluster: r.cluster,
                broker_id: r.broker_id,
                ha_addr: r.ha_addr,
                data_version: r.data_version,
            },
        );
    }

    /// Remove one broker address; drops the broker name and its queues when no address is left.
    pub fn unregister(&mut self, broker_addr: &str) {
        let Some(live) = self.live.remove(broker_addr) else { return };
        let mut gone = false;
        if let Some(bd) = self.brokers.get_mut(&live.broker_name) {
            bd.broker_addrs.retain(|_, a| a != broker_addr);
            gone = bd.broker_addrs.is_empty();
        }
        if gone {
            self.brokers.remove(&live.broker_name);
            if let Some(set) = self.clusters.get_mut(&live.cluster) {
                set.remove(&live.broker_name);
                if set.is_empty() {
                    self.clusters.remove(&live.cluster);
                }
            }
            for queues in self.topic_queues.values_mut() {
                queues.remove(&live.broker_name);
            }
            self.topic_queues.retain(|_, q| !q.is_empty());
        }
        tracing::info!(broker = %broker_addr, name = %live.broker_name, "broker unregistered");
    }

    /// Drop brokers not heard from within `timeout`; returns the addresses dropped.
    pub fn expire(&mut self, now: Instant, timeout: Duration) -> Vec<String> {
        let dead: Vec<String> = self
            .live
            .iter()
            .filter(|(_, l)| now.saturating_duration_since(l.last_update) > timeout)
            .map(|(a, _)| a.clone())
            .collect();
        for a in &dead {
            tracing::warn!(broker = %a, "broker expired: no registration within {:?}", timeout);
            self.unregister(a);
        }
        dead
    }

    /// The route of a topic, or None when it has no queue data or no broker data.
    pub fn route(&self, topic: &str) -> Option<TopicRouteData> {
        let queues = self.topic_queues.get(topic)?;
        let mut queue_datas = Vec::new();
        let mut broker_datas = Vec::new();
        for (name, qd) in queues {
            if let Some(bd) = self.brokers.get(name) {
                queue_datas.push(qd.clone());
                broker_datas.push(bd.clone());
            }
        }
        if queue_datas.is_empty() || broker_datas.is_empty() {
            return None;
        }
        let order_topic_conf = self.kv.get("ORDER_TOPIC_CONFIG").and_then(|m| m.get(topic)).cloned();
        Some(TopicRouteData {
            order_topic_conf,
            queue_datas,
            broker_datas,
            filter_server_table: BTreeMap::new(),
        })
    }

    pub fn cluster_info(&self) -> ClusterInfo {
        ClusterInfo {
            broker_addr_table: self.brokers.clone(),
            cluster_addr_table: self
                .clusters
                .iter()
                .map(|(c, s)| (c.clone(), s.iter().cloned().collect()))
                .collect(),
        }
    }

    pub fn topics(&self) -> Vec<String> {
        self.topic_queues.keys().cloned().collect()
    }

    pub fn topics_of_cluster(&self, cluster: &str) -> Vec<String> {
        let names = self.clusters.get(cluster).cloned().unwrap_or_default();
        self.topic_queues
            .iter()
            .filter(|(_, q)| q.keys().any(|b| names.contains(b)))
            .map(|(t, _)| t.clone())
            .collect()
    }

    pub fn delete_topic(&mut self, topic: &str) -> bool {
        self.topic_queues.remove(topic).is_some()
    }

    /// Set or clear the WRITE bit of every queue of a broker; returns the topics touched.
    pub fn set_write_perm(&mut self, broker_name: &str, writable: bool) -> usize {
        let mut n = 0;
        for q in self.topic_queues.values_mut() {
            if let Some(qd) = q.get_mut(broker_name) {
                if writable {
                    qd.perm |= 2;
                } else {
                    qd.perm &= !2;
                }
                n += 1;
            }
        }
        n
    }
}

/// Shared state of the name-server role.
pub struct NamesrvContext {
    pub routes: Mutex<RouteInfo>,
    pub broker_expire: Duration,
}

impl NamesrvContext {
    pub fn new(broker_expire: Duration) -> Arc<Self> {
        Arc::new(NamesrvContext { routes: Mutex::new(RouteInfo::default()), broker_expire })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reg(name: &str, addr: &str, topics: &[(&str, i32)]) -> Registration {
        Registration {
            cluster: "C".into(),
            broker_name: name.into(),
            broker_addr: addr.into(),
            broker_id: 0,
            ha_addr: String::new(),
            data_version: (1, 1),
            topics: topics
                .iter()
                .map(|(t, q)| TopicConfigWire {
                    topic_name: t.to_string(),
                    read_queue_nums: *q,
                    write_queue_nums: *q,
                    perm: 6,
                    topic_filter_type: "SINGLE_TAG".into(),
                    topic_sys_flag: 0,
                    order: false,
                })
                .collect(),
        }
    }

    #[test]
    fn two_brokers_share_a_topic_and_expire() {
        let mut r = RouteInfo::default();
        let t0 = Instant::now();
        r.register(reg("a", "127.0.0.1:1", &[("T", 4)]), t0);
        r.register(reg("b", "127.0.0.1:2", &[("T", 2)]), t0 + Duration::from_secs(100));
        let route = r.route("T").expect("route");
        assert_eq!(route.queue_datas.len(), 2);
        assert_eq!(route.broker_datas.len(), 2);
        let dead = r.expire(t0 + Duration::from_secs(130), Duration::from_secs(120));
        assert_eq!(dead, vec!["127.0.0.1:1".to_string()]);
        let route = r.route("T").expect("route");
        assert_eq!(route.broker_datas[0].broker_name, "b");
        assert!(r.route("X").is_none());
    }

    #[test]
    fn wiped_write_permission_survives_periodic_reregistration() {
        let mut r = RouteInfo::default();
        let t0 = Instant::now();
        r.register(reg("a", "h:1", &[("T", 4)]), t0);
        assert_eq!(r.set_write_perm("a", false), 1);
        r.register(reg("a", "h:1", &[("T", 4)]), t0 + Duration::from_secs(30)); // same data version
        assert_eq!(r.route("T").unwrap().queue_datas[0].perm & 2, 0, "still not writable");
        let mut changed = reg("a", "h:1", &[("T", 4)]);
        changed.data_version = (2, 2);
        r.register(changed, t0 + Duration::from_secs(60));
        assert_eq!(r.route("T").unwrap().queue_datas[0].perm & 2, 2, "a changed topic table applies");
    }

    #[test]
    fn incremental_registration_merges() {
        let mut r = RouteInfo::default();
        let t0 = Instant::now();
        r.register(reg("a", "h:1", &[("T1", 4)]), t0);
        let mut second = reg("a", "h:1", &[("T2", 1)]);
        second.data_version = (2, 2);
        r.register(second, t0);
        assert!(r.route("T1").is_some());
        assert!(r.route("T2").is_some());
        assert_eq!(r.topics_of_cluster("C"), vec!["T1".to_string(), "T2".to_string()]);
    }
}
