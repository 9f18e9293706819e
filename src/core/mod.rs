//! The broker's logic, free of sockets, actors and clocks (time is passed in).
//!
//! | file | what |
//! |---|---|
//! | `mod.rs` | [`Core`]: the shared tables, [`Core::append`] (store, then count and wake parked pulls, per queue) |
//! | `conn.rs` | [`ConnHandle`]: a client connection as an id, a peer and an [`Outlet`] |
//! | `topics.rs` | the topic table, system topic names, permissions, the registration request |
//! | `groups.rs` | subscription group configs |
//! | `clients.rs` | client registry (heartbeats), membership notifications, queue locks |
//! | `pop.rs` | POP consumption: pop, ack, change of invisible time, revive, FIFO, the journal |
//! | `pull.rs` | filters, [`pull::read_queue`] with a typed outcome, parked pulls, per-queue waiters |
//! | `redirect.rs` | where a message really goes: half (transaction), delay level, 5.x timer |
//! | `schedule.rs` | delivery of delayed messages (delay levels) when due; the timer wheel's tick |
//! | `timer/` | 5.x timer messages: indexed in the file-backed timing wheel, delivered when due (`mod.rs`); recall and the send result's handle (`recall.rs`) |
//! | `transaction.rs` | END_TRANSACTION's decision (exactly once), commit, check-back rounds |
//! | `message.rs` | index fields, re-storing a stored message |
//! | `namesrv.rs` | the name server's route table |
//! | `stats.rs` | traffic counters for metrics (stored, handed out, dead-lettered) |
//! | `progress.rs` | consumer groups' progress per queue, lag of online groups, reset offsets by time |
//! | `lookup.rs` | messages by key, id and queue offset, trace records, the console's test message |
//! | `history.rs` | the last hour of throughput and lag in ring buffers (console charts) |
//! | `slave_sync.rs` | a slave's copy of its master's topics, groups, consumer offsets and delay cursors |
//! | `ha.rs` | replication: connected slaves and their acknowledged offsets, SYNC_MASTER waits, a slave's master |
//! | `acl.rs` | ACL 1.0: who signed a request and whether the account holds what it needs |
//! | `settings.rs` | the config in force: stored overrides, runtime keys pushed to the store and the log filter |
//!
//! Wake-ups leave through [`Hooks`], which the actors implement; `core` imports no actor type.
pub mod acl;
pub mod clients;
pub mod conn;
pub mod consume;
pub mod groups;
pub mod ha;
pub mod history;
pub mod lookup;
pub mod message;
pub mod namesrv;
pub mod pop;
pub mod progress;
pub mod pull;
pub mod redirect;
pub mod schedule;
pub mod send;
pub mod settings;
pub mod slave_sync;
pub mod stats;
pub mod timer;
pub mod topics;
pub mod transaction;
#[cfg(test)]
pub(crate) mod tests;

pub use conn::{Answer, ConnHandle, Outlet};
pub use groups::{new_group, GroupTable};
pub use settings::{apply_live, with_overrides};

use crate::config::BrokerConfig;
use crate::filter::sql92::{SqlFilter, SqlParseError};
use crate::codec::body::DataVersion;
use crate::store::{MessageStore, NewMessage, PutOutcome, PutResult, StoreError, TopicConfig};
use clients::ClientState;
use pull::{Arrived, ParkedPull, Waiters};
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, OnceLock, RwLock};
use std::time::Instant;
use topics::{BrokerIdentity, TopicTable};

/// What the broker logic asks of the runtime around it (implemented by the actors).
pub trait Hooks: Send + Sync {
    /// Hold a pull until a message arrives in its queue or its deadline passes.
    fn park(&self, pull: ParkedPull);
    /// Messages were stored in a queue that has parked pulls.
    fn arrived(&self, a: Arrived);
    /// The topic table changed (its data version is now at least `up_to`): register the changes
    /// with the name servers now. The future completes when a registration carrying version
    /// `up_to` or later has been answered by every name server, or has failed, or after a bounded
    /// wait; dropping it does not cancel the registration.
    fn announce(&self, up_to: DataVersion) -> Announced;
    /// Hold a pop (long polling) until a message arrives in its topic or its deadline passes.
    fn park_pop(&self, pop: Box<pop::ParkedPop>);
    /// Parked pops of these topics should look again.
    fn wake_pops(&self, topics: Vec<String>);
}

/// Completes when a topic change has been registered with the name servers (see [`Hooks::announce`]).
pub type Announced = std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send>>;

/// Compiled SQL92 selectors by (group, topic): (subscription version, expression, filter).
type SqlCache = HashMap<(String, String), (i64, String, Arc<SqlFilter>)>;

/// One queue's share of an append: what its counters and wake-ups need (see [`Core::append`]).
struct PutRun {
    arrivals: Option<Vec<(i64, Option<Arc<str>>)>>,
    mtype: stats::MessageType,
    single: Option<usize>,
    batch: Vec<usize>,
}

/// The broker's shared state, handed to every connection and actor.
pub struct Core {
    /// The live config; replaced whole on a runtime update, so readers copy a pointer.
    pub cfg: RwLock<Arc<BrokerConfig>>,
    pub identity: BrokerIdentity,
    pub store_host: SocketAddr,
    pub store: Arc<MessageStore>,
    pub topics: Arc<TopicTable>,
    pub groups: GroupTable,
    pub clients: Arc<ClientState>,
    /// Parked pulls per queue (maintained by the parking side; parked pops count on queue -1).
    pub waiters: Waiters,
    /// POP consumption state.
    pub pop: pop::PopEngine,
    /// The timer wheel of 5.x timer messages.
    pub timers: timer::Timers,
    /// Traffic counters (metrics).
    pub stats: Arc<stats::Stats>,
    /// The last hour of throughput and lag (the console's charts).
    pub history: history::History,
    hooks: OnceLock<Arc<dyn Hooks>>,
    pub started_at: Instant,
    /// Compiled SQL92 selectors by (group, topic): (subscription version, expression, filter).
    sql_filters: Mutex<SqlCache>,
    /// ACL, when `aclEnable` (set once while wiring; unset = every request is served).
    acl: OnceLock<AclSetup>,
    /// Master/slave replication (`brokerRole`).
    pub replication: ha::Replication,
}

/// The ACL in force and the file it came from (admin updates write it back).
pub struct AclSetup {
    pub acl: Arc<acl::Acl>,
    pub path: std::path::PathBuf,
    /// One change at a time: read, change, write, put in force.
    changing: Mutex<()>,
}

impl AclSetup {
    pub fn new(acl: Arc<acl::Acl>, path: std::path::PathBuf) -> AclSetup {
        AclSetup { acl, path, changing: Mutex::new(()) }
    }

    /// Change the accounts: `f` maps the file in force to the next one, which is written to the
    /// file and then put in force. On error nothing changes.
    pub fn change(&self, now_ms: i64, f: impl FnOnce(&crate::config::acl::AclFile) -> Result<crate::config::acl::AclFile, String>) -> Result<(), String> {
        let _one = self.changing.lock().unwrap_or_else(|e| e.into_inner());
        let next = f(&self.acl.file())?;
        crate::store::acl_file::write(&self.path, &next)?;
        self.acl.replace(next, now_ms);
        Ok(())
    }

    /// Re-read the file (the watcher calls this when it changed): put it in force when it parses
    /// and differs from what is in force; a bad file is reported and the old accounts stay.
    pub fn reload(&self, now_ms: i64) -> Result<bool, String> {
        let _one = self.changing.lock().unwrap_or_else(|e| e.into_inner());
        let file = crate::store::acl_file::read(&self.path)?;
        if file == self.acl.file() {
            return Ok(false);
        }
        self.acl.replace(file, now_ms);
        Ok(true)
    }
}

impl Core {
    pub fn new(
        cfg: BrokerConfig,
        identity: BrokerIdentity,
        store_host: SocketAddr,
        store: Arc<MessageStore>,
        topics: Arc<TopicTable>,
    ) -> Core {
        let replication = ha::Replication::new(cfg.broker_role, cfg.ha_max_gap_not_in_sync);
        let limits = pop::PopLimits { inflight_per_queue: cfg.pop_inflight_message_threshold.max(1) as usize };
        Core {
            pop: pop::PopEngine::open(&store, limits),
            timers: timer::Timers::open(
                &store,
                cfg.timer_precision_ms as i64,
                cfg.timer_roll_window_slot as i64,
                now_ms(),
                cfg.broker_role == crate::config::BrokerRole::Slave,
            ),
            stats: Default::default(),
            history: Default::default(),
            cfg: RwLock::new(Arc::new(cfg)),
            identity,
            store_host,
            groups: GroupTable::load(store.clone()),
            store,
            topics,
            clients: ClientState::new(),
            waiters: Waiters::default(),
            hooks: OnceLock::new(),
            started_at: Instant::now(),
            sql_filters: Default::default(),
            acl: OnceLock::new(),
            replication,
        }
    }

    /// Turn ACL on (once, while wiring).
    pub fn set_acl(&self, setup: AclSetup) {
        let _ = self.acl.set(setup);
    }

    /// The ACL, when on: one atomic load on every request.
    pub fn acl(&self) -> Option<&AclSetup> {
        self.acl.get()
    }

    /// Connect the runtime (once, while wiring). Before this, wake-ups and announcements are
    /// dropped and pulls are not parked.
    pub fn set_hooks(&self, hooks: Arc<dyn Hooks>) {
        let _ = self.hooks.set(hooks);
    }

    /// A snapshot of the config (an `Arc` copy: sends and pulls read it on every request).
    pub fn config(&self) -> Arc<BrokerConfig> {
        self.cfg.read().map(|c| Arc::clone(&c)).unwrap_or_default()
    }

    /// Store messages in one store append (all stored or none), then count them and wake the
    /// pulls parked on their queues. A send (single or batch) is one run of one queue; a batch
    /// whose timer messages go to the timer topic, or a gRPC batch spread over queues, has several
    /// runs, each counted and woken on its own.
    pub fn append(&self, msgs: Vec<NewMessage>) -> Result<PutOutcome, StoreError> {
        self.append_at(msgs, now_ms())
    }

    /// [`Self::append`] with the store timestamp given (milliseconds since the epoch).
    pub fn append_at(&self, msgs: Vec<NewMessage>, now: i64) -> Result<PutOutcome, StoreError> {
        if self.replication.is_slave() {
            return Err(StoreError::ReadOnly);
        }
        if msgs.is_empty() {
            return self.store.put(msgs);
        }
        let run_end = |i: usize| {
            let (topic, queue_id) = (&msgs[i].topic, msgs[i].queue_id);
            i + msgs[i..].iter().take_while(|m| m.queue_id == queue_id && m.topic == *topic).count()
        };
        // The first run apart, so the common send builds no list.
        let end = run_end(0);
        let first = (0..end, self.before_put(&msgs[..end]));
        let mut more = Vec::new();
        let mut i = end;
        while i < msgs.len() {
            let end = run_end(i);
            more.push((i..end, self.before_put(&msgs[i..end])));
            i = end;
        }
        let outcome = self.store.put_all_at(&msgs, now)?;
        for (range, run) in std::iter::once(first).chain(more) {
            let m = &msgs[range.start];
            self.after_put(&m.topic, m.queue_id, run, &outcome.results[range]);
        }
        self.replication.written();
        Ok(outcome)
    }

    /// What the wake-ups and counters of a run of one queue need, taken before the put.
    fn before_put(&self, msgs: &[NewMessage]) -> PutRun {
        let first = &msgs[0];
        // What a waiter's filter needs (tags code, properties for SQL92), copied only when a pull
        // already waits on this queue: the common send allocates nothing for wake-ups.
        let arrivals = self
            .waiters
            .any(&first.topic, first.queue_id)
            .then(|| msgs.iter().map(|m| (m.tags_code, Some(Arc::from(m.properties.as_str())))).collect());
        let single = (msgs.len() == 1).then(|| first.body.len());
        let batch = if single.is_some() { Vec::new() } else { msgs.iter().map(|m| m.body.len()).collect() };
        PutRun { mtype: stats::message_type(first), arrivals, single, batch }
    }

    /// Count a stored run of `topic`'s queue `queue_id` and wake the pulls parked on it.
    fn after_put(&self, topic: &str, queue_id: i32, run: PutRun, results: &[PutResult]) {
        let PutRun { arrivals, mtype, single, batch } = run;
        let bytes: i64 = results.iter().map(|r| r.size as i64).sum();
        self.stats.stored(topic, results.len() as u64, bytes.max(0) as u64, mtype, single.into_iter().chain(batch));
        if self.waiters.any(topic, queue_id) {
            if let Some(h) = self.hooks.get() {
                // A pull that parked during the put gets one wake-up that matches any filter
                // (tags code 0, no properties): its read applies the real filter and re-parks it.
                let arrivals = arrivals.unwrap_or_else(|| vec![(0, None)]);
                for (tags_code, properties) in arrivals {
                    h.arrived(Arrived { topic: topic.to_string(), queue_id, tags_code, properties });
                }
            }
        }
    }

    /// Slave: append the master's commit-log bytes at `offset`, then wake the pulls parked on
    /// the queues that got messages (each wake-up matches any filter; the read applies it).
    pub fn replicate(&self, offset: i64, data: &[u8]) -> Result<(), StoreError> {
        let queues = self.store.replica_append(offset, data)?;
        self.topics_for_replicated(&queues);
        if let Some(h) = self.hooks.get() {
            for (topic, queue_id) in queues {
                if self.waiters.any(&topic, queue_id) {
                    h.arrived(Arrived { topic, queue_id, tags_code: 0, properties: None });
                }
            }
        }
        Ok(())
    }

    /// A slave serves what it has: a topic that reaches it through the log before the metadata
    /// sync brings its config (created on the master moments ago) gets one with enough queues
    /// (the default count, as recovery recreates lost configs); the next sync replaces it.
    fn topics_for_replicated(&self, queues: &[(String, i32)]) {
        let default = self.config().default_topic_queue_nums;
        for (topic, queue_id) in queues {
            let known = self.topics.get(topic).map(|t| t.read_queue_nums.max(t.write_queue_nums));
            if known.is_some_and(|n| *queue_id < n) || topics::SEND_FORBIDDEN.contains(&topic.as_str()) {
                continue;
            }
            let system = topic.starts_with(topics::RETRY_PREFIX) || topic.starts_with(topics::DLQ_PREFIX);
            let n = (queue_id + 1).max(if system { 1 } else { default }).max(known.unwrap_or(0)).clamp(1, 1024);
            self.topics.put(topics::new_topic(topic, n, topics::perm::READ_WRITE));
            drop(self.announce());
        }
    }

    /// Hold a pull with the parking actor; false when there is none (not wired).
    pub fn park(&self, pull: ParkedPull) -> bool {
        match self.hooks.get() {
            Some(h) => {
                h.park(pull);
                true
            }
            None => false,
        }
    }

    /// Register the topic table's changes with the name servers at once. Await the result to
    /// answer only once the name servers know the change (UPDATE_AND_CREATE_TOPIC), or drop it
    /// (auto-created and retry topics, as the Java broker's one-way registration).
    pub fn announce(&self) -> Announced {
        match self.hooks.get() {
            Some(h) => h.announce(self.topics.data_version()),
            None => Box::pin(std::future::ready(())),
        }
    }

    /// `%RETRY%<group>` exists (created and announced when missing).
    pub fn ensure_retry_topic(&self, group: &str, queues: i32) -> TopicConfig {
        let name = format!("{}{}", topics::RETRY_PREFIX, group);
        self.ensure_topic(&name, queues.max(1))
    }

    /// A system-made topic (retry, DLQ) exists, read-write; announced when created.
    pub fn ensure_topic(&self, name: &str, queues: i32) -> TopicConfig {
        let (tc, created) = self.topics.ensure(name, queues, topics::perm::READ_WRITE);
        if created {
            drop(self.announce());
        }
        tc
    }

    /// A connection closed: forget its clients and tell the groups it was in.
    pub fn connection_closed(&self, conn_id: u64) {
        let n = match self.clients.registry.write() {
            Ok(mut r) => r.connection_closed(conn_id),
            Err(_) => return,
        };
        clients::send_notifications(n);
    }

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
}

/// Milliseconds since the epoch: read by the outer floors and passed into the logic.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_millis() as i64).unwrap_or(0)
}
