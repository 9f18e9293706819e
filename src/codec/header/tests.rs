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
    // plain digits (read without the general parser) and the forms around them
    for (raw, want) in [("0", Some(0)), ("007", Some(7)), ("999999999", Some(999_999_999)), ("2147483647", Some(i32::MAX)), ("2147483648", None), ("-2147483648", Some(i32::MIN)), ("+5", Some(5)), ("1 2", None), ("12345678901", None)] {
        let e = ext(&[("topic", "t"), ("queueId", raw)]);
        let got = GetMaxOffsetRequestHeader::decode(&e).ok().map(|h| h.queue_id);
        assert_eq!(got, want, "queueId {raw:?}");
    }
    for (raw, want) in [("1765000000000", Some(1_765_000_000_000i64)), ("999999999999999999", Some(999_999_999_999_999_999)), ("9223372036854775807", Some(i64::MAX)), ("9223372036854775808", None), ("-1", Some(-1))] {
        let e = ext(&[("topic", "t"), ("group", "g"), ("timestamp", raw), ("isForce", "false")]);
        let got = ResetOffsetRequestHeader::decode(&e).ok().map(|h| h.timestamp);
        assert_eq!(got, want, "timestamp {raw:?}");
    }
    assert!(parse_bool(" true\n"));
    assert!(parse_bool("\u{a0}1"));
    assert!(!parse_bool("truex"));
}

/// A binary header's fields area as the Java encoder writes it (names may repeat here).
fn binary_header(code: i16, fields: &[(&[u8], &[u8])]) -> bytes::Bytes {
    let mut area = Vec::new();
    for (k, v) in fields {
        area.extend_from_slice(&(k.len() as i16).to_be_bytes());
        area.extend_from_slice(k);
        area.extend_from_slice(&(v.len() as i32).to_be_bytes());
        area.extend_from_slice(v);
    }
    let mut h = Vec::new();
    h.extend_from_slice(&code.to_be_bytes());
    h.push(0); // JAVA
    h.extend_from_slice(&399i16.to_be_bytes());
    h.extend_from_slice(&7i32.to_be_bytes()); // opaque
    h.extend_from_slice(&0i32.to_be_bytes()); // flag
    h.extend_from_slice(&0i32.to_be_bytes()); // remark
    h.extend_from_slice(&(area.len() as i32).to_be_bytes());
    h.extend_from_slice(&area);
    bytes::Bytes::from(h)
}

#[test]
fn a_binary_send_header_read_in_place_matches_its_list() {
    // repeats (the last wins), an empty value (dropped), an unknown name, text shared with the frame
    let fields: [(&[u8], &[u8]); 12] = [
        (b"a", b"pg"),
        (b"b", b"first"),
        (b"c", b"TBW102"),
        (b"d", b"4"),
        (b"e", b"2"),
        (b"f", b"0"),
        (b"g", b"1795487193221"),
        (b"h", b""),
        (b"h", b"3"),
        (b"zz", b"ignored"),
        (b"b", b"t\xc3\xa9"),
        (b"i", b"TAGS\x01A"),
    ];
    let frame = binary_header(310, &fields);
    let cmd = crate::codec::frame::decode_binary_header_shared(frame.clone()).unwrap();
    let ext = cmd.ext_fields.as_ref().unwrap();
    let in_place = SendMessageRequestHeader::from_command(&cmd).unwrap();
    assert_eq!((&in_place.topic[..], in_place.flag, in_place.queue_id), ("t\u{e9}", 3, 2));
    assert_eq!(in_place.properties.as_deref(), Some("TAGS\u{1}A"));
    let at = in_place.topic.as_bytes().as_ptr() as usize;
    assert!((frame.as_ptr() as usize..frame.as_ptr() as usize + frame.len()).contains(&at), "the topic is a span of the frame");
    // the same fields through the list (built on first use) and through a header made by hand
    assert_eq!(ext.len(), 10);
    assert_eq!((ext.get("b"), ext.get("h"), ext.get("zz")), (Some("t\u{e9}"), Some("3"), Some("ignored")));
    let by_hand: ExtFields = ext.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
    assert_eq!(SendMessageRequestHeader::decode_v2(&by_hand).unwrap(), in_place);
    // a changed header is read from its list, not from the frame
    let mut changed = cmd.clone();
    changed.ext_fields.as_mut().unwrap().insert("b", "other");
    assert_eq!(&SendMessageRequestHeader::from_command(&changed).unwrap().topic[..], "other");
    assert_eq!(&SendMessageRequestHeader::from_command(&cmd).unwrap().topic[..], "t\u{e9}");
}

#[test]
fn a_binary_send_header_with_bad_utf8_reads_as_the_list_does() {
    let frame = binary_header(310, &[(b"a", b"pg"), (b"b", b"t\xff"), (b"c", b"TBW102"), (b"d", b"4"), (b"e", b"2"), (b"f", b"0"), (b"g", b"1"), (b"h", b"0")]);
    let cmd = crate::codec::frame::decode_binary_header_shared(frame.clone()).unwrap();
    let h = SendMessageRequestHeader::from_command(&cmd).unwrap();
    assert_eq!(&h.topic[..], "t\u{fffd}");
    assert_eq!(cmd.ext_fields.as_ref().unwrap().get("b"), Some("t\u{fffd}"));
    let missing = binary_header(310, &[(b"a", b"pg"), (b"b", b"")]);
    let cmd = crate::codec::frame::decode_binary_header_shared(missing).unwrap();
    assert!(matches!(SendMessageRequestHeader::from_command(&cmd), Err(CodecError::MissingField("topic"))));
}

#[test]
fn the_one_pass_send_header_reader_agrees_with_the_general_one() {
    let base: Vec<(&[u8], &[u8])> = vec![
        (b"a", b"pg"),
        (b"b", b"T"),
        (b"c", b"TBW102"),
        (b"d", b"4"),
        (b"e", b"2"),
        (b"f", b"0"),
        (b"g", b"1795487193221"),
        (b"h", b"0"),
        (b"i", b"UNIQ_KEY\x01AB\x02WAIT\x01true"),
        (b"j", b"0"),
        (b"k", b"false"),
        (b"l", b"16"),
        (b"m", b"false"),
        (b"n", b"broker-a"),
    ];
    // (field, value) replacing one field of `base`: values the one-pass reader takes and ones it
    // leaves to the general path; None removes the field
    let variants: &[(&[u8], Option<&[u8]>)] = &[
        (b"e", Some(b"-1")),
        (b"e", Some(b" 3 ")),
        (b"e", Some(b"2147483647")),
        (b"e", Some(b"2147483648")),
        (b"e", Some(b"x")),
        (b"g", Some(b"999999999999999999")),
        (b"g", Some(b"9223372036854775807")),
        (b"k", Some(b"TRUE")),
        (b"k", Some(b"1")),
        (b"k", Some(b"true")),
        (b"m", Some(b"true")),
        (b"m", Some(b"yes")),
        (b"i", Some(b"TAGS\x01\xff")),
        (b"i", Some(b"TAGS\x01\xc3\xa9")),
        (b"a", None),
        (b"d", None),
        (b"h", None),
        (b"j", None),
        (b"l", None),
        (b"n", None),
        (b"k", None),
        (b"zz", Some(b"unknown")),
        (b"A", Some(b"unknown")),
    ];
    let mut taken = 0;
    for (name, value) in std::iter::once((&b"-"[..], None)).chain(variants.iter().copied()) {
        let mut fields: Vec<(&[u8], &[u8])> = base.iter().copied().filter(|(k, _)| *k != name).collect();
        if let Some(v) = value {
            fields.push((name, v));
        }
        let cmd = crate::codec::frame::decode_binary_header_shared(binary_header(310, &fields)).unwrap();
        let ext = cmd.ext_fields.as_ref().unwrap();
        let general = SendMessageRequestHeader::decode_general(ext, true);
        if let Some(fast) = SendMessageRequestHeader::plain_v2(ext.wire_pairs().unwrap()) {
            taken += 1;
            assert_eq!(format!("{:?}", Ok::<_, CodecError>(fast)), format!("{general:?}"), "{:?} = {:?}", String::from_utf8_lossy(name), value.map(String::from_utf8_lossy));
        }
        // whichever reads it, a send reads what the general path reads
        assert_eq!(format!("{:?}", SendMessageRequestHeader::borrowed(&cmd)), format!("{general:?}"));
    }
    // the plain header, 18 digits, `true` twice, UTF-8 text, four optional fields left out, two
    // unknown names: the rest goes the general way
    assert_eq!(taken, 11, "the one-pass reader took {taken} of the headers");
}
