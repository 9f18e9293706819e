//! The name-server role: broker registrations, routes, KV config, broker expiry.
//!
//! [`RouteInfo`] is plain state (unit-tested without a runtime; time is passed in). The
//! `actors::namesrv` owns the expiry timer; request handlers live in `handlers/namesrv.rs`.
//!
//! A broker lives as long as the connection its registration arrived on, as with the Java name
//! server: when that connection closes ([`RouteInfo::connection_closed`]) the broker is dropped at
//! once; a broker that stays connected but falls silent is dropped after `brokerExpireTimeout`.
//!
//! Registrations are applied in data-version order: a broker's topic data is read only from a
//! registration whose data version (timestamp, then counter) is newer than the newest seen from
//! it, so a late, older registration never overwrites a newer topic table, and a periodic
//! re-registration at the same version does not undo WIPE_WRITE_PERM_OF_BROKER. Topic data is
//! merged (an incremental registration carries only the changed topics).
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
    /// The newest data version seen from this broker: (timestamp, counter).
    pub data_version: (i64, i64),
    /// The connection the latest registration arrived on (None: unknown, expiry only).
    pub conn: Option<u64>,
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
    /// The connection it arrived on.
    pub conn: Option<u64>,
}

/// What a registration did to the broker's topic data.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Applied {
    /// First registration of this address: topic data read.
    First,
    /// A newer data version: topic data read and merged.
    Newer,
    /// The same data version (a periodic heartbeat): topic data left as it is.
    Same,
    /// An older data version arriving late: topic data left as it is.
    Older,
}

impl RouteInfo {
    /// Apply a registration (topics are merged, never replaced wholesale; see the module docs).
    pub fn register(&mut self, r: Registration, now: Instant) -> Applied {
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
        let applied = match prev {
            None => Applied::First,
            Some(p) if r.data_version > p => Applied::Newer,
            Some(p) if r.data_version == p => Applied::Same,
            Some(_) => Applied::Older,
        };
        if r.broker_id == 0 && matches!(applied, Applied::First | Applied::Newer) {
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
        let data_version = match prev {
            Some(p) if p > r.data_version => p,
            _ => r.data_version,
        };
        self.live.insert(
            r.broker_addr.clone(),
            LiveBroker {
                last_update: now,
                broker_name: r.broker_name,
                cluster: r.cluster,
                broker_id: r.broker_id,
                ha_addr: r.ha_addr,
                data_version,
                conn: r.conn,
            },
        );
        applied
    }

    /// QUERY_DATA_VERSION: whether `version` differs from the newest seen from `broker_addr`
    /// (then the broker registers); an unchanged version counts as a sign of life. Returns that
    /// answer and the version known here, if any.
    pub fn query_data_version(&mut self, broker_addr: &str, version: (i64, i64), now: Instant) -> (bool, Option<(i64, i64)>) {
        match self.live.get_mut(broker_addr) {
            Some(l) if l.data_version == version => {
                l.last_update = now;
                (false, Some(version))
            }
            Some(l) => (true, Some(l.data_version)),
            None => (true, None),
        }
    }

    /// A connection closed: drop every broker whose latest registration arrived on it (a broker
    /// that re-registered over a newer connection stays). Returns the addresses dropped.
    pub fn connection_closed(&mut self, conn: u64) -> Vec<String> {
        let gone: Vec<String> =
            self.live.iter().filter(|(_, l)| l.conn == Some(conn)).map(|(a, _)| a.clone()).collect();
        for a in &gone {
            tracing::warn!(broker = %a, conn, "the broker's registration connection closed: removed from routes");
            self.unregister(a);
        }
        gone
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
            conn: None,
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

    fn queues(r: &RouteInfo, topic: &str) -> Option<i32> {
        r.route(topic).map(|route| route.queue_datas[0].write_queue_nums)
    }

    #[test]
    fn an_older_registration_never_overwrites_a_newer_topic_table() {
        let mut r = RouteInfo::default();
        let t0 = Instant::now();
        let mut newer = reg("a", "h:1", &[("T", 8)]);
        newer.data_version = (1_000, 5);
        assert_eq!(r.register(newer, t0), Applied::First);
        // an older one, arriving late (same timestamp, lower counter; then an older timestamp)
        let mut late = reg("a", "h:1", &[("T", 2), ("Gone", 1)]);
        late.data_version = (1_000, 4);
        assert_eq!(r.register(late, t0), Applied::Older);
        let mut later = reg("a", "h:1", &[("T", 2)]);
        later.data_version = (999, 9);
        assert_eq!(r.register(later, t0), Applied::Older, "the timestamp orders first");
        assert_eq!(queues(&r, "T"), Some(8), "the newer table stays");
        assert!(r.route("Gone").is_none());
        assert_eq!(r.live["h:1"].data_version, (1_000, 5), "the newest version is kept");
        // a newer one applies, and is merged with what is known
        let mut next = reg("a", "h:1", &[("U", 3)]);
        next.data_version = (1_000, 6);
        assert_eq!(r.register(next, t0), Applied::Newer);
        assert_eq!(queues(&r, "U"), Some(3));
        assert_eq!(queues(&r, "T"), Some(8));
        let mut same = reg("a", "h:1", &[("U", 1)]);
        same.data_version = (1_000, 6);
        assert_eq!(r.register(same, t0), Applied::Same);
        assert_eq!(queues(&r, "U"), Some(3), "the same version carries nothing new");
    }

    #[test]
    fn concurrent_incremental_registrations_each_keep_their_topic() {
        // two creates microseconds apart: each registration carries its own topic and a version
        // newer than the previous one; both topics stay routable through later full registrations
        let mut r = RouteInfo::default();
        let t0 = Instant::now();
        let mut full = reg("a", "h:1", &[("SYS", 1)]);
        full.data_version = (10, 1);
        r.register(full, t0);
        for (i, t) in ["A", "B"].iter().enumerate() {
            let mut inc = reg("a", "h:1", &[(t, 4)]);
            inc.data_version = (10, 2 + i as i64);
            assert_eq!(r.register(inc, t0), Applied::Newer);
        }
        let mut periodic = reg("a", "h:1", &[("SYS", 1), ("A", 4), ("B", 4)]);
        periodic.data_version = (10, 3);
        assert_eq!(r.register(periodic, t0 + Duration::from_secs(30)), Applied::Same);
        assert!(r.route("A").is_some() && r.route("B").is_some() && r.route("SYS").is_some());
    }

    #[test]
    fn query_data_version_answers_changed_and_refreshes_liveness() {
        let mut r = RouteInfo::default();
        let t0 = Instant::now();
        assert_eq!(r.query_data_version("h:1", (1, 1), t0), (true, None), "unknown broker: register");
        r.register(reg("a", "h:1", &[("T", 4)]), t0);
        assert_eq!(r.query_data_version("h:1", (1, 2), t0), (true, Some((1, 1))));
        let later = t0 + Duration::from_secs(100);
        assert_eq!(r.query_data_version("h:1", (1, 1), later), (false, Some((1, 1))));
        assert!(r.expire(t0 + Duration::from_secs(130), Duration::from_secs(120)).is_empty(), "the query kept it alive");
    }

    #[test]
    fn a_closed_registration_connection_drops_its_broker_only() {
        let mut r = RouteInfo::default();
        let t0 = Instant::now();
        let mut a = reg("a", "h:1", &[("T", 4)]);
        a.conn = Some(7);
        r.register(a, t0);
        let mut b = reg("b", "h:2", &[("T", 4)]);
        b.conn = Some(8);
        r.register(b, t0);
        assert!(r.connection_closed(99).is_empty(), "an unrelated connection");
        assert_eq!(r.connection_closed(7), vec!["h:1".to_string()]);
        let route = r.route("T").expect("b still serves T");
        assert_eq!(route.broker_datas.len(), 1);
        assert_eq!(route.broker_datas[0].broker_name, "b");
        // b re-registers over a new connection: the old one closing later does not drop it
        let mut again = reg("b", "h:2", &[("T", 4)]);
        again.conn = Some(9);
        r.register(again, t0);
        assert!(r.connection_closed(8).is_empty());
        assert!(r.route("T").is_some());
        assert_eq!(r.connection_closed(9), vec!["h:2".to_string()]);
        assert!(r.route("T").is_none());
        assert!(r.cluster_info().broker_addr_table.is_empty());
    }
}
