//! UPDATE_BROKER_CONFIG (25): an allowlist, all-or-nothing, refused keys answered NO_PERMISSION
//! naming the key; accepted changes persist across a restart.
mod admin_support;
mod common;

use admin_support::cmd;
use common::{assert_code, DevBroker, T};
use ferrocket::client::{codes, RawClient};

const NO_PERMISSION: i32 = 16;

async fn config(c: &RawClient) -> String {
    let r = c.request(cmd(26), T).await.unwrap();
    assert_code(&r, codes::SUCCESS);
    String::from_utf8(r.body.to_vec()).unwrap()
}

fn value(text: &str, key: &str) -> String {
    text.lines().find_map(|l| l.strip_prefix(&format!("{key}="))).unwrap_or_else(|| panic!("{key} missing")).to_string()
}

async fn refused(body: &str, key: &str) {
    let b = DevBroker::start();
    let c = b.client().await;
    let before = config(&c).await;
    let r = c.request(cmd(25).with_body(body.to_string()), T).await.unwrap();
    assert_code(&r, NO_PERMISSION);
    let remark = r.remark.unwrap_or_default();
    assert!(remark.contains(key), "remark names {key}: {remark}");
    assert_eq!(config(&c).await, before, "nothing applied");
}

#[tokio::test]
async fn path_keys_are_refused() {
    refused("storePathRootDir=/tmp/evil\n", "storePathRootDir").await;
}

#[tokio::test]
async fn port_keys_are_refused() {
    refused("listenPort=1\n", "listenPort").await;
}

#[tokio::test]
async fn identity_keys_are_refused_even_next_to_allowed_ones() {
    refused("maxMessageSize=1000\nbrokerName=evil\n", "brokerName").await;
}

#[tokio::test]
async fn unknown_keys_are_refused() {
    refused("noSuchKeyAtAll=1\n", "noSuchKeyAtAll").await;
}

#[tokio::test]
async fn cve_2023_33246_keys_are_refused() {
    refused("rocketmqHome=/tmp\nfilterServerNums=1\n", "rocketmqHome").await;
}

#[tokio::test]
async fn allowed_key_applies_and_survives_restart() {
    let mut b = DevBroker::start();
    let c = b.client().await;
    let r = c.request(cmd(25).with_body("maxMessageSize=1000\n"), T).await.unwrap();
    assert_code(&r, codes::SUCCESS);
    // Takes effect: a 2000-byte body is now too large (MESSAGE_ILLEGAL).
    let big = ferrocket::client::req::Msg::new("cfg_topic", vec![b'x'; 2000]);
    let r = c.request(ferrocket::client::req::send_v2("pg", &big, 0), T).await.unwrap();
    assert_code(&r, 13);
    let r = c.request(cmd(25).with_body("autoCreateTopicEnable=false\n"), T).await.unwrap();
    assert_code(&r, codes::SUCCESS);
    let text = config(&c).await;
    assert_eq!(value(&text, "maxMessageSize"), "1000");
    assert_eq!(value(&text, "autoCreateTopicEnable"), "false");
    // A bad value is refused and changes nothing.
    let r = c.request(cmd(25).with_body("maxMessageSize=abc\n"), T).await.unwrap();
    assert_ne!(r.code, codes::SUCCESS);
    drop(c);
    b.restart();
    let c = b.client().await;
    let text = config(&c).await;
    assert_eq!(value(&text, "maxMessageSize"), "1000", "override persisted in the data dir");
    assert_eq!(value(&text, "autoCreateTopicEnable"), "false");
}

// ---- runtime keys reach the store (issue 16, item 3): the effect, not the echo ----

use ferrocket::broker::TestBroker;
use ferrocket::client::req;
use std::time::{Duration, Instant};

/// A broker whose commit log rolls every 64 KiB, so a few dozen 4 KiB messages make segments
/// that retention can delete (it never deletes the newest one).
fn small_segment_broker(topic: &str) -> TestBroker {
    TestBroker::builder()
        .topic(topic, 1)
        .configure(|c| {
            c.mapped_file_size_commit_log = 64 * 1024;
            c.max_message_size = 8 * 1024;
        })
        .start()
        .expect("start broker")
}

/// 40 messages of 4 KiB: at least two full 64 KiB segments and a newest one.
async fn fill_segments(c: &RawClient, topic: &str) {
    for i in 0..40 {
        let m = req::Msg::new(topic, vec![b'a' + (i % 26) as u8; 4096]);
        assert_code(&c.request(req::send_v2("pg", &m, 0), T).await.unwrap(), codes::SUCCESS);
    }
}

async fn min_offset(c: &RawClient, topic: &str) -> i64 {
    let r = c.request(req::min_offset(topic, 0), T).await.unwrap();
    assert_code(&r, codes::SUCCESS);
    req::ext_i64(&r, "offset").expect("offset")
}

/// Poll GET_MIN_OFFSET until retention moved it above 0 (or `limit` passed: then 0).
async fn wait_min_offset_moves(c: &RawClient, topic: &str, limit: Duration) -> i64 {
    let deadline = Instant::now() + limit;
    loop {
        let m = min_offset(c, topic).await;
        if m > 0 || Instant::now() >= deadline {
            return m;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// `deleteWhen` naming the current UTC hour (and the next, should the hour turn mid-test).
fn delete_when_now() -> String {
    let h = req::now_ms() / 3_600_000 % 24;
    format!("{h:02};{:02}", (h + 1) % 24)
}

async fn update(c: &RawClient, body: &str) {
    let r = c.request(cmd(25).with_body(body.to_string()), T).await.unwrap();
    assert_code(&r, codes::SUCCESS);
}

#[tokio::test]
async fn retention_keys_take_effect_without_restart() {
    let b = small_segment_broker("ret_live");
    let c = RawClient::connect(b.broker_addr()).await.unwrap();
    fill_segments(&c, "ret_live").await;
    assert_eq!(min_offset(&c, "ret_live").await, 0);
    tokio::time::sleep(Duration::from_millis(20)).await;
    // With the defaults (72 h, 04:00) nothing is old enough; now every closed segment is.
    update(&c, &format!("fileReservedTime=1ms\ndeleteWhen={}\n", delete_when_now())).await;
    let min = wait_min_offset_moves(&c, "ret_live", Duration::from_secs(10)).await;
    assert!(min > 0, "expired segments deleted after UPDATE_BROKER_CONFIG (min offset {min})");
}

#[tokio::test]
async fn retention_override_is_honoured_after_restart() {
    let mut b = small_segment_broker("ret_restart");
    let c = RawClient::connect(b.broker_addr()).await.unwrap();
    // Set before there is anything to delete, then write the segments: only the retention run
    // of the restarted broker (with the stored override) can remove them within the test.
    update(&c, &format!("fileReservedTime=1ms\ndeleteWhen={}\n", delete_when_now())).await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    fill_segments(&c, "ret_restart").await;
    drop(c);
    tokio::time::sleep(Duration::from_millis(20)).await;
    b.restart().expect("restart");
    let c = RawClient::connect(b.broker_addr()).await.unwrap();
    let min = wait_min_offset_moves(&c, "ret_restart", Duration::from_secs(10)).await;
    assert!(min > 0, "the stored fileReservedTime/deleteWhen apply after a restart (min offset {min})");
}

#[tokio::test]
async fn raised_max_message_size_reaches_the_store_live_and_after_restart() {
    let mut b = TestBroker::builder().topic("big_t", 1).configure(|c| c.max_message_size = 16 * 1024).start().unwrap();
    let c = RawClient::connect(b.broker_addr()).await.unwrap();
    let big = req::Msg::new("big_t", vec![b'x'; 100 * 1024]);
    assert_code(&c.request(req::send_v2("pg", &big, 0), T).await.unwrap(), 13);
    update(&c, "maxMessageSize=200000\n").await;
    // The send path and the store both accept the larger message now.
    assert_code(&c.request(req::send_v2("pg", &big, 0), T).await.unwrap(), codes::SUCCESS);
    drop(c);
    b.restart().expect("restart");
    let c = RawClient::connect(b.broker_addr()).await.unwrap();
    assert_code(&c.request(req::send_v2("pg", &big, 0), T).await.unwrap(), codes::SUCCESS);
}
