//! Broker configuration: one typed struct, [`BrokerConfig`], read from a RocketMQ-style
//! `broker.conf` (Java-properties text) so existing deployments and docs keep working.
//!
//! The shipped default file is `config/broker.conf` ([`DEFAULT_CONFIG_TEXT`]); it lists every
//! key with its default, and parsing it yields exactly [`BrokerConfig::default()`].
//!
//! # Loading
//!
//! - [`BrokerConfig::load_file`] / [`BrokerConfig::from_properties_str`] start from the defaults,
//!   apply the file, then [`BrokerConfig::validate`] the result.
//! - Unknown keys give a [`ConfigWarning`] naming the key and line (never fatal); RocketMQ keys
//!   ferrocket does not use (`brokerIP2`, `storePathCommitLog`, thread-pool sizes, ...) give a
//!   softer "ignored" warning. A value that does not parse is a [`ConfigError::Invalid`] naming
//!   the key, the value and what is expected. A repeated key: the last one wins, with a warning.
//! - Booleans are `true`/`false` (any case). Durations accept humantime text everywhere
//!   (`500ms`, `30s`, `72h`, `1h 30m`); for RocketMQ keys a bare number is read in the Java unit
//!   given below. ferrocket's own duration keys need a unit (only `0` may stand alone).
//!
//! # Keys
//!
//! "bare" is the unit of a bare number; "rt" marks keys an admin may change at runtime
//! (UPDATE_BROKER_CONFIG, see [`BrokerConfig::runtime_updatable`]). Keys marked *ours* are
//! ferrocket's own; the others are RocketMQ's names.
//!
//! | key | field | default | bare | rt |
//! |---|---|---|---|---|
//! | `brokerClusterName` | `broker_cluster_name` | `DefaultCluster` | | |
//! | `brokerName` | `broker_name` | `broker-a` | | |
//! | `brokerId` | `broker_id` | `0` (0 = master) | | |
//! | `brokerIP1` (also `brokerIp1`) | `broker_ip1` | `127.0.0.1`, advertised address | | |
//! | `listenPort` | `listen_port` | `10911` (0 = ephemeral) | | |
//! | `vipChannelEnabled` *ours* | `vip_channel_enabled` | `true`: also listen on `listenPort - 2` | | |
//! | `namesrvAddr` | `namesrv_addr` | empty = none; `host:port;host:port` | | |
//! | `namesrvListenPort` *ours* | `namesrv_listen_port` | `9876`, embedded name server | | |
//! | `grpcServerPort` | `grpc_server_port` | `8081`: the 5.x gRPC endpoint (`docs/grpc.md`); 0 = disabled | | |
//! | `registerNameServerPeriod` | `register_broker_interval` | `30000` | ms | |
//! | `registerBrokerTimeoutMills` | `register_broker_timeout` | `6000`: the longest a name server may take to answer a registration, and the longest a topic change waits for it | ms | |
//! | `compressedRegister` | `compressed_register` | `false`: registrations carry the zlib-compressed body of RocketMQ 4.9.7 (`RegisterBrokerBody.encode(true)`; topic sys flags and `order` do not travel in it) | | |
//! | `storePathRootDir` | `store_path_root_dir` | `./data` | | |
//! | `mappedFileSizeCommitLog` | `mapped_file_size_commit_log` | `1073741824` bytes | | |
//! | `flushDiskType` | `flush_disk_type` | `ASYNC_FLUSH` (or `SYNC_FLUSH`) | | |
//! | `flushIntervalCommitLog` | `flush_interval_commit_log` | `500` | ms | rt |
//! | `syncFlushTimeout` | `sync_flush_timeout` | `5000`; also the longest a SYNC_MASTER send waits for a slave | ms | |
//! | `brokerRole` | `broker_role` | `ASYNC_MASTER` (or `SYNC_MASTER`, `SLAVE`; docs/replication.md) | | |
//! | `haListenPort` | `ha_listen_port` | empty = `listenPort + 1`: the HA port a master serves slaves on | | |
//! | `haMasterAddress` | `ha_master_address` | empty = learned from the name server's answer to the registration; `host:port` of the master's HA port | | |
//! | `haSendHeartbeatInterval` | `ha_send_heartbeat_interval` | `5000`: a slave reports its offset at least this often, a master sends an empty frame this often | ms | |
//! | `haHousekeepingInterval` | `ha_housekeeping_interval` | `20000`: either side closes an HA connection silent this long | ms | |
//! | `haMaxGapNotInSync` | `ha_max_gap_not_in_sync` | `268435456` bytes: a slave further behind is not in sync (SYNC_MASTER answers SLAVE_NOT_AVAILABLE) | | |
//! | `haTransferBatchSize` | `ha_transfer_batch_size` | `32768` bytes of commit log per HA frame at most | | |
//! | `slaveReadEnable` | `slave_read_enable` | `false`: a master suggests (`suggestWhichBrokerId`) that a consumer far behind read from the slave | | |
//! | `fileReservedTime` | `file_reserved_time` | `72` | hours | rt |
//! | `deleteWhen` | `delete_when` | `04`; `;`-separated hours (UTC), each one honoured (`01;04`) | | rt |
//! | `diskMaxUsedSpaceRatio` | `disk_max_used_space_ratio` | `75` % (10..=95) | | rt |
//! | `maxMessageSize` | `max_message_size` | `4194304` bytes | | rt |
//! | `messageDelayLevel` | `message_delay_level` | `1s 5s 10s 30s 1m 2m ... 1h 2h` | | |
//! | `timerMaxDelay` *ours* (also `timerMaxDelaySec`, bare s) | `timer_max_delay` | `7d` | | rt |
//! | `timerPrecisionMs` | `timer_precision_ms` | `1000` ms (10..=1000): width of a timer wheel slot; a change rebuilds the wheel at start | | |
//! | `timerRollWindowSlot` | `timer_roll_window_slot` | `172800` slots (2 days at 1 s): timers further ahead are stored again when the window ends | | |
//! | `messageIndexEnable` | `message_index_enable` | `true`: index KEYS / UNIQ_KEY (query by key, by id) | | |
//! | `maxHashSlotNum` | `max_hash_slot_num` | `1048576` slots per key index file | | |
//! | `maxIndexNum` | `max_index_num` | `4194304` entries per key index file | | |
//! | `sledCacheBytes` *ours* | `sled_cache_bytes` | `67108864` bytes | | |
//! | `sledFlushEveryMs` *ours* | `sled_flush_every_ms` | `500` ms | | |
//! | `pageCacheWindow` *ours* | `page_cache_window` | `1073741824` bytes of commit log kept in the page cache behind the appender; older pages are dropped from it once flushed (docs/store.md); 0 = leave the page cache to the kernel | | |
//! | `autoCreateTopicEnable` | `auto_create_topic_enable` | `true` | | rt |
//! | `autoCreateSubscriptionGroup` | `auto_create_subscription_group` | `true` | | rt |
//! | `defaultTopicQueueNums` | `default_topic_queue_nums` | `8` (1..=1024), queues of TBW102 when it is first created | | |
//! | `enablePropertyFilter` | `enable_property_filter` | `false` | | rt |
//! | `longPollingEnable` | `long_polling_enable` | `true` | | rt |
//! | `shortPollingTimeMills` | `short_polling_time` | `1000` | ms | rt |
//! | `transactionCheckInterval` | `transaction_check_interval` | `60000` | ms | rt |
//! | `transactionTimeOut` | `transaction_timeout` | `6000` | ms | rt |
//! | `transactionCheckMax` | `transaction_check_max` | `15` | | rt |
//! | `lockExpire` *ours* (also `rocketmq.broker.rebalance.lockMaxLiveTime`, bare ms) | `lock_expire` | `60s` | | |
//! | `maxFrameSize` *ours* | `max_frame_size` | `16777216` bytes | | |
//! | `maxRequestsInFlight` *ours* | `max_requests_in_flight` | `1024` per connection (remoting: answers pending, parked pulls included; gRPC: calls and streams open) | | |
//! | `maxConnectionsPerIp` *ours* | `max_connections_per_ip` | `0` (no limit): open connections per client IP address over all ports, remoting and gRPC; more are closed at once | | |
//! | `maxQueuedResponseBytes` *ours* | `max_queued_response_bytes` | `67108864` bytes per connection | | |
//! | `idleSpin` *ours* | `idle_spin` | `200us` (`0`: off; at most `10ms`): after answering, a connection's worker thread keeps polling its sockets before it sleeps, for a window that adapts up to this long: it grows while the next request (or a deferred answer) comes within `idleSpin`, and fades to nothing when they come further apart; lower latency for request-by-request clients where waking a sleeping CPU is slow, at the price of CPU (`src/net/spin.rs`) | | |
//! | `clientIdleTimeout` *ours* (also `serverChannelMaxIdleTimeSeconds`, bare s) | `client_idle_timeout` | `120s` | | |
//! | `channelExpiredTimeout` | `channel_expired_timeout` | `120000` | ms | |
//! | `brokerExpireTimeout` *ours* | `broker_expire_timeout` | `120s` | | |
//! | `popInflightMessageThreshold` | `pop_inflight_message_threshold` | `10000` POP messages in flight per group and queue before the queue hands out no more | | |
//! | `maxPopPollingSize` | `max_pop_polling_size` | `100000` parked POP requests (more answer POLLING_FULL) | | rt |
//! | `regionId` | `region_id` | `DefaultRegion`, stamped as `MSG_REGION` on stored messages | | |
//! | `traceOn` | `trace_on` | `true`, stamped as `TRACE_ON` on stored messages | | |
//! | `metricsExporterType` | `metrics_exporter_type` | `DISABLE` (or `PROM`: serve `/metrics`, `/healthz`, `/readyz` over HTTP) | | |
//! | `metricsPromExporterHost` | `metrics_prom_exporter_host` | `127.0.0.1` (loopback unless set) | | |
//! | `metricsPromExporterPort` | `metrics_prom_exporter_port` | `5557` (0: any free port) | | |
//! | `consolePort` *ours* | `console_port` | `8080`: the web console (`docs/console.md`); 0 = disabled | | |
//! | `consoleHost` *ours* | `console_host` | `127.0.0.1` (loopback unless set) | | |
//! | `consoleReadOnly` *ours* | `console_read_only` | `false` (`true`: the console shows, never changes) | | |
//! | `aclEnable` | `acl_enable` | `false`: check RocketMQ ACL 1.0 signatures and permissions (docs/security.md) | | |
//! | `aclFilePath` *ours* | `acl_file_path` | empty: `$ROCKETMQ_HOME/conf/plain_acl.yml`, else `conf/plain_acl.yml`; relative paths from the broker.conf's directory | | |
//! | `tls.server.mode` | `tls_mode` | `disabled` (or `permissive`: TLS and plaintext on one port, told apart by the first byte; `enforcing`: TLS only); every remoting port and gRPC | | |
//! | `tls.server.certPath` | `tls_cert_path` | empty; PEM certificate chain (reloaded when it changes) | | |
//! | `tls.server.keyPath` | `tls_key_path` | empty; PEM private key (PKCS#8, PKCS#1 or SEC1, unencrypted) | | |
//! | `tls.server.need.client.auth` | `tls_need_client_auth` | `none` (or `optional`, `require`: client certificates signed by `tls.server.trustCertPath`) | | |
//! | `tls.server.trustCertPath` | `tls_trust_cert_path` | empty; PEM CA certificates for client authentication | | |
//! | `logFormat` *ours* | `log_format` | `text` (or `json`: one JSON object per line); `--log-format` overrides it | | |
//! | `logLevel` *ours* | `log_level` | `info` (or tracing filter directives); `RUST_LOG` wins, see [`logging`] | | rt |
//!
//! [`BrokerConfig::to_properties`] writes the canonical keys above (not the alternative
//! spellings); durations of RocketMQ keys as bare numbers in the Java unit when exact, other
//! durations as one humantime token (`7d`, `120s`).
//!
//! # Runtime updates (UPDATE_BROKER_CONFIG)
//!
//! Only the keys marked "rt" may change remotely: an allowlist, never paths, ports, names,
//! identities, name-server lists or security switches (CVE-2023-33246, CVE-2023-37582).
//! [`BrokerConfig::apply_runtime_update`] applies a request body all-or-nothing.
//!
//! Every "rt" key takes effect without a restart, and an accepted update is stored in the data
//! directory and re-applied on start, before anything reads the config:
//! - the request handlers read the broker's shared config on every request
//!   (`autoCreate*`, `maxMessageSize` for the send check, `timerMaxDelay`, `enablePropertyFilter`,
//!   `longPollingEnable`, `shortPollingTimeMills`, `transaction*`);
//! - the store keeps its own copy of `flushIntervalCommitLog`, `fileReservedTime`, `deleteWhen`,
//!   `diskMaxUsedSpaceRatio` and `maxMessageSize`, and the log filter of `logLevel`: the broker
//!   pushes them with `core::settings::apply_live` after each update (the flusher's next wait, the next put and
//!   an immediate retention run use the new values).
//!
//! A key read once at startup is not "rt" (e.g. `defaultTopicQueueNums`, which only sizes TBW102
//! when it is first created; auto-created topics take the client's `defaultTopicQueueNums`).

pub mod acl;
mod keys;
pub mod logging;
mod properties;
mod validate;
mod value;

#[cfg(test)]
mod tests;

use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::time::Duration;

pub use validate::{MAX_DELAY_LEVELS, MAX_FRAME_SIZE_LIMIT};

/// The shipped default `config/broker.conf`; parsing it yields [`BrokerConfig::default()`].
pub const DEFAULT_CONFIG_TEXT: &str = include_str!("../../config/broker.conf");

const MIB: usize = 1024 * 1024;

/// When a send is acknowledged relative to the disk flush.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum FlushDiskType {
    /// Acknowledge after the write to the page cache; flush every `flushIntervalCommitLog`.
    #[default]
    AsyncFlush,
    /// Acknowledge after fsync (waiting at most `syncFlushTimeout`).
    SyncFlush,
}

impl FlushDiskType {
    /// RocketMQ's spelling: `ASYNC_FLUSH` / `SYNC_FLUSH`.
    pub fn as_str(self) -> &'static str {
        match self {
            FlushDiskType::AsyncFlush => "ASYNC_FLUSH",
            FlushDiskType::SyncFlush => "SYNC_FLUSH",
        }
    }
}

/// The broker's replication role (`brokerRole`), RocketMQ's names.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum BrokerRole {
    /// A master that acknowledges sends without waiting for a slave.
    #[default]
    AsyncMaster,
    /// A master that acknowledges a send once a slave has it (at most `syncFlushTimeout`).
    SyncMaster,
    /// A read-only copy: follows its master's commit log over the HA port, refuses writes.
    Slave,
}

impl BrokerRole {
    /// RocketMQ's spelling: `ASYNC_MASTER`, `SYNC_MASTER`, `SLAVE`.
    pub fn as_str(self) -> &'static str {
        match self {
            BrokerRole::AsyncMaster => "ASYNC_MASTER",
            BrokerRole::SyncMaster => "SYNC_MASTER",
            BrokerRole::Slave => "SLAVE",
        }
    }
}

impl fmt::Display for FlushDiskType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The broker's configuration. See the module docs for keys, defaults and units.
#[derive(Clone, Debug, PartialEq)]
pub struct BrokerConfig {
    pub broker_cluster_name: String,
    pub broker_name: String,
    pub broker_id: i64,
    pub broker_ip1: String,
    pub listen_port: u16,
    pub vip_channel_enabled: bool,
    pub namesrv_addr: Option<String>,
    pub namesrv_listen_port: u16,
    /// Port of the 5.x gRPC endpoint (`apache.rocketmq.v2.MessagingService`); 0 = disabled.
    pub grpc_server_port: u16,
    pub store_path_root_dir: PathBuf,
    pub auto_create_topic_enable: bool,
    pub auto_create_subscription_group: bool,
    pub default_topic_queue_nums: i32,
    pub max_message_size: usize,
    pub flush_disk_type: FlushDiskType,
    pub flush_interval_commit_log: Duration,
    pub sync_flush_timeout: Duration,
    pub broker_role: BrokerRole,
    /// The HA port; `None` = `listenPort + 1` (ephemeral when `listenPort` is 0).
    pub ha_listen_port: Option<u16>,
    /// `host:port` of the master's HA port (slave); `None` = learned from the name server.
    pub ha_master_address: Option<String>,
    pub ha_send_heartbeat_interval: Duration,
    pub ha_housekeeping_interval: Duration,
    pub ha_max_gap_not_in_sync: u64,
    pub ha_transfer_batch_size: usize,
    pub slave_read_enable: bool,
    pub mapped_file_size_commit_log: u64,
    pub file_reserved_time: Duration,
    /// Hours of the day (0..=23) when expired files are deleted.
    pub delete_when: Vec<u8>,
    pub disk_max_used_space_ratio: u8,
    /// Delay level `i + 1` waits `message_delay_level[i]`.
    pub message_delay_level: Vec<Duration>,
    pub timer_max_delay: Duration,
    /// Width of a timer wheel slot, ms.
    pub timer_precision_ms: u64,
    /// Timers due further ahead than this many slots are rolled (stored again) at its end.
    pub timer_roll_window_slot: u64,
    pub transaction_check_interval: Duration,
    pub transaction_timeout: Duration,
    pub transaction_check_max: i32,
    pub enable_property_filter: bool,
    pub long_polling_enable: bool,
    pub short_polling_time: Duration,
    pub max_frame_size: usize,
    pub max_requests_in_flight: usize,
    pub max_queued_response_bytes: usize,
    pub max_connections_per_ip: usize,
    pub client_idle_timeout: Duration,
    /// `idleSpin`: the longest a worker thread polls its sockets after answering before it sleeps.
    pub idle_spin: Duration,
    pub channel_expired_timeout: Duration,
    pub broker_expire_timeout: Duration,
    pub register_broker_interval: Duration,
    pub register_broker_timeout: Duration,
    /// `compressedRegister`: send REGISTER_BROKER with the compressed body.
    pub compressed_register: bool,
    pub message_index_enable: bool,
    pub max_hash_slot_num: u32,
    pub max_index_num: u32,
    pub sled_cache_bytes: u64,
    pub sled_flush_every_ms: u64,
    /// `pageCacheWindow`: bytes of the commit log left in the page cache behind the appender.
    pub page_cache_window: u64,
    pub lock_expire: Duration,
    pub pop_inflight_message_threshold: u32,
    pub max_pop_polling_size: usize,
    pub region_id: String,
    pub trace_on: bool,
    pub metrics_exporter_type: String,
    pub metrics_prom_exporter_host: String,
    pub metrics_prom_exporter_port: u16,
    pub console_port: u16,
    pub console_host: String,
    pub console_read_only: bool,
    pub log_format: String,
    pub log_level: String,
    /// Check ACL 1.0 signatures and permissions on every remoting request (and gRPC).
    pub acl_enable: bool,
    /// The plain_acl.yml path as written (empty: the default; see [`acl_file_location`]).
    pub acl_file_path: String,
    pub tls_mode: TlsMode,
    pub tls_cert_path: String,
    pub tls_key_path: String,
    /// `none`, `optional` or `require`.
    pub tls_need_client_auth: String,
    pub tls_trust_cert_path: String,
}

/// `tls.server.mode`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum TlsMode {
    #[default]
    Disabled,
    /// TLS and plaintext on the same port: a first byte of 0x16 (a TLS handshake) means TLS.
    Permissive,
    /// TLS only.
    Enforcing,
}

impl TlsMode {
    pub fn as_str(self) -> &'static str {
        match self {
            TlsMode::Disabled => "disabled",
            TlsMode::Permissive => "permissive",
            TlsMode::Enforcing => "enforcing",
        }
    }
}

impl Default for BrokerConfig {
    fn default() -> Self {
        let s = Duration::from_secs;
        BrokerConfig {
            broker_cluster_name: "DefaultCluster".to_string(),
            broker_name: "broker-a".to_string(),
            broker_id: 0,
            broker_ip1: "127.0.0.1".to_string(),
            listen_port: 10911,
            vip_channel_enabled: true,
            namesrv_addr: None,
            namesrv_listen_port: 9876,
            grpc_server_port: 8081,
            store_path_root_dir: PathBuf::from("./data"),
            auto_create_topic_enable: true,
            auto_create_subscription_group: true,
            default_topic_queue_nums: 8,
            max_message_size: 4 * MIB,
            flush_disk_type: FlushDiskType::AsyncFlush,
            flush_interval_commit_log: Duration::from_millis(500),
            sync_flush_timeout: s(5),
            broker_role: BrokerRole::AsyncMaster,
            ha_listen_port: None,
            ha_master_address: None,
            ha_send_heartbeat_interval: s(5),
            ha_housekeeping_interval: s(20),
            ha_max_gap_not_in_sync: 256 * MIB as u64,
            ha_transfer_batch_size: 32 * 1024,
            slave_read_enable: false,
            mapped_file_size_commit_log: 1 << 30,
            file_reserved_time: s(72 * 3600),
            delete_when: vec![4],
            disk_max_used_space_ratio: 75,
            message_delay_level: [1, 5, 10, 30, 60, 120, 180, 240, 300, 360, 420, 480, 540, 600, 1200, 1800, 3600, 7200]
                .into_iter()
                .map(s)
                .collect(),
            timer_max_delay: s(7 * 86400),
            timer_precision_ms: 1000,
            timer_roll_window_slot: 2 * 86400,
            transaction_check_interval: s(60),
            transaction_timeout: s(6),
            transaction_check_max: 15,
            enable_property_filter: false,
            long_polling_enable: true,
            short_polling_time: s(1),
            max_frame_size: 16 * MIB,
            max_requests_in_flight: 1024,
            max_queued_response_bytes: 64 * MIB,
            max_connections_per_ip: 0,
            client_idle_timeout: s(120),
            idle_spin: Duration::from_micros(200),
            channel_expired_timeout: s(120),
            broker_expire_timeout: s(120),
            register_broker_interval: s(30),
            register_broker_timeout: s(6),
            compressed_register: false,
            message_index_enable: true,
            max_hash_slot_num: 1 << 20,
            max_index_num: 4 << 20,
            sled_cache_bytes: 64 * MIB as u64,
            sled_flush_every_ms: 500,
            page_cache_window: 1 << 30,
            lock_expire: s(60),
            pop_inflight_message_threshold: 10_000,
            max_pop_polling_size: 100_000,
            region_id: "DefaultRegion".to_string(),
            trace_on: true,
            metrics_exporter_type: "DISABLE".to_string(),
            metrics_prom_exporter_host: "127.0.0.1".to_string(),
            metrics_prom_exporter_port: 5557,
            console_port: 8080,
            console_host: "127.0.0.1".to_string(),
            console_read_only: false,
            log_format: "text".to_string(),
            log_level: "info".to_string(),
            acl_enable: false,
            acl_file_path: String::new(),
            tls_mode: TlsMode::Disabled,
            tls_cert_path: String::new(),
            tls_key_path: String::new(),
            tls_need_client_auth: "none".to_string(),
            tls_trust_cert_path: String::new(),
        }
    }
}

/// Errors from loading, setting or validating configuration. Messages name the key, the value
/// and what is expected.
#[derive(thiserror::Error, Debug)]
pub enum ConfigError {
    #[error("cannot read config file {}: {source}", path.display())]
    Io { path: PathBuf, source: std::io::Error },
    #[error("config line {line}: {reason}")]
    Syntax { line: usize, reason: String },
    #[error("invalid value \"{value}\" for key {key}: {reason}")]
    Invalid { key: String, value: String, reason: String },
    #[error("unknown config key \"{key}\"")]
    UnknownKey { key: String },
    #[error("config key \"{key}\" is a RocketMQ setting ferrocket does not use")]
    Unsupported { key: String },
    #[error("config key \"{key}\" cannot be changed at runtime")]
    NotUpdatable { key: String },
}

/// A non-fatal remark about a config file, e.g. `unknown key "fooBar" (line 12)`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConfigWarning(pub String);

impl fmt::Display for ConfigWarning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// What one key in a file means to us.
enum KeyKind {
    Known(&'static keys::KeySpec),
    Ignored,
    Unknown,
}

fn classify(key: &str) -> KeyKind {
    if let Some(spec) = keys::find(key) {
        KeyKind::Known(spec)
    } else if keys::IGNORED.contains(&key) {
        KeyKind::Ignored
    } else {
        KeyKind::Unknown
    }
}

fn invalid(key: &str, value: &str, reason: String) -> ConfigError {
    ConfigError::Invalid { key: key.to_string(), value: value.to_string(), reason }
}

/// Where the ACL accounts file is: `aclFilePath` when set (relative to `conf_dir`, the directory
/// of the broker.conf, when there is one); else `$ROCKETMQ_HOME/conf/plain_acl.yml` as the Java
/// broker finds it; else `conf/plain_acl.yml` beside the broker.conf (or the working directory).
pub fn acl_file_location(acl_file_path: &str, conf_dir: Option<&Path>, rocketmq_home: Option<&str>) -> PathBuf {
    let base = conf_dir.map(Path::to_path_buf).unwrap_or_default();
    if !acl_file_path.trim().is_empty() {
        let p = PathBuf::from(acl_file_path.trim());
        return if p.is_absolute() { p } else { base.join(p) };
    }
    match rocketmq_home.filter(|h| !h.is_empty()) {
        Some(home) => Path::new(home).join("conf").join("plain_acl.yml"),
        None => base.join("conf").join("plain_acl.yml"),
    }
}

impl BrokerConfig {
    /// Parse a Java-properties file (RocketMQ `broker.conf`) on top of the defaults, then validate.
    pub fn from_properties_str(text: &str) -> Result<(BrokerConfig, Vec<ConfigWarning>), ConfigError> {
        let mut config = BrokerConfig::default();
        let warnings = config.apply_properties_str(text)?;
        Ok((config, warnings))
    }

    /// Overlay properties text on `self`, then validate. All-or-nothing: on error `self` is unchanged.
    pub fn apply_properties_str(&mut self, text: &str) -> Result<Vec<ConfigWarning>, ConfigError> {
        let entries = properties::parse(text)?;
        let mut next = self.clone();
        let mut warnings = Vec::new();
        let mut seen: Vec<(&'static str, usize)> = Vec::new();
        for e in &entries {
            match classify(&e.key) {
                KeyKind::Known(spec) => {
                    let canonical = spec.alias_of.unwrap_or(spec.name);
                    if let Some((_, first)) = seen.iter().find(|(k, _)| *k == canonical) {
                        warnings.push(ConfigWarning(format!(
                            "key \"{}\" (line {}) repeats {canonical} from line {first}; the last value wins",
                            e.key, e.line
                        )));
                    }
                    seen.push((canonical, e.line));
                    (spec.set)(&mut next, &e.value).map_err(|reason| invalid(&e.key, &e.value, reason))?;
                }
                KeyKind::Ignored => {
                    warnings.push(ConfigWarning(format!(
                        "key \"{}\" (line {}) is a RocketMQ setting ferrocket does not use; ignored",
                        e.key, e.line
                    )));
                }
                KeyKind::Unknown => {
                    let hint = keys::case_insensitive_match(&e.key).map(|k| format!("; did you mean \"{k}\"?")).unwrap_or_default();
                    warnings.push(ConfigWarning(format!("unknown key \"{}\" (line {}){hint}", e.key, e.line)));
                }
            }
        }
        next.validate()?;
        *self = next;
        Ok(warnings)
    }

    /// Read and parse a config file. Files that are not UTF-8 are read as ISO-8859-1, the Java
    /// properties encoding.
    pub fn load_file(path: &Path) -> Result<(BrokerConfig, Vec<ConfigWarning>), ConfigError> {
        let bytes = std::fs::read(path).map_err(|source| ConfigError::Io { path: path.to_path_buf(), source })?;
        let text = match String::from_utf8(bytes) {
            Ok(text) => text,
            Err(e) => e.into_bytes().into_iter().map(char::from).collect(),
        };
        Self::from_properties_str(&text)
    }

    /// Set one key (canonical name or alternative spelling), then validate the whole config.
    /// On error `self` is unchanged.
    pub fn set(&mut self, key: &str, value: &str) -> Result<(), ConfigError> {
        let spec = match classify(key) {
            KeyKind::Known(spec) => spec,
            KeyKind::Ignored => return Err(ConfigError::Unsupported { key: key.to_string() }),
            KeyKind::Unknown => return Err(ConfigError::UnknownKey { key: key.to_string() }),
        };
        let mut next = self.clone();
        (spec.set)(&mut next, value.trim()).map_err(|reason| invalid(key, value, reason))?;
        next.validate()?;
        *self = next;
        Ok(())
    }

    /// Every canonical key as Java-properties text (`key=value` lines), RocketMQ names where
    /// they exist; the body of GET_BROKER_CONFIG. Holds no secrets (there are none).
    pub fn to_properties(&self) -> String {
        let mut out = String::new();
        for spec in keys::KEYS.iter().filter(|k| k.alias_of.is_none()) {
            out.push_str(spec.name);
            out.push('=');
            out.push_str(&properties::escape_value(&(spec.get)(self)));
            out.push('\n');
        }
        out
    }

    /// Check ranges and cross-key consistency; the error names the offending key.
    pub fn validate(&self) -> Result<(), ConfigError> {
        validate::validate(self)
    }

    /// `brokerIP1:listenPort`, the address published in routes and encoded in message ids.
    pub fn store_host(&self) -> Result<SocketAddr, ConfigError> {
        let ip: IpAddr = self.broker_ip1.parse().map_err(|_| {
            invalid("brokerIP1", &self.broker_ip1, "must be an IPv4 or IPv6 address clients can reach".to_string())
        })?;
        Ok(SocketAddr::new(ip, self.listen_port))
    }

    /// The HA port: `haListenPort`, else `listenPort + 1` (0, ephemeral, when `listenPort` is 0).
    pub fn ha_port(&self) -> u16 {
        self.ha_listen_port.unwrap_or(if self.listen_port == 0 { 0 } else { self.listen_port.saturating_add(1) })
    }

    /// The VIP channel port: `None` when disabled, `Some(0)` (ephemeral) when `listen_port` is 0,
    /// else `listen_port - 2`.
    pub fn vip_port(&self) -> Option<u16> {
        self.vip_channel_enabled.then(|| if self.listen_port == 0 { 0 } else { self.listen_port.saturating_sub(2) })
    }

    /// The name-server addresses from `namesrvAddr`, split on `;` (empty when unset).
    pub fn namesrv_addrs(&self) -> Vec<String> {
        self.namesrv_addr
            .as_deref()
            .unwrap_or("")
            .split(';')
            .map(str::trim)
            .filter(|a| !a.is_empty())
            .map(str::to_string)
            .collect()
    }

    /// Whether UPDATE_BROKER_CONFIG may change `key`: an allowlist of runtime-safe keys (never
    /// paths, ports, names, identities, name servers, security switches). Unknown keys: false.
    pub fn runtime_updatable(key: &str) -> bool {
        keys::find(key).is_some_and(|k| k.runtime)
    }

    /// Apply an UPDATE_BROKER_CONFIG body all-or-nothing: every key must be
    /// [`runtime_updatable`](Self::runtime_updatable) (else [`ConfigError::NotUpdatable`] naming
    /// the first offender, to be answered with NO_PERMISSION), every value must parse, and the
    /// result must validate. Returns the canonical names of the keys whose value changed.
    pub fn apply_runtime_update(&mut self, body: &str) -> Result<Vec<&'static str>, ConfigError> {
        let entries = properties::parse(body)?;
        if let Some(e) = entries.iter().find(|e| !Self::runtime_updatable(&e.key)) {
            return Err(ConfigError::NotUpdatable { key: e.key.clone() });
        }
        let before = self.clone();
        let mut next = self.clone();
        for e in &entries {
            let spec = keys::find(&e.key).expect("checked runtime_updatable");
            (spec.set)(&mut next, &e.value).map_err(|reason| invalid(&e.key, &e.value, reason))?;
        }
        next.validate()?;
        let changed = keys::KEYS
            .iter()
            .filter(|k| k.alias_of.is_none() && (k.get)(&before) != (k.get)(&next))
            .map(|k| k.name)
            .collect();
        *self = next;
        Ok(changed)
    }
}
