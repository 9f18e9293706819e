//! Helpers shared by the `admin_*` tests (on top of the `common` DevBroker fixture).
#![allow(dead_code)]

use crate::common::{assert_code, bounded, DevBroker, T};
use ferrocket::client::{codes, RawClient};
use ferrocket::codec::body::TopicRouteData;
use ferrocket::codec::RemotingCommand;
use std::process::{Command, Output};
use std::time::{Duration, Instant};

/// A request with a numeric code and no header.
pub fn cmd(code: i32) -> RemotingCommand {
    RemotingCommand::request(code, 0)
}

/// UPDATE_AND_CREATE_TOPIC (17) as mqadmin sends it; waits until the name server has the route.
pub async fn create_topic(b: &DevBroker, c: &RawClient, topic: &str, queues: i32) {
    let req = ferrocket::client::req::create_topic(topic, queues);
    assert_code(&c.request(req, T).await.expect("create topic"), codes::SUCCESS);
    wait_route(b, topic).await;
}

/// Poll the name server until `topic` has a route (registration is asynchronous).
pub async fn wait_route(b: &DevBroker, topic: &str) -> TopicRouteData {
    let ns = b.namesrv_client().await;
    bounded(Duration::from_secs(15), "route registration", async {
        loop {
            let r = ns.request(ferrocket::client::req::route(topic), T).await.expect("route");
            if r.code == codes::SUCCESS {
                return TopicRouteData::from_json(&r.body).expect("route body");
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await
}

/// Run `ferrocket admin -n <namesrv> <args>` and return its output.
pub fn admin(b: &DevBroker, args: &[&str]) -> Output {
    let out = Command::new(env!("CARGO_BIN_EXE_ferrocket"))
        .arg("admin")
        .arg("-n")
        .arg(b.namesrv.to_string())
        .args(args)
        .output()
        .expect("run ferrocket admin");
    out
}

/// Run an admin command that must succeed; returns stdout.
#[track_caller]
pub fn admin_ok(b: &DevBroker, args: &[&str]) -> String {
    let out = admin(b, args);
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "ferrocket admin {args:?} failed ({:?})\nstdout:\n{stdout}\nstderr:\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

/// Run an admin command with `--json` that must succeed; returns the parsed output.
#[track_caller]
pub fn admin_json(b: &DevBroker, args: &[&str]) -> serde_json::Value {
    let mut a = vec!["--json"];
    a.extend_from_slice(args);
    let s = admin_ok(b, &a);
    serde_json::from_str(&s).unwrap_or_else(|e| panic!("admin {args:?} --json is not JSON ({e}):\n{s}"))
}

/// Run an admin command that must fail; returns stderr.
#[track_caller]
pub fn admin_err(b: &DevBroker, args: &[&str]) -> String {
    let out = admin(b, args);
    assert!(!out.status.success(), "ferrocket admin {args:?} should have failed:\n{}", String::from_utf8_lossy(&out.stdout));
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// Wait until `f` returns Some, polling every 50 ms, for at most `limit`.
pub async fn eventually<T, F, Fut>(limit: Duration, what: &str, mut f: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = Instant::now() + limit;
    loop {
        if let Some(v) = f().await {
            return v;
        }
        assert!(Instant::now() < deadline, "{what}: not within {limit:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
