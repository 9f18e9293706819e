//! Crash test: a child process (this test binary, re-executed) appends and prints every acknowledged
//! message; the parent kills it with SIGKILL at a random moment, reopens the store and checks that every
//! acknowledged message is there, intact, with consecutive queue offsets. Both flush modes.
//!
//! Even cycles kill at a random moment after the first acknowledgement, odd cycles at a random moment
//! after start (which may hit opening and recovery).
//!
//! `FERROCKET_CRASH_CYCLES=200 cargo test --test store_crash -- --nocapture` runs a longer loop
//! (default 20 cycles per mode).
use std::collections::HashMap;
use std::io::{BufRead, BufReader, Write};
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use ferrocket::codec::stored::decode_stored;
use ferrocket::store::{FlushMode, GetStatus, MessageStore, NewMessage, StoreConfig};

const CHILD_ENV: &str = "FERROCKET_CRASH_CHILD_DIR";
const QUEUES: i32 = 4;

fn config(dir: &Path, mode: FlushMode) -> StoreConfig {
    let host: SocketAddr = "127.0.0.1:10911".parse().unwrap();
    let mut c = StoreConfig::new(dir.to_path_buf(), host);
    c.segment_size = 256 * 1024;
    c.cq_entries_per_file = 1000;
    c.flush_mode = mode;
    c.flush_interval = Duration::from_millis(50);
    c.sled_cache_bytes = 1 << 20;
    c
}

/// Body for message `id`: the id, then a pattern whose length and bytes depend on the id.
fn body(id: u64) -> Bytes {
    let len = (id.wrapping_mul(2654435761) % 3000) as usize;
    let mut b = format!("{id}:").into_bytes();
    b.extend((0..len).map(|i| b'a' + ((id as usize + i) % 26) as u8));
    Bytes::from(b)
}

fn id_of(b: &[u8]) -> Option<u64> {
    let s = std::str::from_utf8(b).ok()?;
    s.split(':').next()?.parse().ok()
}

fn rand_u64() -> u64 {
    let n = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_nanos() as u64;
    n ^ (n >> 17).wrapping_mul(0x9E37_79B9_7F4A_7C15)
}

/// Child: append forever from 4 threads (one per queue), print `ack <queue> <queueOffset> <id>`.
fn child(dir: &str, mode: FlushMode, base_id: u64) -> ! {
    let store = MessageStore::open(config(Path::new(dir), mode)).expect("child open");
    let hs: Vec<_> = (0..QUEUES)
        .map(|q| {
            let store: Arc<MessageStore> = store.clone();
            std::thread::spawn(move || {
                let mut id = base_id + q as u64 * 1_000_000;
                loop {
                    id += 1;
                    let m = NewMessage {
                        topic: "crash".into(),
                        queue_id: q,
                        flag: 0,
                        sys_flag: 0,
                        born_timestamp: 0,
                        born_host: "10.0.0.9:1234".parse().unwrap(),
                        reconsume_times: 0,
                        prepared_transaction_offset: 0,
                        body: body(id),
                        properties: format!("KEYS\u{1}{id}"),
                        tags_code: 0,
                        keys: vec![id.to_string()],
                        uniq_key: None,
                    };
                    let out = store.put(vec![m]).expect("put");
                    if let Some(w) = out.flush {
                        w.wait_blocking().expect("sync flush");
                    }
                    let mut so = std::io::stdout().lock();
                    let _ = writeln!(so, "ack {q} {} {id}", out.results[0].queue_offset);
                    let _ = so.flush();
                }
            })
        })
        .collect();
    for h in hs {
        let _ = h.join();
    }
    std::process::exit(0)
}

#[test]
fn crash_child_entry() {
    if let Ok(dir) = std::env::var(CHILD_ENV) {
        let mode = if std::env::var("FERROCKET_CRASH_MODE").as_deref() == Ok("sync") { FlushMode::Sync } else { FlushMode::Async };
        let base: u64 = std::env::var("FERROCKET_CRASH_BASE").ok().and_then(|s| s.parse().ok()).unwrap_or(0);
        child(&dir, mode, base);
    }
}

/// Reopen and check: every acknowledged message readable and intact; every stored message intact,
/// consecutive offsets, ids increasing per queue.
fn verify(dir: &Path, mode: FlushMode, acked: &HashMap<(i32, i64), u64>) -> usize {
    let store = MessageStore::open(config(dir, mode)).expect("reopen");
    let mut total = 0;
    for q in 0..QUEUES {
        let (min, max) = (store.min_offset("crash", q), store.max_offset("crash", q));
        let mut off = min;
        let mut last_id = 0;
        while off < max {
            let g = store.get("crash", q, off, 32, 1 << 24, &|_| true);
            assert_eq!(g.status, GetStatus::Found, "queue {q} offset {off}");
            for m in &g.messages {
                let (d, n) = decode_stored(m).expect("stored record decodes");
                assert_eq!(n, m.len());
                assert_eq!(d.queue_offset, off, "consecutive offsets in queue {q}");
                let id = id_of(&d.body).expect("body starts with id");
                assert_eq!(d.body, body(id), "body of id {id} intact");
                assert!(id > last_id, "ids increase in queue {q}");
                last_id = id;
                if let Some(&want) = acked.get(&(q, off)) {
                    assert_eq!(id, want, "acknowledged message at queue {q} offset {off}");
                }
                off += 1;
                total += 1;
            }
        }
        for (&(aq, aoff), id) in acked {
            assert!(aq != q || aoff < max, "acknowledged id {id} at queue {aq} offset {aoff} lost (max {max})");
        }
    }
    total
}

fn crash_loop(mode: FlushMode, name: &str) {
    let cycles: usize = std::env::var("FERROCKET_CRASH_CYCLES").ok().and_then(|s| s.parse().ok()).unwrap_or(20);
    let dir = tempfile::tempdir().unwrap();
    let exe = std::env::current_exe().unwrap();
    let mut acked: HashMap<(i32, i64), u64> = HashMap::new();
    for cycle in 0..cycles {
        let mut child = Command::new(&exe)
            .args(["crash_child_entry", "--exact", "--nocapture", "--test-threads=1"])
            .env(CHILD_ENV, dir.path())
            .env("FERROCKET_CRASH_MODE", name)
            .env("FERROCKET_CRASH_BASE", ((cycle as u64 + 1) * 10_000_000).to_string())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn child");
        let out = child.stdout.take().unwrap();
        let (first_tx, first_rx) = std::sync::mpsc::channel();
        let reader = std::thread::spawn(move || {
            let mut v = Vec::new();
            for line in BufReader::new(out).lines().map_while(Result::ok) {
                if v.is_empty() {
                    let _ = first_tx.send(());
                }
                let p: Vec<&str> = line.split_whitespace().collect();
                if p.len() == 4 && p[0] == "ack" {
                    if let (Ok(q), Ok(o), Ok(id)) = (p[1].parse::<i32>(), p[2].parse::<i64>(), p[3].parse::<u64>()) {
                        v.push((q, o, id));
                    }
                }
            }
            v
        });
        if cycle % 2 == 0 {
            // kill while appending: wait for the first acknowledgement, then a random moment
            let _ = first_rx.recv_timeout(Duration::from_secs(20));
            std::thread::sleep(Duration::from_millis(rand_u64() % 300));
        } else {
            // kill at a random moment from start (may hit opening and recovery)
            std::thread::sleep(Duration::from_millis(50 + rand_u64() % 450));
        }
        child.kill().expect("SIGKILL child");
        let _ = child.wait();
        let lines = reader.join().unwrap();
        for (q, o, id) in &lines {
            acked.insert((*q, *o), *id);
        }
        let total = verify(dir.path(), mode, &acked);
        assert!(total >= acked.len());
        eprintln!("{name} cycle {cycle}: {} acknowledged this cycle, {} stored in all", lines.len(), total);
    }
    assert!(!acked.is_empty(), "the child acknowledged nothing");
}

#[test]
fn crash_async_flush() {
    if std::env::var(CHILD_ENV).is_ok() {
        return;
    }
    crash_loop(FlushMode::Async, "async");
}

#[test]
fn crash_sync_flush() {
    if std::env::var(CHILD_ENV).is_ok() {
        return;
    }
    crash_loop(FlushMode::Sync, "sync");
}
