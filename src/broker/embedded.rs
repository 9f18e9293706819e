//! A broker for integration tests: a builder, temporary data, restart and crash.
//!
//! ```no_run
//! use ferrocket::broker::TestBroker;
//! let broker = TestBroker::builder().topic("orders", 4).group("billing").start().unwrap();
//! let namesrv = broker.namesrv_addr(); // give this to any RocketMQ client
//! # drop(namesrv);
//! ```
//! The name server and broker listen on `127.0.0.1` ephemeral ports; `start` returns once the
//! broker is registered and every pre-declared topic is routable. Dropping the handle stops the
//! broker and removes a temporary data directory. Each broker has its own thread and actix System,
//! so it works from `#[tokio::test]`, `#[actix_rt::test]` or plain threads, many at once.
use super::{BrokerError, Server, ServerOptions};
use crate::config::{BrokerConfig, FlushDiskType};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Builder for [`TestBroker`].
#[derive(Clone, Debug)]
pub struct TestBrokerBuilder {
    opts: ServerOptions,
    temporary: bool,
}

impl Default for TestBrokerBuilder {
    fn default() -> Self {
        let opts = ServerOptions::dev(None);
        TestBrokerBuilder { opts, temporary: true }
    }
}

impl TestBrokerBuilder {
    /// Keep data in `dir` (kept after drop) instead of a temporary directory.
    pub fn data_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.opts.config.store_path_root_dir = dir.into();
        self.temporary = false;
        self
    }

    /// SYNC_FLUSH: acknowledge after fdatasync.
    pub fn sync_flush(mut self) -> Self {
        self.opts.config.flush_disk_type = FlushDiskType::SyncFlush;
        self
    }

    /// Whether producers may create topics through TBW102 (default true).
    pub fn auto_create_topics(mut self, on: bool) -> Self {
        self.opts.config.auto_create_topic_enable = on;
        self
    }

    /// A topic that exists (and is routable) when `start` returns.
    pub fn topic(mut self, name: &str, queues: i32) -> Self {
        self.opts.topics.push((name.to_string(), queues));
        self
    }

    /// A subscription group created at start.
    pub fn group(mut self, name: &str) -> Self {
        self.opts.groups.push(name.to_string());
        self
    }

    /// Delay levels (`messageDelayLevel`), e.g. shorter ones for fast tests.
    pub fn delay_levels(mut self, levels: Vec<Duration>) -> Self {
        self.opts.config.message_delay_level = levels;
        self
    }

    /// Transaction check-back timings.
    pub fn transaction_check(mut self, interval: Duration, timeout: Duration, max_checks: i32) -> Self {
        self.opts.config.transaction_check_interval = interval;
        self.opts.config.transaction_timeout = timeout;
        self.opts.config.transaction_check_max = max_checks;
        self
    }

    /// Any other setting.
    pub fn configure(mut self, f: impl FnOnce(&mut BrokerConfig)) -> Self {
        f(&mut self.opts.config);
        self
    }

    pub fn start(self) -> Result<TestBroker, BrokerError> {
        let server = Server::start(self.opts.clone())?;
        Ok(TestBroker { server: Some(server), opts: self.opts, temporary: self.temporary })
    }
}

/// A running name server + broker for tests.
pub struct TestBroker {
    server: Option<Server>,
    opts: ServerOptions,
    temporary: bool,
}

impl TestBroker {
    pub fn builder() -> TestBrokerBuilder {
        TestBrokerBuilder::default()
    }

    /// Start with defaults (temporary data, auto-created topics).
    pub fn start() -> Result<TestBroker, BrokerError> {
        Self::builder().start()
    }

    fn server(&self) -> &Server {
        self.server.as_ref().expect("server is running")
    }

    /// `host:port` of the name server, for `NAMESRV_ADDR` / `setNamesrvAddr`.
    pub fn namesrv_addr(&self) -> SocketAddr {
        self.server().namesrv_addr().expect("name server role")
    }

    pub fn broker_addr(&self) -> SocketAddr {
        self.server().broker_addr().expect("broker role")
    }

    /// `host:port` of the 5.x gRPC endpoint (ephemeral in tests).
    pub fn grpc_addr(&self) -> SocketAddr {
        self.server().grpc_addr().expect("gRPC endpoint")
    }

    pub fn data_dir(&self) -> &Path {
        &self.opts.config.store_path_root_dir
    }

    /// Stop gracefully and start again on the same data directory and the same ports.
    pub fn restart(&mut self) -> Result<(), BrokerError> {
        self.stop_and_start(false)
    }

    /// Stop like a crash (no final flush, no unregistration) and start again: recovery runs.
    pub fn crash_and_restart(&mut self) -> Result<(), BrokerError> {
        self.stop_and_start(true)
    }

    fn stop_and_start(&mut self, crash: bool) -> Result<(), BrokerError> {
        if let Some(s) = self.server.take() {
            let (ns, br, grpc, ha) = (s.namesrv_addr(), s.broker_addr(), s.grpc_addr(), s.ha_addr());
            if crash {
                s.crash();
            } else {
                s.shutdown();
            }
            if let Some(ns) = ns {
                self.opts.config.namesrv_listen_port = ns.port();
                self.opts.config.namesrv_addr = None;
            }
            if let Some(br) = br {
                self.opts.config.listen_port = br.port();
            }
            if let Some(g) = grpc {
                self.opts.grpc_port = Some(g.port());
            }
            // the HA port it had, not listenPort + 1 (which another socket may hold)
            if let Some(h) = ha {
                self.opts.config.ha_listen_port = Some(h.port());
            }
        }
        self.server = Some(Server::start(self.opts.clone())?);
        Ok(())
    }
}

impl Drop for TestBroker {
    fn drop(&mut self) {
        if let Some(s) = self.server.take() {
            s.shutdown();
        }
        if self.temporary {
            let _ = std::fs::remove_dir_all(&self.opts.config.store_path_root_dir);
        }
    }
}
