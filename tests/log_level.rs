//! `logLevel` (issue 16, item 4): the level in the config file applies at startup, RUST_LOG
//! overrides it, and UPDATE_BROKER_CONFIG changes it while the broker runs.
use ferrocket::client::{req, RawClient};
use ferrocket::codec::RemotingCommand;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const T: Duration = Duration::from_secs(10);
/// A debug-level line every new connection produces.
const DEBUG_LINE: &str = "connection opened";

/// `ferrocket dev` with `conf` as its config file and stderr to `log`; returns the child and
/// the broker address. `rust_log`: the RUST_LOG to run with (None: unset).
fn start(dir: &Path, conf: &str, rust_log: Option<&str>) -> (Child, std::net::SocketAddr, std::path::PathBuf) {
    let conf_path = dir.join("broker.conf");
    std::fs::write(&conf_path, conf).unwrap();
    let log_path = dir.join("stderr.log");
    let log = std::fs::File::create(&log_path).unwrap();
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_ferrocket"));
    cmd.arg("dev").arg("--config").arg(&conf_path).env_remove("RUST_LOG").env_remove("FERROCKET_LOG");
    if let Some(l) = rust_log {
        cmd.env("RUST_LOG", l);
    }
    let mut child = cmd.stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::from(log)).spawn().expect("spawn");
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).expect("ready line");
    let v: serde_json::Value = serde_json::from_str(&line).unwrap_or_else(|e| panic!("not JSON: {line:?}: {e}"));
    (child, v["brokerAddr"].as_str().unwrap().parse().unwrap(), log_path)
}

/// Close stdin (the dev broker exits), wait, and return its stderr.
fn stop(mut child: Child, log: &Path) -> String {
    drop(child.stdin.take());
    let deadline = Instant::now() + Duration::from_secs(15);
    while Instant::now() < deadline && matches!(child.try_wait(), Ok(None)) {
        std::thread::sleep(Duration::from_millis(20));
    }
    let _ = child.kill();
    let _ = child.wait();
    std::fs::read_to_string(log).unwrap()
}

async fn connect_once(addr: std::net::SocketAddr) {
    let c = RawClient::connect(addr).await.unwrap();
    let r = c.request(req::max_offset("TBW102", 0), T).await.unwrap();
    assert_eq!(r.code, 0);
}

#[tokio::test]
async fn log_level_from_the_config_file_applies() {
    let dir = tempfile::tempdir().unwrap();
    let (child, addr, log) = start(dir.path(), "logLevel=debug\n", None);
    connect_once(addr).await;
    let text = stop(child, &log);
    assert!(text.contains(DEBUG_LINE), "logLevel=debug shows debug lines:\n{text}");

    let dir = tempfile::tempdir().unwrap();
    let (child, addr, log) = start(dir.path(), "logLevel=info\n", None);
    connect_once(addr).await;
    let text = stop(child, &log);
    assert!(text.contains("ferrocket ready") && !text.contains(DEBUG_LINE), "logLevel=info hides them:\n{text}");
}

#[tokio::test]
async fn rust_log_wins_over_log_level() {
    let dir = tempfile::tempdir().unwrap();
    let (child, addr, log) = start(dir.path(), "logLevel=debug\n", Some("info"));
    connect_once(addr).await;
    let text = stop(child, &log);
    assert!(text.contains("ferrocket ready") && !text.contains(DEBUG_LINE), "RUST_LOG=info wins:\n{text}");
}

#[tokio::test]
async fn update_broker_config_changes_the_log_level_live() {
    let dir = tempfile::tempdir().unwrap();
    let (child, addr, log) = start(dir.path(), "", None);
    let c = RawClient::connect(addr).await.unwrap();
    let r = c.request(RemotingCommand::request(25, 0).with_body("logLevel=debug\n"), T).await.unwrap();
    assert_eq!(r.code, 0, "logLevel is changeable at runtime: {:?}", r.remark);
    let before = std::fs::read_to_string(&log).unwrap();
    assert!(!before.contains(DEBUG_LINE), "info before the update:\n{before}");
    connect_once(addr).await;
    let text = stop(child, &log);
    assert!(text.contains(DEBUG_LINE), "debug lines after UPDATE_BROKER_CONFIG logLevel=debug:\n{text}");
}
