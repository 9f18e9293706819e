//! ACL on the gRPC front end: the 5.x SDKs' `authorization` metadata
//! (`MQv2-HMAC-SHA1 Credential=<accessKey>[/...], SignedHeaders=x-mq-date-time, Signature=<hex>`,
//! the signature being HmacSHA1(secretKey, the `x-mq-date-time` value) in hex), checked against
//! the same accounts as remoting, with a clock-skew window on `x-mq-date-time`
//! (`yyyyMMddTHHmmssZ`, UTC). Then the permissions of the RPC (`needs_*`), decided by
//! `core::acl` like the remoting codes. A refusal is a gRPC status: UNAUTHENTICATED for a
//! missing or bad signature, PERMISSION_DENIED naming the missing permission.
use crate::config::acl::Perm;
use crate::core::acl::{Acl, Needs, Refusal};
use hmac::{Hmac, Mac};
use sha1::Sha1;
use std::net::IpAddr;
use tonic::metadata::MetadataMap;
use tonic::Status as RpcStatus;

/// How far `x-mq-date-time` may be from the broker's clock.
pub const MAX_SKEW_MS: i64 = 15 * 60 * 1000;

/// The access key a request signed with, once verified.
fn authenticate(acl: &Acl, md: &MetadataMap, now_ms: i64) -> Result<Option<String>, RpcStatus> {
    let Some(auth) = md.get("authorization").and_then(|v| v.to_str().ok()) else { return Ok(None) };
    let bad = || RpcStatus::unauthenticated("ACL: authentication failed (unknown AccessKey or a signature that does not match)");
    let date = md.get("x-mq-date-time").and_then(|v| v.to_str().ok()).ok_or_else(|| RpcStatus::unauthenticated("ACL: x-mq-date-time is missing"))?;
    let at = parse_date_time(date).ok_or_else(|| RpcStatus::unauthenticated("ACL: x-mq-date-time is not yyyyMMddTHHmmssZ"))?;
    if (at - now_ms).abs() > MAX_SKEW_MS {
        return Err(RpcStatus::unauthenticated("ACL: x-mq-date-time is too far from the broker's clock"));
    }
    let (_, params) = auth.split_once(' ').ok_or_else(bad)?;
    let (mut access_key, mut signature) = (None, None);
    for kv in params.split(',') {
        match kv.trim().split_once('=') {
            Some(("Credential", v)) => access_key = v.split('/').next().map(str::to_string),
            Some(("Signature", v)) => signature = decode_hex(v.trim()),
            _ => {}
        }
    }
    let (access_key, signature) = (access_key.ok_or_else(bad)?, signature.ok_or_else(bad)?);
    let secret = acl.secret_of(&access_key).ok_or_else(bad)?;
    let mut mac = Hmac::<Sha1>::new_from_slice(secret.as_bytes()).expect("HMAC takes any key length");
    mac.update(date.as_bytes());
    mac.verify_slice(&signature).map_err(|_| bad())?;
    Ok(Some(access_key))
}

/// Authenticate the call and check `needs` for it (`code` names the RPC in refusals).
pub fn check(acl: &Acl, md: &MetadataMap, peer: Option<IpAddr>, rpc: &str, needs: &Needs, now_ms: i64) -> Result<(), RpcStatus> {
    let peer = peer.unwrap_or(IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED));
    let key = authenticate(acl, md, now_ms)?;
    acl.authorize(key.as_deref(), peer, 0, needs).map(|_| ()).map_err(|r| match r {
        Refusal::NoAccessKey => RpcStatus::unauthenticated("ACL: no authorization header; this broker requires signed requests"),
        Refusal::NotAuthenticated => RpcStatus::unauthenticated(r.to_string()),
        Refusal::NeedAdmin { access_key, .. } => RpcStatus::permission_denied(format!("ACL: {rpc} needs admin permission, which accessKey={access_key} does not have")),
        Refusal::NoPermission { .. } => RpcStatus::permission_denied(r.to_string()),
    })
}

/// SUB on a consumer's topic and group.
pub fn consume(topic: &str, group: &str) -> Needs {
    Needs::default().topic(topic, Perm::SUB).group(group, Perm::SUB)
}

/// PUB on every topic sent to.
pub fn publish<'a>(topics: impl Iterator<Item = &'a str>) -> Needs {
    topics.fold(Needs::default(), |n, t| n.topic(t, Perm::PUB))
}

fn decode_hex(s: &str) -> Option<Vec<u8>> {
    if !s.len().is_multiple_of(2) {
        return None;
    }
    (0..s.len()).step_by(2).map(|i| u8::from_str_radix(s.get(i..i + 2)?, 16).ok()).collect()
}

/// `yyyyMMddTHHmmssZ` (UTC) → ms since the epoch.
pub fn parse_date_time(s: &str) -> Option<i64> {
    let b = s.as_bytes();
    if b.len() != 16 || b[8] != b'T' || b[15] != b'Z' {
        return None;
    }
    let num = |r: std::ops::Range<usize>| s.get(r)?.parse::<i64>().ok();
    let (y, mo, d) = (num(0..4)?, num(4..6)?, num(6..8)?);
    let (h, mi, sec) = (num(9..11)?, num(11..13)?, num(13..15)?);
    if !(1..=12).contains(&mo) || !(1..=31).contains(&d) || h > 23 || mi > 59 || sec > 60 {
        return None;
    }
    // days from the civil date (Howard Hinnant's algorithm)
    let y2 = if mo <= 2 { y - 1 } else { y };
    let era = y2.div_euclid(400);
    let yoe = y2 - era * 400;
    let mp = (mo + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146097 + doe - 719468;
    Some(((days * 24 + h) * 60 + mi) * 60_000 + sec * 1000)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::acl::AclFile;
    use tonic::metadata::MetadataValue;

    fn acl() -> Acl {
        let f = AclFile::parse("accounts:\n  - accessKey: grpcUser1\n    secretKey: grpc-secret\n    defaultTopicPerm: PUB\n").unwrap();
        Acl::new(f, 0)
    }

    fn md(ak: &str, sk: &str, date: &str) -> MetadataMap {
        let mut mac = Hmac::<Sha1>::new_from_slice(sk.as_bytes()).unwrap();
        mac.update(date.as_bytes());
        let hex: String = mac.finalize().into_bytes().iter().map(|b| format!("{b:02X}")).collect();
        let mut m = MetadataMap::new();
        let auth = format!("MQv2-HMAC-SHA1 Credential={ak}, SignedHeaders=x-mq-date-time, Signature={hex}");
        m.insert("authorization", MetadataValue::try_from(auth).unwrap());
        m.insert("x-mq-date-time", MetadataValue::try_from(date).unwrap());
        m
    }

    #[test]
    fn dates_parse_as_utc() {
        assert_eq!(parse_date_time("19700101T000000Z"), Some(0));
        assert_eq!(parse_date_time("20240229T235959Z"), Some(1_709_251_199_000));
        for bad in ["2024022T235959Z", "20241329T000000Z", "20240101 000000Z", "20240101T000000", "ééééééééTéééééZ"] {
            assert_eq!(parse_date_time(bad), None, "{bad}");
        }
    }

    #[test]
    fn signatures_skew_and_permissions() {
        let acl = acl();
        let now = parse_date_time("20240101T120000Z").unwrap();
        let pubs = publish(["t1"].into_iter());
        assert!(check(&acl, &md("grpcUser1", "grpc-secret", "20240101T120000Z"), None, "SendMessage", &pubs, now).is_ok());
        let e = check(&acl, &md("grpcUser1", "wrong", "20240101T120000Z"), None, "SendMessage", &pubs, now).unwrap_err();
        assert_eq!(e.code(), tonic::Code::Unauthenticated);
        let e = check(&acl, &md("grpcUser1", "grpc-secret", "20240101T130000Z"), None, "SendMessage", &pubs, now).unwrap_err();
        assert!(e.message().contains("clock"), "{}", e.message());
        let e = check(&acl, &MetadataMap::new(), None, "SendMessage", &pubs, now).unwrap_err();
        assert_eq!(e.code(), tonic::Code::Unauthenticated);
        let e = check(&acl, &md("grpcUser1", "grpc-secret", "20240101T120000Z"), None, "ReceiveMessage", &consume("t1", "g1"), now).unwrap_err();
        assert_eq!(e.code(), tonic::Code::PermissionDenied);
        assert!(e.message().contains("SUB"), "{}", e.message());
    }
}
