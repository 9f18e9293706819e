//! Property tests and hostile input: round trips for frames (JSON and binary headers) and
//! properties; random and mutated frames never panic the decoder or any header/body parser.
#[path = "frames/mod.rs"]
mod common;
use bytes::{Bytes, BytesMut};
use common::*;
use ferrocket::codec::body::*;
use ferrocket::codec::command::{ExtFields, LANGUAGES};
use ferrocket::codec::header::*;
use ferrocket::codec::json::parse_lenient;
use ferrocket::codec::message::{decode_batch, decode_offset_msg_id, parse_properties, Properties};
use ferrocket::codec::{CodecError, RemotingCodec, RemotingCommand, SerializeType};
use proptest::prelude::*;
use tokio_util::codec::{Decoder, Encoder};

/// Run every typed header decoder over one map.
fn all_headers(ext: &ExtFields) {
    macro_rules! each {
        ($($t:ty),*) => {$( let _ = <$t as CommandHeader>::decode(ext); )*};
    }
    common::with_all_headers!(each);
    let _ = SendMessageRequestHeader::decode_v2(ext);
}

/// Run every body parser over one body.
fn all_bodies(b: &[u8]) {
    macro_rules! each {
        ($($t:ty),*) => {$( let _ = <$t>::from_json(b); )*};
    }
    each!(
        HeartbeatData,
        ConsumerListBody,
        LockBatchRequestBody,
        LockBatchResponseBody,
        UnlockBatchRequestBody,
        TopicRouteData,
        ClusterInfo,
        RegisterBrokerBody,
        TopicList,
        KvTable,
        ConsumeStats,
        ResetOffsetBody,
        TopicStatsTable,
        GroupList,
        ConsumerConnection,
        ProducerConnection,
        SubscriptionGroupWrapper,
        SubscriptionGroupConfigWire,
        MessageQueue,
        CheckClientRequestBody
    );
    let _ = parse_lenient(b);
    let _ = decode_batch(&Bytes::copy_from_slice(b));
    if let Ok(s) = std::str::from_utf8(b) {
        let _ = parse_properties(s);
        let _ = decode_offset_msg_id(s);
    }
}

/// Decode whatever is in `bytes`, then feed the results to every parser.
fn chew(bytes: &[u8], max: usize) {
    let mut buf = BytesMut::from(bytes);
    let mut codec = RemotingCodec::new(max);
    while let Ok(Some(cmd)) = codec.decode(&mut buf) {
        if let Some(ext) = &cmd.ext_fields {
            all_headers(ext);
        }
        all_bodies(&cmd.body);
    }
}

fn ext_strategy() -> impl Strategy<Value = Option<ExtFields>> {
    proptest::option::of(proptest::collection::hash_map(
        "[a-zA-Z]{1,12}",
        "\\PC{1,20}",
        0..6,
    ))
    .prop_map(|o| o.map(|m| m.into_iter().collect()))
}

fn command_strategy(binary: bool) -> impl Strategy<Value = RemotingCommand> {
    (
        any::<i16>(),
        0..LANGUAGES.len(),
        any::<i16>(),
        any::<i32>(),
        0..4i32,
        proptest::option::of("\\PC{1,40}"),
        ext_strategy(),
        proptest::collection::vec(any::<u8>(), 0..64),
    )
        .prop_map(
            move |(code, lang, version, opaque, flag, remark, ext_fields, body)| RemotingCommand {
                code: code as i32,
                language: LANGUAGES[lang].into(),
                version: version as i32,
                opaque,
                flag,
                remark,
                ext_fields: ext_fields.filter(|e| !(binary && e.is_empty())),
                body: body.into(),
                serialize_type: if binary {
                    SerializeType::RocketMq
                } else {
                    SerializeType::Json
                },
            },
        )
}

fn round_trip(cmd: &RemotingCommand) {
    let mut out = BytesMut::new();
    RemotingCodec::default()
        .encode(cmd.clone(), &mut out)
        .unwrap();
    let bytes = out.to_vec();
    assert_eq!(decode(&bytes), *cmd);
    for n in 0..bytes.len() {
        let mut buf = BytesMut::from(&bytes[..n]);
        assert!(RemotingCodec::default().decode(&mut buf).unwrap().is_none());
        assert_eq!(buf.len(), n);
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn json_frames_round_trip(cmd in command_strategy(false)) {
        round_trip(&cmd);
    }

    #[test]
    fn binary_frames_round_trip(cmd in command_strategy(true)) {
        round_trip(&cmd);
    }

    #[test]
    fn properties_round_trip(map in proptest::collection::btree_map("[^\u{1}\u{2}]{1,10}", "[^\u{1}\u{2}]{1,10}", 0..8)) {
        let p: Properties = map.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
        let parsed = parse_properties(&p.encode());
        prop_assert_eq!(&parsed, &p);
        let with_trailing = format!("{}\u{2}", p.encode());
        prop_assert_eq!(parse_properties(&with_trailing), p);
    }

    #[test]
    fn random_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
        chew(&bytes, 4096);
        all_bodies(&bytes);
    }

    #[test]
    fn mutated_vectors_never_panic(idx in 1u32..=44, flips in proptest::collection::vec((any::<usize>(), any::<u8>()), 1..6)) {
        let mut bytes = frame(idx);
        for (pos, val) in flips {
            let p = pos % bytes.len();
            bytes[p] ^= val | 1;
        }
        chew(&bytes, 1 << 20);
    }

    #[test]
    fn mutated_bodies_never_panic(idx in 1u32..=44, pos in any::<usize>(), val in any::<u8>(), cut in any::<usize>()) {
        let body = cmd(idx).body.to_vec();
        if !body.is_empty() {
            let mut b = body.clone();
            let p = pos % b.len();
            b[p] = val;
            all_bodies(&b);
            all_bodies(&body[..cut % body.len()]);
        }
    }
}

#[test]
fn every_vector_through_every_parser() {
    for n in 1..=44 {
        chew(&frame(n), 1 << 20);
    }
}

#[test]
fn hostile_lengths() {
    let mut codec = RemotingCodec::new(1024);
    for (bytes, what) in [
        (vec![0x80, 0, 0, 0], "negative length"),
        (vec![0, 0, 0, 3, 0, 0, 0], "length below 4"),
        (vec![0x7f, 0xff, 0xff, 0xff], "huge length"),
        (vec![0, 0, 4, 1], "over max_frame"),
    ] {
        assert!(
            codec.decode(&mut BytesMut::from(&bytes[..])).is_err(),
            "{what}"
        );
    }
    let err = |b: &[u8]| {
        RemotingCodec::default()
            .decode(&mut BytesMut::from(b))
            .is_err()
    };
    assert!(
        err(&[0, 0, 0, 6, 0, 0, 0, 9, b'{', b'}']),
        "header length past frame"
    );
    assert!(
        err(&[0, 0, 0, 6, 2, 0, 0, 2, b'{', b'}']),
        "bad serialize type"
    );
    assert!(err(&[0, 0, 0, 6, 0, 0, 0, 2, 0xff, 0xfe]), "invalid UTF-8");
    assert!(
        err(&[0, 0, 0, 6, 0, 0, 0, 2, b'[', b']']),
        "header not an object"
    );
    assert!(err(&[0, 0, 0, 5, 0, 0, 0, 1, b'{']), "bad JSON");
    assert!(
        err(&[0, 0, 0, 8, 1, 0, 0, 4, 0, 1, 0, 0]),
        "short binary header"
    );
}

#[test]
fn encoder_refuses_oversized_frames() {
    let mut codec = RemotingCodec::new(128);
    let big = RemotingCommand::request(11, 1).with_body(vec![0u8; 200]);
    let mut out = BytesMut::new();
    assert!(matches!(
        codec.encode(big, &mut out),
        Err(CodecError::FrameTooLarge { .. })
    ));
    assert!(out.is_empty());
}

/// The constructed binary-header example of `docs/protocol/framing.md` §3.
#[test]
fn binary_header_example() {
    let mut bytes = vec![
        0, 0, 0, 0x32, 1, 0, 0, 0x2e, 0, 0x69, 0, 0x01, 0x97, 0, 0, 0, 8, 0, 0, 0, 0,
    ];
    bytes.extend_from_slice(&[0, 0, 0, 0, 0, 0, 0, 0x19, 0, 5]);
    bytes.extend_from_slice(b"topic");
    bytes.extend_from_slice(&[0, 0, 0, 0x0e]);
    bytes.extend_from_slice(b"vec_send_90874");
    let c = decode(&bytes);
    assert_eq!((c.code, c.version, c.opaque, c.flag), (105, 407, 8, 0));
    assert_eq!(c.language, "JAVA");
    assert_eq!(c.serialize_type, SerializeType::RocketMq);
    assert_eq!(c.remark, None);
    assert_eq!(c.ext("topic"), Some("vec_send_90874"));
    let mut same = cmd(1);
    same.serialize_type = SerializeType::RocketMq;
    assert_eq!(encode(&same), bytes);
    // The response goes back in the request's type.
    let resp = RemotingCommand::response_to(&c, 0, None);
    assert_eq!(
        decode(&encode(&resp)).serialize_type,
        SerializeType::RocketMq
    );
}

/// The C++ client's header: trailing newline, numbers in extFields, empty remark, no
/// serializeTypeCurrentRPC.
#[test]
fn cpp_client_header() {
    let json = b"{\"code\":10,\"extFields\":{\"AccessKey\":\"\",\"queueId\":3,\"sysFlag\":0,\"flag\":0,\"defaultTopicQueueNums\":4,\"batch\":\"1\",\"unitMode\":\"0\",\"producerGroup\":\"pg\",\"topic\":\"t\",\"defaultTopic\":\"TBW102\",\"bornTimestamp\":\"1700000000000\"},\"flag\":0,\"language\":\"CPP\",\"opaque\":0,\"remark\":\"\",\"version\":63}\n";
    let mut bytes = ((json.len() + 4) as u32).to_be_bytes().to_vec();
    bytes.extend_from_slice(&(json.len() as u32).to_be_bytes());
    bytes.extend_from_slice(json);
    let c = decode(&bytes);
    assert_eq!(c.language, "CPP");
    let h = SendMessageRequestHeader::from_command(&c).unwrap();
    assert_eq!((h.queue_id, h.default_topic_queue_nums), (3, 4));
    assert!(h.batch && !h.unit_mode);
}

/// Both header forms are deterministic: extFields in Java HashMap order, whatever Rust's order.
#[test]
fn encoding_is_deterministic() {
    let mut bin = cmd(14);
    bin.serialize_type = SerializeType::RocketMq;
    let first = encode(&bin);
    for _ in 0..8 {
        let mut again = bin.clone();
        let ext: ExtFields = bin.ext_fields.clone().unwrap().into_iter().collect();
        again.ext_fields = Some(ext);
        assert_eq!(encode(&again), first);
    }
    assert_eq!(decode(&first), bin);
}

fn json_value() -> impl Strategy<Value = serde_json::Value> {
    use serde_json::Value;
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(|n| Value::Number(n.into())),
        (-1.0e12f64..1.0e12)
            .prop_map(|f| serde_json::Number::from_f64(f).map_or(Value::Null, Value::Number)),
        "\\PC{0,12}".prop_map(Value::String),
    ];
    leaf.prop_recursive(4, 48, 6, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..6).prop_map(serde_json::Value::Array),
            proptest::collection::btree_map("\\PC{0,8}", inner, 0..6)
                .prop_map(|m| serde_json::Value::Object(m.into_iter().collect())),
        ]
    })
}

proptest! {
    /// The lenient reader agrees with serde_json on standard JSON (compact and pretty).
    #[test]
    fn lenient_reader_agrees_with_serde_json(v in json_value()) {
        prop_assert_eq!(parse_lenient(v.to_string().as_bytes()).unwrap(), v.clone());
        let pretty = serde_json::to_string_pretty(&v).unwrap();
        prop_assert_eq!(parse_lenient(pretty.as_bytes()).unwrap(), v);
    }
}
