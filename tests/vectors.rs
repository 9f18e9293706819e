//! The 44 captured Java 4.9.7 frames: each decodes to what DECODED.md says, typed headers and
//! bodies decode, and the responses ferrocket builds re-encode to the captured frames.
#[path = "frames/mod.rs"]
mod common;
use bytes::{Bytes, BytesMut};
use common::*;
use ferrocket::codec::body::*;
use ferrocket::codec::header::*;
use ferrocket::codec::message::{decode_batch, parse_properties, tag_hash_code};
use ferrocket::codec::{CommandHeader, ExtFields, RemotingCodec, RemotingCommand, RequestCode};
use serde_json::Value;
use tokio_util::codec::Decoder;

#[test]
fn all_vectors_match_decoded_md() {
    let names = names();
    assert_eq!(names.len(), 44);
    let mut mismatched = Vec::new();
    for (i, name) in names.iter().enumerate() {
        let n = i as u32 + 1;
        assert!(name.starts_with(&format!("{n:04}-")));
        let bytes = frame_by_name(name);
        let c = decode(&bytes);
        let want = decoded_header(n);
        assert_eq!(c.code as i64, want["code"].as_i64().unwrap(), "{name}");
        assert_eq!(c.flag as i64, want["flag"].as_i64().unwrap(), "{name}");
        assert_eq!(c.opaque as i64, want["opaque"].as_i64().unwrap(), "{name}");
        assert_eq!(c.version, 407, "{name}");
        assert_eq!(c.language, "JAVA");
        assert_eq!(c.remark.as_deref(), want["remark"].as_str(), "{name}");
        let ext: Option<ExtFields> = want.get("extFields").map(|e| {
            e.as_object()
                .unwrap()
                .iter()
                .map(|(k, v)| (k.clone(), v.as_str().unwrap().to_string()))
                .collect()
        });
        assert_eq!(c.ext_fields, ext, "{name}");
        // Re-encoding keeps the length; headers without extFields (or one key) are byte-identical.
        let again = encode(&c);
        assert_eq!(again.len(), bytes.len(), "{name}");
        assert_eq!(header_json(&again), header_json(&bytes), "{name}");
        assert_eq!(decode(&again), c, "{name}");
        // extFields go out in Java HashMap order, so captures re-encode byte for byte, except
        // where two keys share a bucket and Java's insertion order decides.
        if again != bytes {
            assert!(
                !c.is_response(),
                "{name}: responses must re-encode byte for byte"
            );
            mismatched.push(n);
        }
    }
    // Requests whose keys collide in a Java HashMap bucket (insertion order decides there).
    assert_eq!(
        mismatched,
        vec![14, 18, 19, 20, 21, 22, 27, 29, 31, 33, 41, 43]
    );
}

#[test]
fn every_prefix_is_incomplete_and_consumes_nothing() {
    for name in names() {
        let bytes = frame_by_name(&name);
        for n in 0..bytes.len() {
            let mut buf = BytesMut::from(&bytes[..n]);
            assert!(
                RemotingCodec::default().decode(&mut buf).unwrap().is_none(),
                "{name} {n}"
            );
            assert_eq!(buf.len(), n, "{name} {n}");
        }
    }
}

#[test]
fn two_frames_in_one_buffer() {
    let mut buf = BytesMut::new();
    buf.extend_from_slice(&frame(9));
    buf.extend_from_slice(&frame(10));
    buf.extend_from_slice(&frame(11)[..7]);
    let mut codec = RemotingCodec::default();
    assert_eq!(codec.decode(&mut buf).unwrap().unwrap().code, 310);
    assert_eq!(codec.decode(&mut buf).unwrap().unwrap().opaque, 13);
    assert!(codec.decode(&mut buf).unwrap().is_none());
    assert_eq!(buf.len(), 7);
}

#[test]
fn route_vectors() {
    let h: GetRouteInfoRequestHeader = cmd(1).decode_header().unwrap();
    assert_eq!(h.topic, "vec_send_90874");
    assert!(!h.accept_standard_json_only);
    assert_eq!(
        RequestCode::from_i32(cmd(1).code),
        RequestCode::GetRouteinfoByTopic
    );
    let resp = cmd(2);
    let route = TopicRouteData::from_json(&resp.body).unwrap();
    assert_eq!(route.broker_datas[0].broker_addrs[&0], "127.0.0.1:10911");
    assert_eq!(route.queue_datas[0].perm, 6);
    assert_eq!(route.to_json(), resp.body.to_vec());
    // Built from scratch, the whole response frame is byte-identical.
    let mut built = RemotingCommand::response_to(&cmd(1), 0, None);
    built.body = Bytes::from(route.to_json());
    assert_eq!(encode(&built), frame(2));
    let nf = RemotingCommand::response_to(&cmd(3), 17, cmd(4).remark.clone());
    assert_eq!(encode(&nf), frame(4));
}

#[test]
fn heartbeat_vectors() {
    let p = HeartbeatData::from_json(&cmd(5).body).unwrap();
    assert_eq!(p.client_id, "127.0.0.1@vec_p");
    assert_eq!(p.producer_data_set.len(), 2);
    assert_eq!(p.to_json(), cmd(5).body.to_vec());
    let c = HeartbeatData::from_json(&cmd(7).body).unwrap();
    let cd = &c.consumer_data_set[0];
    assert_eq!(cd.consume_type, "CONSUME_PASSIVELY");
    assert_eq!(cd.message_model, "CLUSTERING");
    assert_eq!(cd.consume_from_where, "CONSUME_FROM_FIRST_OFFSET");
    let sub = &cd.subscription_data_set[1];
    assert_eq!(sub.tags_set, vec!["TagA", "TagB"]);
    let codes: Vec<i32> = sub
        .tags_set
        .iter()
        .map(|t| tag_hash_code(t) as i32)
        .collect();
    assert_eq!(sub.code_set, codes);
    assert_eq!(sub.sub_version, 1795487198931);
    assert_eq!(c.to_json(), cmd(7).body.to_vec());
    for (req, resp) in [(5, 6), (7, 8), (36, 37)] {
        assert_eq!(
            encode(&RemotingCommand::response_to(&cmd(req), 0, None)),
            frame(resp)
        );
    }
}

#[test]
fn send_vectors() {
    let c = cmd(9);
    let h = SendMessageRequestHeader::from_command(&c).unwrap();
    assert_eq!(h.producer_group, "vec_pg");
    assert_eq!(
        (h.queue_id, h.sys_flag, h.born_timestamp),
        (2, 0, 1795487193221)
    );
    assert_eq!(h.default_topic_queue_nums, 4);
    assert!(!h.batch && !h.unit_mode);
    assert_eq!(h.bname.as_deref(), Some("broker-a"));
    let props = parse_properties(h.properties.as_deref().unwrap());
    assert_eq!(
        props.get("UNIQ_KEY"),
        Some("7F000001086130946E0976F870840000")
    );
    assert_eq!(props.get("TAGS"), Some("TagA"));
    assert_eq!(&c.body[..], b"hello rocketmq");
    let mut ext = ExtFields::default();
    h.encode_v2(&mut ext);
    assert_eq!(parse_properties(&ext["i"]), props);
    ext.insert("i", c.ext("i").unwrap().to_string());
    assert_eq!(Some(ext), c.ext_fields);
    // 0010: response built from the typed header equals the capture as a JSON object.
    let r = SendMessageResponseHeader {
        msg_id: "7F00000100002A9F0000000000031F8C".into(),
        queue_id: 2,
        queue_offset: 0,
        transaction_id: None,
        recall_handle: None,
    };
    assert_eq!(
        cmd(10)
            .decode_header::<SendMessageResponseHeader>()
            .unwrap(),
        r
    );
    let mut built = RemotingCommand::response_to(&c, 0, None);
    built.set_header(&r);
    built
        .set_ext("MSG_REGION", "DefaultRegion")
        .set_ext("TRACE_ON", "true");
    assert_eq!(encode(&built), frame(10));
    // 0011 oneway, 0016 half message.
    assert!(cmd(11).is_oneway());
    let half = SendMessageRequestHeader::from_command(&cmd(16)).unwrap();
    assert_eq!(half.sys_flag, 4);
    assert_eq!(
        parse_properties(half.properties.as_deref().unwrap()).get("PGROUP"),
        Some("vec_tx_pg")
    );
    assert_eq!(
        cmd(17)
            .decode_header::<SendMessageResponseHeader>()
            .unwrap()
            .queue_offset,
        28
    );
}

#[test]
fn batch_vectors() {
    let c = cmd(12);
    let h = SendMessageRequestHeader::from_command(&c).unwrap();
    assert!(h.batch);
    assert_eq!(h.queue_id, 1);
    let entries = decode_batch(&c.body).unwrap();
    assert_eq!(entries.len(), 3);
    for (i, e) in entries.iter().enumerate() {
        assert_eq!(e.body, format!("batch body {i}").into_bytes());
        let p = parse_properties(&e.properties);
        assert_eq!(p.get("KEYS"), Some(format!("vec-batch-{i}").as_str()));
        assert_eq!(p.get("TAGS"), Some("TagBatch"));
    }
    assert_eq!(
        ferrocket::codec::message::encode_batch(&entries),
        c.body.to_vec()
    );
    let r: SendMessageResponseHeader = cmd(13).decode_header().unwrap();
    assert_eq!(r.msg_id.split(',').count(), 3);
    let mut built = RemotingCommand::response_to(&c, 0, None);
    built.set_header(&r);
    built
        .set_ext("MSG_REGION", "DefaultRegion")
        .set_ext("TRACE_ON", "true");
    assert_eq!(encode(&built), frame(13));
}

fn pull_response(req: u32, resp: u32, code: i32, remark: &str, h: PullMessageResponseHeader) {
    let got: PullMessageResponseHeader = cmd(resp).decode_header().unwrap();
    assert_eq!(got, h);
    let mut built = RemotingCommand::response_to(&cmd(req), code, Some(remark.into()));
    built.set_header(&h);
    built.body = cmd(resp).body;
    let bytes = encode(&built);
    assert_eq!(bytes.len(), frame(resp).len());
    assert_eq!(header_json(&bytes), header_json(&frame(resp)));
    assert_eq!(
        &bytes[8 + bytes.len() - 8 - built.body.len()..],
        &built.body[..]
    );
}

#[test]
fn pull_vectors() {
    let h: PullMessageRequestHeader = cmd(14).decode_header().unwrap();
    assert_eq!(h.consumer_group, "vec_pull_cg_90874");
    assert_eq!(
        (h.queue_id, h.queue_offset, h.max_msg_nums, h.sys_flag),
        (0, 0, 32, 4)
    );
    assert_eq!(h.subscription.as_deref(), Some("*"));
    assert_eq!(h.suspend_timeout_millis, 20000);
    let push: PullMessageRequestHeader = cmd(27).decode_header().unwrap();
    assert_eq!(push.sys_flag, 2);
    assert_eq!(push.subscription, None);
    assert_eq!(push.sub_version, 1795487198977);
    assert_eq!(push.expression_type.as_deref(), Some("TAG"));
    let ph = |next, max| PullMessageResponseHeader {
        suggest_which_broker_id: 0,
        next_begin_offset: next,
        min_offset: 0,
        max_offset: max,
    };
    pull_response(14, 15, 0, "FOUND", ph(2, 2));
    pull_response(27, 28, 0, "FOUND", ph(1, 1));
    pull_response(29, 30, 20, "NO_MATCHED_MESSAGE", ph(3, 3));
    pull_response(31, 32, 19, "OFFSET_OVERFLOW_ONE", ph(2, 2));
    pull_response(33, 34, 21, "OFFSET_OVERFLOW_BADLY", ph(2, 2));
    assert_eq!(
        cmd(33)
            .decode_header::<PullMessageRequestHeader>()
            .unwrap()
            .queue_offset,
        100
    );
    // Stored-message bodies: the first totalSize fields chain through the body exactly.
    for (n, count) in [(15, 2), (28, 1), (21, 1)] {
        let body = cmd(n).body;
        let (mut pos, mut seen) = (0usize, 0);
        while pos < body.len() {
            pos += u32::from_be_bytes([body[pos], body[pos + 1], body[pos + 2], body[pos + 3]])
                as usize;
            seen += 1;
        }
        assert_eq!((pos, seen), (body.len(), count), "vector {n}");
    }
}

#[test]
fn transaction_vectors() {
    let e: EndTransactionRequestHeader = cmd(18).decode_header().unwrap();
    assert_eq!(e.producer_group, "vec_tx_pg");
    assert_eq!(
        (
            e.tran_state_table_offset,
            e.commit_log_offset,
            e.commit_or_rollback
        ),
        (28, 206520, 8)
    );
    assert!(!e.from_transaction_check);
    assert_eq!(e.transaction_id, None);
    assert_eq!(
        cmd(19)
            .decode_header::<EndTransactionRequestHeader>()
            .unwrap()
            .commit_or_rollback,
        12
    );
    assert_eq!(
        cmd(20)
            .decode_header::<EndTransactionRequestHeader>()
            .unwrap()
            .commit_or_rollback,
        0
    );
    let after: EndTransactionRequestHeader = cmd(22).decode_header().unwrap();
    assert!(after.from_transaction_check);
    assert_eq!(
        after.transaction_id.as_deref(),
        Some("7F000001086130946E0976F877160009")
    );
    let chk: CheckTransactionStateRequestHeader = cmd(21).decode_header().unwrap();
    assert_eq!(
        (chk.tran_state_table_offset, chk.commit_log_offset),
        (31, 207934)
    );
    assert_eq!(
        chk.offset_msg_id.as_deref(),
        Some("7F00000100002A9F0000000000032C3E")
    );
    let (addr, off) =
        ferrocket::codec::message::decode_offset_msg_id(chk.offset_msg_id.as_deref().unwrap())
            .unwrap();
    assert_eq!(
        (addr.to_string().as_str(), off),
        ("127.0.0.1:10911", 207934)
    );
    // Built by the broker side: same header as a JSON object.
    let mut built = RemotingCommand::oneway(39, 14183);
    built.set_header(&chk);
    built.body = cmd(21).body;
    assert_eq!(header_json(&encode(&built)), header_json(&frame(21)));
    assert_eq!(encode(&built).len(), frame(21).len());
}

#[test]
fn consumer_group_vectors() {
    let g: GetConsumerListByGroupRequestHeader = cmd(23).decode_header().unwrap();
    assert_eq!(g.consumer_group, "vec_cg_90874");
    let body = ConsumerListBody {
        consumer_id_list: vec!["127.0.0.1@vec_c".into()],
    };
    assert_eq!(ConsumerListBody::from_json(&cmd(24).body).unwrap(), body);
    let mut built = RemotingCommand::response_to(&cmd(23), 0, None);
    built.ext_fields = Some(ExtFields::default());
    built.body = body.to_json().into();
    assert_eq!(encode(&built), frame(24));

    let q: QueryConsumerOffsetRequestHeader = cmd(25).decode_header().unwrap();
    assert_eq!(
        (q.consumer_group.as_str(), q.topic.as_str(), q.queue_id),
        ("vec_cg_90874", "vec_send_90874", 2)
    );
    let mut built = RemotingCommand::response_to(&cmd(25), 0, None);
    built.set_header(&QueryConsumerOffsetResponseHeader { offset: 0 });
    assert_eq!(encode(&built), frame(26));

    let mut notify = RemotingCommand::oneway(40, 14195);
    notify.set_header(&NotifyConsumerIdsChangedRequestHeader {
        consumer_group: "vec_cg_90874".into(),
    });
    assert_eq!(encode(&notify), frame(35));

    let back: ConsumerSendMsgBackRequestHeader = cmd(36).decode_header().unwrap();
    assert_eq!(back.offset, 204902);
    assert_eq!(back.group, "vec_cg_90874");
    assert_eq!(back.delay_level, 0);
    assert_eq!(back.max_reconsume_times, Some(16));
    assert_eq!(back.origin_topic.as_deref(), Some("vec_send_90874"));

    let u: UpdateConsumerOffsetRequestHeader = cmd(38).decode_header().unwrap();
    assert_eq!((u.queue_id, u.commit_offset), (2, 1));
    assert!(cmd(38).is_oneway());

    let un: UnregisterClientRequestHeader = cmd(39).decode_header().unwrap();
    assert_eq!(un.client_id, "127.0.0.1@vec_c");
    assert_eq!(un.consumer_group.as_deref(), Some("vec_cg_90874"));
    assert_eq!(un.producer_group, None);
    let mut built = RemotingCommand::response_to(&cmd(39), 0, None);
    built.ext_fields = Some(ExtFields::default());
    assert_eq!(encode(&built), frame(40));
}

#[test]
fn admin_and_namesrv_vectors() {
    let t: CreateTopicRequestHeader = cmd(41).decode_header().unwrap();
    assert_eq!(t.topic, "vec_send_90874");
    assert_eq!((t.read_queue_nums, t.write_queue_nums, t.perm), (4, 4, 6));
    assert_eq!(t.topic_filter_type, "SINGLE_TAG");
    assert_eq!(t.topic_sys_flag, Some(0));
    assert!(!t.order);
    let mut ext = ExtFields::default();
    t.encode(&mut ext);
    assert_eq!(Some(ext), cmd(41).ext_fields);
    let built = RemotingCommand::response_to(&cmd(41), 0, Some("not set any response code".into()));
    assert_eq!(encode(&built), frame(42));

    let r: RegisterBrokerRequestHeader = cmd(43).decode_header().unwrap();
    assert_eq!(r.broker_name, "broker-a");
    assert_eq!(r.ha_server_addr, "127.0.0.1:10912");
    assert_eq!(
        (r.broker_id, r.compressed, r.body_crc32),
        (0, false, 986234179)
    );
    let mut ext = ExtFields::default();
    r.encode(&mut ext);
    assert_eq!(Some(ext), cmd(43).ext_fields);
    let body = RegisterBrokerBody::from_json(&cmd(43).body).unwrap();
    let w = &body.topic_config_serialize_wrapper;
    assert_eq!(w.data_version.counter, 135);
    assert_eq!(
        w.topic_config_table["vec_send_90874"].topic_filter_type,
        "SINGLE_TAG"
    );
    assert_eq!(body.to_json(), cmd(43).body.to_vec());
    assert_eq!(
        (crc32fast::hash(&cmd(43).body) & 0x7FFF_FFFF) as i32,
        r.body_crc32
    );
    let mut built = RemotingCommand::response_to(&cmd(43), 0, None);
    built.set_header(&RegisterBrokerResponseHeader::default());
    assert_eq!(encode(&built), frame(44));
}

#[test]
fn decoded_md_is_standard_json() {
    // The DECODED.md headers themselves parse as the frame layer would.
    for n in 1..=44 {
        let v: Value = decoded_header(n);
        let c = ferrocket::codec::frame::decode_json_header(v.to_string().as_bytes()).unwrap();
        assert_eq!(c.opaque as i64, v["opaque"].as_i64().unwrap());
    }
}
