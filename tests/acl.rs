//! ACL 1.0 on the broker's remoting port (`docs/security.md`): every protected request code is
//! refused without credentials, with a wrong secret, with a tampered field or body, and for an
//! account lacking the permission, and a refused request has no effect; the right account is
//! served. Also the ACL admin codes 50–54, reload on file change, `ferrocket admin` with keys.
mod common;

use common::{unique, DevBroker, Launch, T};
use ferrocket::client::req::{self, ConsumerSpec, Msg};
use ferrocket::client::RawClient;
use ferrocket::codec::sign;
use ferrocket::codec::RemotingCommand;
use std::path::{Path, PathBuf};
use std::time::Duration;

const NO_PERMISSION: i32 = 16;
const ADMIN: (&str, &str) = ("adminKey1", "admin-secret-1");
const USER: (&str, &str) = ("userKey01", "user-secret-1");
const OTHER: (&str, &str) = ("otherKey1", "other-secret1");

fn acl_yaml() -> String {
    format!(
        "globalWhiteRemoteAddresses:\naccounts:\n  - accessKey: {}\n    secretKey: {}\n    admin: true\n  - accessKey: {}\n    secretKey: {}\n    defaultTopicPerm: DENY\n    defaultGroupPerm: DENY\n    topicPerms:\n      - acl_pub=PUB\n      - acl_sub=SUB\n    groupPerms:\n      - acl_g=SUB\n  - accessKey: {}\n    secretKey: {}\n    defaultTopicPerm: DENY\n    defaultGroupPerm: DENY\n",
        ADMIN.0, ADMIN.1, USER.0, USER.1, OTHER.0, OTHER.1
    )
}

struct AclBroker {
    b: DevBroker,
    acl_path: PathBuf,
    _dir: tempfile::TempDir,
}

fn start() -> AclBroker {
    let dir = tempfile::tempdir().unwrap();
    let acl_path = dir.path().join("plain_acl.yml");
    std::fs::write(&acl_path, acl_yaml()).unwrap();
    let config = format!("aclEnable=true\naclFilePath={}\n", acl_path.display());
    let b = DevBroker::start_with(Launch { config: Some(config), ..Default::default() });
    AclBroker { b, acl_path, _dir: dir }
}

async fn client(b: &DevBroker, creds: Option<(&str, &str)>) -> RawClient {
    let c = b.client().await;
    if let Some((ak, sk)) = creds {
        c.set_credentials(ak, sk);
    }
    c
}

/// Sign `cmd` as `(ak, sk)` by hand (for tampering after signing).
fn signed(mut cmd: RemotingCommand, (ak, sk): (&str, &str)) -> RemotingCommand {
    sign::sign(&mut cmd, ak, sk);
    cmd
}

/// What to look at before and after, to show a refused request changed nothing.
#[derive(Clone)]
enum Probe {
    None,
    MaxOffset(&'static str),
    ConsumerOffset(&'static str, &'static str),
    TopicExists(String),
    GroupExists(String),
    ConfigValue(&'static str),
    ConsumerCount(&'static str),
    AclFile,
}

async fn snapshot(admin: &RawClient, probe: &Probe, acl_path: &Path) -> String {
    let resp = |c: RemotingCommand| async move { admin.request(c, T).await.unwrap() };
    match probe {
        Probe::None => String::new(),
        Probe::MaxOffset(topic) => format!("{:?}", req::ext_i64(&resp(req::max_offset(topic, 0)).await, "offset")),
        Probe::ConsumerOffset(g, t) => format!("{:?}", req::ext_i64(&resp(req::query_offset(g, t, 0)).await, "offset")),
        Probe::TopicExists(t) => resp(RemotingCommand::request(351, 0).with_ext("topic", t)).await.code.to_string(),
        Probe::GroupExists(g) => {
            let r = resp(RemotingCommand::request(201, 0)).await;
            String::from_utf8_lossy(&r.body).contains(&format!("\"{g}\"")).to_string()
        }
        Probe::ConfigValue(key) => {
            let r = resp(RemotingCommand::request(26, 0)).await;
            String::from_utf8_lossy(&r.body).lines().find(|l| l.starts_with(&format!("{key}="))).unwrap_or("").to_string()
        }
        Probe::ConsumerCount(g) => String::from_utf8_lossy(&resp(req::consumer_list(g)).await.body).to_string(),
        Probe::AclFile => std::fs::read_to_string(acl_path).unwrap(),
    }
}

struct Case {
    name: &'static str,
    build: Box<dyn Fn() -> RemotingCommand>,
    good: (&'static str, &'static str),
    bad: (&'static str, &'static str),
    probe: Probe,
}

fn case(name: &'static str, good: (&'static str, &'static str), bad: (&'static str, &'static str), probe: Probe, build: impl Fn() -> RemotingCommand + 'static) -> Case {
    Case { name, build: Box::new(build), good, bad, probe }
}

fn cases() -> Vec<Case> {
    let new_topic = unique("acl_new");
    let new_group = unique("acl_grp");
    let nt = new_topic.clone();
    let ng = new_group.clone();
    vec![
        case("SEND_MESSAGE_V2", USER, OTHER, Probe::MaxOffset("acl_pub"), || req::send_v2("pg", &Msg::new("acl_pub", "v2"), 0)),
        case("SEND_MESSAGE", USER, OTHER, Probe::MaxOffset("acl_pub"), || req::send_v1("pg", &Msg::new("acl_pub", "v1"), 0)),
        case("SEND_BATCH_MESSAGE", USER, OTHER, Probe::MaxOffset("acl_pub"), || {
            req::send_batch("pg", "acl_pub", 0, &[Msg::new("acl_pub", "b1"), Msg::new("acl_pub", "b2")])
        }),
        case("SEND to a topic held for SUB only", USER, USER, Probe::MaxOffset("acl_sub"), || req::send_v2("pg", &Msg::new("acl_sub", "x"), 0))
            .refused_for_all(),
        case("PULL_MESSAGE", USER, OTHER, Probe::None, || req::Pull::new("acl_g", "acl_sub", 0, 0).build()),
        case("UPDATE_CONSUMER_OFFSET", USER, OTHER, Probe::ConsumerOffset("acl_g", "acl_sub"), || req::update_offset("acl_g", "acl_sub", 0, 1)),
        case("QUERY_CONSUMER_OFFSET", USER, OTHER, Probe::None, || req::query_offset("acl_g", "acl_sub", 0)),
        case("GET_MAX_OFFSET", USER, OTHER, Probe::None, || req::max_offset("acl_sub", 0)),
        case("GET_MIN_OFFSET", USER, OTHER, Probe::None, || req::min_offset("acl_sub", 0)),
        case("SEARCH_OFFSET_BY_TIMESTAMP", USER, OTHER, Probe::None, || req::search_offset("acl_sub", 0, 0)),
        case("HEART_BEAT (consumer)", USER, OTHER, Probe::ConsumerCount("acl_g"), || {
            req::heartbeat("acl-client-1", &[], &[ConsumerSpec::push("acl_g", "acl_sub", "*")])
        }),
        case("GET_CONSUMER_LIST_BY_GROUP", USER, OTHER, Probe::None, || req::consumer_list("acl_g")),
        case("LOCK_BATCH_MQ", USER, OTHER, Probe::None, || req::lock_batch("acl-client-1", "acl_g", "broker-a", "acl_sub", &[0])),
        case("RECALL_MESSAGE", USER, OTHER, Probe::None, || {
            RemotingCommand::request(370, 0).with_ext("topic", "acl_pub").with_ext("recallHandle", "not-a-handle")
        }),
        case("POP_MESSAGE", USER, OTHER, Probe::None, || ferrocket::client::pop::Pop::new("acl_g", "acl_sub").build()),
        case("UPDATE_AND_CREATE_TOPIC", ADMIN, USER, Probe::TopicExists(new_topic.clone()), move || req::create_topic(&nt, 4)),
        case("DELETE_TOPIC_IN_BROKER", ADMIN, USER, Probe::TopicExists("acl_doomed".into()), || {
            RemotingCommand::request(215, 0).with_ext("topic", "acl_doomed")
        }),
        case("UPDATE_AND_CREATE_SUBSCRIPTIONGROUP", ADMIN, USER, Probe::GroupExists(new_group.clone()), move || {
            let body = serde_json::json!({"groupName": ng, "consumeEnable": true, "retryQueueNums": 1, "retryMaxTimes": 16});
            RemotingCommand::request(200, 0).with_body(body.to_string())
        }),
        case("UPDATE_BROKER_CONFIG", ADMIN, USER, Probe::ConfigValue("maxMessageSize"), || {
            RemotingCommand::request(25, 0).with_body("maxMessageSize=1048576\n")
        }),
        case("GET_BROKER_CONFIG", ADMIN, USER, Probe::None, || RemotingCommand::request(26, 0)),
        case("GET_CONSUME_STATS", ADMIN, USER, Probe::None, || RemotingCommand::request(208, 0).with_ext("consumerGroup", "acl_g")),
        case("GET_ALL_SUBSCRIPTIONGROUP_CONFIG", ADMIN, USER, Probe::None, || RemotingCommand::request(201, 0)),
        case("UPDATE_AND_CREATE_ACL_CONFIG", ADMIN, USER, Probe::AclFile, || {
            RemotingCommand::request(50, 0).with_ext("accessKey", "newKey001").with_ext("secretKey", "new-secret-1")
        }),
        case("UPDATE_GLOBAL_WHITE_ADDRS_CONFIG", ADMIN, USER, Probe::AclFile, || {
            RemotingCommand::request(53, 0).with_ext("globalWhiteAddrs", "10.99.*.*").with_ext("aclFileFullPath", "")
        }),
        case("GET_BROKER_CLUSTER_ACL_INFO", ADMIN, USER, Probe::None, || RemotingCommand::request(52, 0)),
        case("GET_BROKER_CLUSTER_ACL_CONFIG", ADMIN, USER, Probe::None, || RemotingCommand::request(54, 0)),
    ]
}

impl Case {
    /// Even the "good" account lacks the permission: only refusals are checked.
    fn refused_for_all(mut self) -> Case {
        self.good = ("", "");
        self
    }
}

fn refused(resp: &RemotingCommand, what: &str) {
    assert_eq!(resp.code, NO_PERMISSION, "{what}: expected NO_PERMISSION, got {} ({:?})", resp.code, resp.remark);
    assert!(resp.remark.as_deref().unwrap_or("").starts_with("ACL:"), "{what}: remark {:?}", resp.remark);
}

/// Change the first field's value (in key order, `Signature` aside) after signing.
fn tamper_field(mut cmd: RemotingCommand) -> RemotingCommand {
    let fields = cmd.ext_fields.as_mut().unwrap();
    let mut keys: Vec<String> = fields.keys().filter(|k| *k != "Signature" && *k != "AccessKey").map(String::from).collect();
    keys.sort();
    match keys.first() {
        Some(k) => {
            let tampered = format!("{}0", &fields[k.as_str()]);
            fields.insert(k.clone(), tampered);
        }
        None => {
            fields.insert("extra", "1");
        }
    }
    cmd
}

#[tokio::test]
async fn every_protected_code_is_refused_without_the_right_signature_and_permission() {
    let ab = start();
    let admin = client(&ab.b, Some(ADMIN)).await;
    // fixtures: the topics exist and acl_sub has a message
    for t in ["acl_pub", "acl_sub", "acl_doomed"] {
        assert_eq!(admin.request(req::create_topic(t, 1), T).await.unwrap().code, 0);
    }
    assert_eq!(admin.request(req::send_v2("pg", &Msg::new("acl_sub", "m"), 0), T).await.unwrap().code, 0);
    let anon = client(&ab.b, None).await;
    for c in cases() {
        let name = c.name;
        let before = snapshot(&admin, &c.probe, &ab.acl_path).await;
        // 1. no credentials
        refused(&anon.request((c.build)(), T).await.unwrap(), &format!("{name} without credentials"));
        let r = anon.request((c.build)(), T).await.unwrap();
        assert!(r.remark.unwrap().contains("no AccessKey"), "{name}");
        // 2. wrong secret
        let good = if c.good.0.is_empty() { USER } else { c.good };
        refused(&anon.request(signed((c.build)(), (good.0, "not-the-secret")), T).await.unwrap(), &format!("{name} wrong secret"));
        // 3. unknown key
        refused(&anon.request(signed((c.build)(), ("unknownKey", good.1)), T).await.unwrap(), &format!("{name} unknown key"));
        // 4. a field changed after signing
        refused(&anon.request(tamper_field(signed((c.build)(), good)), T).await.unwrap(), &format!("{name} tampered field"));
        // 5. the body changed after signing (or a body added)
        let mut t = signed((c.build)(), good);
        let mut body = t.body.to_vec();
        body.push(b' ');
        t.body = body.into();
        refused(&anon.request(t, T).await.unwrap(), &format!("{name} tampered body"));
        // 6. an account without the permission
        let r = anon.request(signed((c.build)(), c.bad), T).await.unwrap();
        refused(&r, &format!("{name} as {}", c.bad.0));
        let remark = r.remark.unwrap();
        assert!(remark.contains("permission"), "{name}: the remark names the permission: {remark}");
        assert!(!remark.to_lowercase().contains("secret"), "{name}: {remark}");
        // nothing changed
        assert_eq!(snapshot(&admin, &c.probe, &ab.acl_path).await, before, "{name}: a refused request had an effect");
        if c.good.0.is_empty() {
            continue;
        }
        // 7. the right account is served
        let r = anon.request(signed((c.build)(), c.good), T).await.unwrap();
        assert_ne!(r.code, NO_PERMISSION, "{name} as {}: {:?}", c.good.0, r.remark);
        assert!(!r.remark.as_deref().unwrap_or("").starts_with("ACL:"), "{name}: {:?}", r.remark);
        if !matches!(c.probe, Probe::None) {
            assert_eq!(r.code, 0, "{name} accepted: {:?}", r.remark);
            let after = snapshot(&admin, &c.probe, &ab.acl_path).await;
            assert_ne!(after, before, "{name}: the accepted request had no effect");
        }
    }
}

#[tokio::test]
async fn unique_key_queries_are_checked_on_every_signed_field() {
    // Java 4.9.7 leaves _UNIQUE_KEY_QUERY out of what it verifies, so these fail there for every
    // account; here the field is signed and checked like the others.
    let ab = start();
    let admin = client(&ab.b, Some(ADMIN)).await;
    assert_eq!(admin.request(req::create_topic("acl_sub", 1), T).await.unwrap().code, 0);
    let user = client(&ab.b, Some(USER)).await;
    let q = RemotingCommand::request(12, 0)
        .with_ext("topic", "acl_sub")
        .with_ext("key", "k1")
        .with_ext("maxNum", 32)
        .with_ext("beginTimestamp", 0)
        .with_ext("endTimestamp", i64::MAX)
        .with_ext("_UNIQUE_KEY_QUERY", "true");
    let r = user.request(q.clone(), T).await.unwrap();
    assert_ne!(r.code, NO_PERMISSION, "{:?}", r.remark);
    let mut t = signed(q, USER);
    t.set_ext("_UNIQUE_KEY_QUERY", "false");
    let anon = client(&ab.b, None).await;
    refused(&anon.request(t, T).await.unwrap(), "a changed _UNIQUE_KEY_QUERY");
}

#[tokio::test]
async fn accounts_change_through_admin_codes_and_file_edits() {
    let ab = start();
    let admin = client(&ab.b, Some(ADMIN)).await;
    assert_eq!(admin.request(req::create_topic("acl_pub", 1), T).await.unwrap().code, 0);
    let version = |r: &RemotingCommand| r.ext("version").unwrap().to_string();
    let v0 = version(&admin.request(RemotingCommand::request(52, 0), T).await.unwrap());
    // a new account through UPDATE_AND_CREATE_ACL_CONFIG can send at once
    let r = admin
        .request(
            RemotingCommand::request(50, 0)
                .with_ext("accessKey", "newKey001")
                .with_ext("secretKey", "new-secret-1")
                .with_ext("topicPerms", "acl_pub=PUB")
                .with_ext("admin", "false"),
            T,
        )
        .await
        .unwrap();
    assert_eq!(r.code, 0, "{:?}", r.remark);
    let newbie = client(&ab.b, Some(("newKey001", "new-secret-1"))).await;
    assert_eq!(newbie.request(req::send_v2("pg", &Msg::new("acl_pub", "hi"), 0), T).await.unwrap().code, 0);
    let v1 = version(&admin.request(RemotingCommand::request(52, 0), T).await.unwrap());
    assert_ne!(v0, v1);
    assert!(std::fs::read_to_string(&ab.acl_path).unwrap().contains("newKey001"), "written to the file");
    // a bad update is refused with the ACL failure code and changes nothing
    let r = admin.request(RemotingCommand::request(50, 0).with_ext("accessKey", "badKey001").with_ext("secretKey", "x"), T).await.unwrap();
    assert_eq!(r.code, 209, "{:?}", r.remark);
    // the whole config lists the accounts
    let r = admin.request(RemotingCommand::request(54, 0), T).await.unwrap();
    assert!(String::from_utf8_lossy(&r.body).contains("newKey001"));
    // DELETE_ACL_CONFIG: the account is gone at once
    let r = admin.request(RemotingCommand::request(51, 0).with_ext("accessKey", "newKey001"), T).await.unwrap();
    assert_eq!(r.code, 0, "{:?}", r.remark);
    refused(&newbie.request(req::send_v2("pg", &Msg::new("acl_pub", "hi"), 0), T).await.unwrap(), "a deleted account");
    let r = admin.request(RemotingCommand::request(51, 0).with_ext("accessKey", "newKey001"), T).await.unwrap();
    assert_eq!(r.code, 210, "deleting a missing account fails: {:?}", r.remark);
    // an edit of the file is picked up: OTHER gets PUB on acl_pub
    let other = client(&ab.b, Some(OTHER)).await;
    refused(&other.request(req::send_v2("pg", &Msg::new("acl_pub", "x"), 0), T).await.unwrap(), "before the edit");
    let text = acl_yaml().replace(
        &format!("accessKey: {}\n    secretKey: {}\n    defaultTopicPerm: DENY", OTHER.0, OTHER.1),
        &format!("accessKey: {}\n    secretKey: {}\n    defaultTopicPerm: PUB", OTHER.0, OTHER.1),
    );
    assert!(text.contains("defaultTopicPerm: PUB"));
    std::fs::write(&ab.acl_path, text).unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(15);
    loop {
        let r = other.request(req::send_v2("pg", &Msg::new("acl_pub", "x"), 0), T).await.unwrap();
        if r.code == 0 {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "the file edit was not picked up: {:?}", r.remark);
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // a broken file keeps the accounts in force
    std::fs::write(&ab.acl_path, "accounts: [ broken").unwrap();
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(other.request(req::send_v2("pg", &Msg::new("acl_pub", "y"), 0), T).await.unwrap().code, 0);
    assert!(ab.b.log_tail(200).contains("ACL file not reloaded"), "the bad file is reported");
}

#[tokio::test]
async fn a_missing_acl_file_stops_the_start_with_its_name() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("nope.yml");
    let conf = dir.path().join("broker.conf");
    std::fs::write(&conf, format!("aclEnable=true\naclFilePath={}\n", missing.display())).unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_ferrocket"))
        .args(["dev", "--config"])
        .arg(&conf)
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("nope.yml"), "{err}");
}

#[tokio::test]
async fn the_admin_cli_signs_with_keys() {
    let ab = start();
    let ns = ab.b.namesrv.to_string();
    let broker = ab.b.broker.to_string();
    let run = |args: &[&str]| {
        std::process::Command::new(env!("CARGO_BIN_EXE_ferrocket")).arg("admin").args(["-n", &ns]).args(args).output().unwrap()
    };
    let topic = unique("acl_cli");
    let out = run(&["updateTopic", "-b", &broker, "-t", &topic]);
    assert!(!out.status.success(), "unsigned admin is refused");
    assert!(String::from_utf8_lossy(&out.stderr).contains("code 16"), "{}", String::from_utf8_lossy(&out.stderr));
    let keys = ["--access-key", ADMIN.0, "--secret-key", ADMIN.1];
    let out = run(&[&keys[..], &["updateTopic", "-b", &broker, "-t", &topic]].concat());
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let out = run(&[&keys[..], &["updateAclConfig", "-b", &broker, "-a", "cliKey001", "-s", "cli-secret-1", "-t", &format!("{topic}=PUB")]].concat());
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let c = client(&ab.b, Some(("cliKey001", "cli-secret-1"))).await;
    assert_eq!(c.request(req::send_v2("pg", &Msg::new(&topic, "x"), 0), T).await.unwrap().code, 0);
    let out = run(&[&keys[..], &["clusterAclConfigVersion", "-b", &broker, "--json"]].concat());
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stdout).contains("counter"));
    let out = run(&[&keys[..], &["updateGlobalWhiteAddr", "-b", &broker, "-g", "10.1.2.*"]].concat());
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(std::fs::read_to_string(&ab.acl_path).unwrap().contains("10.1.2.*"));
    let out = run(&[&keys[..], &["deleteAclConfig", "-b", &broker, "-a", "cliKey001"]].concat());
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    refused(&c.request(req::send_v2("pg", &Msg::new(&topic, "x"), 0), T).await.unwrap(), "deleted through the CLI");
    let log = ab.b.log_tail(400);
    assert!(log.lines().any(|l| l.contains("admin change requested") && l.contains("adminKey1")), "admin changes are logged with the caller's key: {log}");
}
