//! Smoke test of `ferrocket-bench scale` (issue 21) against an embedded broker: each scenario's
//! subcommand runs at a tiny size and reports what it did. Outcomes only, never timings.
use ferrocket::broker::TestBroker;
use serde_json::Value;
use std::process::Command;

fn bench(args: &[&str]) -> Value {
    let out = Command::new(env!("CARGO_BIN_EXE_ferrocket-bench"))
        .args(args)
        .output()
        .expect("run ferrocket-bench");
    assert!(out.status.success(), "ferrocket-bench failed: {}", String::from_utf8_lossy(&out.stderr));
    let v: Value = serde_json::from_slice(&out.stdout).expect("one JSON object on stdout");
    assert!(v.get("error").is_none(), "{v}");
    v
}

#[test]
fn scale_subcommands_report_what_they_did() {
    let broker = TestBroker::builder().topic("bench", 4).start().expect("broker");
    let addr = broker.broker_addr().to_string();
    let ns = broker.namesrv_addr().to_string();
    let pid = std::process::id().to_string();

    let r = bench(&["scale", "topics", "--broker", &addr, "--prefix", "sm", "--count", "40", "--queues", "2", "--pid", &pid]);
    assert_eq!(r["created"], 40, "{r}");

    let r = bench(&["scale", "routes", "--namesrv", &ns, "--prefix", "sm", "--count", "40", "--lookups", "300",
        "--conns", "2", "--inflight", "4"]);
    assert_eq!(r["ok"], 300, "{r}");
    assert_eq!(r["latency_us"]["count"], 300, "{r}");

    let r = bench(&["scale", "register", "--broker", &addr, "--namesrv", &ns, "--rounds", "2"]);
    assert!(r["topics"].as_u64().unwrap() >= 41, "{r}");
    let (plain, packed) = (r["plain"]["body_bytes"].as_u64().unwrap(), r["compressed"]["body_bytes"].as_u64().unwrap());
    assert!(packed > 0 && packed < plain, "{r}");
    assert_eq!(r["compressed"]["answer_us"]["count"], 2, "{r}");

    let r = bench(&["scale", "offsets", "--broker", &addr, "--topic", "bench", "--groups", "20", "--queues", "2",
        "--interval", "200ms", "--duration", "500ms", "--pid", &pid]);
    let rounds = r["rounds"].as_u64().unwrap();
    assert!(rounds >= 2, "{r}");
    assert_eq!(r["commits"].as_u64().unwrap(), rounds * 40, "{r}");
    assert_eq!(r["failed"], 0, "{r}");

    let r = bench(&["produce", "--broker", &addr, "--topic", "bench", "--queues", "4", "--body", "64",
        "--total", "400", "--inflight", "8", "--warmup", "0s", "--duration", "20s"]);
    assert_eq!(r["produce"]["acked_msgs"], 400, "{r}");
    for at in ["head", "tail", "random"] {
        let r = bench(&["scale", "pull-lat", "--broker", &addr, "--topic", "bench", "--queues", "4", "--at", at,
            "--samples", "20", "--max-msgs", "16"]);
        assert_eq!(r["not_found"], 0, "{at}: {r}");
        assert_eq!(r["backlog"], 400, "{r}");
        assert!(r["msgs_per_pull"].as_f64().unwrap() >= 1.0, "{at}: {r}");
    }
}
