//! Shared pieces of the reliability suite (`tests/reliability_*.rs`).
//!
//! * [`Broker`]: a `ferrocket dev` child process on a data directory the caller chooses (so it can
//!   be killed and restarted on the same files), with a `broker.conf` written from key/value pairs.
//! * [`parse_ready`]: reads the JSON ready line `ferrocket dev` prints (`namesrvAddr`, `brokerAddr`,
//!   `dataDir`, `pid`).
//! * [`Knobs`]: every size, count and duration of a test comes from here, so one test runs short in
//!   CI and long from `scripts/reliability.sh` (environment variables, see `docs/reliability.md`).
//! * [`report`]: prints one `RELIABILITY_RESULT {json}` line that the script collects into its table.
//!
//! Every wait is bounded; all traffic goes to 127.0.0.1.
#![allow(dead_code)]

use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Read, Seek, SeekFrom};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// How long a start may take before the test fails.
pub const READY_TIMEOUT: Duration = Duration::from_secs(30);

/// The addresses a ready line announces.
#[derive(Debug, Clone, PartialEq)]
pub struct Ready {
    pub namesrv: SocketAddr,
    pub broker: SocketAddr,
    pub data_dir: Option<PathBuf>,
}

/// Parse the JSON ready line; `None` for any other line.
pub fn parse_ready(line: &str) -> Option<Ready> {
    let line = line.trim();
    if !line.starts_with('{') {
        return None;
    }
    let v: serde_json::Value = serde_json::from_str(line).ok()?;
    let addr = |k: &str| v.get(k)?.as_str()?.parse::<SocketAddr>().ok();
    Some(Ready {
        namesrv: addr("namesrvAddr")?,
        broker: addr("brokerAddr")?,
        data_dir: v.get("dataDir").and_then(|d| d.as_str()).map(PathBuf::from),
    })
}

/// The broker binary: `FERROCKET_BIN` (the script passes the release build) or Cargo's.
pub fn bin() -> PathBuf {
    std::env::var_os("FERROCKET_BIN").map(PathBuf::from).unwrap_or_else(|| PathBuf::from(env!("CARGO_BIN_EXE_ferrocket")))
}

/// A `ferrocket dev` process on a caller-owned data directory. Killed (SIGKILL) on drop.
pub struct Broker {
    child: Option<Child>,
    pub ready: Ready,
    pub data_dir: PathBuf,
    pub conf: PathBuf,
    log: PathBuf,
}

impl Broker {
    /// Start on `data_dir` with the given broker.conf entries; logs go to `<data_dir>/../<name>.log`.
    pub fn start(data_dir: &Path, conf: &[(&str, String)]) -> Result<Broker, String> {
        std::fs::create_dir_all(data_dir).map_err(|e| format!("create {}: {e}", data_dir.display()))?;
        let parent = data_dir.parent().unwrap_or(data_dir);
        let name = data_dir.file_name().and_then(|n| n.to_str()).unwrap_or("data").to_string();
        let conf_path = parent.join(format!("{name}.broker.conf"));
        let mut text: String = conf.iter().map(|(k, v)| format!("{k}={v}\n")).collect();
        // Extra broker.conf lines for experiments: RELIABILITY_EXTRA_CONF="key=value;key=value".
        if let Ok(extra) = std::env::var("RELIABILITY_EXTRA_CONF") {
            for kv in extra.split(';').filter(|s| s.contains('=')) {
                text.push_str(kv.trim());
                text.push('\n');
            }
        }
        std::fs::write(&conf_path, text).map_err(|e| format!("write conf: {e}"))?;
        let log = parent.join(format!("{name}.stderr.log"));
        let (child, ready) = spawn(data_dir, &conf_path, &log)?;
        Ok(Broker { child: Some(child), ready, data_dir: data_dir.to_path_buf(), conf: conf_path, log })
    }

    /// Start again on the same directory and config (after [`Broker::kill9`]).
    pub fn restart(&mut self) -> Result<(), String> {
        self.kill9();
        let (child, ready) = spawn(&self.data_dir, &self.conf, &self.log)?;
        self.child = Some(child);
        self.ready = ready;
        Ok(())
    }

    pub fn addr(&self) -> SocketAddr {
        self.ready.broker
    }

    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(|c| c.id())
    }

    /// SIGKILL and reap (bounded: SIGKILL cannot be ignored).
    pub fn kill9(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// SIGTERM, wait up to `grace`, then SIGKILL. True if it exited by itself.
    pub fn stop(&mut self, grace: Duration) -> bool {
        let Some(mut c) = self.child.take() else { return true };
        // SAFETY: kill(2) on our own child's pid.
        unsafe { libc::kill(c.id() as i32, libc::SIGTERM) };
        let deadline = Instant::now() + grace;
        while Instant::now() < deadline {
            if let Ok(Some(_)) = c.try_wait() {
                return true;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = c.kill();
        let _ = c.wait();
        false
    }

    pub fn is_running(&mut self) -> bool {
        self.child.as_mut().map(|c| matches!(c.try_wait(), Ok(None))).unwrap_or(false)
    }

    /// Resident set size now, in KiB (`VmRSS`).
    pub fn rss_kib(&self) -> Option<u64> {
        proc_status_kib(self.pid()?, "VmRSS:")
    }

    /// Peak resident set size, in KiB (`VmHWM`).
    pub fn peak_rss_kib(&self) -> Option<u64> {
        proc_status_kib(self.pid()?, "VmHWM:")
    }

    pub fn log_tail(&self, n: usize) -> String {
        log_tail(&self.log, n)
    }
}

impl Drop for Broker {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!("---- ferrocket stderr (last 40 lines) ----\n{}", self.log_tail(40));
        }
        self.kill9();
    }
}

/// A `/proc/<pid>/status` field in KiB.
pub fn proc_status_kib(pid: u32, field: &str) -> Option<u64> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = s.lines().find(|l| l.starts_with(field))?;
    line[field.len()..].split_whitespace().next()?.parse().ok()
}

fn spawn(data_dir: &Path, conf: &Path, log_path: &Path) -> Result<(Child, Ready), String> {
    let log = OpenOptions::new().create(true).append(true).open(log_path).map_err(|e| format!("open log: {e}"))?;
    let mut child = Command::new(bin())
        .arg("dev")
        .arg("--data-dir")
        .arg(data_dir)
        .arg("-c")
        .arg(conf)
        .env("RUST_LOG", std::env::var("FERROCKET_TEST_LOG").unwrap_or_else(|_| "warn".into()))
        .env("FERROCKET_LOG", std::env::var("FERROCKET_TEST_LOG").unwrap_or_else(|_| "warn".into()))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::from(log))
        .spawn()
        .map_err(|e| format!("spawn {}: {e}", bin().display()))?;
    let stdout = child.stdout.take().ok_or("no stdout")?;
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        // Keep draining stdout after the ready line so the broker never blocks on a full pipe.
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if let Some(r) = parse_ready(&line) {
                let _ = tx.send(r);
            }
        }
    });
    match rx.recv_timeout(READY_TIMEOUT) {
        Ok(r) => Ok((child, r)),
        Err(e) => {
            let _ = child.kill();
            let _ = child.wait();
            Err(format!(
                "ferrocket dev printed no JSON ready line with namesrvAddr and brokerAddr ({e:?}); stderr:\n{}",
                log_tail(log_path, 40)
            ))
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

/// Test sizes: `RELIABILITY_<NAME>` from the environment, else the short (CI) default.
pub struct Knobs;

impl Knobs {
    pub fn u64(name: &str, short: u64) -> u64 {
        std::env::var(format!("RELIABILITY_{name}")).ok().and_then(|v| v.parse().ok()).unwrap_or(short)
    }

    pub fn long() -> bool {
        std::env::var("RELIABILITY_LONG").map(|v| v == "1").unwrap_or(false)
    }
}

/// Print one result line for `scripts/reliability.sh` (shown by `cargo test -- --nocapture`).
pub fn report(test: &str, figures: serde_json::Value) {
    let line = serde_json::json!({ "test": test, "figures": figures });
    println!("RELIABILITY_RESULT {line}");
    if let Ok(path) = std::env::var("RELIABILITY_RESULTS") {
        if let Ok(mut f) = OpenOptions::new().create(true).append(true).open(path) {
            use std::io::Write;
            let _ = writeln!(f, "{line}");
        }
    }
}

/// A small deterministic PRNG (xorshift64*), seeded per test; the seed is reported.
#[derive(Clone)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed.max(1))
    }

    /// A seed from `RELIABILITY_SEED` or the clock.
    pub fn seed() -> u64 {
        Knobs::u64(
            "SEED",
            std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_nanos() as u64).unwrap_or(1),
        )
    }

    pub fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// Uniform in `lo..hi` (`lo` when empty).
    pub fn range(&mut self, lo: u64, hi: u64) -> u64 {
        if hi <= lo {
            lo
        } else {
            lo + self.next() % (hi - lo)
        }
    }

    pub fn chance(&mut self, one_in: u64) -> bool {
        self.next().is_multiple_of(one_in.max(1))
    }
}

#[test]
fn ready_line_parses() {
    let r = parse_ready(r#"{"namesrvAddr":"127.0.0.1:1","brokerAddr":"127.0.0.1:2","dataDir":"/tmp/x","pid":7}"#).unwrap();
    assert_eq!(r.namesrv, "127.0.0.1:1".parse().unwrap());
    assert_eq!(r.broker, "127.0.0.1:2".parse().unwrap());
    assert_eq!(r.data_dir, Some(PathBuf::from("/tmp/x")));
    assert!(parse_ready("INFO something else").is_none());
    assert!(parse_ready(r#"{"other":1}"#).is_none());
}
