//! `logLevel` (issue 16, item 4): the level in the config file applies at startup, RUST_LOG
//! overrides it, and UPDATE_BROKER_CONFIG changes it while the broker runs.
mod common;

use common::{DevBroker, Launch, T};
use ferrocket::client::req;
use ferrocket::codec::RemotingCommand;
use std::time::Duration;

/// A debug-level line every new connection produces.
const DEBUG_LINE: &str = "connection opened";

/// `ferrocket dev` with `conf` as its config file; `rust_log`: the RUST_LOG to run with (None:
/// unset, so the config decides).
fn start(conf: &str, rust_log: Option<&str>) -> DevBroker {
    DevBroker::start_with(Launch { config: Some(conf.to_string()), rust_log: Some(rust_log.unwrap_or("").to_string()) })
}

/// Stop the broker (SIGTERM) and return its stderr.
fn stop(mut b: DevBroker) -> String {
    b.stop(libc::SIGTERM, Duration::from_secs(15));
    b.log_tail(usize::MAX)
}

async fn connect_once(b: &DevBroker) {
    let c = b.client().await;
    let r = c.request(req::max_offset("TBW102", 0), T).await.unwrap();
    assert_eq!(r.code, 0);
}

#[tokio::test]
async fn log_level_from_the_config_file_applies() {
    let b = start("logLevel=debug\n", None);
    connect_once(&b).await;
    let text = stop(b);
    assert!(text.contains(DEBUG_LINE), "logLevel=debug shows debug lines:\n{text}");

    let b = start("logLevel=info\n", None);
    connect_once(&b).await;
    let text = stop(b);
    assert!(text.contains("ferrocket ready") && !text.contains(DEBUG_LINE), "logLevel=info hides them:\n{text}");
}

#[tokio::test]
async fn rust_log_wins_over_log_level() {
    let b = start("logLevel=debug\n", Some("info"));
    connect_once(&b).await;
    let text = stop(b);
    assert!(text.contains("ferrocket ready") && !text.contains(DEBUG_LINE), "RUST_LOG=info wins:\n{text}");
}

#[tokio::test]
async fn update_broker_config_changes_the_log_level_live() {
    let b = start("", None);
    let c = b.client().await;
    let r = c.request(RemotingCommand::request(25, 0).with_body("logLevel=debug\n"), T).await.unwrap();
    assert_eq!(r.code, 0, "logLevel is changeable at runtime: {:?}", r.remark);
    let before = b.log_tail(usize::MAX);
    assert!(!before.contains(DEBUG_LINE), "info before the update:\n{before}");
    connect_once(&b).await;
    let text = stop(b);
    assert!(text.contains(DEBUG_LINE), "debug lines after UPDATE_BROKER_CONFIG logLevel=debug:\n{text}");
}

#[tokio::test]
async fn json_log_lines_carry_the_connection_span() {
    // logFormat=json: one JSON object per line; a line logged while serving a request names the
    // connection's peer and, after its heartbeat, its client id.
    let b = start("logFormat=json\nlogLevel=info\n", None);
    let c = b.client().await;
    let hb = req::heartbeat("10.1.2.3@json-test", &[], &[req::ConsumerSpec::push("bad/group", "T", "*")]);
    assert_eq!(c.request(hb, T).await.unwrap().code, 0);
    let log = stop(b);
    let lines: Vec<serde_json::Value> = log
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not a JSON log line ({e}): {l}")))
        .collect();
    assert!(lines.iter().any(|v| v["fields"]["message"] == "broker started"), "{log}");
    let warn = lines
        .iter()
        .find(|v| v["fields"]["message"].as_str().is_some_and(|m| m.contains("illegal group name")))
        .unwrap_or_else(|| panic!("no warning for the illegal group: {log}"));
    assert_eq!(warn["level"], "WARN");
    assert_eq!(warn["span"]["name"], "conn");
    assert_eq!(warn["span"]["client_id"], "10.1.2.3@json-test");
    assert!(warn["span"]["peer"].as_str().is_some_and(|p| p.starts_with("127.0.0.1:")), "{warn}");
}
