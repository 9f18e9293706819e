//! Hostile input: the broker closes the offending connection and keeps serving others.
mod common;

use common::{assert_code, DevBroker, T};
use ferrocket::client::{codes, req, RawClient};
use std::time::Duration;

async fn assert_closed_and_still_serving(b: &mut DevBroker, bytes: &[u8], what: &str) {
    for addr in [b.broker, b.namesrv] {
        let c = RawClient::connect(addr).await.unwrap();
        c.send_raw(bytes).await.unwrap();
        assert!(c.wait_closed(Duration::from_secs(10)).await, "{what}: connection to {addr} not closed within 10 s");
        let fresh = RawClient::connect(addr).await.unwrap_or_else(|e| panic!("{what}: {addr} no longer accepts: {e}"));
        let resp = fresh.request(req::route("TBW102"), T).await;
        // The broker port may not answer route requests with SUCCESS, but it must answer.
        let resp = resp.unwrap_or_else(|e| panic!("{what}: {addr} does not answer a new connection: {e}"));
        if addr == b.namesrv {
            assert_code(&resp, codes::SUCCESS);
        }
    }
    assert!(b.is_running(), "{what}: broker process died");
}

fn frame(ty: u8, header: &[u8], body: &[u8]) -> Vec<u8> {
    let mut f = Vec::new();
    f.extend_from_slice(&((4 + header.len() + body.len()) as i32).to_be_bytes());
    f.push(ty);
    f.extend_from_slice(&(header.len() as u32).to_be_bytes()[1..]);
    f.extend_from_slice(header);
    f.extend_from_slice(body);
    f
}

#[tokio::test]
async fn garbage_bytes_close_the_connection() {
    let mut b = DevBroker::start();
    assert_closed_and_still_serving(&mut b, b"GET / HTTP/1.1\r\nHost: x\r\n\r\n", "HTTP request").await;
    // A plausible length, then junk where the type byte and header should be. (A junk length
    // that is plausible but larger than what follows is a partial frame: the peer waits.)
    let mut junk = 508i32.to_be_bytes().to_vec();
    junk.extend((0..508u32).map(|i| (i.wrapping_mul(2654435761) >> 13) as u8 | 0x80));
    assert_closed_and_still_serving(&mut b, &junk, "pseudo-random frame").await;
}

#[tokio::test]
async fn negative_frame_length_closes_the_connection() {
    let mut b = DevBroker::start();
    assert_closed_and_still_serving(&mut b, &[0xff, 0xff, 0xff, 0xf0, 0, 0, 0, 0], "negative length").await;
}

#[tokio::test]
async fn two_gib_frame_length_closes_the_connection() {
    let mut b = DevBroker::start();
    let mut bytes = vec![0x7f, 0xff, 0xff, 0xff, 0, 0, 0, 2];
    bytes.extend_from_slice(b"{}");
    assert_closed_and_still_serving(&mut b, &bytes, "2 GiB length").await;
    // 17 MiB: above the 16 MiB default limit.
    let mut bytes = (17i32 * 1024 * 1024).to_be_bytes().to_vec();
    bytes.extend_from_slice(&[0, 0, 0, 2, b'{', b'}']);
    assert_closed_and_still_serving(&mut b, &bytes, "17 MiB length").await;
}

#[tokio::test]
async fn bad_json_header_closes_the_connection() {
    let mut b = DevBroker::start();
    assert_closed_and_still_serving(&mut b, &frame(0, b"{\"code\":105,", b""), "truncated JSON header").await;
    assert_closed_and_still_serving(&mut b, &frame(0, b"[1,2,3]", b""), "JSON header not an object").await;
}

#[tokio::test]
async fn inconsistent_lengths_close_the_connection() {
    let mut b = DevBroker::start();
    // Header length larger than the frame.
    let mut f = 8i32.to_be_bytes().to_vec();
    f.extend_from_slice(&[0, 0, 0x10, 0, b'{', b'}', 0, 0]);
    assert_closed_and_still_serving(&mut b, &f, "header length beyond frame").await;
    // Unknown serialize type.
    assert_closed_and_still_serving(&mut b, &frame(7, b"{}", b""), "serialize type 7").await;
    // Binary header whose remark length overruns it.
    let mut h = Vec::new();
    h.extend_from_slice(&105i16.to_be_bytes());
    h.push(0);
    h.extend_from_slice(&407i16.to_be_bytes());
    h.extend_from_slice(&1i32.to_be_bytes());
    h.extend_from_slice(&0i32.to_be_bytes());
    h.extend_from_slice(&1000i32.to_be_bytes());
    assert_closed_and_still_serving(&mut b, &frame(1, &h, b""), "binary remark overrun").await;
}

#[tokio::test]
async fn partial_frame_then_close_leaves_broker_serving() {
    let mut b = DevBroker::start();
    {
        let c = RawClient::connect(b.broker).await.unwrap();
        c.send_raw(&[0, 0, 1, 0, 0]).await.unwrap();
        c.shutdown().await;
        c.wait_closed(Duration::from_secs(10)).await;
    }
    let c = b.client().await;
    let resp = c.request(req::max_offset("TBW102", 0), T).await.unwrap();
    assert_code(&resp, codes::SUCCESS);
    assert!(b.is_running());
}

/// A GET_ROUTEINFO_BY_TOPIC request for TBW102 carrying `fields` extFields in all (the topic and
/// fillers), in the given serialization.
fn route_with_fields(fields: usize, ty: ferrocket::codec::SerializeType) -> ferrocket::codec::RemotingCommand {
    let mut cmd = req::route("TBW102");
    for i in 1..fields {
        cmd = cmd.with_ext(format!("filler{i:03}"), "x");
    }
    assert_eq!(cmd.ext_fields.as_ref().map(|e| e.len()), Some(fields));
    cmd.serialize_type = ty;
    cmd
}

/// The encoded frame of `cmd` (opaque 1), as a client would write it.
fn encoded(cmd: &ferrocket::codec::RemotingCommand) -> Vec<u8> {
    let mut cmd = cmd.clone();
    cmd.opaque = 1;
    let mut out = bytes::BytesMut::new();
    ferrocket::codec::frame::encode_command(&cmd, &mut out);
    out.to_vec()
}

/// Issue 16 item 7: a header may carry at most 64 extFields (Java's request headers have fewer
/// than 40). One more and the frame does not decode: the connection is closed, the log names
/// the count and the limit, and the broker keeps serving. 64 are answered as usual.
#[tokio::test]
async fn too_many_ext_fields_close_the_connection() {
    use ferrocket::codec::SerializeType;
    let mut b = DevBroker::start();
    for ty in [SerializeType::Json, SerializeType::RocketMq] {
        let ns = b.namesrv_client().await;
        let r = ns.request(route_with_fields(64, ty), T).await.unwrap_or_else(|e| panic!("{ty:?}: 64 fields not answered: {e}"));
        assert_code(&r, codes::SUCCESS);
        assert_closed_and_still_serving(&mut b, &encoded(&route_with_fields(65, ty)), &format!("{ty:?} header with 65 extFields")).await;
        assert_closed_and_still_serving(&mut b, &encoded(&route_with_fields(5000, ty)), &format!("{ty:?} header with 5000 extFields")).await;
    }
    let log = b.log_tail(200);
    assert!(log.contains("65 extFields") && log.contains("limit of 64"), "log names the count and the limit:\n{log}");
    assert!(log.contains("5000 extFields"), "the count is the whole header's, not where decoding stopped:\n{log}");
}

/// Requests read together are answered together, when their run of reads ends. A run that ends
/// in a frame that cannot be decoded still answers the requests before it, then closes: two
/// sends and junk in one write get their answers (and the messages are stored), then the close.
#[tokio::test]
async fn requests_before_an_undecodable_frame_are_answered_before_the_close() {
    use ferrocket::codec::SerializeType;
    let b = DevBroker::start();
    let topic = common::unique("before_junk");
    let c = RawClient::connect(b.broker).await.unwrap();
    let mut bytes = Vec::new();
    for (opaque, body) in [(-11, "first"), (-12, "second")] {
        let mut cmd = req::send_v2("pg_junk", &req::Msg::new(&topic, body), 0);
        cmd.opaque = opaque;
        cmd.serialize_type = SerializeType::RocketMq;
        let mut out = bytes::BytesMut::new();
        ferrocket::codec::frame::encode_command(&cmd, &mut out);
        bytes.extend_from_slice(&out);
    }
    // a plausible length, then a type byte no serializer has
    bytes.extend_from_slice(&[0, 0, 0, 8, 9, 0, 0, 0, 0, 0, 0, 0]);
    // the answers leave in order: the second's arrival is the end of the run's answers
    let second = c.request_raw(&bytes, -12, T).await.expect("the sends are answered before the close");
    assert_code(&second, codes::SUCCESS);
    assert!(c.wait_closed(Duration::from_secs(10)).await, "the junk closes the connection");
    // both messages were stored and are readable
    let fresh = b.client().await;
    let (resp, msgs) = common::pull(&fresh, &req::Pull::new("cg_junk", &topic, 0, 0)).await;
    assert_code(&resp, codes::SUCCESS);
    let bodies: Vec<_> = msgs.iter().map(|m| String::from_utf8_lossy(&m.body).into_owned()).collect();
    assert_eq!(bodies, ["first", "second"]);
}
