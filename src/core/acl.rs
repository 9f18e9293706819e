//! ACL 1.0 decisions: who signed a request, and whether that account holds what the request needs.
//! Runtime-free: the accounts come in as an [`AclFile`] (read and written by `store::acl_file`),
//! the request's needs come from `handlers::acl`, and the peer address is passed in.
//!
//! Order of checks, as RocketMQ's `PlainPermissionManager::validate`:
//! 1. a peer matching `globalWhiteRemoteAddresses` passes;
//! 2. no `AccessKey`, or one no account has: refused;
//! 3. the account's `whiteRemoteAddress` matches the peer: the signature is not checked; else the
//!    `Signature` must verify (constant time, `codec::sign`);
//! 4. admin-only codes need `admin: true`;
//! 5. PUB on `RMQ_SYS_TRACE_TOPIC` passes (trace data from any signed client);
//! 6. each needed (resource, permission) is granted by the account's entry for the resource, or
//!    its default for topics or groups. An admin account with no entries holds everything.
//!
//! Unlike Java 4.9.7, a `whiteRemoteAddress` match skips only the signature, not the permissions,
//! and every signed field counts (Java drops `_UNIQUE_KEY_QUERY` from what it checks).
use crate::codec::sign;
use crate::codec::RemotingCommand;
use crate::config::acl::{parse_resource_perm, AccountSpec, AclFile, AddrPattern, Perm};
use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, RwLock};

pub const TRACE_TOPIC: &str = "RMQ_SYS_TRACE_TOPIC";
pub const RETRY_PREFIX: &str = "%RETRY%";

/// What a request needs on one resource. Groups are named without `%RETRY%`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Need {
    Topic(String, Perm),
    Group(String, Perm),
}

/// A request's needs: admin-only or not, and the resources it touches.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Needs {
    pub admin: bool,
    pub resources: Vec<Need>,
}

impl Needs {
    pub fn admin() -> Needs {
        Needs { admin: true, resources: Vec::new() }
    }
    pub fn topic(mut self, topic: &str, perm: Perm) -> Needs {
        self.resources.push(Need::Topic(topic.to_string(), perm));
        self
    }
    pub fn group(mut self, group: &str, perm: Perm) -> Needs {
        let g = group.strip_prefix(RETRY_PREFIX).unwrap_or(group);
        self.resources.push(Need::Group(g.to_string(), perm));
        self
    }
}

/// Why a request is refused: the remark names the missing permission, never which part of a
/// signature was wrong.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Refusal {
    NoAccessKey,
    /// Unknown access key or a signature that does not verify (one answer for both).
    NotAuthenticated,
    NeedAdmin { code: i32, access_key: String },
    NoPermission { access_key: String, what: String, perm: Perm },
}

impl std::fmt::Display for Refusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Refusal::NoAccessKey => f.write_str("ACL: no AccessKey in the request; this broker requires signed requests"),
            Refusal::NotAuthenticated => f.write_str("ACL: authentication failed (unknown AccessKey or a signature that does not match)"),
            Refusal::NeedAdmin { code, access_key } => {
                write!(f, "ACL: request code {code} needs admin permission, which accessKey={access_key} does not have")
            }
            Refusal::NoPermission { access_key, what, perm } => write!(f, "ACL: accessKey={access_key} has no {perm} permission on {what}"),
        }
    }
}

/// Who a request came from, once accepted.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Caller {
    /// Passed by the global address allowlist (maybe unsigned).
    WhiteListed,
    Account(String),
}

impl Caller {
    pub fn access_key(&self) -> &str {
        match self {
            Caller::WhiteListed => "-",
            Caller::Account(k) => k,
        }
    }
}

struct Account {
    spec: AccountSpec,
    white: AddrPattern,
    default_topic: Perm,
    default_group: Perm,
    topics: HashMap<String, Perm>,
    groups: HashMap<String, Perm>,
}

impl Account {
    fn compile(spec: &AccountSpec) -> Account {
        let perm = |p: &Option<String>| p.as_deref().and_then(|p| Perm::parse(p).ok()).unwrap_or(Perm::DENY);
        let map = |list: &[String]| list.iter().filter_map(|e| parse_resource_perm(e).ok()).collect::<HashMap<_, _>>();
        Account {
            white: AddrPattern::parse(&spec.white_remote_address).unwrap_or(AddrPattern::Nothing),
            default_topic: perm(&spec.default_topic_perm),
            default_group: perm(&spec.default_group_perm),
            topics: map(&spec.topic_perms),
            groups: map(&spec.group_perms)
                .into_iter()
                .map(|(g, p)| (g.strip_prefix(RETRY_PREFIX).map(str::to_string).unwrap_or(g), p))
                .collect(),
            spec: spec.clone(),
        }
    }

    fn grants(&self, need: &Need) -> Result<(), (String, Perm)> {
        if self.spec.admin && self.topics.is_empty() && self.groups.is_empty() {
            return Ok(());
        }
        let (owned, what, perm) = match need {
            Need::Topic(t, p) => (self.topics.get(t).copied().unwrap_or(self.default_topic), format!("topic {t}"), *p),
            Need::Group(g, p) => (self.groups.get(g).copied().unwrap_or(self.default_group), format!("group {g}"), *p),
        };
        if owned.grants(perm) {
            Ok(())
        } else {
            Err((what, perm))
        }
    }
}

/// The compiled accounts of one version of the file.
struct Accounts {
    file: AclFile,
    global: Vec<AddrPattern>,
    by_key: HashMap<String, Account>,
}

impl Accounts {
    fn compile(file: AclFile) -> Accounts {
        Accounts {
            global: file.global_white_remote_addresses.iter().filter_map(|p| AddrPattern::parse(p).ok()).collect(),
            by_key: file.accounts.iter().map(|a| (a.access_key.clone(), Account::compile(a))).collect(),
            file,
        }
    }
}

/// The live ACL: accounts replaced whole on reload or admin update, so a check copies a pointer.
pub struct Acl {
    accounts: RwLock<Arc<Accounts>>,
    /// (timestamp ms, counter) of the accounts in force, as RocketMQ's DataVersion.
    version: RwLock<(i64, i64)>,
}

impl Acl {
    pub fn new(file: AclFile, now_ms: i64) -> Acl {
        Acl { accounts: RwLock::new(Arc::new(Accounts::compile(file))), version: RwLock::new((now_ms, 0)) }
    }

    fn current(&self) -> Arc<Accounts> {
        self.accounts.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Put `file` in force (a reload or an admin update) and raise the version.
    pub fn replace(&self, file: AclFile, now_ms: i64) {
        *self.accounts.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(Accounts::compile(file));
        let mut v = self.version.write().unwrap_or_else(|e| e.into_inner());
        *v = (now_ms, v.1 + 1);
    }

    /// The accounts file in force.
    pub fn file(&self) -> AclFile {
        self.current().file.clone()
    }

    /// (timestamp ms, counter).
    pub fn version(&self) -> (i64, i64) {
        *self.version.read().unwrap_or_else(|e| e.into_inner())
    }

    /// The secret of `access_key` (the gRPC front end checks its own signature form).
    pub fn secret_of(&self, access_key: &str) -> Option<String> {
        self.current().by_key.get(access_key).map(|a| a.spec.secret_key.clone())
    }

    /// Decide a remoting request from `peer` needing `needs`.
    pub fn check(&self, req: &RemotingCommand, peer: IpAddr, needs: &Needs) -> Result<Caller, Refusal> {
        let accounts = self.current();
        if accounts.global.iter().any(|p| p.matches(peer)) {
            return Ok(Caller::WhiteListed);
        }
        let key = req.ext(sign::ACCESS_KEY).ok_or(Refusal::NoAccessKey)?;
        let account = accounts.by_key.get(key).ok_or(Refusal::NotAuthenticated)?;
        if !account.white.matches(peer) && !sign::verify(req, &account.spec.secret_key) {
            return Err(Refusal::NotAuthenticated);
        }
        authorize(account, req.code, needs)?;
        Ok(Caller::Account(key.to_string()))
    }

    /// Decide a request already authenticated as `access_key` (the gRPC front end), from `peer`.
    pub fn authorize(&self, access_key: Option<&str>, peer: IpAddr, code: i32, needs: &Needs) -> Result<Caller, Refusal> {
        let accounts = self.current();
        if accounts.global.iter().any(|p| p.matches(peer)) {
            return Ok(Caller::WhiteListed);
        }
        let key = access_key.ok_or(Refusal::NoAccessKey)?;
        let account = accounts.by_key.get(key).ok_or(Refusal::NotAuthenticated)?;
        authorize(account, code, needs)?;
        Ok(Caller::Account(key.to_string()))
    }
}

fn authorize(account: &Account, code: i32, needs: &Needs) -> Result<(), Refusal> {
    let access_key = || account.spec.access_key.clone();
    if needs.admin && !account.spec.admin {
        return Err(Refusal::NeedAdmin { code, access_key: access_key() });
    }
    if needs.resources.iter().any(|n| matches!(n, Need::Topic(t, p) if t == TRACE_TOPIC && *p == Perm::PUB)) {
        return Ok(());
    }
    for need in &needs.resources {
        account.grants(need).map_err(|(what, perm)| Refusal::NoPermission { access_key: access_key(), what, perm })?;
    }
    Ok(())
}

/// Merge an UPDATE_AND_CREATE_ACL_CONFIG into `file`: a new account is added; for an existing
/// one, the fields given replace the old ones. The result is validated before it is returned.
pub fn upsert_account(file: &AclFile, update: AccountUpdate) -> Result<AclFile, String> {
    let mut next = file.clone();
    let idx = next.accounts.iter().position(|a| a.access_key == update.access_key);
    let mut a = idx.map(|i| next.accounts[i].clone()).unwrap_or_else(|| AccountSpec { access_key: update.access_key.clone(), ..Default::default() });
    if let Some(s) = update.secret_key {
        a.secret_key = s;
    }
    if let Some(w) = update.white_remote_address {
        a.white_remote_address = w;
    }
    if let Some(x) = update.admin {
        a.admin = x;
    }
    if update.default_topic_perm.is_some() {
        a.default_topic_perm = update.default_topic_perm;
    }
    if update.default_group_perm.is_some() {
        a.default_group_perm = update.default_group_perm;
    }
    if let Some(t) = update.topic_perms {
        a.topic_perms = t;
    }
    if let Some(g) = update.group_perms {
        a.group_perms = g;
    }
    a.validate()?;
    match idx {
        Some(i) => next.accounts[i] = a,
        None => next.accounts.push(a),
    }
    Ok(next)
}

/// The fields of an UPDATE_AND_CREATE_ACL_CONFIG request; `None` keeps the stored value.
#[derive(Clone, Debug, Default)]
pub struct AccountUpdate {
    pub access_key: String,
    pub secret_key: Option<String>,
    pub white_remote_address: Option<String>,
    pub admin: Option<bool>,
    pub default_topic_perm: Option<String>,
    pub default_group_perm: Option<String>,
    pub topic_perms: Option<Vec<String>>,
    pub group_perms: Option<Vec<String>>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn acl() -> Acl {
        let file = AclFile::parse(
            "globalWhiteRemoteAddresses: [10.0.0.*]\naccounts:\n  - accessKey: producer1\n    secretKey: secret-p1\n    defaultTopicPerm: DENY\n    defaultGroupPerm: SUB\n    topicPerms: [orders=PUB, audit=SUB]\n    groupPerms: [blocked=DENY]\n  - accessKey: adminKey\n    secretKey: secret-ad\n    admin: true\n  - accessKey: office1\n    secretKey: secret-o1\n    whiteRemoteAddress: 192.168.1.*\n    defaultTopicPerm: SUB\n",
        )
        .unwrap();
        Acl::new(file, 0)
    }

    fn signed(ak: &str, sk: &str) -> RemotingCommand {
        let mut c = RemotingCommand::request(10, 1).with_ext("topic", "orders");
        sign::sign(&mut c, ak, sk);
        c
    }

    const LOCAL: IpAddr = IpAddr::V4(std::net::Ipv4Addr::LOCALHOST);

    #[test]
    fn decisions() {
        let acl = acl();
        let pub_orders = Needs::default().topic("orders", Perm::PUB);
        assert_eq!(acl.check(&signed("producer1", "secret-p1"), LOCAL, &pub_orders), Ok(Caller::Account("producer1".into())));
        assert_eq!(acl.check(&signed("producer1", "wrong-sec"), LOCAL, &pub_orders), Err(Refusal::NotAuthenticated));
        assert_eq!(acl.check(&signed("nobody00", "secret-p1"), LOCAL, &pub_orders), Err(Refusal::NotAuthenticated));
        assert_eq!(acl.check(&RemotingCommand::request(10, 1), LOCAL, &pub_orders), Err(Refusal::NoAccessKey));
        assert_eq!(acl.check(&RemotingCommand::request(10, 1), "10.0.0.9".parse().unwrap(), &Needs::admin()), Ok(Caller::WhiteListed));
        let r = acl.check(&signed("producer1", "secret-p1"), LOCAL, &Needs::default().topic("audit", Perm::PUB)).unwrap_err();
        assert_eq!(r.to_string(), "ACL: accessKey=producer1 has no PUB permission on topic audit");
        let r = acl.check(&signed("producer1", "secret-p1"), LOCAL, &Needs::default().topic("other", Perm::SUB));
        assert!(r.is_err(), "default topic perm DENY");
        assert!(acl.check(&signed("producer1", "secret-p1"), LOCAL, &Needs::default().group("%RETRY%g1", Perm::SUB)).is_ok());
        assert!(acl.check(&signed("producer1", "secret-p1"), LOCAL, &Needs::default().group("blocked", Perm::SUB)).is_err());
        assert!(acl.check(&signed("producer1", "secret-p1"), LOCAL, &Needs::default().topic(TRACE_TOPIC, Perm::PUB)).is_ok());
        let r = acl.check(&signed("producer1", "secret-p1"), LOCAL, &Needs::admin()).unwrap_err();
        assert!(matches!(r, Refusal::NeedAdmin { .. }));
        assert!(acl.check(&signed("adminKey", "secret-ad"), LOCAL, &Needs::admin().topic("x", Perm::PUB)).is_ok());
        // the white address skips the signature, not the permissions
        let unsigned = RemotingCommand::request(10, 1).with_ext("AccessKey", "office1");
        let office = "192.168.1.20".parse().unwrap();
        assert!(acl.check(&unsigned, office, &Needs::default().topic("t", Perm::SUB)).is_ok());
        assert!(acl.check(&unsigned, office, &Needs::default().topic("t", Perm::PUB)).is_err());
        assert!(acl.check(&unsigned, LOCAL, &Needs::default().topic("t", Perm::SUB)).is_err());
    }

    #[test]
    fn replace_raises_the_version_and_upsert_merges() {
        let acl = acl();
        let file = acl.file();
        let update = AccountUpdate { access_key: "producer1".into(), topic_perms: Some(vec!["audit=PUB".into()]), ..Default::default() };
        let next = upsert_account(&file, update).unwrap();
        acl.replace(next, 5);
        assert_eq!(acl.version(), (5, 1));
        assert!(acl.check(&signed("producer1", "secret-p1"), LOCAL, &Needs::default().topic("audit", Perm::PUB)).is_ok());
        let bad = AccountUpdate { access_key: "newkey1".into(), secret_key: Some("x".into()), ..Default::default() };
        assert!(upsert_account(&acl.file(), bad).is_err());
    }
}
