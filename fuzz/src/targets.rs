//! Fuzz targets for every parser a peer's bytes reach: the frame decoder, JSON and binary headers,
//! every typed request/response header, every JSON body, properties, batches, stored messages and
//! message ids. Shared by the cargo-fuzz crate (`fuzz/fuzz_targets/*.rs`) and by the stable-Rust
//! mutation fuzzer and corpus replay in `tests/reliability_fuzz.rs` (included there by path), so
//! both exercise exactly the same code.
//!
//! A target must never panic, hang or allocate beyond what its input and the frame limit justify.
//! Besides "no panic" the frame target checks one property: a frame that decodes re-encodes to a
//! frame that decodes to the same command.
#![allow(dead_code)]

use bytes::{Bytes, BytesMut};
use ferrocket::codec::body::*;
use ferrocket::codec::command::ExtFields;
use ferrocket::codec::frame::{decode_binary_header, decode_frame_body, decode_json_header, encode_command};
use ferrocket::codec::header::*;
use ferrocket::codec::message::{decode_batch, decode_offset_msg_id, parse_properties};
use ferrocket::codec::stored::{decode_all_stored, decode_stored};
use ferrocket::codec::{json, RemotingCodec, RemotingCommand};
use tokio_util::codec::Decoder;

/// The frame limit the fuzzed decoder runs with: small, so "memory bounded by the frame limit" is
/// visible in the fuzzer's RSS.
pub const FUZZ_MAX_FRAME: usize = 1 << 20;

/// A fuzz target: any bytes in, no panic out.
pub type Target = fn(&[u8]);

/// Every target, by name (the cargo-fuzz binaries and the stable fuzzer use the same names).
pub const TARGETS: &[(&str, Target)] = &[
    ("frame", frame),
    ("headers", headers),
    ("ext_fields", ext_fields),
    ("bodies", bodies),
    ("message", message),
];

/// All targets on one input.
pub fn all(data: &[u8]) {
    for (_, t) in TARGETS {
        t(data);
    }
}

/// The stream decoder, fed in chunks whose size the input length chooses (so whole captured frames
/// stay valid seeds); every decoded command must survive an encode/decode round trip and go through
/// every header parser.
pub fn frame(data: &[u8]) {
    let chunk = if data.len().is_multiple_of(3) { data.len().max(1) } else { data.len() % 61 + 1 };
    let mut codec = RemotingCodec::new(FUZZ_MAX_FRAME);
    let mut buf = BytesMut::new();
    for piece in data.chunks(chunk) {
        buf.extend_from_slice(piece);
        loop {
            match codec.decode(&mut buf) {
                Ok(Some(cmd)) => {
                    round_trip(&cmd);
                    typed_headers(&cmd);
                }
                Ok(None) => break,
                Err(_) => return, // the connection would be closed here
            }
            assert!(buf.capacity() <= FUZZ_MAX_FRAME + 128 * 1024, "decoder buffer grew to {}", buf.capacity());
        }
    }
    let _ = codec.decode_eof(&mut buf);
}

fn round_trip(cmd: &RemotingCommand) {
    let mut out = BytesMut::new();
    encode_command(cmd, &mut out);
    let mut codec = RemotingCodec::new(usize::MAX >> 1);
    let again = codec.decode(&mut out).expect("a decoded command re-encodes to a decodable frame");
    let again = again.expect("a re-encoded command is one whole frame");
    assert_eq!(again.code, cmd.code);
    assert_eq!(again.opaque, cmd.opaque);
    assert_eq!(again.flag, cmd.flag);
    assert_eq!(again.body, cmd.body);
    assert_eq!(again.ext_fields.clone().unwrap_or_default(), cmd.ext_fields.clone().unwrap_or_default());
}

/// A frame without its length prefix, and each header format alone.
pub fn headers(data: &[u8]) {
    if let Ok(cmd) = decode_frame_body(Bytes::copy_from_slice(data)) {
        typed_headers(&cmd);
    }
    if let Ok(cmd) = decode_json_header(data) {
        typed_headers(&cmd);
    }
    if let Ok(cmd) = decode_binary_header(data) {
        typed_headers(&cmd);
    }
}

/// extFields built directly from `key=value` lines, so the typed header parsers see arbitrary
/// strings without the JSON layer in between.
pub fn ext_fields(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    let mut ext = ExtFields::default();
    for line in text.split('\n') {
        let (k, v) = line.split_once('=').unwrap_or((line, ""));
        ext.insert(k.to_string(), v.to_string());
    }
    let mut cmd = RemotingCommand::request(310, 1);
    cmd.ext_fields = Some(ext);
    typed_headers(&cmd);
}

/// Every typed header on one command (and the send header under each send code).
pub fn typed_headers(cmd: &RemotingCommand) {
    macro_rules! each {
        ($($t:ty),* $(,)?) => {$( let _ = cmd.decode_header::<$t>(); )*};
    }
    each!(
        CheckTransactionStateRequestHeader, ConsumerSendMsgBackRequestHeader, CreateTopicRequestHeader,
        DeleteKvConfigRequestHeader, DeleteSubscriptionGroupRequestHeader, DeleteTopicRequestHeader,
        EndTransactionRequestHeader, GetConsumeStatsRequestHeader, GetConsumerConnectionListRequestHeader,
        GetConsumerListByGroupRequestHeader, GetConsumerRunningInfoRequestHeader,
        GetEarliestMsgStoretimeRequestHeader, GetEarliestMsgStoretimeResponseHeader, GetKvConfigRequestHeader,
        GetKvConfigResponseHeader, GetKvListByNamespaceRequestHeader, GetMaxOffsetRequestHeader,
        GetMaxOffsetResponseHeader, GetMinOffsetRequestHeader, GetMinOffsetResponseHeader,
        GetProducerConnectionListRequestHeader, GetRouteInfoRequestHeader, GetTopicConfigRequestHeader,
        GetTopicStatsInfoRequestHeader, GetTopicsByClusterRequestHeader, NotifyConsumerIdsChangedRequestHeader,
        PullMessageRequestHeader, PullMessageResponseHeader, PutKvConfigRequestHeader,
        QueryConsumerOffsetRequestHeader, QueryConsumerOffsetResponseHeader, QueryMessageRequestHeader,
        QueryMessageResponseHeader, QueryTopicConsumeByWhoRequestHeader, RegisterBrokerRequestHeader,
        RegisterBrokerResponseHeader, ResetConsumerClientOffsetRequestHeader, ResetOffsetRequestHeader,
        SearchOffsetRequestHeader, SearchOffsetResponseHeader, SendMessageResponseHeader,
        UnregisterBrokerRequestHeader, UnregisterClientRequestHeader, UpdateConsumerOffsetRequestHeader,
        ViewMessageRequestHeader, SendMessageRequestHeader,
    );
    for code in [10, 310, 320, 324, 325] {
        let mut c = cmd.clone();
        c.code = code;
        if let Ok(h) = SendMessageRequestHeader::from_command(&c) {
            if let Some(p) = &h.properties {
                let _ = parse_properties(p);
            }
        }
    }
    if !cmd.body.is_empty() {
        bodies(&cmd.body);
        message(&cmd.body);
    }
}

/// Every JSON body type, and the lenient parser itself.
pub fn bodies(data: &[u8]) {
    macro_rules! each {
        ($($t:ty),* $(,)?) => {$( let _ = <$t>::from_json(data); )*};
    }
    each!(
        MessageQueue, DataVersion, OffsetWrapper, TopicOffset, GroupList, Connection, ConsumerConnection,
        ProducerConnection, SubscriptionGroupConfigWire, SubscriptionGroupWrapper, HeartbeatData, ProducerData,
        ConsumerData, SubscriptionData, ConsumerListBody, LockBatchRequestBody, LockBatchResponseBody,
        UnlockBatchRequestBody, TopicRouteData, QueueData, BrokerData, ClusterInfo, RegisterBrokerBody,
        TopicConfigSerializeWrapper, TopicConfigWire, TopicList, KvTable,
    );
    if let Ok(v) = json::parse_lenient(data) {
        let _ = json::read_object_keyed_map::<MessageQueue, serde_json::Value>(&v);
        let _ = json::read_object_keyed_map::<String, i64>(&v);
    }
}

/// Message-level formats: properties, batch bodies, stored messages, offset message ids.
pub fn message(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    let p = parse_properties(&text);
    let again = parse_properties(&p.encode());
    assert_eq!(again.encode(), p.encode(), "properties re-encode differently");
    let _ = decode_batch(&Bytes::copy_from_slice(data));
    let _ = decode_stored(data);
    let _ = decode_all_stored(data);
    let _ = decode_offset_msg_id(&text);
}
