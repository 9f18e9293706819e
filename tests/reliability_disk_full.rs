//! Full disk at broker level: the data directory is a small tmpfs (root only; the test is skipped
//! with a message when `mount` is not permitted). A ballast file takes part of it; producers send
//! until the disk is full and must get SERVICE_NOT_AVAILABLE (14) with a remark, not a hang, a
//! crash or a garbled store. Consumers keep reading everything acknowledged; after the ballast is
//! removed sends succeed again; after a SIGKILL and restart nothing acknowledged is lost.
mod common;
mod reliability_support;

use ferrocket::client::req::{self, Msg};
use ferrocket::client::{codes, RawClient};
use reliability_support::{report, Broker, Knobs};
use serde_json::json;
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

const T: Duration = Duration::from_secs(15);
const SERVICE_NOT_AVAILABLE: i32 = 14;

/// A tmpfs mounted for the test, unmounted on drop.
struct Tmpfs {
    dir: PathBuf,
    _tmp: tempfile::TempDir,
}

impl Tmpfs {
    fn mount(size_mib: u64) -> Result<Tmpfs, String> {
        let tmp = tempfile::Builder::new().prefix("ferrocket-diskfull-").tempdir().map_err(|e| e.to_string())?;
        let dir = tmp.path().join("mnt");
        std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
        let out = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size_mib}m"), "tmpfs"])
            .arg(&dir)
            .output()
            .map_err(|e| format!("cannot run mount: {e}"))?;
        if !out.status.success() {
            return Err(format!("mount -t tmpfs failed: {}", String::from_utf8_lossy(&out.stderr).trim()));
        }
        Ok(Tmpfs { dir, _tmp: tmp })
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.dir).status();
    }
}

fn body(i: u64, size: usize) -> Vec<u8> {
    let mut b = format!("{i}|").into_bytes();
    b.resize(size, b'a' + (i % 26) as u8);
    b
}

/// Read queue 0 from the start; returns the message index parsed from each body, in order.
async fn read_all(c: &RawClient, topic: &str, size: usize) -> Result<Vec<u64>, String> {
    let mut out = Vec::new();
    let mut off = 0i64;
    for _ in 0..100_000 {
        let resp = c.request(req::Pull::new("rel_full_cg", topic, 0, off).max(32).build(), T).await.map_err(|e| e.to_string())?;
        if resp.code != codes::SUCCESS {
            break;
        }
        let msgs = common::stored::decode_all(&resp.body)?;
        for m in msgs {
            if m.queue_offset != off {
                return Err(format!("offset {} at position {off}", m.queue_offset));
            }
            let i: u64 = std::str::from_utf8(&m.body).ok().and_then(|s| s.split('|').next()?.parse().ok()).ok_or("body not ours")?;
            if m.body != body(i, size) {
                return Err(format!("message {i} garbled"));
            }
            out.push(i);
            off += 1;
        }
    }
    Ok(out)
}

#[test]
fn reliability_disk_full() {
    let fs_mib = Knobs::u64("DISK_FULL_MIB", 32);
    let fs = match Tmpfs::mount(fs_mib) {
        Ok(f) => f,
        Err(e) => {
            eprintln!("SKIPPED reliability_disk_full: {e} (needs root or CAP_SYS_ADMIN to mount a tmpfs)");
            report("disk_full", json!({"skipped": e}));
            return;
        }
    };
    let ballast = fs.dir.join("ballast");
    let data = fs.dir.join("data");
    std::fs::write(&ballast, vec![0u8; 8 << 20]).expect("ballast");
    let conf = [
        ("mappedFileSizeCommitLog", (2u64 << 20).to_string()),
        ("maxMessageSize", (256u64 << 10).to_string()),
        ("sledCacheBytes", (4u64 << 20).to_string()),
    ];
    let mut broker = Broker::start(&data, &conf).unwrap_or_else(|e| panic!("{e}"));
    let size = 8 * 1024;
    let topic = common::unique("rel_full");
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let mut acked: Vec<u64> = Vec::new();
    let mut codes_seen: BTreeMap<i32, u64> = BTreeMap::new();
    let mut remark = None;
    let max_sends = (fs_mib << 20) / size as u64 * 2;
    let mut i = 0u64;
    rt.block_on(async {
        let c = RawClient::connect(broker.addr()).await.unwrap();
        // Fill until the store says the disk is full (or the bound is reached).
        while i < max_sends {
            let r = c.request(req::send_v2("rel_pg", &Msg::new(&topic, body(i, size)), 0), T).await.expect("send");
            *codes_seen.entry(r.code).or_default() += 1;
            i += 1;
            if r.code == codes::SUCCESS {
                acked.push(i - 1);
            } else {
                remark = r.remark.clone();
                if r.code == SERVICE_NOT_AVAILABLE && codes_seen[&SERVICE_NOT_AVAILABLE] >= 5 {
                    break;
                }
            }
        }
    });
    let full_errors = codes_seen.get(&SERVICE_NOT_AVAILABLE).copied().unwrap_or(0);
    assert!(broker.is_running(), "broker died on a full disk:\n{}", broker.log_tail(30));
    // Consumers keep reading while the disk is full.
    let read_full = rt.block_on(async {
        let c = RawClient::connect(broker.addr()).await.unwrap();
        read_all(&c, &topic, size).await
    });
    let acked_while_full = acked.clone();
    // Free space: sends resume.
    std::fs::remove_file(&ballast).expect("remove ballast");
    let mut resumed_after = None;
    rt.block_on(async {
        let c = RawClient::connect(broker.addr()).await.unwrap();
        let mut ok = 0;
        for attempt in 0..200u64 {
            let r = c.request(req::send_v2("rel_pg", &Msg::new(&topic, body(i, size)), 0), T).await.expect("send");
            i += 1;
            if r.code == codes::SUCCESS {
                acked.push(i - 1);
                resumed_after.get_or_insert(attempt);
                ok += 1;
                if ok == 16 {
                    break;
                }
            } else {
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    });
    // A crash after all this loses nothing acknowledged.
    broker.restart().unwrap_or_else(|e| panic!("restart after full disk: {e}"));
    let read_after = rt.block_on(async {
        let c = RawClient::connect(broker.addr()).await.unwrap();
        read_all(&c, &topic, size).await
    });
    let unread_while_full = read_full.as_ref().map(|r| acked_while_full.iter().filter(|a| !r.contains(a)).count()).ok();
    let after = read_after.clone().unwrap_or_default();
    let lost = acked.iter().filter(|a| !after.contains(a)).count();
    report(
        "disk_full",
        json!({"tmpfs_mib": fs_mib, "acknowledged": acked.len(), "answers_by_code": codes_seen, "remark": remark,
               "read_while_full": read_full.as_ref().map(|r| r.len()).map_err(|e| e.clone()),
               "sends_resumed_after_attempts": resumed_after, "read_after_restart": read_after.as_ref().map(|r| r.len()).map_err(|e| e.clone()),
               "lost": lost, "acked_but_unreadable_while_full": unread_while_full}),
    );
    assert!(full_errors > 0, "no SERVICE_NOT_AVAILABLE on a full disk: {codes_seen:?}");
    assert!(codes_seen.keys().all(|c| *c == codes::SUCCESS || *c == SERVICE_NOT_AVAILABLE), "unexpected answers: {codes_seen:?}");
    read_full.unwrap_or_else(|e| panic!("reading while full: {e}"));
    assert_eq!(unread_while_full, Some(0), "acknowledged messages not readable while the disk was full");
    assert!(resumed_after.is_some(), "sends did not resume after space was freed:\n{}", broker.log_tail(20));
    let after = read_after.unwrap_or_else(|e| panic!("reading after restart: {e}"));
    assert_eq!(lost, 0, "acknowledged messages lost after a full disk and a restart");
    let mut sorted = after.clone();
    sorted.dedup();
    assert_eq!(sorted.len(), after.len(), "duplicates after a full disk");
}
