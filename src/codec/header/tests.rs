use super::*;
use crate::codec::command::ExtFields;

fn ext(pairs: &[(&str, &str)]) -> ExtFields {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

#[test]
fn pull_request_lenient_and_round_trip() {
    let e = ext(&[
        ("consumerGroup", "g"),
        ("topic", "t"),
        ("queueId", " 3 "),
        ("queueOffset", "10"),
        ("maxMsgNums", "32"),
        ("sysFlag", "2"),
        ("commitOffset", "0"),
        ("suspendTimeoutMillis", "15000"),
        ("subVersion", "1795487198977"),
        ("expressionType", "TAG"),
        ("unknownKey", "x"),
    ]);
    let h = PullMessageRequestHeader::decode(&e).unwrap();
    assert_eq!(h.queue_id, 3);
    assert_eq!(h.subscription, None);
    let mut out = ExtFields::default();
    h.encode(&mut out);
    assert_eq!(out.get("queueId"), Some("3"));
    assert!(!out.contains_key("subscription"));
    assert_eq!(PullMessageRequestHeader::decode(&out).unwrap(), h);
}

#[test]
fn missing_and_invalid_fields() {
    let e = ext(&[("topic", "t")]);
    match GetMaxOffsetRequestHeader::decode(&e) {
        Err(CodecError::MissingField("queueId")) => {}
        other => panic!("{other:?}"),
    }
    let e = ext(&[("topic", "t"), ("queueId", "x1")]);
    assert!(matches!(
        GetMaxOffsetRequestHeader::decode(&e),
        Err(CodecError::InvalidField {
            field: "queueId",
            ..
        })
    ));
}

#[test]
fn booleans_accept_cpp_forms() {
    for (raw, want) in [
        ("true", true),
        ("TRUE", true),
        ("1", true),
        ("0", false),
        ("no", false),
    ] {
        let e = ext(&[("topic", "t"), ("acceptStandardJsonOnly", raw)]);
        assert_eq!(
            GetRouteInfoRequestHeader::decode(&e)
                .unwrap()
                .accept_standard_json_only,
            want
        );
    }
}

#[test]
fn send_v1_and_v2_agree() {
    let v2 = ext(&[
        ("a", "pg"),
        ("b", "t"),
        ("c", "TBW102"),
        ("d", "4"),
        ("e", "2"),
        ("f", "0"),
        ("g", "1795487193221"),
        ("h", "0"),
        ("i", "TAGS\u{1}A"),
        ("j", "0"),
        ("k", "false"),
        ("m", "true"),
        ("n", "broker-a"),
    ]);
    let h = SendMessageRequestHeader::decode_v2(&v2).unwrap();
    assert!(h.batch);
    assert_eq!(h.bname.as_deref(), Some("broker-a"));
    let mut long = ExtFields::default();
    h.encode(&mut long);
    assert_eq!(long.get("bname"), Some("broker-a"));
    assert_eq!(SendMessageRequestHeader::decode(&long).unwrap(), h);
    let mut short = ExtFields::default();
    h.encode_v2(&mut short);
    assert_eq!(short, v2);
    let mut missing = v2.clone();
    missing.remove("a");
    assert!(matches!(
        SendMessageRequestHeader::decode_v2(&missing),
        Err(CodecError::MissingField("producerGroup"))
    ));
}

#[test]
fn command_helpers() {
    let mut cmd = RemotingCommand::request(30, 1);
    assert!(matches!(
        cmd.decode_header::<GetMaxOffsetRequestHeader>(),
        Err(CodecError::MissingField("topic"))
    ));
    cmd.set_header(&RegisterBrokerResponseHeader::default());
    assert_eq!(cmd.ext_fields, Some(ExtFields::default()));
}

#[test]
fn numbers_around_whitespace_of_every_kind() {
    for (raw, want) in [("7", Some(7)), (" 7", Some(7)), ("7\t", Some(7)), ("\u{3000}7\u{a0}", Some(7)), ("-7", Some(-7)), ("7x", None), ("", None), ("\u{e9}7", None)] {
        let e = ext(&[("topic", "t"), ("queueId", raw)]);
        let got = GetMaxOffsetRequestHeader::decode(&e).ok().map(|h| h.queue_id);
        assert_eq!(got, want, "queueId {raw:?}");
    }
    assert!(parse_bool(" true\n"));
    assert!(parse_bool("\u{a0}1"));
    assert!(!parse_bool("truex"));
}
