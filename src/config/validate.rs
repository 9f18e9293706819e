//! Whole-config checks, run after loading and after every change (`set`, overlays).

use std::net::IpAddr;
use std::time::Duration;

use super::{BrokerConfig, ConfigError};

/// Longest delay-level list accepted (RocketMQ's delay levels are numbered in a single byte).
pub const MAX_DELAY_LEVELS: usize = 64;
/// Largest frame ferrocket will accept as a limit (1 GiB).
pub const MAX_FRAME_SIZE_LIMIT: usize = 1 << 30;

fn invalid(key: &str, value: impl ToString, reason: impl Into<String>) -> ConfigError {
    ConfigError::Invalid { key: key.to_string(), value: value.to_string(), reason: reason.into() }
}

fn check(ok: bool, key: &str, value: impl ToString, reason: &str) -> Result<(), ConfigError> {
    if ok {
        Ok(())
    } else {
        Err(invalid(key, value, reason))
    }
}

fn positive(key: &str, d: Duration) -> Result<(), ConfigError> {
    check(!d.is_zero(), key, super::value::compact(d), "must be greater than zero")
}

/// A name used in routes and as a topic name: non-empty, no whitespace or separators.
fn name_ok(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 127
        && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '.' || c == '%' || c == '|')
}

/// `host:port` with a non-empty host and a port above 0.
fn host_port(a: &str) -> bool {
    a.rsplit_once(':').is_some_and(|(h, p)| !h.is_empty() && p.parse::<u16>().is_ok_and(|p| p > 0))
}

pub(crate) fn validate(c: &BrokerConfig) -> Result<(), ConfigError> {
    let name_rule = "must be 1..=127 characters of letters, digits, '-', '_', '.', '%', '|'";
    check(name_ok(&c.broker_cluster_name), "brokerClusterName", &c.broker_cluster_name, name_rule)?;
    check(name_ok(&c.broker_name), "brokerName", &c.broker_name, name_rule)?;
    check(c.broker_id >= 0, "brokerId", c.broker_id, "must be >= 0 (0 = master)")?;
    check(c.broker_ip1.parse::<IpAddr>().is_ok(), "brokerIP1", &c.broker_ip1, "must be an IPv4 or IPv6 address clients can reach")?;
    check(
        !c.vip_channel_enabled || c.listen_port == 0 || c.listen_port > 2,
        "listenPort",
        c.listen_port,
        "must be 0 or > 2 when vipChannelEnabled (the VIP channel listens on listenPort - 2)",
    )?;
    check(
        c.grpc_server_port == 0 || (c.grpc_server_port != c.listen_port && c.grpc_server_port != c.namesrv_listen_port),
        "grpcServerPort",
        c.grpc_server_port,
        "must differ from listenPort and namesrvListenPort (0 = no gRPC endpoint)",
    )?;
    if let Some(addrs) = &c.namesrv_addr {
        for a in addrs.split(';').map(str::trim).filter(|a| !a.is_empty()) {
            check(host_port(a), "namesrvAddr", addrs, "expected host:port entries separated by ';'")?;
        }
    }
    if let Some(a) = c.ha_master_address.as_deref().map(str::trim).filter(|a| !a.is_empty()) {
        check(host_port(a), "haMasterAddress", a, "expected host:port of the master's HA port")?;
    }
    positive("registerNameServerPeriod", c.register_broker_interval)?;
    if c.tls_mode != super::TlsMode::Disabled {
        let need = "is required when tls.server.mode is permissive or enforcing";
        check(!c.tls_cert_path.is_empty(), "tls.server.certPath", "", need)?;
        check(!c.tls_key_path.is_empty(), "tls.server.keyPath", "", need)?;
        if c.tls_need_client_auth != "none" {
            check(!c.tls_trust_cert_path.is_empty(), "tls.server.trustCertPath", "", "is required when tls.server.need.client.auth is optional or require")?;
        }
    }
    positive("registerBrokerTimeoutMills", c.register_broker_timeout)?;
    check(!c.store_path_root_dir.as_os_str().is_empty(), "storePathRootDir", "", "must not be empty")?;
    check(
        c.mapped_file_size_commit_log > c.max_message_size as u64,
        "mappedFileSizeCommitLog",
        c.mapped_file_size_commit_log,
        "must be larger than maxMessageSize (a message never spans two segments)",
    )?;
    positive("flushIntervalCommitLog", c.flush_interval_commit_log)?;
    check(
        c.metrics_prom_exporter_host.parse::<IpAddr>().is_ok(),
        "metricsPromExporterHost",
        &c.metrics_prom_exporter_host,
        "must be an IP address to listen on (127.0.0.1 keeps /metrics on loopback)",
    )?;
    check(
        c.console_host.parse::<IpAddr>().is_ok(),
        "consoleHost",
        &c.console_host,
        "must be an IP address to listen on (127.0.0.1 keeps the console on loopback)",
    )?;
    check(
        c.console_port == 0 || (c.console_port != c.listen_port && c.console_port != c.namesrv_listen_port && c.console_port != c.grpc_server_port),
        "consolePort",
        c.console_port,
        "must differ from listenPort, the name server's port and grpcServerPort (0 disables the console)",
    )?;
    check(c.pop_inflight_message_threshold >= 1, "popInflightMessageThreshold", c.pop_inflight_message_threshold, "must be >= 1")?;
    check(
        !c.region_id.is_empty() && !c.region_id.contains(['\u{1}', '\u{2}']),
        "regionId",
        &c.region_id,
        "must be a non-empty name (it is stored in message properties)",
    )?;
    positive("syncFlushTimeout", c.sync_flush_timeout)?;
    positive("fileReservedTime", c.file_reserved_time)?;
    let hours = super::value::fmt_delete_when(&c.delete_when);
    check(!c.delete_when.is_empty() && c.delete_when.iter().all(|h| *h < 24), "deleteWhen", hours, "expected hours 00..23")?;
    let ratio = c.disk_max_used_space_ratio;
    check((10..=95).contains(&ratio), "diskMaxUsedSpaceRatio", ratio, "must be a percentage 10..=95")?;
    check(c.max_message_size > 0, "maxMessageSize", c.max_message_size, "must be greater than zero")?;
    check(
        c.max_message_size < c.max_frame_size,
        "maxMessageSize",
        c.max_message_size,
        &format!("must be less than maxFrameSize ({}) so a message and its headers fit in one frame", c.max_frame_size),
    )?;
    let levels = super::value::fmt_delay_levels(&c.message_delay_level);
    check(
        !c.message_delay_level.is_empty() && c.message_delay_level.len() <= MAX_DELAY_LEVELS,
        "messageDelayLevel",
        &levels,
        "expected 1..=64 levels",
    )?;
    check(c.message_delay_level.iter().all(|d| !d.is_zero()), "messageDelayLevel", &levels, "every level must be > 0")?;
    positive("timerMaxDelay", c.timer_max_delay)?;
    check((10..=1000).contains(&c.timer_precision_ms), "timerPrecisionMs", c.timer_precision_ms, "must be 10..=1000")?;
    check(c.timer_roll_window_slot >= 2, "timerRollWindowSlot", c.timer_roll_window_slot, "must be at least 2")?;
    check((1..=100_000_000).contains(&c.max_hash_slot_num), "maxHashSlotNum", c.max_hash_slot_num, "must be 1..=100000000")?;
    check((1..=400_000_000).contains(&c.max_index_num), "maxIndexNum", c.max_index_num, "must be 1..=400000000")?;
    check(c.sled_cache_bytes > 0, "sledCacheBytes", c.sled_cache_bytes, "must be greater than zero")?;
    check(c.sled_flush_every_ms > 0, "sledFlushEveryMs", c.sled_flush_every_ms, "must be greater than zero")?;
    let q = c.default_topic_queue_nums;
    check((1..=1024).contains(&q), "defaultTopicQueueNums", q, "must be 1..=1024")?;
    positive("shortPollingTimeMills", c.short_polling_time)?;
    positive("transactionCheckInterval", c.transaction_check_interval)?;
    check(c.transaction_check_max >= 0, "transactionCheckMax", c.transaction_check_max, "must be >= 0")?;
    positive("lockExpire", c.lock_expire)?;
    check(
        (1024..=MAX_FRAME_SIZE_LIMIT).contains(&c.max_frame_size),
        "maxFrameSize",
        c.max_frame_size,
        "must be 1024..=1073741824 bytes",
    )?;
    check(c.max_requests_in_flight > 0, "maxRequestsInFlight", c.max_requests_in_flight, "must be greater than zero")?;
    check(
        c.max_queued_response_bytes >= c.max_frame_size,
        "maxQueuedResponseBytes",
        c.max_queued_response_bytes,
        "must be at least maxFrameSize (one full response must fit)",
    )?;
    positive("clientIdleTimeout", c.client_idle_timeout)?;
    check(c.idle_spin <= Duration::from_millis(10), "idleSpin", humantime::format_duration(c.idle_spin), "must be at most 10ms")?;
    positive("channelExpiredTimeout", c.channel_expired_timeout)?;
    positive("brokerExpireTimeout", c.broker_expire_timeout)?;
    let level_ok = !c.log_level.is_empty()
        && c.log_level.chars().all(|ch| ch.is_ascii_alphanumeric() || "_:=,.-".contains(ch))
        && super::logging::parse_filter(&c.log_level).is_ok();
    check(level_ok, "logLevel", &c.log_level, "expected a level (error, warn, info, debug, trace) or tracing filter directives")?;
    Ok(())
}
