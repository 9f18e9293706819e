//! `ferrocket dev`: the JSON ready line (and --ready-file), pre-declared topics, and clean exits on
//! SIGTERM and when standard input closes; temporary data is removed.
use ferrocket::client::{req, RawClient};
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

fn start(args: &[&str]) -> (Child, serde_json::Value) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_ferrocket"))
        .arg("dev")
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn");
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).expect("ready line");
    let v: serde_json::Value = serde_json::from_str(&line).unwrap_or_else(|e| panic!("not JSON: {line:?}: {e}"));
    (child, v)
}

fn wait_exit(child: &mut Child, limit: Duration) -> Option<std::process::ExitStatus> {
    let deadline = Instant::now() + limit;
    while Instant::now() < deadline {
        if let Ok(Some(s)) = child.try_wait() {
            return Some(s);
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let _ = child.kill();
    None
}

#[tokio::test]
async fn ready_line_names_addresses_and_topics_are_routable() {
    let dir = tempfile::tempdir().unwrap();
    let ready = dir.path().join("ready.json");
    let (mut child, v) = start(&["--topic", "orders:3", "--group", "billing", "--ready-file", ready.to_str().unwrap()]);
    assert_eq!(v["pid"].as_u64(), Some(child.id() as u64));
    let from_file: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&ready).unwrap()).unwrap();
    assert_eq!(from_file, v);
    let ns = RawClient::connect(v["namesrvAddr"].as_str().unwrap().parse().unwrap()).await.unwrap();
    let resp = ns.request(req::route("orders"), Duration::from_secs(5)).await.unwrap();
    assert_eq!(resp.code, 0);
    let route: serde_json::Value = serde_json::from_slice(&resp.body).unwrap();
    assert_eq!(route["queueDatas"][0]["writeQueueNums"], 3);
    assert_eq!(route["brokerDatas"][0]["brokerAddrs"]["0"], v["brokerAddr"]);
    drop(child.stdin.take());
    assert!(wait_exit(&mut child, Duration::from_secs(15)).is_some());
}

#[test]
fn exits_when_stdin_closes_and_removes_temporary_data() {
    let (mut child, v) = start(&[]);
    let data = std::path::PathBuf::from(v["dataDir"].as_str().unwrap());
    assert!(data.exists());
    drop(child.stdin.take());
    let status = wait_exit(&mut child, Duration::from_secs(15)).expect("exited after stdin closed");
    assert!(status.success(), "{status:?}");
    assert!(!data.exists(), "temporary data dir removed");
}

#[test]
fn exits_cleanly_on_sigterm_and_keeps_a_given_data_dir() {
    let dir = tempfile::tempdir().unwrap();
    let (mut child, v) = start(&["--data-dir", dir.path().to_str().unwrap()]);
    assert_eq!(v["dataDir"].as_str().unwrap(), dir.path().to_str().unwrap());
    // SAFETY: kill(2) on our own child.
    unsafe {
        libc::kill(child.id() as i32, libc::SIGTERM);
    }
    let status = wait_exit(&mut child, Duration::from_secs(15)).expect("exited on SIGTERM");
    assert!(status.success(), "{status:?}");
    assert!(dir.path().join("commitlog").exists() || std::fs::read_dir(dir.path()).unwrap().next().is_some());
}
