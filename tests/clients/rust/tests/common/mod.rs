//! What the client tests share: `ferrocket dev` as a child process, the client runtime.
#![allow(dead_code)]

use rocketmq_client_rust::{ClientRuntime, ClientRuntimeConfig, TelemetryHandle};
use rocketmq_runtime::RuntimeOwner;
use std::path::PathBuf;
use std::process::Stdio;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

pub struct Broker {
    pub child: Child,
    pub namesrv: String,
    pub dir: PathBuf,
}

impl Broker {
    /// kill -9: the process dies with nothing flushed or closed (its files stay).
    pub async fn kill(&mut self) {
        let _ = self.child.start_kill();
        let _ = tokio::time::timeout(Duration::from_secs(10), self.child.wait()).await;
    }

    /// The last lines the broker wrote to stderr, for failure messages.
    pub fn log_tail(&self) -> String {
        let log = std::fs::read_to_string(self.dir.join("ferrocket.stderr.log")).unwrap_or_default();
        let lines: Vec<&str> = log.lines().collect();
        lines[lines.len().saturating_sub(40)..].join("\n")
    }
}

impl Drop for Broker {
    fn drop(&mut self) {
        let _ = self.child.start_kill();
    }
}

pub async fn start_broker() -> Broker {
    start_broker_with(&[]).await
}

/// `ferrocket dev` with extra arguments (a config file, topics).
pub async fn start_broker_with(extra: &[&str]) -> Broker {
    let manifest = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let bin = std::env::var("FERROCKET_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|_| manifest.join("../../../target/debug/ferrocket"));
    static STARTED: AtomicUsize = AtomicUsize::new(0);
    let n = STARTED.fetch_add(1, Ordering::Relaxed);
    let dir = std::env::temp_dir().join(format!("ferrocket-rustclient-{}-{}-{n}", std::process::id(), now_ms()));
    std::fs::create_dir_all(dir.join("data")).unwrap();
    let log = std::fs::File::create(dir.join("ferrocket.stderr.log")).unwrap();
    let mut child = Command::new(&bin)
        .arg("dev")
        .arg("--data-dir")
        .arg(dir.join("data"))
        .args(extra)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::from(log))
        .kill_on_drop(true)
        .spawn()
        .unwrap_or_else(|e| panic!("spawn {}: {e}", bin.display()));
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let namesrv = tokio::time::timeout(Duration::from_secs(30), async {
        while let Ok(Some(l)) = lines.next_line().await {
            if let Some(namesrv) = ready_namesrv(&l) {
                return namesrv;
            }
        }
        panic!("ferrocket dev exited before printing its JSON ready line with namesrvAddr");
    })
    .await
    .expect("a JSON ready line with namesrvAddr from ferrocket dev within 30 s");
    // Keep draining stdout.
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
    Broker { child, namesrv, dir }
}

/// The name-server address from the JSON ready line `ferrocket dev` prints on stdout
/// (`{"brokerAddr":..,"dataDir":..,"namesrvAddr":"HOST:PORT","pid":..}`, written without spaces);
/// `None` for any other line.
pub fn ready_namesrv(line: &str) -> Option<String> {
    const KEY: &str = "\"namesrvAddr\":\"";
    let line = line.trim();
    if !line.starts_with('{') {
        return None;
    }
    let rest = &line[line.find(KEY)? + KEY.len()..];
    Some(rest[..rest.find('"')?].to_string())
}

pub fn now_ms() -> u128 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_millis()
}

pub fn client_runtime(owner: &RuntimeOwner, scope: &'static str) -> Arc<ClientRuntime> {
    ClientRuntime::try_new(owner.root_context().component(scope), ClientRuntimeConfig::default(), TelemetryHandle::noop())
        .expect("client runtime")
}
