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
