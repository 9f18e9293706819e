//! Helpers for tests that use the embedded `TestBroker` and the raw client.
#![allow(dead_code)]
use ferrocket::client::req::{self, Msg, Pull};
use ferrocket::client::RawClient;
use ferrocket::codec::message::parse_properties;
use ferrocket::codec::stored::{decode_all_stored, StoredMessage};
use ferrocket::codec::RemotingCommand;
use std::time::{Duration, Instant};

pub const T: Duration = Duration::from_secs(5);

pub async fn send(c: &RawClient, msg: &Msg, queue: i32) -> RemotingCommand {
    let resp = c.request(req::send_v2("pg", msg, queue), T).await.expect("send");
    assert_eq!(resp.code, 0, "send failed: {:?}", resp.remark);
    resp
}

/// Pull up to 32 messages from `offset`; empty on 19/20/21.
pub async fn pull(c: &RawClient, group: &str, topic: &str, queue: i32, offset: i64) -> (RemotingCommand, Vec<StoredMessage>) {
    let resp = c.request(Pull::new(group, topic, queue, offset).max(32).build(), T).await.expect("pull");
    let msgs = if resp.code == 0 { decode_all_stored(&resp.body).expect("stored messages decode") } else { Vec::new() };
    (resp, msgs)
}

/// Pull everything in a queue from offset 0.
pub async fn pull_all(c: &RawClient, topic: &str, queue: i32) -> Vec<StoredMessage> {
    let mut out = Vec::new();
    let mut offset = 0;
    loop {
        let (resp, msgs) = pull(c, "reader", topic, queue, offset).await;
        if msgs.is_empty() {
            return out;
        }
        offset = resp.ext("nextBeginOffset").and_then(|v| v.parse().ok()).expect("nextBeginOffset");
        out.extend(msgs);
    }
}

/// Poll `f` until it returns Some, up to `limit`.
pub async fn eventually<F, Fut, R>(limit: Duration, mut f: F) -> Option<R>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<R>>,
{
    let deadline = Instant::now() + limit;
    loop {
        if let Some(r) = f().await {
            return Some(r);
        }
        if Instant::now() > deadline {
            return None;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

pub fn prop(m: &StoredMessage, key: &str) -> Option<String> {
    parse_properties(&m.properties).get(key).map(String::from)
}
