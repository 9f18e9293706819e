//! Wiring, and the embedding API: start a name server and/or broker on given or ephemeral
//! addresses, learn the bound addresses, shut down (also on drop).
//!
//! ```no_run
//! use ferrocket::broker::{Server, ServerOptions};
//! let server = Server::start(ServerOptions::dev(None)).unwrap();
//! println!("namesrv at {}", server.namesrv_addr().unwrap());
//! ```
//! [`TestBroker`] (in `embedded`) adds a builder, temporary data, restart and crash for tests.
//!
//! Everything runs on its own thread with its own actix System, so any test runtime can use it.
//! Worker arbiters (one per core) carry the connections; the System thread runs the actors
//! (`crate::actors`: queue, scheduler, transaction checker, group expiry, registrar, name-server
//! expiry) and the accept loops.
use crate::actors::group_expiry::GroupExpiryActor;
use crate::actors::namesrv::NamesrvActor;
use crate::actors::queue::{Drain, QueueActor};
use crate::actors::registrar::{RegisterNow, RegistrarActor, Unregister};
use crate::actors::scheduler::SchedulerActor;
use crate::actors::transaction::TransactionActor;
use crate::actors::ActorHooks;
use crate::core::namesrv::NamesrvContext;
use crate::core::topics::{self as topic, perm, BrokerIdentity, TopicTable};
use crate::core::Core;
use crate::handlers::Service;
use crate::net::connection::{Limits, Totals};
use crate::net::listener::spawn_listener;
use crate::config::{BrokerConfig, FlushDiskType};
use crate::store::{FlushMode, MessageStore, StoreConfig, StoreError};
use actix::prelude::*;
use std::net::{IpAddr, Ipv4Addr, SocketAddr, TcpListener};
use std::path::PathBuf;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};
use tokio::sync::oneshot;

mod embedded;
pub use embedded::{TestBroker, TestBrokerBuilder};

/// Errors starting or running a server.
#[derive(Debug, thiserror::Error)]
pub enum BrokerError {
    #[error("cannot listen on {addr}: {source}")]
    Bind { addr: SocketAddr, source: std::io::Error },
    #[error("invalid configuration: {0}")]
    Config(#[from] crate::config::ConfigError),
    #[error("cannot open the data directory: {0}")]
    Store(#[from] StoreError),
    #[error("{0}")]
    Other(String),
}

/// What to run and where.
#[derive(Clone, Debug)]
pub struct ServerOptions {
    pub config: BrokerConfig,
    /// Run the name-server role in this process (on `config.namesrv_listen_port`).
    pub namesrv: bool,
    /// Run the broker role.
    pub broker: bool,
    /// Address to bind listeners on.
    pub bind_ip: IpAddr,
    /// Worker threads for connections (default: number of cores).
    pub workers: usize,
    /// Topics (name, queues) created before the first registration, so they are routable when
    /// `start` returns.
    pub topics: Vec<(String, i32)>,
    /// Subscription groups created at start.
    pub groups: Vec<String>,
    /// The gRPC port, overriding `grpcServerPort`: `Some(0)` = ephemeral (tests, `ferrocket dev`);
    /// `None` = the config's (where 0 = no gRPC endpoint).
    pub grpc_port: Option<u16>,
    /// The web console's port, overriding `consolePort`: `Some(0)` = ephemeral (`ferrocket dev`);
    /// `None` = the config's (where 0 = no console).
    pub console_port: Option<u16>,
}

impl ServerOptions {
    pub fn standalone(config: BrokerConfig) -> Self {
        ServerOptions {
            config,
            namesrv: true,
            broker: true,
            bind_ip: IpAddr::V4(Ipv4Addr::UNSPECIFIED),
            workers: default_workers(),
            topics: Vec::new(),
            groups: Vec::new(),
            grpc_port: None,
            console_port: None,
        }
    }

    /// Name server and broker on ephemeral 127.0.0.1 ports with a data dir (a fresh temp dir when
    /// `None`): what tests and `ferrocket dev` use.
    pub fn dev(data_dir: Option<PathBuf>) -> Self {
        let config = BrokerConfig {
            listen_port: 0,
            namesrv_listen_port: 0,
            vip_channel_enabled: false,
            broker_ip1: "127.0.0.1".into(),
            mapped_file_size_commit_log: 64 * 1024 * 1024,
            store_path_root_dir: data_dir.unwrap_or_else(fresh_temp_dir),
            ..Default::default()
        };
        ServerOptions {
            config,
            namesrv: true,
            broker: true,
            bind_ip: IpAddr::V4(Ipv4Addr::LOCALHOST),
            workers: default_workers(),
            topics: Vec::new(),
            groups: Vec::new(),
            grpc_port: Some(0),
            console_port: Some(0),
        }
    }
}

fn default_workers() -> usize {
    std::thread::available_parallelism().map(|n| n.get()).unwrap_or(2).clamp(1, 16)
}

fn fresh_temp_dir() -> PathBuf {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    std::env::temp_dir().join(format!("ferrocket-dev-{}-{}", std::process::id(), nanos))
}

/// A running name server and/or broker.
pub struct Server {
    namesrv_addr: Option<SocketAddr>,
    metrics_addr: Option<SocketAddr>,
    broker_addr: Option<SocketAddr>,
    grpc_addr: Option<SocketAddr>,
    console_addr: Option<SocketAddr>,
    ha_addr: Option<SocketAddr>,
    data_dir: PathBuf,
    stop: Option<oneshot::Sender<StopMode>>,
    thread: Option<JoinHandle<()>>,
}

struct Bound {
    namesrv: Option<TcpListener>,
    broker: Option<TcpListener>,
    vip: Option<TcpListener>,
    /// `/metrics`, `/healthz`, `/readyz` (metricsExporterType=PROM).
    metrics: Option<std::net::TcpListener>,
    grpc: Option<TcpListener>,
    /// The web console (consolePort).
    console: Option<std::net::TcpListener>,
    /// The HA port a master serves its slaves on (haListenPort).
    ha: Option<TcpListener>,
}

fn bind(ip: IpAddr, port: u16) -> Result<TcpListener, BrokerError> {
    let addr = SocketAddr::new(ip, port);
    TcpListener::bind(addr).map_err(|source| BrokerError::Bind { addr, source })
}

fn local(addr: SocketAddr) -> SocketAddr {
    if addr.ip().is_unspecified() {
        SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), addr.port())
    } else {
        addr
    }
}

impl Server {
    /// Bind, open the store, start every actor, register with the name servers; returns when
    /// clients can connect.
    pub fn start(opts: ServerOptions) -> Result<Server, BrokerError> {
        let mut cfg = opts.config.clone();
        cfg.validate()?;
        // security files first: a missing or bad one stops the start before anything is created
        let acl = if opts.broker && cfg.acl_enable { Some(load_acl(&cfg)?) } else { None };
        let tls = crate::net::tls::Tls::from_config(&cfg).map_err(BrokerError::Other)?;
        let bound = Bound {
            namesrv: if opts.namesrv { Some(bind(opts.bind_ip, cfg.namesrv_listen_port)?) } else { None },
            broker: if opts.broker { Some(bind(opts.bind_ip, cfg.listen_port)?) } else { None },
            vip: None,
            metrics: None,
            grpc: None,
            console: None,
            ha: None,
        };
        let namesrv_addr = match &bound.namesrv {
            Some(l) => Some(local(l.local_addr().map_err(|e| BrokerError::Other(e.to_string()))?)),
            None => None,
        };
        let mut bound = bound;
        let broker_addr = match &bound.broker {
            Some(l) => {
                let a = l.local_addr().map_err(|e| BrokerError::Other(e.to_string()))?;
                // before listenPort takes the bound port: an ephemeral listenPort means an ephemeral HA port
                let ha_port = cfg.ha_port();
                cfg.listen_port = a.port();
                if let Some(vip) = cfg.vip_port().filter(|p| *p > 0) {
                    match bind(opts.bind_ip, vip) {
                        Ok(l) => bound.vip = Some(l),
                        Err(e) => tracing::warn!("VIP channel not available: {e}"),
                    }
                }
                if cfg.broker_role != crate::config::BrokerRole::Slave {
                    let l = bind(opts.bind_ip, ha_port)?;
                    let ha = l.local_addr().map_err(|e| BrokerError::Other(e.to_string()))?;
                    cfg.ha_listen_port = Some(ha.port());
                    bound.ha = Some(l);
                }
                Some(local(a))
            }
            None => None,
        };
        let metrics_addr = if opts.broker && cfg.metrics_exporter_type == "PROM" {
            let ip: IpAddr = cfg.metrics_prom_exporter_host.parse().unwrap_or(IpAddr::V4(Ipv4Addr::LOCALHOST));
            let addr = SocketAddr::new(ip, cfg.metrics_prom_exporter_port);
            let l = std::net::TcpListener::bind(addr).map_err(|source| BrokerError::Bind { addr, source })?;
            let a = l.local_addr().map_err(|e| BrokerError::Other(e.to_string()))?;
            bound.metrics = Some(l);
            Some(a)
        } else {
            None
        };
        let console_port = opts.console_port.or(Some(cfg.console_port).filter(|p| *p > 0));
        let console_addr = match console_port.filter(|_| opts.broker) {
            Some(p) => {
                let ip: IpAddr = cfg.console_host.parse().unwrap_or(IpAddr::V4(Ipv4Addr::LOCALHOST));
                let addr = SocketAddr::new(ip, p);
                let l = std::net::TcpListener::bind(addr).map_err(|source| BrokerError::Bind { addr, source })?;
                let a = l.local_addr().map_err(|e| BrokerError::Other(e.to_string()))?;
                bound.console = Some(l);
                Some(local(a))
            }
            None => None,
        };
        let grpc_port = opts.grpc_port.or(Some(cfg.grpc_server_port).filter(|p| *p > 0));
        let grpc_addr = match grpc_port.filter(|_| opts.broker) {
            Some(p) => {
                let l = bind(opts.bind_ip, p)?;
                let a = l.local_addr().map_err(|e| BrokerError::Other(e.to_string()))?;
                cfg.grpc_server_port = a.port();
                bound.grpc = Some(l);
                Some(local(a))
            }
            None => None,
        };
        let ha_addr = match &bound.ha {
            Some(l) => Some(local(l.local_addr().map_err(|e| BrokerError::Other(e.to_string()))?)),
            None => None,
        };
        if let (Some(ns), None) = (namesrv_addr, cfg.namesrv_addr.as_ref()) {
            cfg.namesrv_addr = Some(ns.to_string());
        }
        let store = if opts.broker {
            std::fs::create_dir_all(&cfg.store_path_root_dir).map_err(|e| {
                BrokerError::Other(format!("cannot create data directory {}: {e}", cfg.store_path_root_dir.display()))
            })?;
            let store = MessageStore::open(store_config(&cfg)?)?;
            // The runtime overrides stored by UPDATE_BROKER_CONFIG (runtime keys only, so none
            // changes how the store is opened) apply before anything reads the config: to the
            // shared config, the store's runtime settings and the log filter.
            cfg = crate::core::with_overrides(&cfg, &store);
            crate::core::apply_live(&cfg, &store);
            Some(store)
        } else {
            None
        };
        let data_dir = cfg.store_path_root_dir.clone();
        let (stop_tx, stop_rx) = oneshot::channel();
        let (ready_tx, ready_rx) = std::sync::mpsc::channel::<Result<(), String>>();
        let workers = opts.workers;
        let (topics, groups) = (opts.topics.clone(), opts.groups.clone());
        let thread = std::thread::Builder::new()
            .name("ferrocket-system".into())
            .spawn(move || {
                let system = System::new();
                system.block_on(run(cfg, bound, store, Plan { workers, topics, groups, acl, tls }, ready_tx, stop_rx));
            })
            .map_err(|e| BrokerError::Other(e.to_string()))?;
        match ready_rx.recv_timeout(Duration::from_secs(30)) {
            Ok(Ok(())) => {}
            Ok(Err(e)) => return Err(BrokerError::Other(e)),
            Err(_) => return Err(BrokerError::Other("server did not start within 30 s".into())),
        }
        Ok(Server { namesrv_addr, broker_addr, metrics_addr, grpc_addr, console_addr, ha_addr, data_dir, stop: Some(stop_tx), thread: Some(thread) })
    }

    /// Address of the embedded name server (loopback when bound to all interfaces).
    pub fn namesrv_addr(&self) -> Option<SocketAddr> {
        self.namesrv_addr
    }

    /// Address of the broker (what clients connect to).
    pub fn broker_addr(&self) -> Option<SocketAddr> {
        self.broker_addr
    }

    /// Address of `/metrics`, `/healthz`, `/readyz` (when `metricsExporterType=PROM`).
    pub fn metrics_addr(&self) -> Option<SocketAddr> {
        self.metrics_addr
    }

    /// Address of the web console, when it runs.
    pub fn console_addr(&self) -> Option<SocketAddr> {
        self.console_addr
    }

    /// Address of the 5.x gRPC endpoint, when it runs.
    pub fn grpc_addr(&self) -> Option<SocketAddr> {
        self.grpc_addr
    }

    /// The HA port a master serves its slaves on, when it is a master.
    pub fn ha_addr(&self) -> Option<SocketAddr> {
        self.ha_addr
    }

    pub fn data_dir(&self) -> &std::path::Path {
        &self.data_dir
    }

    /// Stop accepting, unregister from the name servers, flush the store, stop the threads.
    pub fn shutdown(mut self) {
        self.stop_now(StopMode::Graceful);
    }

    /// Stop like a crash: no unregistration and no final flush (data already written to the OS
    /// survives, as after `kill -9`); the next start runs recovery.
    pub fn crash(mut self) {
        self.stop_now(StopMode::Crash);
    }

    fn stop_now(&mut self, mode: StopMode) {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(mode);
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop_now(StopMode::Graceful);
    }
}

/// How a server stops.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StopMode {
    Graceful,
    Crash,
}

/// Topics with stored messages but no config: sled keeps configs in memory for up to
/// `sledFlushEveryMs`, so a `kill -9` right after a topic was auto-created can lose its config while
/// its acknowledged messages are safe in the log. Recreate such topics (with a warning).
fn recover_topics(topics: &TopicTable, store: &MessageStore, default_queues: i32) {
    let mut missing: std::collections::BTreeMap<String, i32> = std::collections::BTreeMap::new();
    for (t, q) in store.queues() {
        if topics.get(&t).is_none() && !topic::SEND_FORBIDDEN.contains(&t.as_str()) {
            let m = missing.entry(t).or_insert(0);
            *m = (*m).max(q + 1);
        }
    }
    for (t, used) in missing {
        let system = t.starts_with(topic::RETRY_PREFIX) || t.starts_with(topic::DLQ_PREFIX);
        let queues = if system { used } else { used.max(default_queues) }.clamp(1, 1024);
        tracing::warn!(topic = %t, queues, "topic has stored messages but no config (lost in a crash): recreated");
        topics.put(topic::new_topic(&t, queues, perm::READ_WRITE));
    }
}

fn store_config(cfg: &BrokerConfig) -> Result<StoreConfig, BrokerError> {
    let mut sc = StoreConfig::new(cfg.store_path_root_dir.clone(), cfg.store_host()?);
    sc.segment_size = cfg.mapped_file_size_commit_log;
    sc.flush_mode = match cfg.flush_disk_type {
        FlushDiskType::SyncFlush => FlushMode::Sync,
        FlushDiskType::AsyncFlush => FlushMode::Async,
    };
    sc.sync_flush_timeout = cfg.sync_flush_timeout;
    sc.sled_cache_bytes = cfg.sled_cache_bytes;
    sc.key_index = cfg.message_index_enable;
    sc.index_slots = cfg.max_hash_slot_num;
    sc.index_entries_per_file = cfg.max_index_num;
    sc.sled_flush_every_ms = cfg.sled_flush_every_ms;
    sc.page_cache_window = cfg.page_cache_window;
    // flush interval, retention, record size: changeable later (`apply_live`)
    Ok(sc.with_runtime(&crate::core::settings::store_runtime(cfg)))
}

fn limits(cfg: &BrokerConfig) -> Limits {
    Limits {
        max_frame: cfg.max_frame_size,
        max_in_flight: cfg.max_requests_in_flight,
        max_queued_bytes: cfg.max_queued_response_bytes,
        idle_timeout: cfg.client_idle_timeout,
        max_conns_per_ip: cfg.max_connections_per_ip,
    }
}

/// The topics a RocketMQ broker owns from the start.
fn create_system_topics(topics: &TopicTable, cfg: &BrokerConfig) {
    let rw = perm::READ_WRITE;
    if cfg.auto_create_topic_enable {
        topics.ensure(topic::DEFAULT_TOPIC, cfg.default_topic_queue_nums, perm::READ_WRITE | perm::INHERIT);
    }
    topics.ensure("SELF_TEST_TOPIC", 1, rw);
    topics.ensure("BenchmarkTest", 1024, rw);
    topics.ensure(&cfg.broker_cluster_name, 1, perm::READ_WRITE | perm::INHERIT);
    topics.ensure(&cfg.broker_name, 1, perm::READ_WRITE | perm::INHERIT);
    topics.ensure("OFFSET_MOVED_EVENT", 1, rw);
    topics.ensure(topic::SCHEDULE_TOPIC, cfg.message_delay_level.len().max(1) as i32, rw);
    topics.ensure(topic::TRANS_HALF_TOPIC, 1, rw);
    topics.ensure(&format!("{}_REPLY_TOPIC", cfg.broker_cluster_name), 1, rw);
    topics.ensure("RMQ_SYS_TRACE_TOPIC", 1, rw);
    topics.ensure(crate::core::redirect::TIMER_TOPIC, 1, rw);
}

/// How long a graceful shutdown waits for answers in flight (sync-flush sends, relays).
const SHUTDOWN_DRAIN: Duration = Duration::from_secs(5);

/// What `run` starts besides the listeners: connection workers, pre-declared topics and groups.
struct Plan {
    workers: usize,
    topics: Vec<(String, i32)>,
    groups: Vec<String>,
    acl: Option<crate::core::AclSetup>,
    tls: Option<Arc<crate::net::tls::Tls>>,
}

/// Read the ACL accounts file (aclEnable): a missing or bad file is a startup error naming it.
fn load_acl(cfg: &BrokerConfig) -> Result<crate::core::AclSetup, BrokerError> {
    let home = std::env::var("ROCKETMQ_HOME").ok();
    let path = crate::config::acl_file_location(&cfg.acl_file_path, None, home.as_deref());
    let file = crate::store::acl_file::read(&path).map_err(|e| BrokerError::Other(format!("aclEnable=true: {e}")))?;
    tracing::info!(path = %path.display(), accounts = file.accounts.len(), "ACL enabled");
    let acl = Arc::new(crate::core::acl::Acl::new(file, crate::core::now_ms()));
    Ok(crate::core::AclSetup::new(acl, path))
}

/// Re-read the ACL file when its modification time or size changes (checked every 500 ms).
fn watch_acl(core: Arc<Core>) {
    actix_rt::spawn(async move {
        let Some(path) = core.acl().map(|s| s.path.clone()) else { return };
        let mut last = crate::store::acl_file::stamp(&path);
        loop {
            tokio::time::sleep(Duration::from_millis(500)).await;
            let now = crate::store::acl_file::stamp(&path);
            if now == last {
                continue;
            }
            last = now;
            let Some(setup) = core.acl() else { return };
            match setup.reload(crate::core::now_ms()) {
                Ok(true) => tracing::info!(path = %path.display(), "ACL file changed; accounts reloaded"),
                Ok(false) => {}
                Err(e) => tracing::warn!("ACL file not reloaded, the previous accounts stay in force: {e}"),
            }
        }
    });
}

async fn run(
    cfg: BrokerConfig,
    bound: Bound,
    store: Option<Arc<MessageStore>>,
    plan: Plan,
    ready: std::sync::mpsc::Sender<Result<(), String>>,
    stop: oneshot::Receiver<StopMode>,
) {
    let Plan { workers, topics, groups, acl, tls } = plan;
    if let Some(t) = &tls {
        tracing::info!(mode = t.mode.as_str(), "TLS on every listener");
        crate::net::tls::watch(t.clone());
    }
    let arbiters: Vec<Arbiter> = (0..workers).map(|_| Arbiter::new()).collect();
    if !cfg.idle_spin.is_zero() {
        for a in &arbiters {
            a.spawn(crate::net::spin::run(cfg.idle_spin));
        }
    }
    let handles: Vec<_> = arbiters.iter().map(|a| a.handle()).collect();
    let lim = limits(&cfg);
    let totals = Arc::new(Totals::default());
    let mut accepting = Vec::new();
    let mut metrics_listener = bound.metrics;
    let http_ready = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let mut http_server: Option<actix_web::dev::ServerHandle> = None;
    let mut console_listener = bound.console;
    let mut console: Option<(actix_web::dev::ServerHandle, Arbiter)> = None;
    if let Some(l) = bound.namesrv {
        let ns = NamesrvContext::new(cfg.broker_expire_timeout);
        NamesrvActor { ctx: ns.clone() }.start();
        match spawn_listener(l, Service::Namesrv(ns), lim, totals.clone(), handles.clone(), tls.clone()) {
            Ok(t) => accepting.push(t),
            Err(e) => {
                let _ = ready.send(Err(format!("name server listener: {e}")));
                return;
            }
        }
    }
    let mut broker = None;
    let mut grpc = None;
    if let (Some(l), Some(store)) = (bound.broker, store.clone()) {
        let wired = match wire_broker(&cfg, store, &topics, &groups) {
            Ok(c) => c,
            Err(e) => {
                let _ = ready.send(Err(e.to_string()));
                return;
            }
        };
        if let Some(acl) = acl {
            wired.core.set_acl(acl);
            watch_acl(wired.core.clone());
        }
        for l in std::iter::once(l).chain(bound.vip) {
            match spawn_listener(l, Service::Broker(wired.core.clone()), lim, totals.clone(), handles.clone(), tls.clone()) {
                Ok(t) => accepting.push(t),
                Err(e) => {
                    let _ = ready.send(Err(format!("broker listener: {e}")));
                    return;
                }
            }
        }
        if let Some(l) = bound.grpc {
            match start_grpc(wired.core.clone(), &cfg, l, tls.clone(), totals.clone(), workers) {
                Ok(g) => grpc = Some(g),
                Err(e) => {
                    let _ = ready.send(Err(format!("gRPC listener: {e}")));
                    return;
                }
            }
        }
        let ha = crate::net::ha::HaSettings::of(&cfg);
        if let Some(l) = bound.ha {
            match crate::net::ha::spawn_master(l, wired.core.clone(), ha) {
                Ok(t) => accepting.push(t),
                Err(e) => {
                    let _ = ready.send(Err(format!("HA listener: {e}")));
                    return;
                }
            }
        }
        if cfg.broker_role == crate::config::BrokerRole::Slave {
            accepting.push(crate::net::ha::spawn_slave(wired.core.clone(), ha));
            crate::actors::slave_sync::start(wired.core.clone(), cfg.register_broker_interval.min(Duration::from_secs(10)));
        }
        register_all(&wired.registrar, &cfg).await;
        let core = &wired.core;
        if let Some(l) = metrics_listener.take() {
            let addr = l.local_addr().ok();
            match crate::http::serve(l, core.clone(), http_ready.clone()) {
                Ok(server) => {
                    tracing::info!(addr = ?addr, "metrics at /metrics, health at /healthz and /readyz");
                    http_server = Some(server.handle());
                    actix_rt::spawn(server);
                }
                Err(e) => tracing::error!(error = %e, "cannot serve /metrics"),
            }
        }
        if let Some(l) = console_listener.take() {
            console = start_console(core.clone(), l);
        }
        if let Err(e) = core.store.start_retention(Duration::from_secs(60)) {
            tracing::error!(error = %e, "cannot start the retention thread; expired files are not deleted");
        }
        tracing::info!(
            broker = %core.identity.broker_addr, name = %core.identity.broker_name,
            cluster = %core.identity.cluster, namesrv = ?cfg.namesrv_addrs(), "broker started"
        );
        broker = Some(wired);
    }
    http_ready.store(true, std::sync::atomic::Ordering::Release);
    let _ = ready.send(Ok(()));
    let mode = stop.await.unwrap_or(StopMode::Graceful);
    if let Some(h) = http_server.take() {
        h.stop(false).await;
    }
    if let Some((h, sampler)) = console.take() {
        h.stop(false).await;
        sampler.stop();
        let _ = sampler.join();
    }
    tracing::info!(?mode, "shutting down");
    for t in &accepting {
        t.abort();
    }
    if let Some(g) = grpc {
        g.stop(mode, SHUTDOWN_DRAIN).await;
    }
    if let (Some(w), StopMode::Graceful) = (&broker, mode) {
        drain(&w.queue, &totals, SHUTDOWN_DRAIN).await;
        // Over the registration connections, which then close.
        let _ = w.registrar.send(Unregister).await;
    }
    for a in arbiters {
        a.stop();
        let _ = a.join();
    }
    if let (Some(store), StopMode::Graceful) = (store, mode) {
        if let Err(e) = store.flush() {
            tracing::error!(error = %e, "final flush failed");
        }
    }
    drop(broker);
    System::current().stop();
}

/// The web console, and its history sampler on an arbiter of its own (a sample reads every online
/// group's lag: not on the thread that parks pulls).
fn start_console(core: Arc<Core>, listener: std::net::TcpListener) -> Option<(actix_web::dev::ServerHandle, Arbiter)> {
    let addr = listener.local_addr().ok();
    match crate::http::console::serve(listener, core.clone()) {
        Ok(server) => {
            tracing::info!(addr = ?addr, "web console listening");
            let handle = server.handle();
            actix_rt::spawn(server);
            let sampler = Arbiter::new();
            crate::actors::sampler::HistorySampler::start_in_arbiter(&sampler.handle(), move |_| crate::actors::sampler::HistorySampler { core });
            Some((handle, sampler))
        }
        Err(e) => {
            tracing::error!(error = %e, "cannot serve the web console");
            None
        }
    }
}

/// The gRPC server on a multi-threaded tokio runtime of its own (`workers` threads, as many as
/// the remoting connection workers), so that gRPC traffic spreads over the cores as remoting does
/// and never shares the actors' threads.
struct GrpcServer {
    thread: std::thread::JoinHandle<()>,
    stop: oneshot::Sender<()>,
    force: oneshot::Sender<()>,
    done: oneshot::Receiver<()>,
}

fn start_grpc(
    core: Arc<Core>,
    cfg: &BrokerConfig,
    listener: TcpListener,
    tls: Option<Arc<crate::net::tls::Tls>>,
    totals: Arc<Totals>,
    workers: usize,
) -> Result<GrpcServer, BrokerError> {
    let ip: IpAddr = cfg.broker_ip1.parse().map_err(|_| BrokerError::Other(format!("brokerIP1 {} is not an IP address", cfg.broker_ip1)))?;
    let advertised = SocketAddr::new(ip, cfg.grpc_server_port);
    let addr = listener.local_addr().ok();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(workers.max(1))
        .thread_name("grpc")
        .enable_all()
        .build()
        .map_err(|e| BrokerError::Other(format!("cannot start the gRPC runtime: {e}")))?;
    let (stop_tx, stop_rx) = oneshot::channel::<()>();
    let (force_tx, force_rx) = oneshot::channel::<()>();
    let (done_tx, done_rx) = oneshot::channel::<()>();
    let grpc = crate::grpc::Grpc::new(core, advertised);
    let lim = limits(cfg);
    let thread = std::thread::Builder::new()
        .name("grpc-main".into())
        .spawn(move || {
            runtime.block_on(async move {
                let shutdown = async move {
                    let _ = stop_rx.await;
                };
                tokio::select! {
                    r = crate::grpc::serve(grpc, listener, tls, lim, totals, shutdown) => {
                        if let Err(e) = r {
                            tracing::error!(error = %e, "gRPC server stopped");
                        }
                        let _ = done_tx.send(());
                    }
                    _ = force_rx => {}
                }
            });
            // streams still open (a Telemetry stream a client keeps) are cancelled here
            runtime.shutdown_timeout(Duration::from_millis(200));
        })
        .map_err(|e| BrokerError::Other(format!("cannot start the gRPC thread: {e}")))?;
    tracing::info!(addr = ?addr, %advertised, threads = workers.max(1), "gRPC endpoint (5.x SDKs) listening");
    Ok(GrpcServer { thread, stop: stop_tx, force: force_tx, done: done_rx })
}

impl GrpcServer {
    /// Stop accepting; gracefully, let RPCs in flight finish (up to `deadline`, at most 2 s: a
    /// Telemetry stream a client keeps open does not hold the shutdown longer).
    async fn stop(self, mode: StopMode, deadline: Duration) {
        let _ = self.stop.send(());
        if mode == StopMode::Graceful {
            let _ = tokio::time::timeout(deadline.min(Duration::from_secs(2)), self.done).await;
        }
        let _ = self.force.send(());
        let _ = self.thread.join();
    }
}

/// Graceful shutdown, once no new connection is accepted: answer every parked pull with what its
/// queue holds now, then wait (up to `deadline`) for the answers still in flight (sync-flush
/// sends, relays) to be written.
async fn drain(queue: &Addr<QueueActor>, totals: &Totals, deadline: Duration) {
    let parked = queue.send(Drain).await.unwrap_or(0);
    let until = Instant::now() + deadline;
    while totals.in_flight.load(std::sync::atomic::Ordering::Acquire) > 0 && Instant::now() < until {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let left = totals.in_flight.load(std::sync::atomic::Ordering::Acquire);
    if left > 0 {
        tracing::warn!(left, "shutdown: requests still in flight after {deadline:?}");
    }
    // Let the writers hand the last answers to the sockets.
    tokio::time::sleep(Duration::from_millis(50)).await;
    tracing::info!(parked, "shutdown: in-flight requests drained");
}

/// What `run` keeps of a wired broker.
struct Wired {
    core: Arc<Core>,
    queue: Addr<QueueActor>,
    registrar: Addr<RegistrarActor>,
}

fn wire_broker(
    cfg: &BrokerConfig,
    store: Arc<MessageStore>,
    extra_topics: &[(String, i32)],
    extra_groups: &[String],
) -> Result<Wired, BrokerError> {
    let store_host = cfg.store_host()?;
    let identity = BrokerIdentity {
        cluster: cfg.broker_cluster_name.clone(),
        broker_name: cfg.broker_name.clone(),
        broker_id: cfg.broker_id,
        broker_addr: store_host.to_string(),
        ha_addr: SocketAddr::new(store_host.ip(), cfg.ha_port()).to_string(),
    };
    let topics = Arc::new(TopicTable::load(store.clone()));
    create_system_topics(&topics, cfg);
    recover_topics(&topics, &store, cfg.default_topic_queue_nums);
    for (name, queues) in extra_topics {
        let mut tc = topic::new_topic(name, (*queues).clamp(1, 1024), perm::READ_WRITE);
        if let Some(old) = topics.get(name) {
            tc.perm = old.perm;
        }
        topics.put(tc);
    }
    // `cfg` already holds the stored runtime overrides (applied in `Server::start`)
    let core = Arc::new(Core::new(cfg.clone(), identity.clone(), store_host, store, topics.clone()));
    core.replication.set_slow_read_bytes(physical_memory() / 100 * 40);
    let slave = cfg.broker_role == crate::config::BrokerRole::Slave;
    let mut registrar = RegistrarActor::new(topics, identity, cfg.namesrv_addrs(), cfg.register_broker_interval, cfg.register_broker_timeout)
        .with_compressed(cfg.compressed_register);
    if slave {
        // As the Java slave: the master's HA address from the registration answer, unless configured.
        core.replication.set_master(cfg.ha_master_address.clone(), false);
        let (c, learn_ha) = (core.clone(), cfg.ha_master_address.is_none());
        registrar = registrar.with_on_master(Arc::new(move |ha, master| c.replication.learned(ha, master, learn_ha)));
    }
    let registrar = registrar.start();
    let queue = QueueActor::new(core.clone()).start();
    core.set_hooks(Arc::new(ActorHooks {
        park: queue.clone().recipient(),
        wake: queue.clone().recipient(),
        register: registrar.clone().recipient(),
        register_timeout: cfg.register_broker_timeout,
        park_pop: queue.clone().recipient(),
        wake_pops: queue.clone().recipient(),
    }));
    // A slave stores nothing of its own: delayed delivery, POP revive and transaction checks
    // run on the master, whose results reach the slave through the log.
    if !slave {
        crate::actors::pop::PopReviveActor { core: core.clone() }.start();
        SchedulerActor::new(core.clone(), cfg.message_delay_level.clone()).start();
    }
    GroupExpiryActor { state: core.clients.clone(), expire: cfg.channel_expired_timeout }.start();
    for g in extra_groups {
        core.groups.get_or_create(g, true);
    }
    if !slave {
        TransactionActor::new(core.clone()).start();
    }
    Ok(Wired { core, queue, registrar })
}

/// The machine's memory in bytes (for `suggestWhichBrokerId`; i64::MAX when unknown).
fn physical_memory() -> i64 {
    // SAFETY: sysconf has no preconditions.
    let (pages, size) = unsafe { (libc::sysconf(libc::_SC_PHYS_PAGES), libc::sysconf(libc::_SC_PAGESIZE)) };
    if pages > 0 && size > 0 {
        pages.saturating_mul(size)
    } else {
        i64::MAX
    }
}

/// The first full registration, awaited (up to `registerBrokerTimeoutMills`) so that routes exist
/// when `start` returns.
async fn register_all(registrar: &Addr<RegistrarActor>, cfg: &BrokerConfig) {
    let (done, registered) = oneshot::channel();
    registrar.do_send(RegisterNow { full: true, up_to: (0, 0), done: Some(done) });
    if tokio::time::timeout(cfg.register_broker_timeout, registered).await.is_err() {
        tracing::warn!("first registration not answered by every name server within {:?}", cfg.register_broker_timeout);
    }
}
