//! Captured Java 4.9.7 requests sent to ferrocket get the answers the Java broker and name server
//! gave (vectors in tests/fixtures/frames): same code, same header members, same bodies where the
//! content does not depend on the broker's history.
#[path = "frames/mod.rs"]
mod frames;
use ferrocket::broker::TestBroker;
use ferrocket::client::RawClient;
use ferrocket::codec::frame::encode_json_header;
use ferrocket::codec::RemotingCommand;
use serde_json::Value;
use std::time::Duration;

const T: Duration = Duration::from_secs(5);

/// The JSON header of a command as written on the wire, without `opaque`.
fn header_json(c: &RemotingCommand) -> Value {
    let mut out = Vec::new();
    encode_json_header(c, &mut out);
    let mut v: Value = serde_json::from_slice(&out).unwrap();
    v.as_object_mut().unwrap().remove("opaque");
    v
}

async fn exchange(c: &RawClient, n: u32) -> RemotingCommand {
    c.request(frames::cmd(n), T).await.expect("answer")
}

fn broker() -> TestBroker {
    TestBroker::builder().topic("vec_send_90874", 4).topic("vec_pull_90874", 1).start().unwrap()
}

#[tokio::test]
async fn heartbeats_are_answered_like_the_java_broker() {
    let b = broker();
    let c = RawClient::connect(b.broker_addr()).await.unwrap();
    for (req, resp) in [(5, 6), (7, 8)] {
        let got = exchange(&c, req).await;
        assert_eq!(header_json(&got), header_json(&frames::cmd(resp)), "vector {resp:04}");
        assert!(got.body.is_empty());
    }
    // after the consumer heartbeat of 0007, the consumer list of 0023 is 0024's
    let got = exchange(&c, 23).await;
    let want = frames::cmd(24);
    assert_eq!(header_json(&got), header_json(&want));
    assert_eq!(got.body, want.body);
}

#[tokio::test]
async fn route_not_found_is_answered_like_the_java_name_server() {
    let b = broker();
    let c = RawClient::connect(b.namesrv_addr()).await.unwrap();
    let got = exchange(&c, 3).await;
    assert_eq!(header_json(&got), header_json(&frames::cmd(4)));
}

#[tokio::test]
async fn route_body_has_the_java_shape() {
    let b = broker();
    let c = RawClient::connect(b.namesrv_addr()).await.unwrap();
    let got = exchange(&c, 1).await;
    let want = frames::cmd(2);
    assert_eq!(header_json(&got), header_json(&want));
    let text = String::from_utf8(got.body.to_vec()).unwrap();
    let expected = String::from_utf8(want.body.to_vec()).unwrap().replace("127.0.0.1:10911", &b.broker_addr().to_string());
    assert_eq!(text, expected, "byte for byte but for the broker address");
}

#[tokio::test]
async fn new_group_offset_and_send_shapes_match() {
    let b = broker();
    let c = RawClient::connect(b.broker_addr()).await.unwrap();
    let got = exchange(&c, 25).await;
    assert_eq!(header_json(&got), header_json(&frames::cmd(26)), "new group on a fresh queue: offset 0");
    let got = exchange(&c, 9).await;
    let want = frames::cmd(10);
    assert_eq!(got.code, want.code);
    let mut keys: Vec<&str> = got.ext_fields.as_ref().unwrap().keys().collect();
    let mut want_keys: Vec<&str> = want.ext_fields.as_ref().unwrap().keys().collect();
    keys.sort();
    want_keys.sort();
    assert_eq!(keys, want_keys);
    assert_eq!(got.ext("queueId"), Some("2"));
    assert_eq!(got.ext("queueOffset"), Some("0"));
    // unregister answers with an empty extFields object, as in 0040
    let got = exchange(&c, 39).await;
    assert_eq!(header_json(&got), header_json(&frames::cmd(40)));
}

#[tokio::test]
async fn pull_statuses_match_the_captures() {
    let b = broker();
    let c = RawClient::connect(b.broker_addr()).await.unwrap();
    // two messages in vec_pull_90874 queue 0, as in the capture
    for body in ["first", "second"] {
        let m = ferrocket::client::req::Msg::new("vec_pull_90874", body).tags("TagP");
        let r = c.request(ferrocket::client::req::send_v2("vec_pg", &m, 0), T).await.unwrap();
        assert_eq!(r.code, 0);
    }
    for (req, resp) in [(31, 32), (33, 34)] {
        let got = exchange(&c, req).await;
        assert_eq!(header_json(&got), header_json(&frames::cmd(resp)), "vector {resp:04}");
    }
    let got = exchange(&c, 14).await;
    let want = frames::cmd(15);
    assert_eq!(header_json(&got), header_json(&want), "FOUND header as 0015");
    let msgs = ferrocket::codec::stored::decode_all_stored(&got.body).unwrap();
    assert_eq!(msgs.len(), 2);
}
