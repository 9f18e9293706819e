//! Checks of the test harness itself against the captured Java frames (no broker needed).
mod common;

use bytes::BytesMut;
use common::stored;
use ferrocket::client::{ids, props, req};
use ferrocket::codec::RemotingCodec;
use tokio_util::codec::Decoder;

fn frame(name: &str) -> ferrocket::codec::RemotingCommand {
    let path = format!("{}/tests/fixtures/frames/{name}", env!("CARGO_MANIFEST_DIR"));
    let hex: String = std::fs::read_to_string(&path).expect("read vector").split_whitespace().collect();
    let bytes: Vec<u8> =
        (0..hex.len()).step_by(2).map(|i| u8::from_str_radix(&hex[i..i + 2], 16).unwrap()).collect();
    let mut buf = BytesMut::from(&bytes[..]);
    RemotingCodec::default().decode(&mut buf).expect("decode").expect("whole frame")
}

#[test]
fn stored_decoder_reads_vector_0015() {
    let resp = frame("0015-pull-2msgs-response.hex");
    let msgs = stored::decode_all(&resp.body).expect("decode");
    assert_eq!(msgs.len(), 2);
    assert_eq!(msgs[0].body, b"first");
    assert_eq!(msgs[0].topic, "vec_pull_90874");
    assert_eq!(msgs[0].commit_log_offset, 205808);
    assert_eq!(msgs[0].store_host, "127.0.0.1:10911".parse().unwrap());
    assert_eq!(msgs[0].prop("TAGS"), Some("TagP"));
    assert_eq!(msgs[1].queue_offset, 1);
    assert_eq!(
        ids::offset_msg_id(msgs[1].store_host, msgs[1].commit_log_offset),
        "7F00000100002A9F00000000000324B8"
    );
}

#[test]
fn stored_decoder_reads_vectors_0028_and_0021() {
    let m = stored::decode_all(&frame("0028-push-pull-response.hex").body).expect("0028");
    assert_eq!(m[0].prop("color"), Some("red"));
    let m = stored::decode_all(&frame("0021-check-transaction-state.hex").body).expect("0021");
    assert_eq!(m[0].prop("TRANSACTION_CHECK_TIMES"), Some("1"));
}

#[test]
fn stored_decoder_rejects_truncation() {
    let body = frame("0015-pull-2msgs-response.hex").body;
    for cut in [1usize, 50, 199, 201, 400] {
        assert!(stored::decode_all(&body[..cut]).is_err(), "prefix {cut} accepted");
    }
}

#[test]
fn batch_body_matches_vector_0012() {
    let v = frame("0012-send-batch-request.hex");
    let keys = ["vec-batch-0", "vec-batch-1", "vec-batch-2"];
    let uniq = [
        "7F000001086130946E0976F870A50002",
        "7F000001086130946E0976F870A50003",
        "7F000001086130946E0976F870A50004",
    ];
    let msgs: Vec<req::Msg> = (0..3)
        .map(|i| {
            let mut m = req::Msg::new("vec_send_90874", format!("batch body {i}")).tags("TagBatch").keys(keys[i]);
            m.unique_id = uniq[i].into();
            m
        })
        .collect();
    assert_eq!(req::batch_body(&msgs), v.body.to_vec());
    assert_eq!(props::decode(v.ext("i").unwrap())["WAIT"], "true");
}

#[test]
fn ready_line_parses() {
    let (n, b) = common::parse_ready(
        r#"{"brokerAddr":"127.0.0.1:4001","dataDir":"/tmp/x","namesrvAddr":"127.0.0.1:4000","pid":42}"#,
    )
    .unwrap();
    assert_eq!(n.port(), 4000);
    assert_eq!(b.port(), 4001);
    assert!(common::parse_ready("INFO ferrocket ready").is_none());
}
