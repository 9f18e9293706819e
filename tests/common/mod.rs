//! Shared fixture for the through-the-wire tests: a `ferrocket dev` child process on ephemeral
//! ports, plus small helpers. Every wait is bounded.
#![allow(dead_code)]

pub mod stored;

use ferrocket::client::req::{self, Msg};
use ferrocket::client::{codes, RawClient};
use ferrocket::codec::RemotingCommand;
use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Read, Seek, SeekFrom};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// Default timeout of one request in tests.
pub const T: Duration = Duration::from_secs(10);
/// How long the broker may take to print its JSON ready line.
pub const READY_TIMEOUT: Duration = Duration::from_secs(30);

/// A `ferrocket dev` process with its own data directory; killed on drop.
pub struct DevBroker {
    child: Option<Child>,
    pub namesrv: SocketAddr,
    pub broker: SocketAddr,
    /// The HA port of a master (`haAddr` in the ready line).
    pub ha: Option<SocketAddr>,
    /// The gRPC endpoint (`grpcAddr` in the ready line).
    pub grpc: Option<SocketAddr>,
    pub data_dir: PathBuf,
    log_path: PathBuf,
    launch: Launch,
    /// More arguments for `ferrocket dev` (e.g. `--tls`), kept for restarts.
    extra_args: Vec<String>,
    _tmp: tempfile::TempDir,
}

/// How a [`DevBroker`] is started beyond the defaults.
#[derive(Clone, Default)]
pub struct Launch {
    /// A `broker.conf` written to the temporary directory and passed with `--config`.
    pub config: Option<String>,
    /// `RUST_LOG` for the broker: `None` is `FERROCKET_TEST_LOG` or `info`; `Some("")` leaves
    /// both `RUST_LOG` and `FERROCKET_LOG` unset (the config's `logLevel` then decides).
    pub rust_log: Option<String>,
}

impl DevBroker {
    /// Start a broker in a fresh temporary data directory and wait for its ready line.
    pub fn start() -> DevBroker {
        Self::start_with(Launch::default())
    }

    /// [`DevBroker::start`] with a config file and/or a log filter of the test's choice.
    pub fn start_with(launch: Launch) -> DevBroker {
        Self::start_with_args(launch, Vec::new())
    }

    /// [`DevBroker::start_with`] plus more `ferrocket dev` arguments (e.g. `--tls`).
    pub fn start_with_args(mut launch: Launch, extra_args: Vec<String>) -> DevBroker {
        let tmp = tempfile::Builder::new().prefix("ferrocket-test-").tempdir().expect("tempdir");
        let data_dir = tmp.path().join("data");
        std::fs::create_dir_all(&data_dir).expect("create data dir");
        let log_path = tmp.path().join("ferrocket.stderr.log");
        if let Some(text) = launch.config.take() {
            let path = tmp.path().join("broker.conf");
            std::fs::write(&path, text).expect("write broker.conf");
            launch.config = Some(path.display().to_string());
        }
        let (child, r) = spawn(&data_dir, &log_path, None, &launch, &extra_args);
        let Ready { namesrv, broker, ha, grpc } = r;
        DevBroker { child: Some(child), namesrv, broker, ha, grpc, data_dir, log_path, launch, extra_args, _tmp: tmp }
    }

    /// Stop gracefully (SIGTERM, up to 15 s, then SIGKILL) and start again on the same data and
    /// the same ports (as a real broker restarts); reconnect afterwards.
    pub fn restart(&mut self) {
        self.stop(libc::SIGTERM, Duration::from_secs(15));
        self.start_again();
    }

    /// Kill with SIGKILL and start again on the same data.
    pub fn kill_and_restart(&mut self) {
        self.stop(libc::SIGKILL, Duration::from_secs(5));
        self.start_again();
    }

    /// Start again on the same data and ports after [`DevBroker::stop`] (files may be changed in between).
    pub fn start_again(&mut self) {
        let ports = (self.namesrv.port(), self.broker.port());
        let (child, r) = spawn(&self.data_dir, &self.log_path, Some(ports), &self.launch, &self.extra_args);
        self.child = Some(child);
        self.namesrv = r.namesrv;
        self.broker = r.broker;
        self.ha = r.ha;
        self.grpc = r.grpc;
    }

    /// Send `signal` and wait up to `grace` for exit, then SIGKILL. Returns whether it exited
    /// by itself within `grace`.
    pub fn stop(&mut self, signal: i32, grace: Duration) -> bool {
        let Some(mut child) = self.child.take() else { return true };
        // SAFETY: kill(2) on our own child's pid.
        unsafe {
            libc::kill(child.id() as i32, signal);
        }
        let deadline = Instant::now() + grace;
        while Instant::now() < deadline {
            if let Ok(Some(_)) = child.try_wait() {
                return true;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = child.kill();
        let _ = child.wait();
        false
    }

    /// A connection to the broker.
    /// The broker process id (for reading its memory use).
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(|c| c.id())
    }

    pub async fn client(&self) -> RawClient {
        RawClient::connect(self.broker).await.expect("connect to broker")
    }

    /// A connection to the name server.
    pub async fn namesrv_client(&self) -> RawClient {
        RawClient::connect(self.namesrv).await.expect("connect to name server")
    }

    /// The last `n` lines of the broker's stderr.
    pub fn log_tail(&self, n: usize) -> String {
        log_tail(&self.log_path, n)
    }

    pub fn is_running(&mut self) -> bool {
        match self.child.as_mut() {
            Some(c) => matches!(c.try_wait(), Ok(None)),
            None => false,
        }
    }
}

impl Drop for DevBroker {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
        if std::thread::panicking() {
            eprintln!("---- ferrocket stderr (last 60 lines) ----\n{}", self.log_tail(60));
        }
    }
}

fn log_tail(path: &Path, n: usize) -> String {
    let mut s = String::new();
    if let Ok(mut f) = File::open(path) {
        let len = f.metadata().map(|m| m.len()).unwrap_or(0);
        let _ = f.seek(SeekFrom::Start(len.saturating_sub(64 * 1024)));
        let _ = f.read_to_string(&mut s);
    }
    let lines: Vec<&str> = s.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

fn bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_ferrocket"))
}

/// The addresses of a started broker, from its ready line.
struct Ready {
    namesrv: SocketAddr,
    broker: SocketAddr,
    ha: Option<SocketAddr>,
    grpc: Option<SocketAddr>,
}

/// `launch.config` holds the path of the written config file here.
fn spawn(data_dir: &Path, log_path: &Path, ports: Option<(u16, u16)>, launch: &Launch, extra_args: &[String]) -> (Child, Ready) {
    let log = OpenOptions::new().create(true).append(true).open(log_path).expect("open log");
    let mut cmd = Command::new(bin());
    cmd.arg("dev");
    if let Some((ns, br)) = ports {
        cmd.arg("--namesrv-port").arg(ns.to_string()).arg("--port").arg(br.to_string());
    }
    if let Some(path) = &launch.config {
        cmd.arg("--config").arg(path);
    }
    cmd.args(extra_args);
    cmd.env_remove("FERROCKET_LOG");
    match launch.rust_log.as_deref() {
        Some("") => {
            cmd.env_remove("RUST_LOG");
        }
        Some(filter) => {
            cmd.env("RUST_LOG", filter);
        }
        None => {
            cmd.env("RUST_LOG", std::env::var("FERROCKET_TEST_LOG").unwrap_or_else(|_| "info".into()));
        }
    }
    let mut child = cmd
        .arg("--data-dir")
        .arg(data_dir)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::from(log))
        .spawn()
        .expect("spawn ferrocket dev");
    let stdout = child.stdout.take().expect("stdout");
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        // Keep draining stdout after the ready line so the broker never blocks on a full pipe.
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if line.contains("\"namesrvAddr\"") {
                let _ = tx.send(line);
            }
        }
    });
    let line = match rx.recv_timeout(READY_TIMEOUT) {
        Ok(line) => line,
        Err(e) => {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "ferrocket dev printed no JSON ready line with \"namesrvAddr\" ({e:?}); stderr:\n{}",
                log_tail(log_path, 60)
            );
        }
    };
    let (namesrv, broker) = parse_ready(&line).unwrap_or_else(|| panic!("bad ready line: {line}"));
    let v = serde_json::from_str::<serde_json::Value>(&line).unwrap_or_default();
    let addr = |key: &str| v[key].as_str().and_then(|a| a.parse().ok());
    (child, Ready { namesrv, broker, ha: addr("haAddr"), grpc: addr("grpcAddr") })
}

/// Parse the ready line `ferrocket dev` prints on stdout, one JSON object:
/// `{"brokerAddr":"HOST:PORT","dataDir":..,"namesrvAddr":"HOST:PORT","pid":..}`.
pub fn parse_ready(line: &str) -> Option<(SocketAddr, SocketAddr)> {
    let v = serde_json::from_str::<serde_json::Value>(line).ok()?;
    Some((v["namesrvAddr"].as_str()?.parse().ok()?, v["brokerAddr"].as_str()?.parse().ok()?))
}

static SEQ: AtomicU32 = AtomicU32::new(0);

/// A topic or group name unique within this run.
pub fn unique(prefix: &str) -> String {
    let n = SEQ.fetch_add(1, Ordering::Relaxed);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default()
        .subsec_nanos();
    format!("{prefix}_{}_{nanos:x}_{n}", std::process::id())
}

/// What a successful send answered.
#[derive(Debug, Clone)]
pub struct Sent {
    pub msg_id: String,
    pub queue_id: i32,
    pub queue_offset: i64,
}

/// Assert a response code, showing the remark on failure.
#[track_caller]
pub fn assert_code(resp: &RemotingCommand, code: i32) {
    assert_eq!(
        resp.code, code,
        "expected response code {code}, got {} (remark {:?}, extFields {:?})",
        resp.code, resp.remark, resp.ext_fields
    );
}

/// Parse a send response that must be SUCCESS.
#[track_caller]
pub fn sent(resp: &RemotingCommand) -> Sent {
    assert_code(resp, codes::SUCCESS);
    Sent {
        msg_id: resp.ext("msgId").expect("msgId in send response").to_string(),
        queue_id: req::ext_i64(resp, "queueId").expect("queueId in send response") as i32,
        queue_offset: req::ext_i64(resp, "queueOffset").expect("queueOffset in send response"),
    }
}

/// SEND_MESSAGE_V2 that must succeed.
pub async fn send_ok(c: &RawClient, msg: &Msg, queue_id: i32) -> Sent {
    let resp = c.request(req::send_v2("test_pg", msg, queue_id), T).await.expect("send");
    sent(&resp)
}

/// PULL that returns the response and the decoded messages (empty unless FOUND).
pub async fn pull(c: &RawClient, p: &req::Pull) -> (RemotingCommand, Vec<stored::StoredMsg>) {
    let resp = c.request(p.build(), T).await.expect("pull");
    let msgs = if resp.code == codes::SUCCESS {
        stored::decode_all(&resp.body).unwrap_or_else(|e| panic!("pull body does not decode: {e}"))
    } else {
        Vec::new()
    };
    (resp, msgs)
}

/// Run an async block with an upper bound, failing the test when it is exceeded.
pub async fn bounded<F: std::future::Future>(limit: Duration, what: &str, f: F) -> F::Output {
    match tokio::time::timeout(limit, f).await {
        Ok(v) => v,
        Err(_) => panic!("{what}: not done within {limit:?}"),
    }
}
