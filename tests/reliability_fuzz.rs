//! Hostile input without a network: the corpus in `tests/fixtures/fuzz-corpus/` replayed through
//! every fuzz target, and a stable-Rust mutation fuzzer over the same targets (the cargo-fuzz crate
//! in `fuzz/` needs nightly; this runs anywhere).
//!
//! The mutation fuzzer starts from the corpus and applies byte-level and structure-aware mutations
//! (bit flips, interesting integers in length fields, insert/delete/splice, JSON token swaps). Each
//! input runs under `catch_unwind`; a panicking input is written to `target/fuzz-crashes/` and the
//! test fails. The slowest input and the peak RSS are reported (not asserted: no timed assertions).
//!
//! Knobs: `RELIABILITY_FUZZ_INPUTS` (default 60 000), `RELIABILITY_FUZZ_SECS` (time budget,
//! default 40), `RELIABILITY_SEED`. The long run: `RELIABILITY_FUZZ_INPUTS=10000000`.
mod reliability_support;
#[path = "../fuzz/src/targets.rs"]
mod targets;

use reliability_support::{proc_status_kib, report, Knobs, Rng};
use serde_json::json;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

fn corpus_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/fuzz-corpus")
}

/// Every corpus file, recursively (the per-target subdirectories feed every target here).
fn corpus() -> Vec<(PathBuf, Vec<u8>)> {
    let mut out = Vec::new();
    let mut stack = vec![corpus_dir()];
    while let Some(d) = stack.pop() {
        let Ok(rd) = std::fs::read_dir(&d) else { continue };
        for e in rd.flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else if p.file_name().and_then(|n| n.to_str()).map(|n| !n.starts_with('.') && !n.ends_with(".md")).unwrap_or(false) {
                if let Ok(b) = std::fs::read(&p) {
                    out.push((p, b));
                }
            }
        }
    }
    out.sort();
    out
}

#[test]
fn reliability_fuzz_corpus_replay() {
    let corpus = corpus();
    assert!(corpus.len() >= 44, "the corpus is missing ({} files in {})", corpus.len(), corpus_dir().display());
    let mut failed = Vec::new();
    for (path, data) in &corpus {
        for (name, t) in targets::TARGETS {
            if std::panic::catch_unwind(|| t(data)).is_err() {
                failed.push(format!("{name}: {}", path.display()));
            }
        }
    }
    assert!(failed.is_empty(), "corpus inputs that panic:\n{}", failed.join("\n"));
}

const INTERESTING_32: [i32; 12] = [0, 1, -1, 4, 8, 127, 128, 255, 0xFFFF, 0x7FFF_FFFF, i32::MIN, 16 * 1024 * 1024];
const JSON_TOKENS: [&[u8]; 16] = [
    b"{", b"}", b"[", b"]", b"\"", b":", b",", b"null", b"true", b"-", b"1e999999", b"99999999999999999999999",
    b"\\u0000", b"\\ud800", b"{1:{}}", b"'",
];

fn mutate(rng: &mut Rng, input: &mut Vec<u8>, corpus: &[(PathBuf, Vec<u8>)]) {
    let rounds = 1 + rng.range(0, 4);
    for _ in 0..rounds {
        let len = input.len();
        match rng.range(0, 9) {
            0 if len > 0 => {
                let i = rng.range(0, len as u64) as usize;
                input[i] ^= 1 << rng.range(0, 8);
            }
            1 if len > 0 => {
                let i = rng.range(0, len as u64) as usize;
                input[i] = [0u8, 0xFF, 0x7F, 0x80, b'"', b'{', b'\n', 1, 2][rng.range(0, 9) as usize];
            }
            2 if len >= 4 => {
                // An interesting big-endian i32 over a length-like field (the first 8 bytes often).
                let i = if rng.chance(2) { rng.range(0, 5.min(len as u64 - 3)) } else { rng.range(0, len as u64 - 3) } as usize;
                let v = INTERESTING_32[rng.range(0, INTERESTING_32.len() as u64) as usize];
                input[i..i + 4].copy_from_slice(&v.to_be_bytes());
            }
            3 if len > 0 => {
                let at = rng.range(0, len as u64) as usize;
                let n = rng.range(1, (len - at).min(64) as u64 + 1) as usize;
                input.drain(at..at + n);
            }
            4 => {
                let at = rng.range(0, len as u64 + 1) as usize;
                let n = rng.range(1, 32) as usize;
                let bytes: Vec<u8> = (0..n).map(|_| rng.next() as u8).collect();
                input.splice(at..at, bytes);
            }
            5 => {
                let at = rng.range(0, len as u64 + 1) as usize;
                let tok = JSON_TOKENS[rng.range(0, JSON_TOKENS.len() as u64) as usize];
                input.splice(at..at, tok.iter().copied());
            }
            6 if !corpus.is_empty() => {
                // Splice: our head, another seed's tail.
                let other = &corpus[rng.range(0, corpus.len() as u64) as usize].1;
                let cut = rng.range(0, len as u64 + 1) as usize;
                let from = rng.range(0, other.len() as u64 + 1) as usize;
                input.truncate(cut);
                input.extend_from_slice(&other[from..]);
            }
            7 if len > 0 => {
                input.truncate(rng.range(0, len as u64) as usize);
            }
            8 if len > 8 => {
                // Duplicate a block (repeated frames, repeated members).
                let at = rng.range(0, len as u64) as usize;
                let n = rng.range(1, (len - at).min(256) as u64 + 1) as usize;
                let block = input[at..at + n].to_vec();
                input.splice(at..at, block);
            }
            _ => {}
        }
    }
    input.truncate(256 * 1024);
}

#[test]
fn reliability_fuzz_mutations() {
    let inputs = Knobs::u64("FUZZ_INPUTS", 60_000);
    let budget = Duration::from_secs(Knobs::u64("FUZZ_SECS", 40));
    let seed = Rng::seed();
    let mut rng = Rng::new(seed);
    let corpus = corpus();
    assert!(!corpus.is_empty(), "no corpus in {}", corpus_dir().display());
    // Quiet the default panic message; failures are collected and reported below.
    let prev_hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(|_| {}));
    let started = Instant::now();
    let (mut done, mut panics, mut slow) = (0u64, Vec::new(), 0u64);
    let mut slowest = Duration::ZERO;
    let crash_dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/fuzz-crashes");
    let mut input = Vec::new();
    while done < inputs && started.elapsed() < budget {
        if input.is_empty() || rng.chance(8) {
            input = corpus[rng.range(0, corpus.len() as u64) as usize].1.clone();
        }
        mutate(&mut rng, &mut input, &corpus);
        let t0 = Instant::now();
        for (name, t) in targets::TARGETS {
            let data = input.as_slice();
            if std::panic::catch_unwind(|| t(data)).is_err() {
                let _ = std::fs::create_dir_all(&crash_dir);
                let path = crash_dir.join(format!("{name}-{seed}-{done}"));
                let _ = std::fs::write(&path, data);
                panics.push(format!("{name}: {}", path.display()));
            }
        }
        let took = t0.elapsed();
        slowest = slowest.max(took);
        if took > Duration::from_secs(1) {
            slow += 1;
        }
        done += 1;
    }
    std::panic::set_hook(prev_hook);
    let secs = started.elapsed().as_secs_f64();
    report(
        "fuzz_stable",
        json!({
            "inputs": done, "targets": targets::TARGETS.len(), "panics": panics.len(), "inputs_over_1s": slow,
            "slowest_input_ms": slowest.as_millis() as u64, "inputs_per_sec": (done as f64 / secs) as u64,
            "seconds": secs as u64, "peak_rss_kib": proc_status_kib(std::process::id(), "VmHWM:"),
            "corpus": corpus.len(), "seed": seed,
        }),
    );
    assert!(panics.is_empty(), "seed {seed}: inputs that panic (saved):\n{}", panics.join("\n"));
}
