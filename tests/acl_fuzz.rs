//! Property tests over the ACL auth fields: any change to a signed request (a field's value, a
//! field added or removed, the body, the AccessKey, the Signature's text) is refused unless it
//! leaves the signed content unchanged (RocketMQ signs the values, not the keys: an added empty
//! field passes, as it does on a Java broker, and the account's permissions still apply); arbitrary
//! AccessKey/Signature values never pass and never panic; and over the wire the broker answers
//! every such request with NO_PERMISSION and keeps serving.
use ferrocket::broker::TestBroker;
use ferrocket::client::RawClient;
use ferrocket::codec::sign;
use ferrocket::codec::RemotingCommand;
use ferrocket::config::acl::{AclFile, Perm};
use ferrocket::core::acl::{Acl, Needs};
use proptest::prelude::*;
use std::net::{IpAddr, Ipv4Addr};
use std::time::Duration;

const ACL: &str = "accounts:\n  - accessKey: fuzzUser1\n    secretKey: fuzz-secret-1\n    defaultTopicPerm: PUB|SUB\n    defaultGroupPerm: SUB\n";
const LOCAL: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);

fn acl() -> Acl {
    Acl::new(AclFile::parse(ACL).unwrap(), 0)
}

fn command(fields: &[(String, String)], body: &[u8]) -> RemotingCommand {
    let mut c = RemotingCommand::request(10, 1).with_body(body.to_vec());
    for (k, v) in fields {
        c.set_ext(k, v);
    }
    c
}

#[derive(Debug, Clone)]
enum Tamper {
    Value(usize, String),
    Add(String, String),
    Remove(usize),
    Body(Vec<u8>),
    AccessKey(String),
    Signature(String),
}

fn tamper() -> impl Strategy<Value = Tamper> {
    prop_oneof![
        (any::<usize>(), "\\PC{0,12}").prop_map(|(i, v)| Tamper::Value(i, v)),
        ("[a-zA-Z_]{1,10}", "\\PC{0,12}").prop_map(|(k, v)| Tamper::Add(k, v)),
        any::<usize>().prop_map(Tamper::Remove),
        proptest::collection::vec(any::<u8>(), 0..64).prop_map(Tamper::Body),
        "\\PC{0,16}".prop_map(Tamper::AccessKey),
        "[A-Za-z0-9+/=]{0,40}".prop_map(Tamper::Signature),
    ]
}

/// Apply `t` to a signed command; `None` when it happens to change nothing.
fn apply(mut c: RemotingCommand, t: &Tamper) -> Option<RemotingCommand> {
    let before = c.clone();
    let fields = c.ext_fields.as_mut().unwrap();
    let mut keys: Vec<String> = fields.keys().filter(|k| *k != "Signature" && *k != "AccessKey").map(String::from).collect();
    keys.sort();
    match t {
        Tamper::Value(i, v) if !keys.is_empty() => {
            fields.insert(keys[i % keys.len()].clone(), v.clone());
        }
        Tamper::Add(k, v) if k != "Signature" => {
            fields.insert(k.clone(), v.clone());
        }
        Tamper::Remove(i) if !keys.is_empty() => {
            fields.remove(&keys[i % keys.len()]);
        }
        Tamper::Body(b) => c.body = b.clone().into(),
        Tamper::AccessKey(k) => {
            fields.insert("AccessKey", k.clone());
        }
        Tamper::Signature(s) => {
            fields.insert("Signature", s.clone());
        }
        _ => return None,
    }
    (c != before).then_some(c)
}

fn fields() -> impl Strategy<Value = Vec<(String, String)>> {
    proptest::collection::vec(("[a-zA-Z]{1,8}", "\\PC{0,16}"), 0..6)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn a_signed_request_passes_and_any_change_is_refused(f in fields(), body in proptest::collection::vec(any::<u8>(), 0..64), t in tamper()) {
        let acl = acl();
        let needs = Needs::default().topic("t", Perm::PUB);
        let mut c = command(&f, &body);
        sign::sign(&mut c, "fuzzUser1", "fuzz-secret-1");
        prop_assert!(acl.check(&c, LOCAL, &needs).is_ok());
        let original = sign::content(&c);
        let signature = c.ext("Signature").unwrap().to_string();
        if let Some(changed) = apply(c, &t) {
            if acl.check(&changed, LOCAL, &needs).is_ok() {
                prop_assert_eq!(changed.ext("AccessKey"), Some("fuzzUser1"), "accepted after {:?}", t);
                prop_assert_eq!(changed.ext("Signature"), Some(signature.as_str()), "accepted after {:?}", t);
                prop_assert_eq!(sign::content(&changed), original, "accepted after {:?}", t);
            }
        }
    }

    #[test]
    fn arbitrary_credentials_never_pass(f in fields(), ak in "\\PC{0,16}", sig in "\\PC{0,48}") {
        let acl = acl();
        let mut c = command(&f, b"body");
        c.set_ext("AccessKey", &ak);
        c.set_ext("Signature", &sig);
        prop_assert!(acl.check(&c, LOCAL, &Needs::default()).is_err());
    }
}

#[test]
fn over_the_wire_tampered_requests_are_refused_and_the_broker_keeps_serving() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("plain_acl.yml");
    std::fs::write(&path, ACL).unwrap();
    let b = TestBroker::builder()
        .topic("fz", 1)
        .configure(|c| {
            c.acl_enable = true;
            c.acl_file_path = path.display().to_string();
        })
        .start()
        .unwrap();
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let client = rt.block_on(RawClient::connect(b.broker_addr())).unwrap();
    let mut runner = proptest::test_runner::TestRunner::new(ProptestConfig { cases: 64, ..ProptestConfig::default() });
    runner
        .run(&(fields(), tamper()), |(f, t)| {
            let mut c = ferrocket::client::req::send_v2("pg", &ferrocket::client::req::Msg::new("fz", "x"), 0);
            for (k, v) in &f {
                c.set_ext(format!("x{k}"), v);
            }
            sign::sign(&mut c, "fuzzUser1", "fuzz-secret-1");
            let original = sign::content(&c);
            let Some(changed) = apply(c, &t) else { return Ok(()) };
            let same = sign::content(&changed) == original && changed.ext("AccessKey") == Some("fuzzUser1");
            let r = rt.block_on(client.request(changed, Duration::from_secs(10))).expect("the broker answers");
            if !same {
                prop_assert_eq!(r.code, 16, "{:?} after {:?}", r.remark, t);
            }
            Ok(())
        })
        .unwrap();
    let mut ok = ferrocket::client::req::send_v2("pg", &ferrocket::client::req::Msg::new("fz", "x"), 0);
    sign::sign(&mut ok, "fuzzUser1", "fuzz-secret-1");
    assert_eq!(rt.block_on(client.request(ok, Duration::from_secs(10))).unwrap().code, 0);
}
