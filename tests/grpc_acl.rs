//! ACL on the 5.x gRPC endpoint: the SDKs' `authorization` header (HmacSHA1 of `x-mq-date-time`,
//! hex) against the accounts of plain_acl.yml, with a clock-skew window; then the RPC's
//! permissions. A tonic client generated from the same protos.
use ferrocket::broker::TestBroker;
use ferrocket::grpc::pb::{self, messaging_service_client::MessagingServiceClient};
use hmac::{Hmac, Mac};
use sha1::Sha1;
use tonic::transport::Channel;

const ACL: &str = "accounts:\n  - accessKey: grpcUser1\n    secretKey: grpc-secret-1\n    defaultTopicPerm: DENY\n    defaultGroupPerm: DENY\n    topicPerms: [g_pub=PUB, g_sub=SUB]\n    groupPerms: [g_group=SUB]\n";

fn broker(dir: &std::path::Path) -> TestBroker {
    let path = dir.join("plain_acl.yml");
    std::fs::write(&path, ACL).unwrap();
    TestBroker::builder()
        .topic("g_pub", 1)
        .topic("g_sub", 1)
        .configure(|c| {
            c.acl_enable = true;
            c.acl_file_path = path.display().to_string();
        })
        .start()
        .unwrap()
}

fn res(name: &str) -> Option<pb::Resource> {
    Some(pb::Resource { resource_namespace: String::new(), name: name.into() })
}

/// `yyyyMMddTHHmmssZ` for `secs` since the epoch.
fn date_time(secs: i64) -> String {
    let days = secs.div_euclid(86400);
    let rem = secs.rem_euclid(86400);
    // civil from days (Howard Hinnant)
    let z = days + 719468;
    let era = z.div_euclid(146097);
    let doe = z - era * 146097;
    let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + if m <= 2 { 1 } else { 0 };
    format!("{y:04}{m:02}{d:02}T{:02}{:02}{:02}Z", rem / 3600, rem % 3600 / 60, rem % 60)
}

fn now_secs() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() as i64
}

fn signed<T>(msg: T, ak: &str, sk: &str, skew_secs: i64) -> tonic::Request<T> {
    let date = date_time(now_secs() + skew_secs);
    let mut mac = Hmac::<Sha1>::new_from_slice(sk.as_bytes()).unwrap();
    mac.update(date.as_bytes());
    let hex: String = mac.finalize().into_bytes().iter().map(|b| format!("{b:02x}")).collect();
    let mut r = tonic::Request::new(msg);
    let auth = format!("MQv2-HMAC-SHA1 Credential={ak}, SignedHeaders=x-mq-date-time, Signature={hex}");
    r.metadata_mut().insert("authorization", auth.parse().unwrap());
    r.metadata_mut().insert("x-mq-date-time", date.parse().unwrap());
    r
}

fn send_req(topic: &str) -> pb::SendMessageRequest {
    let m = pb::Message {
        topic: res(topic),
        user_properties: Default::default(),
        system_properties: Some(pb::SystemProperties {
            message_id: format!("01{:030X}", now_secs()),
            message_type: pb::MessageType::Normal as i32,
            born_timestamp: Some(prost_types::Timestamp { seconds: now_secs(), nanos: 0 }),
            ..Default::default()
        }),
        body: bytes::Bytes::from_static(b"hello"),
    };
    pb::SendMessageRequest { messages: vec![m] }
}

#[tokio::test]
async fn grpc_calls_are_signed_and_checked() {
    let dir = tempfile::tempdir().unwrap();
    let b = broker(dir.path());
    let mut c = MessagingServiceClient::<Channel>::connect(format!("http://{}", b.grpc_addr())).await.unwrap();
    // signed, with PUB: stored
    let r = c.send_message(signed(send_req("g_pub"), "grpcUser1", "grpc-secret-1", 0)).await.expect("a signed send").into_inner();
    assert_eq!(r.status.unwrap().code, pb::Code::Ok as i32);
    // unsigned, wrong secret, unknown key, a date outside the window: UNAUTHENTICATED
    let e = c.send_message(tonic::Request::new(send_req("g_pub"))).await.unwrap_err();
    assert_eq!(e.code(), tonic::Code::Unauthenticated, "{e:?}");
    for (ak, sk, skew) in [("grpcUser1", "wrong-secret", 0), ("nobody001", "grpc-secret-1", 0), ("grpcUser1", "grpc-secret-1", 3600)] {
        let e = c.send_message(signed(send_req("g_pub"), ak, sk, skew)).await.unwrap_err();
        assert_eq!(e.code(), tonic::Code::Unauthenticated, "{ak} {sk} {skew}: {e:?}");
    }
    // a skew inside the window is fine
    let r = c.send_message(signed(send_req("g_pub"), "grpcUser1", "grpc-secret-1", -120)).await.unwrap().into_inner();
    assert_eq!(r.status.unwrap().code, pb::Code::Ok as i32);
    // no PUB on g_sub: PERMISSION_DENIED naming it
    let e = c.send_message(signed(send_req("g_sub"), "grpcUser1", "grpc-secret-1", 0)).await.unwrap_err();
    assert_eq!(e.code(), tonic::Code::PermissionDenied);
    assert!(e.message().contains("PUB") && e.message().contains("g_sub"), "{}", e.message());
    // receive needs SUB on the topic and the group
    let recv = |topic: &str, group: &str| pb::ReceiveMessageRequest {
        group: res(group),
        message_queue: Some(pb::MessageQueue { topic: res(topic), id: -1, ..Default::default() }),
        batch_size: 1,
        invisible_duration: Some(prost_types::Duration { seconds: 30, nanos: 0 }),
        long_polling_timeout: Some(prost_types::Duration { seconds: 0, nanos: 100_000_000 }),
        ..Default::default()
    };
    let e = c.receive_message(signed(recv("g_sub", "other_group"), "grpcUser1", "grpc-secret-1", 0)).await.unwrap_err();
    assert_eq!(e.code(), tonic::Code::PermissionDenied, "{e:?}");
    let ok = c.receive_message(signed(recv("g_sub", "g_group"), "grpcUser1", "grpc-secret-1", 0)).await;
    assert!(ok.is_ok(), "{ok:?}");
    let e = c.query_route(tonic::Request::new(pb::QueryRouteRequest { topic: res("g_pub"), endpoints: None })).await.unwrap_err();
    assert_eq!(e.code(), tonic::Code::Unauthenticated);
}

/// The offset RPCs, PullMessage and RecallMessage are checked like the others: unsigned →
/// UNAUTHENTICATED; without SUB on the queue's topic and the group (PUB on the topic for a recall)
/// → PERMISSION_DENIED; with it, answered.
#[tokio::test]
async fn offset_pull_and_recall_calls_are_checked() {
    let dir = tempfile::tempdir().unwrap();
    let b = broker(dir.path());
    let mut c = MessagingServiceClient::<Channel>::connect(format!("http://{}", b.grpc_addr())).await.unwrap();
    let (ak, sk) = ("grpcUser1", "grpc-secret-1");
    // (rpc, topic, group) → the status code of the call
    async fn call(c: &mut MessagingServiceClient<Channel>, rpc: &str, topic: &str, group: &str, key: Option<(&str, &str)>) -> tonic::Code {
        let mq = Some(pb::MessageQueue { topic: res(topic), id: 0, ..Default::default() });
        fn wrap<T>(m: T, key: Option<(&str, &str)>) -> tonic::Request<T> {
            match key {
                Some((ak, sk)) => signed(m, ak, sk, 0),
                None => tonic::Request::new(m),
            }
        }
        let r = match rpc {
            "UpdateOffset" => c.update_offset(wrap(pb::UpdateOffsetRequest { group: res(group), message_queue: mq, offset: 0 }, key)).await.map(|_| ()),
            "GetOffset" => c.get_offset(wrap(pb::GetOffsetRequest { group: res(group), message_queue: mq }, key)).await.map(|_| ()),
            "QueryOffset" => c
                .query_offset(wrap(pb::QueryOffsetRequest { message_queue: mq, query_offset_policy: pb::QueryOffsetPolicy::End as i32, timestamp: None }, key))
                .await
                .map(|_| ()),
            "PullMessage" => c
                .pull_message(wrap(
                    pb::PullMessageRequest {
                        group: res(group),
                        message_queue: mq,
                        offset: 0,
                        batch_size: 1,
                        filter_expression: None,
                        long_polling_timeout: Some(prost_types::Duration { seconds: 0, nanos: 0 }),
                    },
                    key,
                ))
                .await
                .map(|_| ()),
            "RecallMessage" => c.recall_message(wrap(pb::RecallMessageRequest { topic: res(topic), recall_handle: "bad".into() }, key)).await.map(|_| ()),
            _ => unreachable!(),
        };
        r.err().map_or(tonic::Code::Ok, |e| e.code())
    }
    for rpc in ["UpdateOffset", "GetOffset", "QueryOffset", "PullMessage", "RecallMessage"] {
        let allowed = if rpc == "RecallMessage" { "g_pub" } else { "g_sub" };
        let denied = if rpc == "RecallMessage" { "g_sub" } else { "g_pub" };
        assert_eq!(call(&mut c, rpc, allowed, "g_group", None).await, tonic::Code::Unauthenticated, "{rpc} unsigned");
        assert_eq!(call(&mut c, rpc, allowed, "g_group", Some((ak, "wrong-secret"))).await, tonic::Code::Unauthenticated, "{rpc} wrong secret");
        assert_eq!(call(&mut c, rpc, denied, "g_group", Some((ak, sk))).await, tonic::Code::PermissionDenied, "{rpc} on {denied}");
        if rpc != "QueryOffset" && rpc != "RecallMessage" {
            assert_eq!(call(&mut c, rpc, allowed, "other_group", Some((ak, sk))).await, tonic::Code::PermissionDenied, "{rpc} for another group");
        }
        assert_eq!(call(&mut c, rpc, allowed, "g_group", Some((ak, sk))).await, tonic::Code::Ok, "{rpc} with the permission");
    }
}
