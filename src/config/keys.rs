//! The key table: every key ferrocket reads, how its value is parsed and written, and whether
//! an admin may change it at runtime. Also the RocketMQ keys that are accepted and ignored.

use std::path::PathBuf;

use super::value::{
    fmt_delay_levels, fmt_delete_when, fmt_duration, parse_bool, parse_delay_levels, parse_delete_when,
    parse_duration, parse_int, Bare,
};
use super::{BrokerConfig, BrokerRole, FlushDiskType};

type Setter = fn(&mut BrokerConfig, &str) -> Result<(), String>;
type Getter = fn(&BrokerConfig) -> String;

/// One accepted key.
pub(crate) struct KeySpec {
    /// The key as written in the file (case-sensitive, like Java).
    pub name: &'static str,
    /// `Some(canonical)` for an alternative spelling; `to_properties` writes only canonical keys.
    pub alias_of: Option<&'static str>,
    /// May be changed through UPDATE_BROKER_CONFIG (see `runtime_updatable`).
    pub runtime: bool,
    pub set: Setter,
    pub get: Getter,
}

const PORT: &str = "a port number 0..=65535";
const U_INT: &str = "a non-negative integer";

macro_rules! key {
    ($name:literal, $rt:expr, |$c:ident, $v:ident| $set:expr, |$g:ident| $get:expr) => {
        KeySpec {
            name: $name,
            alias_of: None,
            runtime: $rt,
            set: |$c, $v| {
                $set;
                Ok(())
            },
            get: |$g| $get,
        }
    };
}

macro_rules! alias {
    ($name:literal => $of:literal, $rt:expr, |$c:ident, $v:ident| $set:expr) => {
        KeySpec {
            name: $name,
            alias_of: Some($of),
            runtime: $rt,
            set: |$c, $v| {
                $set;
                Ok(())
            },
            get: |_| String::new(),
        }
    };
}

/// Runtime-changeable: true. Restart-only or never: false. Keep this table in the same
/// order as `config/broker.conf` and the module docs.
pub(crate) static KEYS: &[KeySpec] = &[
    // identity and network
    key!("brokerClusterName", false, |c, v| c.broker_cluster_name = v.to_string(), |c| c.broker_cluster_name.clone()),
    key!("brokerName", false, |c, v| c.broker_name = v.to_string(), |c| c.broker_name.clone()),
    key!("brokerId", false, |c, v| c.broker_id = non_negative(parse_int::<i64>(v, "an integer >= 0 (0 = master)")?)?, |c| c.broker_id.to_string()),
    key!("brokerIP1", false, |c, v| c.broker_ip1 = v.to_string(), |c| c.broker_ip1.clone()),
    alias!("brokerIp1" => "brokerIP1", false, |c, v| c.broker_ip1 = v.to_string()),
    key!("listenPort", false, |c, v| c.listen_port = parse_int(v, PORT)?, |c| c.listen_port.to_string()),
    key!("vipChannelEnabled", false, |c, v| c.vip_channel_enabled = parse_bool(v)?, |c| c.vip_channel_enabled.to_string()),
    key!("namesrvAddr", false, |c, v| c.namesrv_addr = (!v.is_empty()).then(|| v.to_string()), |c| c.namesrv_addr.clone().unwrap_or_default()),
    key!("namesrvListenPort", false, |c, v| c.namesrv_listen_port = parse_int(v, PORT)?, |c| c.namesrv_listen_port.to_string()),
    key!("grpcServerPort", false, |c, v| c.grpc_server_port = parse_int(v, PORT)?, |c| c.grpc_server_port.to_string()),
    key!("registerNameServerPeriod", false, |c, v| c.register_broker_interval = parse_duration(v, Bare::Millis)?, |c| fmt_duration(c.register_broker_interval, Bare::Millis)),
    key!("compressedRegister", false, |c, v| c.compressed_register = parse_bool(v)?, |c| c.compressed_register.to_string()),
    key!("registerBrokerTimeoutMills", false, |c, v| c.register_broker_timeout = parse_duration(v, Bare::Millis)?, |c| fmt_duration(c.register_broker_timeout, Bare::Millis)),
    // storage
    key!("storePathRootDir", false, |c, v| c.store_path_root_dir = PathBuf::from(v), |c| c.store_path_root_dir.to_string_lossy().into_owned()),
    key!("mappedFileSizeCommitLog", false, |c, v| c.mapped_file_size_commit_log = parse_int(v, "a size in bytes")?, |c| c.mapped_file_size_commit_log.to_string()),
    key!("flushDiskType", false, |c, v| c.flush_disk_type = v.parse()?, |c| c.flush_disk_type.as_str().to_string()),
    key!("flushIntervalCommitLog", true, |c, v| c.flush_interval_commit_log = parse_duration(v, Bare::Millis)?, |c| fmt_duration(c.flush_interval_commit_log, Bare::Millis)),
    key!("syncFlushTimeout", false, |c, v| c.sync_flush_timeout = parse_duration(v, Bare::Millis)?, |c| fmt_duration(c.sync_flush_timeout, Bare::Millis)),
    key!("brokerRole", false, |c, v| c.broker_role = v.parse()?, |c| c.broker_role.as_str().to_string()),
    key!("haListenPort", false, |c, v| c.ha_listen_port = if v.trim().is_empty() { None } else { Some(parse_int(v, PORT)?) }, |c| c.ha_listen_port.map(|p| p.to_string()).unwrap_or_default()),
    key!("haMasterAddress", false, |c, v| c.ha_master_address = (!v.trim().is_empty()).then(|| v.trim().to_string()), |c| c.ha_master_address.clone().unwrap_or_default()),
    key!("haSendHeartbeatInterval", false, |c, v| c.ha_send_heartbeat_interval = parse_duration(v, Bare::Millis)?, |c| fmt_duration(c.ha_send_heartbeat_interval, Bare::Millis)),
    key!("haHousekeepingInterval", false, |c, v| c.ha_housekeeping_interval = parse_duration(v, Bare::Millis)?, |c| fmt_duration(c.ha_housekeeping_interval, Bare::Millis)),
    key!("haMaxGapNotInSync", false, |c, v| c.ha_max_gap_not_in_sync = parse_int(v, "a size in bytes")?, |c| c.ha_max_gap_not_in_sync.to_string()),
    key!("haTransferBatchSize", false, |c, v| c.ha_transfer_batch_size = parse_int(v, "a size in bytes")?, |c| c.ha_transfer_batch_size.to_string()),
    key!("slaveReadEnable", false, |c, v| c.slave_read_enable = parse_bool(v)?, |c| c.slave_read_enable.to_string()),
    key!("fileReservedTime", true, |c, v| c.file_reserved_time = parse_duration(v, Bare::Hours)?, |c| fmt_duration(c.file_reserved_time, Bare::Hours)),
    key!("deleteWhen", true, |c, v| c.delete_when = parse_delete_when(v)?, |c| fmt_delete_when(&c.delete_when)),
    key!("diskMaxUsedSpaceRatio", true, |c, v| c.disk_max_used_space_ratio = parse_int(v, "a percentage 10..=95")?, |c| c.disk_max_used_space_ratio.to_string()),
    key!("maxMessageSize", true, |c, v| c.max_message_size = parse_int(v, "a size in bytes")?, |c| c.max_message_size.to_string()),
    key!("messageDelayLevel", false, |c, v| c.message_delay_level = parse_delay_levels(v)?, |c| fmt_delay_levels(&c.message_delay_level)),
    key!("timerMaxDelay", true, |c, v| c.timer_max_delay = parse_duration(v, Bare::Unit)?, |c| fmt_duration(c.timer_max_delay, Bare::Unit)),
    alias!("timerMaxDelaySec" => "timerMaxDelay", true, |c, v| c.timer_max_delay = parse_duration(v, Bare::Secs)?),
    key!("timerPrecisionMs", false, |c, v| c.timer_precision_ms = parse_int(v, "a number of milliseconds 10..=1000")?, |c| c.timer_precision_ms.to_string()),
    key!("timerRollWindowSlot", false, |c, v| c.timer_roll_window_slot = parse_int(v, "a slot count")?, |c| c.timer_roll_window_slot.to_string()),
    key!("messageIndexEnable", false, |c, v| c.message_index_enable = parse_bool(v)?, |c| c.message_index_enable.to_string()),
    key!("maxHashSlotNum", false, |c, v| c.max_hash_slot_num = parse_int(v, "a slot count 1..=100000000")?, |c| c.max_hash_slot_num.to_string()),
    key!("maxIndexNum", false, |c, v| c.max_index_num = parse_int(v, "an entry count 1..=400000000")?, |c| c.max_index_num.to_string()),
    key!("sledCacheBytes", false, |c, v| c.sled_cache_bytes = parse_int(v, "a size in bytes")?, |c| c.sled_cache_bytes.to_string()),
    key!("pageCacheWindow", false, |c, v| c.page_cache_window = parse_int(v, "a size in bytes (0: off)")?, |c| c.page_cache_window.to_string()),
    key!("sledFlushEveryMs", false, |c, v| c.sled_flush_every_ms = parse_int(v, "a number of milliseconds")?, |c| c.sled_flush_every_ms.to_string()),
    // topics, groups, features
    key!("autoCreateTopicEnable", true, |c, v| c.auto_create_topic_enable = parse_bool(v)?, |c| c.auto_create_topic_enable.to_string()),
    key!("autoCreateSubscriptionGroup", true, |c, v| c.auto_create_subscription_group = parse_bool(v)?, |c| c.auto_create_subscription_group.to_string()),
    key!("defaultTopicQueueNums", false, |c, v| c.default_topic_queue_nums = parse_int(v, "a queue count 1..=1024")?, |c| c.default_topic_queue_nums.to_string()),
    key!("enablePropertyFilter", true, |c, v| c.enable_property_filter = parse_bool(v)?, |c| c.enable_property_filter.to_string()),
    key!("longPollingEnable", true, |c, v| c.long_polling_enable = parse_bool(v)?, |c| c.long_polling_enable.to_string()),
    key!("shortPollingTimeMills", true, |c, v| c.short_polling_time = parse_duration(v, Bare::Millis)?, |c| fmt_duration(c.short_polling_time, Bare::Millis)),
    key!("transactionCheckInterval", true, |c, v| c.transaction_check_interval = parse_duration(v, Bare::Millis)?, |c| fmt_duration(c.transaction_check_interval, Bare::Millis)),
    key!("transactionTimeOut", true, |c, v| c.transaction_timeout = parse_duration(v, Bare::Millis)?, |c| fmt_duration(c.transaction_timeout, Bare::Millis)),
    key!("transactionCheckMax", true, |c, v| c.transaction_check_max = non_negative(parse_int::<i32>(v, "an integer >= 0")?)?, |c| c.transaction_check_max.to_string()),
    key!("lockExpire", false, |c, v| c.lock_expire = parse_duration(v, Bare::Unit)?, |c| fmt_duration(c.lock_expire, Bare::Unit)),
    alias!("rocketmq.broker.rebalance.lockMaxLiveTime" => "lockExpire", false, |c, v| c.lock_expire = parse_duration(v, Bare::Millis)?),
    // connections and liveness
    key!("maxFrameSize", false, |c, v| c.max_frame_size = parse_int(v, "a size in bytes")?, |c| c.max_frame_size.to_string()),
    key!("maxRequestsInFlight", false, |c, v| c.max_requests_in_flight = parse_int(v, U_INT)?, |c| c.max_requests_in_flight.to_string()),
    key!("maxConnectionsPerIp", false, |c, v| c.max_connections_per_ip = parse_int(v, U_INT)?, |c| c.max_connections_per_ip.to_string()),
    key!("maxQueuedResponseBytes", false, |c, v| c.max_queued_response_bytes = parse_int(v, "a size in bytes")?, |c| c.max_queued_response_bytes.to_string()),
    key!("idleSpin", false, |c, v| c.idle_spin = parse_duration(v, Bare::Unit)?, |c| fmt_duration(c.idle_spin, Bare::Unit)),
    key!("clientIdleTimeout", false, |c, v| c.client_idle_timeout = parse_duration(v, Bare::Unit)?, |c| fmt_duration(c.client_idle_timeout, Bare::Unit)),
    alias!("serverChannelMaxIdleTimeSeconds" => "clientIdleTimeout", false, |c, v| c.client_idle_timeout = parse_duration(v, Bare::Secs)?),
    key!("channelExpiredTimeout", false, |c, v| c.channel_expired_timeout = parse_duration(v, Bare::Millis)?, |c| fmt_duration(c.channel_expired_timeout, Bare::Millis)),
    key!("brokerExpireTimeout", false, |c, v| c.broker_expire_timeout = parse_duration(v, Bare::Unit)?, |c| fmt_duration(c.broker_expire_timeout, Bare::Unit)),
    // POP consumption, 5.x message stamps
    key!("popInflightMessageThreshold", false, |c, v| c.pop_inflight_message_threshold = parse_int(v, "a message count >= 1")?, |c| c.pop_inflight_message_threshold.to_string()),
    key!("maxPopPollingSize", true, |c, v| c.max_pop_polling_size = parse_int(v, "a count of parked pops")?, |c| c.max_pop_polling_size.to_string()),
    key!("regionId", false, |c, v| c.region_id = v.to_string(), |c| c.region_id.clone()),
    key!("traceOn", false, |c, v| c.trace_on = parse_bool(v)?, |c| c.trace_on.to_string()),
    // metrics and health (HTTP)
    key!("metricsExporterType", false, |c, v| c.metrics_exporter_type = parse_exporter(v)?, |c| c.metrics_exporter_type.clone()),
    key!("metricsPromExporterHost", false, |c, v| c.metrics_prom_exporter_host = v.trim().to_string(), |c| c.metrics_prom_exporter_host.clone()),
    key!("metricsPromExporterPort", false, |c, v| c.metrics_prom_exporter_port = parse_int(v, "a port 0..=65535")?, |c| c.metrics_prom_exporter_port.to_string()),
    // web console (HTTP)
    key!("consolePort", false, |c, v| c.console_port = parse_int(v, PORT)?, |c| c.console_port.to_string()),
    key!("consoleHost", false, |c, v| c.console_host = v.trim().to_string(), |c| c.console_host.clone()),
    key!("consoleReadOnly", false, |c, v| c.console_read_only = parse_bool(v)?, |c| c.console_read_only.to_string()),
    // security (docs/security.md)
    key!("aclEnable", false, |c, v| c.acl_enable = parse_bool(v)?, |c| c.acl_enable.to_string()),
    key!("aclFilePath", false, |c, v| c.acl_file_path = v.trim().to_string(), |c| c.acl_file_path.clone()),
    key!("tls.server.mode", false, |c, v| c.tls_mode = v.parse()?, |c| c.tls_mode.as_str().to_string()),
    key!("tls.server.certPath", false, |c, v| c.tls_cert_path = v.trim().to_string(), |c| c.tls_cert_path.clone()),
    key!("tls.server.keyPath", false, |c, v| c.tls_key_path = v.trim().to_string(), |c| c.tls_key_path.clone()),
    key!("tls.server.need.client.auth", false, |c, v| c.tls_need_client_auth = parse_client_auth(v)?, |c| c.tls_need_client_auth.clone()),
    key!("tls.server.trustCertPath", false, |c, v| c.tls_trust_cert_path = v.trim().to_string(), |c| c.tls_trust_cert_path.clone()),
    // logging
    key!("logFormat", false, |c, v| c.log_format = v.trim().parse::<super::logging::Format>().map(|f| if f == super::logging::Format::Json { "json" } else { "text" }.to_string())?, |c| c.log_format.clone()),
    key!("logLevel", true, |c, v| c.log_level = v.to_string(), |c| c.log_level.clone()),
];

/// `tls.server.need.client.auth`: none, optional or require (RocketMQ's words).
fn parse_client_auth(v: &str) -> Result<String, String> {
    let t = v.trim().to_ascii_lowercase();
    match t.as_str() {
        "none" | "optional" | "require" => Ok(t),
        _ => Err("expected none, optional or require".to_string()),
    }
}

impl std::str::FromStr for super::TlsMode {
    type Err = String;
    fn from_str(v: &str) -> Result<Self, String> {
        match v.trim().to_ascii_lowercase().as_str() {
            "disabled" => Ok(super::TlsMode::Disabled),
            "permissive" => Ok(super::TlsMode::Permissive),
            "enforcing" => Ok(super::TlsMode::Enforcing),
            _ => Err("expected disabled, permissive (TLS and plaintext on one port) or enforcing (TLS only)".to_string()),
        }
    }
}

/// `metricsExporterType`: DISABLE or PROM (RocketMQ's OTLP_GRPC and LOG are not served).
fn parse_exporter(v: &str) -> Result<String, String> {
    let t = v.trim().to_ascii_uppercase();
    match t.as_str() {
        "DISABLE" | "PROM" => Ok(t),
        "OTLP_GRPC" | "LOG" => Err(format!("{t} is a RocketMQ exporter ferrocket does not serve; use PROM (Prometheus) or DISABLE")),
        _ => Err("expected DISABLE or PROM".to_string()),
    }
}

/// RocketMQ keys that ferrocket accepts in a file but does not use (a softer warning than an
/// unknown key). None of them is ever runtime-updatable.
pub(crate) static IGNORED: &[&str] = &[
    "brokerIP2", "brokerPermission", "rocketmqHome",
    "brokerConfigPath", "configBlackList", "kvConfigPath", "configStorePath", "filterServerNums",
    "storePathCommitLog", "storePathConsumeQueue", "storePathIndex", "storeCheckpoint", "abortFile",
    "mappedFileSizeConsumeQueue", "mappedFileSizeConsumeQueueExt", "defaultQueryMaxNum", "maxTransferBytesOnMessageInMemory",
    "maxTransferCountOnMessageInMemory", "maxTransferBytesOnMessageInDisk", "maxTransferCountOnMessageInDisk",
    "accessMessageInMemoryMaxRatio", "flushDelayOffsetInterval", "flushConsumerOffsetInterval",
    "flushIntervalConsumeQueue", "flushCommitLogLeastPages", "flushConsumeQueueLeastPages",
    "flushCommitLogThoroughInterval", "flushConsumeQueueThoroughInterval", "commitIntervalCommitLog",
    "cleanResourceInterval", "deleteCommitLogFilesInterval", "deleteConsumeQueueFilesInterval",
    "destroyMapedFileIntervalForcibly", "redeleteHangedFileInterval", "cleanFileForciblyEnable",
    "transientStorePoolEnable", "transientStorePoolSize", "warmMapedFileEnable", "enableDLegerCommitLog",
    "dLegerGroup", "dLegerPeers", "dLegerSelfId", "useReentrantLockWhenPutMessage", "clusterTopicEnable",
    "brokerTopicEnable", "notifyConsumerIdsChangedEnable", "filterSupportRetry", "rejectTransactionMessage",
    "traceTopicEnable", "msgTraceTopicName", "storeReplyMessageEnable",
    "litePullMessageEnable", "timerWheelEnable", "sendMessageThreadPoolNums",
    "pullMessageThreadPoolNums", "queryMessageThreadPoolNums", "adminBrokerThreadPoolNums",
    "clientManageThreadPoolNums", "consumerManageThreadPoolNums", "endTransactionThreadPoolNums",
    "sendThreadPoolQueueCapacity", "pullThreadPoolQueueCapacity", "queryThreadPoolQueueCapacity",
    "clientManagerThreadPoolQueueCapacity", "consumerManagerThreadPoolQueueCapacity",
    "endTransactionPoolQueueCapacity", "waitTimeMillsInSendQueue", "waitTimeMillsInPullQueue",
    "waitTimeMillsInTransactionQueue", "useTLS", "serverWorkerThreads", "serverCallbackExecutorThreads",
    "serverSelectorThreads", "serverOnewaySemaphoreValue", "serverAsyncSemaphoreValue",
    "serverSocketSndBufSize", "serverSocketRcvBufSize", "serverPooledByteBufAllocatorEnable", "useEpollNativeSelector",
    "fetchNamesrvAddrByAddressServer", "enableCalcFilterBitMap", "highSpeedMode", "commercialEnable",
    "autoDeleteUnusedStats", "isEnableBatchPush", "enableSlaveActingMaster", "enableControllerMode",
    "controllerAddr", "brokerHeartbeatInterval", "sendHeartbeatTimeoutMillis", "forceRegister",
    "brokerFastFailureEnable", "osPageCacheBusyTimeOutMills",
    "maxErrorRateOfBloomFilter", "expectConsumerNumUseFilter", "bitMapLengthConsumeQueueExt",
    "enableConsumeQueueExt", "duplicationEnable", "diskFallRecorded",
    "haSlaveFallbehindMax", "syncFlushTimeoutMills",
];

/// The spec for `name` (exact, case-sensitive), canonical or alias.
pub(crate) fn find(name: &str) -> Option<&'static KeySpec> {
    KEYS.iter().find(|k| k.name == name)
}

/// A known key that differs only in letter case, for "did you mean" hints.
pub(crate) fn case_insensitive_match(name: &str) -> Option<&'static str> {
    KEYS.iter().map(|k| k.name).chain(IGNORED.iter().copied()).find(|k| k.eq_ignore_ascii_case(name))
}

fn non_negative<T: PartialOrd + Default>(v: T) -> Result<T, String> {
    if v < T::default() {
        Err("must not be negative".to_string())
    } else {
        Ok(v)
    }
}

impl std::str::FromStr for BrokerRole {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s.trim().to_ascii_uppercase().as_str() {
            "ASYNC_MASTER" => Ok(BrokerRole::AsyncMaster),
            "SYNC_MASTER" => Ok(BrokerRole::SyncMaster),
            "SLAVE" => Ok(BrokerRole::Slave),
            _ => Err("expected ASYNC_MASTER, SYNC_MASTER or SLAVE".to_string()),
        }
    }
}

impl std::str::FromStr for FlushDiskType {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        if s.eq_ignore_ascii_case("ASYNC_FLUSH") {
            Ok(FlushDiskType::AsyncFlush)
        } else if s.eq_ignore_ascii_case("SYNC_FLUSH") {
            Ok(FlushDiskType::SyncFlush)
        } else {
            Err("expected ASYNC_FLUSH or SYNC_FLUSH".to_string())
        }
    }
}
