//! `core` driven without a runtime: a store in a temporary directory, hooks that record what
//! would have reached the actors, and time passed in.
use super::pull::{Arrived, ParkedPull};
use super::schedule::Scheduler;
use super::topics::{new_topic, BrokerIdentity, SCHEDULE_TOPIC, TopicTable};
use super::{now_ms, Core, Hooks};
use crate::codec::body::DataVersion;
use crate::codec::message::{parse_properties, prop, Properties};
use crate::store::{FlushMode, MessageStore, NewMessage, StoreConfig};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// A client connection that records what the broker sends it and acknowledges requests.
#[derive(Default)]
pub(crate) struct Recorder(pub Mutex<Vec<crate::codec::command::RemotingCommand>>);

impl super::Outlet for Recorder {
    fn send(&self, cmd: crate::codec::command::RemotingCommand) {
        self.0.lock().unwrap().push(cmd);
    }
    fn request(&self, cmd: crate::codec::command::RemotingCommand, _: Duration) -> super::Answer {
        let ok = crate::codec::command::RemotingCommand::response_to(&cmd, crate::codec::codes::response_code::SUCCESS, None);
        self.0.lock().unwrap().push(cmd);
        Box::pin(async move { Some(ok) })
    }
    fn connected(&self) -> bool {
        true
    }
}

/// A `Core` over a fresh store in `dir`, with topics `T` (4 queues) and the schedule topic.
pub(crate) fn test_core(dir: &std::path::Path, flush: FlushMode) -> Core {
    let host: std::net::SocketAddr = "127.0.0.1:10911".parse().unwrap();
    let mut sc = StoreConfig::new(dir.to_path_buf(), host);
    sc.flush_mode = flush;
    sc.sync_flush_timeout = Duration::from_millis(50);
    sc.sled_cache_bytes = 1 << 20;
    let store = MessageStore::open(sc).unwrap();
    let topics = Arc::new(TopicTable::load(store.clone()));
    topics.put(new_topic("T", 4, 6));
    topics.put(new_topic(SCHEDULE_TOPIC, 18, 6));
    let id = BrokerIdentity {
        cluster: "c".into(),
        broker_name: "b".into(),
        broker_id: 0,
        broker_addr: host.to_string(),
        ha_addr: String::new(),
    };
    Core::new(Default::default(), id, host, store, topics)
}

pub(crate) fn message(topic: &str, queue_id: i32, body: &str, props: &Properties) -> NewMessage {
    let (tags_code, keys, uniq_key) = super::message::index_fields(props);
    NewMessage {
        topic: topic.into(),
        queue_id,
        flag: 0,
        sys_flag: 0,
        born_timestamp: 1,
        born_host: "127.0.0.1:5000".parse().unwrap(),
        reconsume_times: 0,
        prepared_transaction_offset: 0,
        body: bytes::Bytes::copy_from_slice(body.as_bytes()),
        properties: props.encode(),
        tags_code,
        keys,
        uniq_key,
    }
}

/// Records what `core` hands to the actors.
#[derive(Default)]
struct Recorded {
    arrived: Mutex<Vec<Arrived>>,
    announced: Mutex<Vec<DataVersion>>,
}

impl Hooks for Recorded {
    fn park(&self, _: ParkedPull) {}
    fn arrived(&self, a: Arrived) {
        self.arrived.lock().unwrap().push(a);
    }
    fn announce(&self, up_to: DataVersion) -> crate::core::Announced {
        self.announced.lock().unwrap().push(up_to);
        Box::pin(std::future::ready(()))
    }
    fn park_pop(&self, _: Box<super::pop::ParkedPop>) {}
    fn wake_pops(&self, _: Vec<String>) {}
}

fn hooked(core: &Core) -> Arc<Recorded> {
    let r = Arc::new(Recorded::default());
    core.set_hooks(r.clone());
    r
}

#[test]
fn append_wakes_only_the_queue_that_has_a_waiter() {
    let dir = tempfile::tempdir().unwrap();
    let core = test_core(dir.path(), FlushMode::Async);
    let rec = hooked(&core);
    let mut p = Properties::new();
    p.insert(prop::TAGS, "a");
    core.append(vec![message("T", 0, "nobody waits", &p)]).unwrap();
    assert!(rec.arrived.lock().unwrap().is_empty(), "no waiter anywhere: no wake-up");
    core.waiters.add("T", 1);
    core.append(vec![message("T", 0, "waiter elsewhere", &p)]).unwrap();
    assert!(rec.arrived.lock().unwrap().is_empty(), "a waiter on queue 1 does not wake queue 0");
    core.append(vec![message("T", 1, "for the waiter", &p), message("T", 1, "and again", &p)]).unwrap();
    let got = rec.arrived.lock().unwrap().clone();
    assert_eq!(got.len(), 2, "one wake-up per stored message of the waited queue");
    assert!(got.iter().all(|a| a.topic == "T" && a.queue_id == 1));
    assert_eq!(got[0].tags_code, crate::codec::message::tag_hash_code("a"));
    assert!(got[0].properties.as_deref().is_some_and(|s| s.contains("TAGS")), "properties for SQL92 waiters");
}

#[test]
fn retry_topic_is_created_once_and_announced() {
    let dir = tempfile::tempdir().unwrap();
    let core = test_core(dir.path(), FlushMode::Async);
    let rec = hooked(&core);
    core.topics.take_registration(true);
    core.ensure_retry_topic("g", 1);
    core.ensure_retry_topic("g", 1);
    assert_eq!(*rec.announced.lock().unwrap(), vec![core.topics.data_version()], "announced once, at the version that made it");
    assert!(core.topics.take_registration(false).topics.iter().map(|t| t.topic_name.as_str()).eq(["%RETRY%g"]));
}

#[test]
fn delayed_message_is_delivered_when_due_and_wakes_its_queue() {
    let dir = tempfile::tempdir().unwrap();
    let core = test_core(dir.path(), FlushMode::Async);
    let rec = hooked(&core);
    let levels = vec![Duration::from_secs(1), Duration::from_secs(5)];
    let mut p = Properties::new();
    p.insert(prop::DELAY, "2");
    let mut m = message("T", 3, "later", &p);
    let now = now_ms();
    assert!(super::redirect::redirect_delayed(&mut m, &levels, &|| now));
    assert_eq!((&*m.topic, m.queue_id), (SCHEDULE_TOPIC, 1));
    core.append(vec![m]).unwrap();
    core.waiters.add("T", 3);
    let mut s = Scheduler::new(&core, levels);
    assert_eq!(s.run_level(&core, 2, now + 1_000), 0, "not due after 1 s");
    assert_eq!(core.store.max_offset("T", 3), 0);
    assert_eq!(s.run_level(&core, 2, now + 6_000), 1, "due after 5 s");
    assert_eq!(core.store.max_offset("T", 3), 1);
    let delivered = core.store.get("T", 3, 0, 1, 1 << 20, &|_| true);
    let (sm, _) = crate::codec::stored::decode_stored(&delivered.messages[0]).unwrap();
    let props = parse_properties(&sm.properties);
    assert_eq!(props.get(prop::DELAY), None);
    assert_eq!(props.get(prop::REAL_TOPIC), Some("T"), "kept, as the Java broker does for delayed messages");
    assert_eq!(rec.arrived.lock().unwrap().len(), 1, "the delivery woke the waiting queue");
    assert_eq!(s.run_level(&core, 2, now + 7_000), 0, "delivered once");
}

fn version(v: &DataVersion) -> (i64, i64) {
    (v.timestamp, v.counter)
}

#[test]
fn every_topic_change_raises_the_data_version_and_is_registered_once() {
    let dir = tempfile::tempdir().unwrap();
    let core = test_core(dir.path(), FlushMode::Async);
    let t = &core.topics;
    let first = t.take_registration(true);
    assert!(first.topics.iter().any(|x| x.topic_name == "T"), "a full registration carries every topic");
    assert!(t.take_registration(false).topics.is_empty(), "nothing changed since");
    let v0 = version(&t.data_version());
    assert!(t.put(new_topic("A", 2, 6)));
    let v1 = version(&t.data_version());
    assert!(!t.put(new_topic("A", 2, 6)), "the same config is no change");
    assert_eq!(version(&t.data_version()), v1);
    assert!(t.put(new_topic("B", 2, 6)));
    let v2 = version(&t.data_version());
    assert!(v0 < v1 && v1 < v2, "strictly increasing: {v0:?} {v1:?} {v2:?}");
    let inc = t.take_registration(false);
    assert_eq!(version(&inc.version), v2);
    let names: Vec<&str> = inc.topics.iter().map(|x| x.topic_name.as_str()).collect();
    assert_eq!(names, ["A", "B"], "both changes, in one registration at the version covering them");
    assert!(t.take_registration(false).topics.is_empty());
    assert!(t.remove("A"));
    assert!(version(&t.data_version()) > v2, "a deletion is a change too");
    assert!(t.take_registration(false).topics.is_empty(), "a deleted topic has no config to carry");
}
