//! The ACL accounts file, `plain_acl.yml`, in RocketMQ 4.x's format: read from and written back to
//! YAML text (no disk here), validated on read, plus the two small languages inside it:
//! permissions (`DENY`, `PUB`, `SUB`, `PUB|SUB`) and remote-address patterns (`10.10.*.*`,
//! `192.168.1.1-100`, `192.168.1.{1,2,3}`, `*`).
//!
//! ```yaml
//! globalWhiteRemoteAddresses:
//!   - 10.20.30.*
//! accounts:
//!   - accessKey: orderApp
//!     secretKey: 87654321
//!     whiteRemoteAddress:
//!     admin: false
//!     defaultTopicPerm: DENY
//!     defaultGroupPerm: SUB
//!     topicPerms: [orders=PUB|SUB, audit=SUB]
//!     groupPerms: [billing=SUB, blocked=DENY]
//! ```
use serde_yaml_ng::{Mapping, Value};
use std::fmt;
use std::net::IpAddr;

/// A permission set, Java's bits: DENY 1, ANY 2, PUB 4, SUB 8.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Perm(pub u8);

impl Perm {
    pub const DENY: Perm = Perm(1);
    pub const ANY: Perm = Perm(2);
    pub const PUB: Perm = Perm(4);
    pub const SUB: Perm = Perm(8);
    pub const PUB_SUB: Perm = Perm(4 | 8);

    /// `DENY`, `PUB`, `SUB`, `PUB|SUB` or `SUB|PUB` (spaces around allowed).
    pub fn parse(s: &str) -> Result<Perm, String> {
        match s.trim() {
            "DENY" => Ok(Perm::DENY),
            "PUB" => Ok(Perm::PUB),
            "SUB" => Ok(Perm::SUB),
            "PUB|SUB" | "SUB|PUB" => Ok(Perm::PUB_SUB),
            other => Err(format!("permission \"{other}\": expected DENY, PUB, SUB or PUB|SUB")),
        }
    }

    /// Whether holding `self` grants `needed` (Java's `Permission.checkPermission`).
    pub fn grants(self, needed: Perm) -> bool {
        if self.0 & Perm::DENY.0 != 0 {
            return false;
        }
        if needed.0 & Perm::ANY.0 != 0 {
            return self.0 & (Perm::PUB.0 | Perm::SUB.0) != 0;
        }
        needed.0 & self.0 != 0
    }
}

impl fmt::Display for Perm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self.0 {
            4 => "PUB",
            8 => "SUB",
            12 => "PUB|SUB",
            2 => "ANY",
            _ => "DENY",
        })
    }
}

/// One account as written in the file.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct AccountSpec {
    pub access_key: String,
    pub secret_key: String,
    /// Empty: none. A matching peer skips the signature check (its permissions still apply).
    pub white_remote_address: String,
    pub admin: bool,
    pub default_topic_perm: Option<String>,
    pub default_group_perm: Option<String>,
    /// `name=PERM` entries, as written.
    pub topic_perms: Vec<String>,
    pub group_perms: Vec<String>,
}

/// The whole file.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct AclFile {
    pub global_white_remote_addresses: Vec<String>,
    pub accounts: Vec<AccountSpec>,
}

/// Shortest accessKey / secretKey the Java broker accepts.
pub const MIN_KEY_LEN: usize = 6;

fn scalar(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

fn get<'a>(m: &'a Mapping, key: &str) -> Option<&'a Value> {
    m.get(Value::String(key.to_string())).filter(|v| !v.is_null())
}

fn string_list(m: &Mapping, key: &str, what: &str) -> Result<Vec<String>, String> {
    match get(m, key) {
        None => Ok(Vec::new()),
        Some(Value::Sequence(items)) => {
            items.iter().filter(|v| !v.is_null()).map(|v| scalar(v).ok_or_else(|| format!("{what}: {key} must list plain values"))).collect()
        }
        Some(v) => scalar(v).map(|s| vec![s]).ok_or_else(|| format!("{what}: {key} must be a list")),
    }
}

impl AccountSpec {
    /// Check keys, permissions and the address pattern; the error names the account and field.
    pub fn validate(&self) -> Result<(), String> {
        let who = format!("account \"{}\"", self.access_key);
        if self.access_key.len() < MIN_KEY_LEN {
            return Err(format!("{who}: accessKey must have at least {MIN_KEY_LEN} characters"));
        }
        if self.secret_key.len() < MIN_KEY_LEN {
            return Err(format!("{who}: secretKey must have at least {MIN_KEY_LEN} characters"));
        }
        for (field, p) in [("defaultTopicPerm", &self.default_topic_perm), ("defaultGroupPerm", &self.default_group_perm)] {
            if let Some(p) = p {
                Perm::parse(p).map_err(|e| format!("{who}: {field}: {e}"))?;
            }
        }
        for (field, list) in [("topicPerms", &self.topic_perms), ("groupPerms", &self.group_perms)] {
            for entry in list {
                parse_resource_perm(entry).map_err(|e| format!("{who}: {field}: {e}"))?;
            }
        }
        AddrPattern::parse(&self.white_remote_address).map_err(|e| format!("{who}: whiteRemoteAddress: {e}"))?;
        Ok(())
    }
}

/// `name=PERM` → (name, perm).
pub fn parse_resource_perm(entry: &str) -> Result<(String, Perm), String> {
    let (name, perm) = entry.split_once('=').ok_or_else(|| format!("\"{entry}\": expected name=PERM"))?;
    let name = name.trim();
    if name.is_empty() {
        return Err(format!("\"{entry}\": empty name"));
    }
    Ok((name.to_string(), Perm::parse(perm)?))
}

impl AclFile {
    /// Parse and validate YAML text. An empty file is an empty account list.
    pub fn parse(text: &str) -> Result<AclFile, String> {
        let root: Value = serde_yaml_ng::from_str(text).map_err(|e| format!("not valid YAML: {e}"))?;
        let root = match root {
            Value::Null => return Ok(AclFile::default()),
            Value::Mapping(m) => m,
            _ => return Err("the top level must be a mapping with globalWhiteRemoteAddresses and accounts".into()),
        };
        let global_white_remote_addresses = string_list(&root, "globalWhiteRemoteAddresses", "globalWhiteRemoteAddresses")?;
        for p in &global_white_remote_addresses {
            AddrPattern::parse(p).map_err(|e| format!("globalWhiteRemoteAddresses: {e}"))?;
        }
        let mut accounts = Vec::new();
        let list = match get(&root, "accounts") {
            None => Vec::new(),
            Some(Value::Sequence(items)) => items.clone(),
            Some(_) => return Err("accounts must be a list".into()),
        };
        for (i, item) in list.iter().enumerate() {
            let Value::Mapping(m) = item else { return Err(format!("accounts[{i}] must be a mapping")) };
            let text_of = |k: &str| get(m, k).and_then(scalar);
            let a = AccountSpec {
                access_key: text_of("accessKey").unwrap_or_default(),
                secret_key: text_of("secretKey").unwrap_or_default(),
                white_remote_address: text_of("whiteRemoteAddress").unwrap_or_default(),
                admin: match get(m, "admin") {
                    None => false,
                    Some(Value::Bool(b)) => *b,
                    Some(v) => scalar(v).is_some_and(|s| s.eq_ignore_ascii_case("true")),
                },
                default_topic_perm: text_of("defaultTopicPerm"),
                default_group_perm: text_of("defaultGroupPerm"),
                topic_perms: string_list(m, "topicPerms", &format!("accounts[{i}]"))?,
                group_perms: string_list(m, "groupPerms", &format!("accounts[{i}]"))?,
            };
            a.validate()?;
            if accounts.iter().any(|b: &AccountSpec| b.access_key == a.access_key) {
                return Err(format!("account \"{}\" appears twice", a.access_key));
            }
            accounts.push(a);
        }
        Ok(AclFile { global_white_remote_addresses, accounts })
    }

    /// The file as YAML text in the same layout (what admin updates write back).
    pub fn to_yaml(&self) -> String {
        let mut root = Mapping::new();
        let list = |v: &[String]| Value::Sequence(v.iter().cloned().map(Value::String).collect());
        root.insert("globalWhiteRemoteAddresses".into(), list(&self.global_white_remote_addresses));
        let accounts = self
            .accounts
            .iter()
            .map(|a| {
                let mut m = Mapping::new();
                m.insert("accessKey".into(), a.access_key.clone().into());
                m.insert("secretKey".into(), a.secret_key.clone().into());
                m.insert("whiteRemoteAddress".into(), a.white_remote_address.clone().into());
                m.insert("admin".into(), a.admin.into());
                if let Some(p) = &a.default_topic_perm {
                    m.insert("defaultTopicPerm".into(), p.clone().into());
                }
                if let Some(p) = &a.default_group_perm {
                    m.insert("defaultGroupPerm".into(), p.clone().into());
                }
                m.insert("topicPerms".into(), list(&a.topic_perms));
                m.insert("groupPerms".into(), list(&a.group_perms));
                Value::Mapping(m)
            })
            .collect();
        root.insert("accounts".into(), Value::Sequence(accounts));
        serde_yaml_ng::to_string(&Value::Mapping(root)).unwrap_or_default()
    }
}

/// One segment of an IPv4 pattern.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Seg {
    Any,
    Range(u8, u8),
    Set(Vec<u8>),
}

impl Seg {
    fn matches(&self, v: u8) -> bool {
        match self {
            Seg::Any => true,
            Seg::Range(a, b) => (*a..=*b).contains(&v),
            Seg::Set(s) => s.contains(&v),
        }
    }
}

/// A remote-address pattern as RocketMQ writes them: empty (matches nothing), `*` or `*.*.*.*`
/// (everything), an IPv4 pattern whose segments are a number, `*`, or `a-b`, with a last
/// segment that may be `{a,b,c}`; or an exact IPv6 address.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AddrPattern {
    Nothing,
    Everything,
    V4(Vec<Seg>),
    V6(std::net::Ipv6Addr),
}

fn seg(s: &str, whole: &str) -> Result<Seg, String> {
    let bad = || format!("\"{whole}\": not an address pattern (e.g. 10.10.*.*, 192.168.1.1-100, 192.168.1.{{1,2}})");
    let num = |t: &str| t.trim().parse::<u8>().map_err(|_| bad());
    if s == "*" {
        return Ok(Seg::Any);
    }
    if let Some(inner) = s.strip_prefix('{').and_then(|r| r.strip_suffix('}')) {
        return inner.split(',').map(num).collect::<Result<Vec<_>, _>>().map(Seg::Set);
    }
    if let Some((a, b)) = s.split_once('-') {
        let (a, b) = (num(a)?, num(b)?);
        return if a <= b { Ok(Seg::Range(a, b)) } else { Err(bad()) };
    }
    num(s).map(|v| Seg::Range(v, v))
}

impl AddrPattern {
    pub fn parse(text: &str) -> Result<AddrPattern, String> {
        let t = text.trim();
        if t.is_empty() {
            return Ok(AddrPattern::Nothing);
        }
        if t == "*" || t == "*.*.*.*" {
            return Ok(AddrPattern::Everything);
        }
        if t.contains(':') {
            return t.parse().map(AddrPattern::V6).map_err(|_| format!("\"{t}\": IPv6 addresses must be exact"));
        }
        let parts: Vec<&str> = t.split('.').collect();
        if parts.len() != 4 {
            return Err(format!("\"{t}\": an IPv4 pattern has four segments"));
        }
        let segs = parts.iter().map(|p| seg(p, t)).collect::<Result<Vec<_>, _>>()?;
        if segs[..3].iter().any(|s| matches!(s, Seg::Set(_))) {
            return Err(format!("\"{t}\": only the last segment may be a {{a,b}} set"));
        }
        Ok(AddrPattern::V4(segs))
    }

    pub fn matches(&self, ip: IpAddr) -> bool {
        let ip = match ip {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map(IpAddr::V4).unwrap_or(IpAddr::V6(v6)),
            v4 => v4,
        };
        match (self, ip) {
            (AddrPattern::Nothing, _) => false,
            (AddrPattern::Everything, _) => true,
            (AddrPattern::V4(segs), IpAddr::V4(v4)) => segs.iter().zip(v4.octets()).all(|(s, o)| s.matches(o)),
            (AddrPattern::V6(p), IpAddr::V6(v6)) => *p == v6,
            _ => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLE: &str = "globalWhiteRemoteAddresses:\n  - 10.20.30.*\n  - 172.16.0.*\n\naccounts:\n  - accessKey: orderApp\n    secretKey: 87654321\n    whiteRemoteAddress:\n    admin: false\n    defaultTopicPerm: DENY\n    defaultGroupPerm: SUB\n    topicPerms:\n      - orders=PUB|SUB\n      - audit=SUB\n      - secret=DENY\n    groupPerms:\n      # plain group names\n      - billing=SUB\n      - blocked=DENY\n      - shared=PUB|SUB\n\n  - accessKey: opsAdmin\n    secretKey: 87654321\n    whiteRemoteAddress: 172.16.1.*\n    admin: true\n";

    #[test]
    fn reads_the_sample_file_and_writes_it_back() {
        let f = AclFile::parse(SAMPLE).unwrap();
        assert_eq!(f.global_white_remote_addresses, ["10.20.30.*", "172.16.0.*"]);
        assert_eq!(f.accounts.len(), 2);
        let a = &f.accounts[0];
        assert_eq!((a.access_key.as_str(), a.secret_key.as_str(), a.admin), ("orderApp", "87654321", false));
        assert_eq!(a.topic_perms, ["orders=PUB|SUB", "audit=SUB", "secret=DENY"]);
        assert_eq!(a.default_group_perm.as_deref(), Some("SUB"));
        assert!(f.accounts[1].admin);
        assert_eq!(AclFile::parse(&f.to_yaml()).unwrap(), f);
        assert_eq!(AclFile::parse("").unwrap(), AclFile::default());
    }

    #[test]
    fn bad_files_are_clear_errors() {
        for (text, needle) in [
            ("accounts: 5", "accounts must be a list"),
            ("accounts:\n  - accessKey: short\n    secretKey: 12345678\n", "accessKey"),
            ("accounts:\n  - accessKey: longenough\n    secretKey: 123\n", "secretKey"),
            ("accounts:\n  - accessKey: longenough\n    secretKey: 12345678\n    topicPerms: [a=ALL]\n", "topicPerms"),
            ("accounts:\n  - accessKey: longenough\n    secretKey: 12345678\n    whiteRemoteAddress: 1.2.3\n", "whiteRemoteAddress"),
            ("globalWhiteRemoteAddresses: [300.1.1.1]\n", "globalWhiteRemoteAddresses"),
            ("[1, 2", "YAML"),
        ] {
            let e = AclFile::parse(text).unwrap_err();
            assert!(e.contains(needle), "{text:?}: {e}");
        }
    }

    #[test]
    fn permissions_as_java_checks_them() {
        assert!(Perm::PUB_SUB.grants(Perm::PUB) && Perm::PUB_SUB.grants(Perm::SUB));
        assert!(!Perm::SUB.grants(Perm::PUB) && !Perm::PUB.grants(Perm::SUB));
        assert!(!Perm::DENY.grants(Perm::SUB) && !Perm(Perm::DENY.0 | Perm::SUB.0).grants(Perm::SUB));
        assert!(Perm::SUB.grants(Perm::ANY));
        assert!(Perm::parse("ALL").is_err());
    }

    #[test]
    fn address_patterns() {
        let m = |p: &str, ip: &str| AddrPattern::parse(p).unwrap().matches(ip.parse().unwrap());
        assert!(m("10.10.103.*", "10.10.103.7") && !m("10.10.103.*", "10.10.104.7"));
        assert!(m("192.168.1.1-100", "192.168.1.100") && !m("192.168.1.1-100", "192.168.1.101"));
        assert!(m("192.168.1.{1,2,3}", "192.168.1.2") && !m("192.168.1.{1,2,3}", "192.168.1.4"));
        assert!(m("*", "::1") && !m("", "127.0.0.1"));
        assert!(m("127.0.0.1", "::ffff:127.0.0.1"));
        assert!(m("::1", "::1"));
        for bad in ["1.2.3", "1.2.3.256", "1.{2}.3.4", "a.b.c.d", "9-1.1.1.1", "fe80::zz"] {
            assert!(AddrPattern::parse(bad).is_err(), "{bad}");
        }
    }
}
