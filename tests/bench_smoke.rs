//! Smoke test of the load generator (issue 11): two seconds against an embedded broker, checking
//! that every acknowledged message is consumed exactly once. No timing assertions.
use ferrocket::broker::TestBroker;
use serde_json::Value;
use std::process::Command;

fn bench(args: &[&str]) -> Value {
    let out = Command::new(env!("CARGO_BIN_EXE_ferrocket-bench"))
        .args(args)
        .output()
        .expect("run ferrocket-bench");
    assert!(
        out.status.success(),
        "ferrocket-bench failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("one JSON object on stdout")
}

#[test]
fn closed_loop_verify_and_drain() {
    let broker = TestBroker::builder()
        .topic("bench", 8)
        .start()
        .expect("broker");
    let addr = broker.broker_addr().to_string();
    let pid = std::process::id().to_string();
    let r = bench(&[
        "produce",
        "--broker",
        &addr,
        "--topic",
        "bench",
        "--conns",
        "2",
        "--inflight",
        "8",
        "--body",
        "128",
        "--warmup",
        "200ms",
        "--duration",
        "2s",
        "--verify",
        "--pid",
        &pid,
    ]);
    let v = &r["verify"];
    assert_eq!(v["ok"], true, "{r}");
    assert!(v["acknowledged"].as_u64().unwrap() > 0, "{r}");
    assert_eq!(v["acknowledged"], v["consumed"], "{r}");
    assert_eq!(r["produce"]["acked_msgs"], v["acknowledged"], "{r}");

    // batches, JSON headers, open loop: all acknowledged, then drained by the consume mode
    let r = bench(&[
        "produce",
        "--broker",
        &addr,
        "--topic",
        "bench",
        "--batch",
        "4",
        "--json",
        "--rate",
        "2000",
        "--inflight",
        "64",
        "--warmup",
        "100ms",
        "--duration",
        "500ms",
        "--verify",
    ]);
    assert_eq!(r["verify"]["ok"], true, "{r}");
    let c = bench(&["consume", "--broker", &addr, "--topic", "bench"]);
    assert_eq!(c["consume"]["unfinished_queues"], 0, "{c}");
    assert_eq!(c["consume"]["msgs"], c["backlog"], "{c}");
}

#[test]
fn end_to_end_latency_is_reported() {
    let broker = TestBroker::builder()
        .topic("bench", 8)
        .start()
        .expect("broker");
    let addr = broker.broker_addr().to_string();
    let r = bench(&[
        "e2e",
        "--broker",
        &addr,
        "--topic",
        "bench",
        "--rate",
        "500",
        "--inflight",
        "100",
        "--body",
        "128",
        "--warmup",
        "100ms",
        "--duration",
        "1s",
    ]);
    let sent = r["produce"]["acked_msgs"].as_u64().unwrap();
    assert!(sent > 0, "{r}");
    assert_eq!(r["consume"]["msgs"].as_u64().unwrap(), sent, "{r}");
    assert!(
        r["consume"]["e2e_latency_us"]["count"].as_u64().unwrap() > 0,
        "{r}"
    );
}

#[test]
fn floor_echoes_every_round_trip() {
    // CPU 0 for both ends: the machine this runs on may have one CPU
    let r = bench(&["floor", "--server-cpu", "0", "--client-cpu", "0", "--count", "200", "--request", "1100", "--answer", "200"]);
    assert_eq!(r["mode"], "floor", "{r}");
    assert_eq!(r["round_trips"], 200, "{r}");
    assert_eq!(r["latency_us"]["count"], 200, "every round trip is timed: {r}");
    assert!(r["round_trips_per_s"].as_f64().unwrap() > 0.0, "{r}");
    // the echoing thread's CPU per round trip: it read and wrote each one, so it used some
    assert!(r["echo_cpu_us_per_round_trip"].as_f64().unwrap() > 0.0, "{r}");
}
