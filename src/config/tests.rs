use std::time::Duration;

use super::properties::{escape_value, parse, Entry};
use super::*;

fn load(text: &str) -> (BrokerConfig, Vec<ConfigWarning>) {
    BrokerConfig::from_properties_str(text).unwrap_or_else(|e| panic!("{e}"))
}

fn err(text: &str) -> ConfigError {
    BrokerConfig::from_properties_str(text).expect_err("should be rejected")
}

fn assert_invalid(text: &str, key: &str) {
    match err(text) {
        ConfigError::Invalid { key: k, .. } => assert_eq!(k, key, "{text}"),
        other => panic!("{text}: expected Invalid for {key}, got {other}"),
    }
}

fn kv(text: &str) -> Vec<(String, String)> {
    parse(text).unwrap().into_iter().map(|Entry { key, value, .. }| (key, value)).collect()
}

#[test]
fn shipped_file_is_the_default_without_warnings() {
    let (config, warnings) = load(DEFAULT_CONFIG_TEXT);
    assert!(warnings.is_empty(), "{warnings:?}");
    assert_eq!(config.to_properties(), BrokerConfig::default().to_properties());
    assert_eq!(config, BrokerConfig::default());
}

#[test]
fn shipped_file_has_every_key() {
    let file_keys: Vec<String> = parse(DEFAULT_CONFIG_TEXT).unwrap().into_iter().map(|e| e.key).collect();
    for (key, _) in kv(&BrokerConfig::default().to_properties()) {
        assert!(file_keys.contains(&key), "config/broker.conf lacks {key}");
    }
}

#[test]
fn default_validates_and_round_trips() {
    let d = BrokerConfig::default();
    d.validate().unwrap();
    let (back, warnings) = load(&d.to_properties());
    assert!(warnings.is_empty());
    assert_eq!(back, d);
    assert_eq!(d.store_host().unwrap().to_string(), "127.0.0.1:10911");
    assert_eq!(d.vip_port(), Some(10909));
    assert_eq!(d.delete_when, vec![4]);
    assert_eq!(d.message_delay_level.len(), 18);
}

#[test]
fn apache_sample_broker_conf() {
    // Shaped like the Apache distribution's conf/broker.conf.
    let text = "\
# Licensed to the Apache Software Foundation (ASF) under one or more
# contributor license agreements.
brokerClusterName = DefaultCluster
brokerName = broker-b
brokerId = 0
deleteWhen = 04
fileReservedTime = 48
brokerRole = ASYNC_MASTER
flushDiskType = ASYNC_FLUSH
brokerIP2 = 10.0.0.2
";
    let (c, warnings) = load(text);
    assert_eq!(c.broker_name, "broker-b");
    assert_eq!(c.broker_cluster_name, "DefaultCluster");
    assert_eq!(c.delete_when, vec![4]);
    assert_eq!(c.file_reserved_time, Duration::from_secs(48 * 3600));
    assert_eq!(c.flush_disk_type, FlushDiskType::AsyncFlush);
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    assert_eq!(c.broker_role, super::BrokerRole::AsyncMaster);
    assert!(warnings[0].0.contains("brokerIP2") && warnings[0].0.contains("ignored"), "{}", warnings[0]);
}

#[test]
fn rocketmq_units_and_humantime() {
    let (c, _) = load(
        "flushIntervalCommitLog=1000\nsyncFlushTimeout=2s\nfileReservedTime=30m\ntransactionCheckInterval=30000\n\
         transactionTimeOut=3s\nshortPollingTimeMills=250\nregisterNameServerPeriod=10000\n\
         timerMaxDelaySec=259200\nserverChannelMaxIdleTimeSeconds=60\nchannelExpiredTimeout=90000\n\
         rocketmq.broker.rebalance.lockMaxLiveTime=30000\nbrokerExpireTimeout=1m 30s\ndeleteWhen=01;04\n\
         brokerIp1=10.1.2.3\nflushDiskType=SYNC_FLUSH\nnamesrvAddr=10.0.0.1:9876;10.0.0.2:9876\n",
    );
    assert_eq!(c.flush_interval_commit_log, Duration::from_millis(1000));
    assert_eq!(c.sync_flush_timeout, Duration::from_secs(2));
    assert_eq!(c.file_reserved_time, Duration::from_secs(1800));
    assert_eq!(c.transaction_check_interval, Duration::from_secs(30));
    assert_eq!(c.transaction_timeout, Duration::from_secs(3));
    assert_eq!(c.short_polling_time, Duration::from_millis(250));
    assert_eq!(c.register_broker_interval, Duration::from_secs(10));
    assert_eq!(c.timer_max_delay, Duration::from_secs(3 * 86400));
    assert_eq!(c.client_idle_timeout, Duration::from_secs(60));
    assert_eq!(c.channel_expired_timeout, Duration::from_secs(90));
    assert_eq!(c.lock_expire, Duration::from_secs(30));
    assert_eq!(c.broker_expire_timeout, Duration::from_secs(90));
    assert_eq!(c.delete_when, vec![1, 4]);
    assert_eq!(c.broker_ip1, "10.1.2.3");
    assert_eq!(c.flush_disk_type, FlushDiskType::SyncFlush);
    assert_eq!(c.namesrv_addrs(), vec!["10.0.0.1:9876", "10.0.0.2:9876"]);
    // Written back with canonical names; re-read gives the same config.
    let text = c.to_properties();
    assert!(text.contains("fileReservedTime=30m\n"), "{text}");
    assert!(text.contains("timerMaxDelay=3d\n") && text.contains("clientIdleTimeout=1m\n"), "{text}");
    assert!(text.contains("deleteWhen=01;04\n") && text.contains("brokerIP1=10.1.2.3\n"), "{text}");
    assert!(!text.contains("timerMaxDelaySec") && !text.contains("brokerIp1"));
    assert_eq!(load(&text).0, c);
}

#[test]
fn our_duration_keys_need_a_unit() {
    assert_invalid("clientIdleTimeout=120", "clientIdleTimeout");
    let e = err("brokerExpireTimeout=30").to_string();
    assert!(e.contains("brokerExpireTimeout") && e.contains("unit"), "{e}");
}

#[test]
fn properties_syntax() {
    let text = "\
  # indented comment
! bang comment

a=1
b: 2
c 3
d   =   spaced value   \n\
e=line one \\
    continues \\
   here
f=tab\\there\\u0041\\u00e9\\n
g\\=key=v
h=escaped trailing space\\ \n\
i
j=\\uD83D\\uDE00
k=a\\\\
l=x\r\nm=y\rn=z";
    let entries = kv(text);
    let get = |k: &str| entries.iter().find(|(key, _)| key == k).map(|(_, v)| v.as_str()).unwrap_or_else(|| panic!("{k}"));
    assert_eq!(get("a"), "1");
    assert_eq!(get("b"), "2");
    assert_eq!(get("c"), "3");
    assert_eq!(get("d"), "spaced value");
    assert_eq!(get("e"), "line one continues here");
    assert_eq!(get("f"), "tab\there\u{41}\u{e9}\n");
    assert_eq!(get("g=key"), "v");
    assert_eq!(get("h"), "escaped trailing space ");
    assert_eq!(get("i"), "");
    assert_eq!(get("j"), "\u{1F600}");
    assert_eq!(get("k"), "a\\");
    assert_eq!((get("l"), get("m"), get("n")), ("x", "y", "z"));
    assert_eq!(entries.len(), 14);
    let lines: Vec<usize> = parse(text).unwrap().iter().map(|e| e.line).collect();
    assert_eq!(&lines[..6], &[4, 5, 6, 7, 8, 11]);
}

#[test]
fn continuation_and_escapes_in_a_broker_conf() {
    let text = "brokerName=broker\\\n    -\\u0061\nmessageDelayLevel=1s 5s \\\n  10s\n";
    let (c, w) = load(text);
    assert!(w.is_empty());
    assert_eq!(c.broker_name, "broker-a");
    assert_eq!(c.message_delay_level, vec![Duration::from_secs(1), Duration::from_secs(5), Duration::from_secs(10)]);
}

#[test]
fn malformed_unicode_escape_is_a_syntax_error() {
    match err("a=1\nbrokerName=x\\u00zz\n") {
        ConfigError::Syntax { line, reason } => assert_eq!((line, reason.contains("\\uXXXX")), (2, true)),
        other => panic!("{other}"),
    }
}

#[test]
fn escape_value_round_trips() {
    for v in ["", " lead", "trail ", "a=b:c", "#x", "!x", "tab\t", "back\\slash", "é ü", "\u{1F600}", "two  "] {
        let line = format!("k={}", escape_value(v));
        assert_eq!(kv(&line), vec![("k".to_string(), v.to_string())], "{line}");
    }
}

#[test]
fn unknown_keys_warn_by_name_and_line() {
    let (c, warnings) = load("brokerName=b1\n\nfooBar=1\nbrokername=x\nstorePathCommitLog=/x\n");
    assert_eq!(c.broker_name, "b1");
    let w: Vec<&str> = warnings.iter().map(|w| w.0.as_str()).collect();
    assert_eq!(w.len(), 3, "{w:?}");
    assert!(w[0].contains("unknown key \"fooBar\" (line 3)"), "{}", w[0]);
    assert!(w[1].contains("\"brokername\"") && w[1].contains("did you mean \"brokerName\""), "{}", w[1]);
    assert!(w[2].contains("storePathCommitLog") && w[2].contains("ignored"), "{}", w[2]);
}

#[test]
fn repeated_key_warns_and_last_wins() {
    let (c, w) = load("listenPort=1000\nlistenPort=2000\n");
    assert_eq!(c.listen_port, 2000);
    assert_eq!(w.len(), 1);
    assert!(w[0].0.contains("listenPort") && w[0].0.contains("line 1"), "{}", w[0]);
}

#[test]
fn invalid_values_name_the_key() {
    assert_invalid("autoCreateTopicEnable=yes", "autoCreateTopicEnable");
    assert_invalid("longPollingEnable=1", "longPollingEnable");
    assert_invalid("listenPort=-1", "listenPort");
    assert_invalid("listenPort=70000", "listenPort");
    assert_invalid("defaultTopicQueueNums=abc", "defaultTopicQueueNums");
    assert_invalid("maxMessageSize=abc", "maxMessageSize");
    assert_invalid("brokerId=-2", "brokerId");
    assert_invalid("flushDiskType=FAST_FLUSH", "flushDiskType");
    assert_invalid("messageDelayLevel=1s 5x 10s", "messageDelayLevel");
    assert_invalid("messageDelayLevel=", "messageDelayLevel");
    assert_invalid("messageDelayLevel=1s 0s", "messageDelayLevel");
    assert_invalid("deleteWhen=25", "deleteWhen");
    assert_invalid("flushIntervalCommitLog=fast", "flushIntervalCommitLog");
    assert_invalid("fileReservedTime=-5", "fileReservedTime");
    let e = err("enablePropertyFilter=maybe").to_string();
    assert!(e.contains("enablePropertyFilter") && e.contains("maybe") && e.contains("true or false"), "{e}");
    let e = err("flushDiskType=FAST_FLUSH").to_string();
    assert!(e.contains("ASYNC_FLUSH or SYNC_FLUSH"), "{e}");
    let e = err("messageDelayLevel=1s 5x").to_string();
    assert!(e.contains("level 2") && e.contains("5x"), "{e}");
}

#[test]
fn booleans_are_case_insensitive() {
    let (c, _) = load("autoCreateTopicEnable=FALSE\nenablePropertyFilter=True\n");
    assert!(!c.auto_create_topic_enable && c.enable_property_filter);
}

#[test]
fn validation_rejects_out_of_range() {
    assert_invalid("defaultTopicQueueNums=0", "defaultTopicQueueNums");
    assert_invalid("defaultTopicQueueNums=1025", "defaultTopicQueueNums");
    assert_invalid("diskMaxUsedSpaceRatio=99", "diskMaxUsedSpaceRatio");
    assert_invalid("diskMaxUsedSpaceRatio=5", "diskMaxUsedSpaceRatio");
    assert_invalid("maxMessageSize=0", "maxMessageSize");
    assert_invalid("maxMessageSize=16777216", "maxMessageSize");
    assert_invalid("brokerName=", "brokerName");
    assert_invalid("brokerName=has space", "brokerName");
    assert_invalid("brokerIP1=not-an-ip", "brokerIP1");
    assert_invalid("namesrvAddr=localhost", "namesrvAddr");
    assert_invalid("haMasterAddress=nohost", "haMasterAddress");
    assert_invalid("mappedFileSizeCommitLog=1024", "mappedFileSizeCommitLog");
    assert_invalid("flushIntervalCommitLog=0", "flushIntervalCommitLog");
    assert_invalid("listenPort=2", "listenPort");
    assert_invalid("logLevel=info; rm -rf", "logLevel");
    // Larger messages are fine once the frame limit grows with them, in any order.
    let (c, _) = load("maxMessageSize=20000000\nmaxFrameSize=33554432\nmaxQueuedResponseBytes=67108864\n");
    assert_eq!(c.max_message_size, 20_000_000);
}

#[test]
fn acl_keys_parse_and_the_file_is_found_as_java_finds_it() {
    let (c, w) = load("aclEnable=true\naclFilePath=acl/accounts.yml\n");
    assert!(w.is_empty(), "{w:?}");
    assert!(c.acl_enable);
    assert_invalid("aclEnable=maybe", "aclEnable");
    let conf = std::path::Path::new("/etc/rmq");
    assert_eq!(acl_file_location(&c.acl_file_path, Some(conf), Some("/opt/rmq")), conf.join("acl/accounts.yml"));
    assert_eq!(acl_file_location("/abs.yml", Some(conf), None), std::path::PathBuf::from("/abs.yml"));
    assert_eq!(acl_file_location("", Some(conf), Some("/opt/rmq")), std::path::PathBuf::from("/opt/rmq/conf/plain_acl.yml"));
    assert_eq!(acl_file_location("", Some(conf), None), conf.join("conf/plain_acl.yml"));
}

#[test]
fn apply_is_all_or_nothing() {
    let mut c = BrokerConfig::default();
    let e = c.apply_properties_str("brokerName=changed\nlistenPort=x\n").unwrap_err();
    assert!(matches!(e, ConfigError::Invalid { ref key, .. } if key == "listenPort"));
    assert_eq!(c, BrokerConfig::default());
    c.apply_properties_str("listenPort=0\n").unwrap();
    assert_eq!(c.listen_port, 0);
    assert_eq!(c.vip_port(), Some(0));
    assert_eq!(c.broker_name, "broker-a");
}

#[test]
fn set_one_key() {
    let mut c = BrokerConfig::default();
    c.set("fileReservedTime", "24").unwrap();
    assert_eq!(c.file_reserved_time, Duration::from_secs(24 * 3600));
    c.set("timerMaxDelaySec", "60").unwrap();
    assert_eq!(c.timer_max_delay, Duration::from_secs(60));
    assert!(matches!(c.set("fooBar", "1"), Err(ConfigError::UnknownKey { .. })));
    assert!(matches!(c.set("brokerIP2", "10.0.0.2"), Err(ConfigError::Unsupported { .. })));
    c.set("brokerRole", "SLAVE").unwrap();
    assert_eq!(c.broker_role, super::BrokerRole::Slave);
    assert!(matches!(c.set("brokerRole", "LEADER"), Err(ConfigError::Invalid { .. })));
    c.set("haListenPort", "").unwrap();
    assert_eq!(c.ha_listen_port, None);
    c.set("haMasterAddress", "10.0.0.1:10912").unwrap();
    assert_eq!(c.ha_master_address.as_deref(), Some("10.0.0.1:10912"));
    assert!(matches!(c.set("defaultTopicQueueNums", "0"), Err(ConfigError::Invalid { .. })));
    assert_eq!(c.default_topic_queue_nums, 8, "a rejected set leaves the config unchanged");
}

#[test]
fn load_file_reads_latin1_and_reports_io_errors() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("broker.conf");
    std::fs::write(&path, b"storePathRootDir=/srv/caf\xe9\nfooBar=1\n").unwrap();
    let (c, w) = BrokerConfig::load_file(&path).unwrap();
    assert_eq!(c.store_path_root_dir, std::path::PathBuf::from("/srv/caf\u{e9}"));
    assert_eq!(w.len(), 1);
    let missing = dir.path().join("missing.conf");
    let e = BrokerConfig::load_file(&missing).unwrap_err();
    assert!(matches!(e, ConfigError::Io { .. }));
    assert!(e.to_string().contains("missing.conf"), "{e}");
}

#[test]
fn runtime_allowlist() {
    for key in ["storePathRootDir", "brokerName", "brokerClusterName", "brokerId", "brokerIP1", "brokerIp1",
        "listenPort", "namesrvAddr", "namesrvListenPort", "flushDiskType", "messageDelayLevel", "maxFrameSize",
        "defaultTopicQueueNums", "rocketmqHome", "configStorePath", "kvConfigPath", "brokerConfigPath", "aclEnable",
        "storePathCommitLog", "filterServerNums", "brokerRole", "haListenPort", "haMasterAddress", "fooBar", "", "BROKERNAME", "autocreatetopicenable"]
    {
        assert!(!BrokerConfig::runtime_updatable(key), "{key} must not be runtime-updatable");
    }
    for key in ["autoCreateTopicEnable", "autoCreateSubscriptionGroup", "logLevel", "maxMessageSize",
        "flushIntervalCommitLog", "fileReservedTime", "deleteWhen", "diskMaxUsedSpaceRatio", "timerMaxDelay",
        "timerMaxDelaySec", "transactionCheckInterval", "transactionTimeOut", "transactionCheckMax",
        "enablePropertyFilter", "longPollingEnable", "shortPollingTimeMills"]
    {
        assert!(BrokerConfig::runtime_updatable(key), "{key}");
    }
}

#[test]
fn runtime_update_is_all_or_nothing() {
    let mut c = BrokerConfig::default();
    let e = c.apply_runtime_update("autoCreateTopicEnable=false\nstorePathRootDir=/etc/cron.d\n").unwrap_err();
    assert!(matches!(e, ConfigError::NotUpdatable { ref key } if key == "storePathRootDir"), "{e}");
    assert!(e.to_string().contains("storePathRootDir"));
    let e = c.apply_runtime_update("autoCreateTopicEnable=false\ndiskMaxUsedSpaceRatio=5\n").unwrap_err();
    assert!(matches!(e, ConfigError::Invalid { ref key, .. } if key == "diskMaxUsedSpaceRatio"), "{e}");
    assert_eq!(c, BrokerConfig::default());
    let changed = c.apply_runtime_update("autoCreateTopicEnable=false\nlongPollingEnable=true\ndeleteWhen=01;04").unwrap();
    assert_eq!(changed, vec!["deleteWhen", "autoCreateTopicEnable"]);
    assert!(!c.auto_create_topic_enable);
}

/// The comment block above each key in the shipped file says "[runtime]" exactly for the keys
/// on the allowlist, and the module docs mention every key.
#[test]
fn shipped_file_and_docs_match_the_key_table() {
    let lines: Vec<&str> = DEFAULT_CONFIG_TEXT.lines().collect();
    let docs = include_str!("mod.rs");
    for spec in super::keys::KEYS {
        assert!(docs.contains(&format!("`{}`", spec.name)), "module docs lack {}", spec.name);
        if spec.alias_of.is_some() {
            continue;
        }
        let at = lines.iter().position(|l| l.starts_with(&format!("{}=", spec.name))).unwrap();
        let comment: Vec<&str> = lines[..at].iter().rev().take_while(|l| l.starts_with('#')).copied().collect();
        assert!(!comment.is_empty(), "{} has no comment", spec.name);
        let marked = comment.iter().any(|l| l.contains("[runtime]"));
        assert_eq!(marked, spec.runtime, "[runtime] marker for {}", spec.name);
        assert_eq!(marked, BrokerConfig::runtime_updatable(spec.name));
    }
}

#[test]
fn log_level_must_be_a_tracing_filter() {
    let mut c = BrokerConfig::default();
    c.apply_runtime_update("logLevel=debug,ferrocket::store=trace\n").unwrap();
    assert_eq!(c.log_level, "debug,ferrocket::store=trace");
    let e = c.apply_runtime_update("logLevel=ferrocket=loud\n").unwrap_err();
    assert!(matches!(e, ConfigError::Invalid { ref key, .. } if key == "logLevel"), "{e}");
}
