//! Store throughput: appends (128 B and 1 KiB bodies, ASYNC and SYNC flush, 1/16/64 writer threads)
//! and reads from a warm backlog. A plain `harness = false` main: each case runs for a fixed time.
//!
//! `cargo bench --bench store` (optionally `-- <secs per case>`); figures in docs/store-bench.md.
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use ferrocket::store::{FlushMode, MessageStore, NewMessage, StoreConfig};

fn cfg(dir: &std::path::Path, mode: FlushMode) -> StoreConfig {
    let host: SocketAddr = "127.0.0.1:10911".parse().unwrap();
    let mut c = StoreConfig::new(dir.to_path_buf(), host);
    c.flush_mode = mode;
    c.segment_size = 256 << 20;
    c
}

fn msg(q: i32, body: &Bytes) -> NewMessage {
    NewMessage {
        topic: "bench".into(),
        queue_id: q,
        flag: 0,
        sys_flag: 0,
        born_timestamp: 0,
        born_host: "10.0.0.1:1".parse().unwrap(),
        reconsume_times: 0,
        prepared_transaction_offset: 0,
        body: body.clone(),
        properties: "TAGS\u{1}A".into(),
        tags_code: 65,
        keys: Vec::new(),
        uniq_key: None,
    }
}

fn append(size: usize, mode: FlushMode, writers: usize, secs: f64) -> f64 {
    let dir = tempfile::tempdir().unwrap();
    let store = MessageStore::open(cfg(dir.path(), mode)).unwrap();
    let body = Bytes::from(vec![b'x'; size]);
    let stop = Arc::new(AtomicBool::new(false));
    let count = Arc::new(AtomicU64::new(0));
    let start = Instant::now();
    let hs: Vec<_> = (0..writers)
        .map(|w| {
            let (store, stop, count, body) = (store.clone(), stop.clone(), count.clone(), body.clone());
            std::thread::spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    let out = store.put(vec![msg((w % 8) as i32, &body)]).unwrap();
                    if let Some(f) = out.flush {
                        f.wait_blocking().unwrap();
                    }
                    count.fetch_add(1, Ordering::Relaxed);
                }
            })
        })
        .collect();
    std::thread::sleep(Duration::from_secs_f64(secs));
    stop.store(true, Ordering::Relaxed);
    for h in hs {
        h.join().unwrap();
    }
    let n = count.load(Ordering::Relaxed) as f64;
    let el = start.elapsed().as_secs_f64();
    store.flush().unwrap();
    n / el
}

fn read_backlog(size: usize, n: usize) -> (f64, f64) {
    let dir = tempfile::tempdir().unwrap();
    let store = MessageStore::open(cfg(dir.path(), FlushMode::Async)).unwrap();
    let body = Bytes::from(vec![b'x'; size]);
    for _ in 0..n / 32 {
        store.put((0..32).map(|_| msg(0, &body)).collect()).unwrap();
    }
    let start = Instant::now();
    let mut off = 0;
    let mut got = 0;
    while off < store.max_offset("bench", 0) {
        let g = store.get("bench", 0, off, 32, 256 * 1024, &|_| true);
        got += g.messages.len();
        off = g.next_begin_offset;
    }
    let el = start.elapsed().as_secs_f64();
    let t = Instant::now();
    drop(store);
    let store = MessageStore::open(cfg(dir.path(), FlushMode::Async)).unwrap();
    let reopen = t.elapsed().as_secs_f64();
    assert_eq!(store.max_offset("bench", 0) as usize, got);
    (got as f64 / el, reopen)
}

fn main() {
    let secs: f64 = std::env::args().skip(1).find_map(|a| a.parse().ok()).unwrap_or(1.5);
    println!("| body | flush | writers | msgs/s | MB/s |");
    println!("|---:|---|---:|---:|---:|");
    for size in [128usize, 1024] {
        for mode in [FlushMode::Async, FlushMode::Sync] {
            for writers in [1usize, 16, 64] {
                let r = append(size, mode, writers, secs);
                println!("| {size} B | {mode:?} | {writers} | {r:.0} | {:.1} |", r * size as f64 / 1e6);
            }
        }
    }
    for size in [128usize, 1024] {
        let (r, reopen) = read_backlog(size, 200_000);
        println!("read warm backlog, {size} B bodies, 32 per get: {r:.0} msgs/s; reopen with 200k messages: {reopen:.2} s");
    }
}
