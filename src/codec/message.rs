//! Message-level formats: the properties string, tag hash codes, the batch body of
//! SEND_BATCH_MESSAGE, offset message ids, and the flag and property-name constants.
//! (The stored-message layout lives in `stored`, owned by the store.)
use super::error::CodecError;
use bytes::{Buf, Bytes};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

/// Message sysFlag bits (`MessageSysFlag`).
pub mod sys_flag {
    pub const COMPRESSED: i32 = 0x1;
    pub const MULTI_TAGS: i32 = 0x2;
    pub const TRANSACTION_NOT_TYPE: i32 = 0;
    pub const TRANSACTION_PREPARED: i32 = 0x4;
    pub const TRANSACTION_COMMIT: i32 = 0x8;
    pub const TRANSACTION_ROLLBACK: i32 = 0xC;
    pub const TRANSACTION_MASK: i32 = 0xC;
    pub const BORNHOST_V6: i32 = 0x10;
    pub const STOREHOST_V6: i32 = 0x20;
    pub const NEED_UNWRAP: i32 = 0x40;
    pub const INNER_BATCH: i32 = 0x80;
    /// 5.x: compression type in bits 8-10 (0/3 zlib, 1 LZ4, 2 ZSTD).
    pub const COMPRESSION_TYPE_MASK: i32 = 0x700;
}

/// PULL_MESSAGE request sysFlag bits (`PullSysFlag`).
pub mod pull_flag {
    pub const COMMIT_OFFSET: i32 = 0x1;
    pub const SUSPEND: i32 = 0x2;
    pub const SUBSCRIPTION: i32 = 0x4;
    pub const CLASS_FILTER: i32 = 0x8;
    pub const LITE_PULL: i32 = 0x10;
}

/// Reserved property names (`MessageConst`).
pub mod prop {
    pub const KEYS: &str = "KEYS";
    pub const TAGS: &str = "TAGS";
    pub const WAIT: &str = "WAIT";
    pub const DELAY: &str = "DELAY";
    pub const RETRY_TOPIC: &str = "RETRY_TOPIC";
    pub const REAL_TOPIC: &str = "REAL_TOPIC";
    pub const REAL_QID: &str = "REAL_QID";
    pub const TRAN_MSG: &str = "TRAN_MSG";
    pub const PGROUP: &str = "PGROUP";
    pub const MIN_OFFSET: &str = "MIN_OFFSET";
    pub const MAX_OFFSET: &str = "MAX_OFFSET";
    pub const BUYER_ID: &str = "BUYER_ID";
    pub const ORIGIN_MESSAGE_ID: &str = "ORIGIN_MESSAGE_ID";
    pub const TRANSFER_FLAG: &str = "TRANSFER_FLAG";
    pub const CORRECTION_FLAG: &str = "CORRECTION_FLAG";
    pub const MQ2_FLAG: &str = "MQ2_FLAG";
    pub const RECONSUME_TIME: &str = "RECONSUME_TIME";
    pub const MSG_REGION: &str = "MSG_REGION";
    pub const TRACE_SWITCH: &str = "TRACE_ON";
    pub const UNIQ_KEY: &str = "UNIQ_KEY";
    pub const MAX_RECONSUME_TIMES: &str = "MAX_RECONSUME_TIMES";
    pub const CONSUME_START_TIME: &str = "CONSUME_START_TIME";
    pub const TRAN_PREPARED_QUEUE_OFFSET: &str = "TRAN_PREPARED_QUEUE_OFFSET";
    pub const TRANSACTION_CHECK_TIMES: &str = "TRANSACTION_CHECK_TIMES";
    pub const CHECK_IMMUNITY_TIME_IN_SECONDS: &str = "CHECK_IMMUNITY_TIME_IN_SECONDS";
    pub const INSTANCE_ID: &str = "INSTANCE_ID";
    pub const CORRELATION_ID: &str = "CORRELATION_ID";
    pub const REPLY_TO_CLIENT: &str = "REPLY_TO_CLIENT";
    pub const TTL: &str = "TTL";
    pub const ARRIVE_TIME: &str = "ARRIVE_TIME";
    pub const PUSH_REPLY_TIME: &str = "PUSH_REPLY_TIME";
    pub const CLUSTER: &str = "CLUSTER";
    pub const MSG_TYPE: &str = "MSG_TYPE";
    pub const INNER_MULTI_DISPATCH: &str = "INNER_MULTI_DISPATCH";
    pub const INNER_MULTI_QUEUE_OFFSET: &str = "INNER_MULTI_QUEUE_OFFSET";
    /// User property holding the client-side transaction id.
    pub const TRANSACTION_ID: &str = "__transactionId__";
    pub const TIMER_DELIVER_MS: &str = "TIMER_DELIVER_MS";
    /// How many times a far timer was stored again in the timer topic (5.x rolls).
    pub const TIMER_ROLL_TIMES: &str = "TIMER_ROLL_TIMES";
    pub const TIMER_DELAY_SEC: &str = "TIMER_DELAY_SEC";
    pub const TIMER_DELAY_MS: &str = "TIMER_DELAY_MS";
    pub const DLQ_ORIGIN_TOPIC: &str = "DLQ_ORIGIN_TOPIC";
    pub const DLQ_ORIGIN_MESSAGE_ID: &str = "DLQ_ORIGIN_MESSAGE_ID";
    /// Not a property: the QUERY_MESSAGE extFields key asking for a unique-key lookup.
    pub const UNIQUE_KEY_QUERY: &str = "_UNIQUE_KEY_QUERY";
}

/// Separator between a property name and its value.
pub const NAME_VALUE_SEPARATOR: char = '\u{1}';
/// Separator between properties.
pub const PROPERTY_SEPARATOR: char = '\u{2}';

/// A message's properties: a small map that keeps insertion order (order is meaningless on the
/// wire, but keeping it makes re-encoding stable).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Properties {
    entries: Vec<(String, String)>,
}

impl Properties {
    pub fn new() -> Self {
        Self::default()
    }
    pub fn get(&self, name: &str) -> Option<&str> {
        self.entries
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
    /// Set a property, replacing an existing value in place; returns the old value.
    pub fn insert(&mut self, name: impl Into<String>, value: impl Into<String>) -> Option<String> {
        let (name, value) = (name.into(), value.into());
        match self.entries.iter_mut().find(|(k, _)| *k == name) {
            Some((_, v)) => Some(std::mem::replace(v, value)),
            None => {
                self.entries.push((name, value));
                None
            }
        }
    }
    pub fn remove(&mut self, name: &str) -> Option<String> {
        let i = self.entries.iter().position(|(k, _)| k == name)?;
        Some(self.entries.remove(i).1)
    }
    pub fn len(&self) -> usize {
        self.entries.len()
    }
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
    /// The pairs in insertion order.
    pub fn entries(&self) -> &[(String, String)] {
        &self.entries
    }
    pub fn into_vec(self) -> Vec<(String, String)> {
        self.entries
    }
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.entries.iter().map(|(k, v)| (k.as_str(), v.as_str()))
    }
    /// The wire string: `k\u0001v` pairs joined by `\u0002`, no trailing separator. Pairs with an
    /// empty name or value are skipped (they would not survive parsing anyway).
    pub fn encode(&self) -> String {
        join_pairs(self.iter().filter(|(k, v)| !k.is_empty() && !v.is_empty()), 0)
    }
}

impl<K: Into<String>, V: Into<String>> FromIterator<(K, V)> for Properties {
    fn from_iter<I: IntoIterator<Item = (K, V)>>(iter: I) -> Self {
        let mut p = Properties::new();
        for (k, v) in iter {
            p.insert(k, v);
        }
        p
    }
}

/// Parse a properties string as Java does: split on U+0002, split each segment at its first
/// U+0001, drop pairs with an empty name or value (this covers Java's "shorter than 3" rule),
/// last wins for duplicate names. A trailing separator (older clients) is accepted.
pub fn parse_properties(s: &str) -> Properties {
    wire_pairs(s).collect()
}

/// The (name, value) segments of a properties string in order, empty names and values dropped.
fn wire_pairs(s: &str) -> impl Iterator<Item = (&str, &str)> {
    s.split(PROPERTY_SEPARATOR).filter_map(|seg| seg.split_once(NAME_VALUE_SEPARATOR)).filter(|(k, v)| !k.is_empty() && !v.is_empty())
}

/// `k\u0001v` pairs joined by `\u0002` (`cap`: the expected length, 0 when unknown).
pub fn join_pairs<'a>(pairs: impl Iterator<Item = (&'a str, &'a str)>, cap: usize) -> String {
    join_pairs_of("", pairs, cap)
}

/// [`join_pairs`] of pairs of which many are parts of `source` as [`property_pairs`] read them
/// (a producer's properties): pairs that follow each other there are copied as one run of
/// `source` (a send keeps most of its producer's pairs in order: a few copies instead of four
/// per pair). The text is the same.
pub fn join_pairs_of<'a>(source: &str, pairs: impl Iterator<Item = (&'a str, &'a str)>, cap: usize) -> String {
    let mut out = String::with_capacity(cap);
    let base = source.as_ptr() as usize;
    // where `t` starts in `source`, when it is part of it (addresses compared, nothing read)
    let at = |t: &str| {
        let a = (t.as_ptr() as usize).wrapping_sub(base);
        (a <= source.len() && t.len() <= source.len() - a).then_some(a)
    };
    // the run of `source` not copied yet
    let mut run: Option<(usize, usize)> = None;
    let flush = |out: &mut String, run: (usize, usize)| {
        if !out.is_empty() {
            out.push(PROPERTY_SEPARATOR);
        }
        out.push_str(&source[run.0..run.1]);
    };
    for (k, v) in pairs {
        let whole = match (at(k), at(v)) {
            // `k\u0001v` as it stands in `source`
            (Some(a), Some(b)) if b == a + k.len() + 1 && source.as_bytes()[a + k.len()] == NAME_VALUE_SEPARATOR as u8 => Some((a, b + v.len())),
            _ => None,
        };
        match (whole, run) {
            // right after the run, one separator between
            (Some((a, e)), Some((ra, re))) if a == re + 1 && source.as_bytes()[re] == PROPERTY_SEPARATOR as u8 => run = Some((ra, e)),
            (Some(pair), _) => {
                if let Some(r) = run.replace(pair) {
                    flush(&mut out, r);
                }
            }
            (None, _) => {
                if let Some(r) = run.take() {
                    flush(&mut out, r);
                }
                if !out.is_empty() {
                    out.push(PROPERTY_SEPARATOR);
                }
                out.push_str(k);
                out.push(NAME_VALUE_SEPARATOR);
                out.push_str(v);
            }
        }
    }
    if let Some(r) = run {
        flush(&mut out, r);
    }
    out
}

/// Borrowed (name, value) pairs: a message's properties, on the stack up to a dozen (a send's
/// usually has three to six).
pub type Pairs<'a> = smallvec::SmallVec<[(&'a str, &'a str); 12]>;

/// The properties of `s` as borrowed (name, value) pairs by the rules of [`parse_properties`]
/// (empty names and values dropped, a repeated name keeps its first place and its last value),
/// without an allocation per property: for hot paths that read a few and drop a few.
pub fn property_pairs(s: &str) -> Pairs<'_> {
    let mut out = Pairs::new();
    for (k, v) in wire_pairs(s) {
        match out.iter_mut().find(|(n, _)| *n == k) {
            Some(p) => p.1 = v,
            None => out.push((k, v)),
        }
    }
    out
}

/// Encode pairs as [`Properties::encode`] does, leaving out the names in `drop`.
pub fn encode_pairs_without(pairs: &[(&str, &str)], drop: &[&str]) -> String {
    let len = pairs.iter().map(|(k, v)| k.len() + v.len() + 2).sum();
    join_pairs(pairs.iter().copied().filter(|(k, _)| !drop.contains(k)), len)
}

/// Java `String.hashCode` of a tag over UTF-16 units, sign-extended: the consume queue tagsCode.
pub fn tag_hash_code(tag: &str) -> i64 {
    tag.encode_utf16()
        .fold(0i32, |h, u| h.wrapping_mul(31).wrapping_add(u as i32)) as i64
}

/// One message of a SEND_BATCH_MESSAGE body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BatchEntry {
    pub flag: i32,
    pub body: Bytes,
    /// The entry's own properties string (parse with [`parse_properties`]): part of the batch
    /// body, not a copy.
    pub properties: bytestring::ByteString,
}

fn bad(msg: &str) -> CodecError {
    CodecError::BadBody(format!("batch: {msg}"))
}

/// Decode a batch body: entries of totalSize i32, magic i32, bodyCRC i32, flag i32, body length
/// i32, body, properties length i16, properties. Every length is checked against what remains and
/// against `totalSize`.
pub fn decode_batch(body: &Bytes) -> Result<Vec<BatchEntry>, CodecError> {
    let mut rest = body.clone();
    let mut out = Vec::new();
    while rest.has_remaining() {
        if rest.len() < 22 {
            return Err(bad("truncated entry"));
        }
        let total = rest.get_i32();
        let _magic = rest.get_i32();
        let _crc = rest.get_i32();
        let flag = rest.get_i32();
        let body_len = rest.get_i32();
        if body_len < 0 || body_len as usize + 2 > rest.len() {
            return Err(bad("body length overruns"));
        }
        let msg_body = rest.split_to(body_len as usize);
        let props_len = rest.get_i16();
        if props_len < 0 || props_len as usize > rest.len() {
            return Err(bad("properties length overruns"));
        }
        let props = rest.split_to(props_len as usize);
        if total as i64 != 22 + body_len as i64 + props_len as i64 {
            return Err(bad("totalSize does not match the entry"));
        }
        let properties = bytestring::ByteString::try_from(props).map_err(|_| bad("properties not UTF-8"))?;
        out.push(BatchEntry {
            flag,
            body: msg_body,
            properties,
        });
    }
    Ok(out)
}

/// Encode a batch body (what the Java client sends; magic and CRC are 0).
pub fn encode_batch(entries: &[BatchEntry]) -> Vec<u8> {
    let mut out = Vec::new();
    for e in entries {
        let total = 22 + e.body.len() + e.properties.len();
        out.extend_from_slice(&(total as i32).to_be_bytes());
        out.extend_from_slice(&[0; 8]);
        out.extend_from_slice(&e.flag.to_be_bytes());
        out.extend_from_slice(&(e.body.len() as i32).to_be_bytes());
        out.extend_from_slice(&e.body);
        out.extend_from_slice(&(e.properties.len() as i16).to_be_bytes());
        out.extend_from_slice(e.properties.as_bytes());
    }
    out
}

/// A UNIQ_KEY-shaped id (what clients stamp as the message id): 127.0.0.1 | pid (2) | salt (4)
/// | ms (4) | counter (2), 32 upper-case hex digits. The caller brings the clock and the counter.
pub fn unique_id(pid: u32, since_epoch: std::time::Duration, counter: u32) -> String {
    let salt = since_epoch.subsec_nanos() ^ (pid << 8);
    format!("7F000001{:04X}{:08X}{:08X}{:04X}", pid as u16, salt, since_epoch.as_millis() as u32, counter as u16)
}

/// The offset message id: store host address, port (i32) and commit-log offset (i64), in
/// upper-case hex: 32 digits for IPv4, 56 for IPv6.
pub fn offset_msg_id(store_host: SocketAddr, commit_log_offset: i64) -> String {
    let mut s = String::with_capacity(56);
    push_offset_msg_id(&mut s, store_host, commit_log_offset);
    s
}

/// [`offset_msg_id`] appended to `out` (a batch's answer lists them all in one string).
pub fn push_offset_msg_id(out: &mut String, store_host: SocketAddr, commit_log_offset: i64) {
    // each byte's two digits from a table, into a fixed array, then one string of them (a send's
    // answer makes one of these a message)
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    static DIGITS: [[u8; 2]; 256] = {
        let mut t = [[0u8; 2]; 256];
        let mut i = 0;
        while i < 256 {
            t[i] = [HEX[i >> 4], HEX[i & 15]];
            i += 1;
        }
        t
    };
    let mut raw = [0u8; 28];
    let n = match store_host.ip() {
        IpAddr::V4(ip) => {
            raw[..4].copy_from_slice(&ip.octets());
            4
        }
        IpAddr::V6(ip) => {
            raw[..16].copy_from_slice(&ip.octets());
            16
        }
    };
    raw[n..n + 4].copy_from_slice(&(store_host.port() as i32).to_be_bytes());
    raw[n + 4..n + 12].copy_from_slice(&commit_log_offset.to_be_bytes());
    let mut s = [0u8; 56];
    for (d, &b) in s.chunks_exact_mut(2).zip(&raw[..n + 12]) {
        d.copy_from_slice(&DIGITS[b as usize]);
    }
    out.push_str(std::str::from_utf8(&s[..2 * (n + 12)]).unwrap_or_default());
}

/// Decode an offset message id (either case) into the store address and commit-log offset.
pub fn decode_offset_msg_id(id: &str) -> Result<(SocketAddr, i64), CodecError> {
    let invalid = || CodecError::InvalidField {
        field: "msgId",
        value: id.chars().take(64).collect(),
    };
    if !(id.len() == 32 || id.len() == 56) || !id.is_ascii() {
        return Err(invalid());
    }
    let mut raw = Vec::with_capacity(28);
    for i in (0..id.len()).step_by(2) {
        raw.push(u8::from_str_radix(&id[i..i + 2], 16).map_err(|_| invalid())?);
    }
    let ip_len = raw.len() - 12;
    let ip = if ip_len == 4 {
        IpAddr::V4(Ipv4Addr::new(raw[0], raw[1], raw[2], raw[3]))
    } else {
        let mut o = [0u8; 16];
        o.copy_from_slice(&raw[..16]);
        IpAddr::V6(Ipv6Addr::from(o))
    };
    let mut tail = &raw[ip_len..];
    let port = tail.get_i32();
    let offset = tail.get_i64();
    let port = u16::try_from(port).map_err(|_| invalid())?;
    Ok((SocketAddr::new(ip, port), offset))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn properties_java_rules() {
        let p = parse_properties(
            "a\u{1}1\u{2}\u{2}b\u{1}\u{2}\u{1}x\u{2}a\u{1}2\u{2}c\u{1}3\u{1}4\u{2}",
        );
        assert_eq!(p.get("a"), Some("2"));
        assert_eq!(p.get("b"), None);
        assert_eq!(p.get("c"), Some("3\u{1}4"));
        assert_eq!(p.len(), 2);
        assert_eq!(p.encode(), "a\u{1}2\u{2}c\u{1}3\u{1}4");
    }

    #[test]
    fn property_pairs_follow_the_java_rules_and_encode_like_properties() {
        let raw = "a\u{1}1\u{2}\u{2}b\u{1}\u{2}\u{1}x\u{2}a\u{1}2\u{2}c\u{1}3\u{1}4\u{2}d\u{1}5";
        let pairs = property_pairs(raw);
        assert_eq!(&pairs[..], [("a", "2"), ("c", "3\u{1}4"), ("d", "5")]);
        let mut p = parse_properties(raw);
        assert_eq!(encode_pairs_without(&pairs, &[]), p.encode());
        p.remove("c");
        p.remove("zz");
        assert_eq!(encode_pairs_without(&pairs, &["c", "zz"]), p.encode());
        assert_eq!(encode_pairs_without(&property_pairs(""), &["a"]), "");
    }

    #[test]
    fn pairs_joined_in_runs_of_their_source_read_as_joined_one_by_one() {
        // `source` sits right after other pairs in one buffer: those are not part of its runs
        let buf = "x\u{1}y\u{2}a\u{1}1\u{2}b\u{1}2\u{1}3\u{2}\u{2}c\u{1}3\u{2}a\u{1}9\u{2}d\u{1}4\u{2}";
        let (outside, source) = buf.split_at(4);
        let outer = property_pairs(outside);
        let pairs = property_pairs(source);
        assert_eq!(&pairs[..], [("a", "9"), ("b", "2\u{1}3"), ("c", "3"), ("d", "4")]);
        let lists: [Vec<(&str, &str)>; 5] = [
            pairs.to_vec(),
            outer.iter().chain(&pairs).copied().collect(),
            pairs.iter().chain(&outer).copied().collect(),
            pairs.iter().copied().filter(|(k, _)| *k != "c").chain([("e", "5")]).collect(),
            pairs.iter().rev().copied().collect(),
        ];
        for list in lists {
            let one_by_one = join_pairs(list.iter().copied(), 0);
            assert_eq!(join_pairs_of(source, list.iter().copied(), 0), one_by_one, "{list:?}");
            assert_eq!(join_pairs_of(buf, list.iter().copied(), 0), one_by_one, "{list:?}");
        }
        assert_eq!(join_pairs_of(source, pairs[1..].iter().copied(), 0), "b\u{1}2\u{1}3\u{2}c\u{1}3\u{2}d\u{1}4");
    }

    #[test]
    fn tag_hashes() {
        assert_eq!(tag_hash_code("TagA"), 2598919);
        assert_eq!(tag_hash_code("TagB"), 2598920);
        assert_eq!(tag_hash_code("TagBatch"), -726516768);
        assert_eq!(tag_hash_code(""), 0);
    }

    #[test]
    fn msg_ids() {
        let a: SocketAddr = "127.0.0.1:10911".parse().unwrap();
        assert_eq!(offset_msg_id(a, 204684), "7F00000100002A9F0000000000031F8C");
        assert_eq!(
            decode_offset_msg_id("7f00000100002a9f0000000000031f8c").unwrap(),
            (a, 204684)
        );
        let b: SocketAddr = "[::1]:10911".parse().unwrap();
        let id = offset_msg_id(b, 7);
        assert_eq!(id.len(), 56);
        assert_eq!(decode_offset_msg_id(&id).unwrap(), (b, 7));
        assert!(decode_offset_msg_id("7F000001").is_err());
        assert!(decode_offset_msg_id("ZZ00000100002A9F0000000000031F8C").is_err());
        assert!(decode_offset_msg_id("é00000100002A9F0000000000031F8").is_err());
    }

    #[test]
    fn batch_round_trip_and_truncation() {
        let e = vec![
            BatchEntry {
                flag: 0,
                body: Bytes::from_static(b"x"),
                properties: "TAGS\u{1}A".into(),
            },
            BatchEntry {
                flag: 3,
                body: Bytes::new(),
                properties: "".into(),
            },
        ];
        let raw = Bytes::from(encode_batch(&e));
        assert_eq!(decode_batch(&raw).unwrap(), e);
        let first = 22 + 1 + 6;
        for n in (1..raw.len()).filter(|n| *n != first) {
            assert!(decode_batch(&raw.slice(..n)).is_err(), "prefix {n}");
        }
    }
}
