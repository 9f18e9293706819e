//! The stored-message layout: what the commit log holds and what PULL_MESSAGE bodies carry.
//!
//! ```text
//! totalSize i32 | magic i32 | bodyCRC i32 | queueId i32 | flag i32 | queueOffset i64 | commitLogOffset i64
//! | sysFlag i32 | bornTimestamp i64 | bornHost (4+4 or 16+4) | storeTimestamp i64 | storeHost (4+4 or 16+4)
//! | reconsumeTimes i32 | preparedTransactionOffset i64 | bodyLen i32 | body | topicLen u8 | topic
//! | propsLen i16 | properties
//! ```
//! All big-endian. sysFlag bit 16 (0x10) marks an IPv6 born host, bit 32 (0x20) an IPv6 store host.
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use bytes::{BufMut, Bytes, BytesMut};

use super::CodecError;

/// Magic of a stored message (V1: one-byte topic length).
pub const MESSAGE_MAGIC: i32 = 0xDAA320A7u32 as i32;
/// Magic of the blank filler record at the end of a commit-log segment.
pub const BLANK_MAGIC: i32 = 0xCBD43194u32 as i32;
/// sysFlag bit: born host is IPv6.
pub const FLAG_BORN_V6: i32 = 0x10;
/// sysFlag bit: store host is IPv6.
pub const FLAG_STORE_V6: i32 = 0x20;
/// Fixed part of a record with two IPv4 hosts.
pub const FIXED_SIZE_V4: usize = 91;
/// Offset of the queueOffset field in a record.
pub const QUEUE_OFFSET_POS: usize = 20;
/// Offset of the storeTimestamp field when the born host is IPv4 (add 12 when it is IPv6).
pub const STORE_TIMESTAMP_POS_V4: usize = 56;

/// One message as the commit log stores it (totalSize and magic are derived).
#[derive(Debug, Clone, PartialEq)]
pub struct StoredMessage {
    pub queue_id: i32,
    pub flag: i32,
    pub queue_offset: i64,
    pub commit_log_offset: i64,
    pub sys_flag: i32,
    pub born_timestamp: i64,
    pub born_host: SocketAddr,
    pub store_timestamp: i64,
    pub store_host: SocketAddr,
    pub reconsume_times: i32,
    pub prepared_transaction_offset: i64,
    pub body: Bytes,
    pub topic: String,
    pub properties: String,
    pub body_crc: i32,
}

/// Size in bytes of a stored record with these variable parts.
pub fn stored_size(body_len: usize, topic_len: usize, props_len: usize, born_v6: bool, store_v6: bool) -> usize {
    FIXED_SIZE_V4 + body_len + topic_len + props_len + 12 * (born_v6 as usize + store_v6 as usize)
}

/// The body CRC as RocketMQ stores it: CRC-32 with the top bit cleared.
pub fn body_crc(body: &[u8]) -> i32 {
    let mut h = crc32_hasher();
    h.update(body);
    (h.finalize() & 0x7FFF_FFFF) as i32
}

/// A fresh CRC-32 hasher: a copy of one made once (`crc32fast::Hasher::new`, which
/// `crc32fast::hash` calls, checks the CPU's features each time: ~40 instructions of a send's
/// two CRCs).
pub fn crc32_hasher() -> crc32fast::Hasher {
    static FRESH: std::sync::LazyLock<crc32fast::Hasher> = std::sync::LazyLock::new(crc32fast::Hasher::new);
    FRESH.clone()
}

fn put_host<B: BufMut>(out: &mut B, a: &SocketAddr) {
    match a.ip() {
        IpAddr::V4(ip) => out.put_slice(&ip.octets()),
        IpAddr::V6(ip) => out.put_slice(&ip.octets()),
    }
    out.put_i32(a.port() as i32);
}

/// Append the stored form of `m` to `out`.
///
/// The sysFlag host bits are set from the address families, the body CRC is always computed from the
/// body (the `body_crc` field is ignored). The topic must be at most 255 bytes and the properties at
/// most 32767 bytes: callers validate (longer values are truncated in the length field).
pub fn encode_stored(m: &StoredMessage, out: &mut BytesMut) {
    encode_stored_with(m, &m.body, &m.topic, &m.properties, out)
}

/// [`encode_stored`] with the variable parts given apart (`m`'s own body, topic and properties are
/// ignored), so a caller holding them elsewhere need not copy them into `m`.
pub fn encode_stored_with(m: &StoredMessage, body: &[u8], topic: &str, properties: &str, out: &mut BytesMut) {
    out.reserve(stored_size(body.len(), topic.len(), properties.len(), m.born_host.is_ipv6(), m.store_host.is_ipv6()));
    encode_stored_into(m, body, topic, properties, out);
}

/// [`encode_stored_with`] into any buffer: the commit log's appender writes records straight into
/// its segment's mapping (`&mut [u8]` of exactly [`stored_size`] bytes, or more).
///
/// # Panics
/// When `out` has less room than the record's [`stored_size`] (a `&mut [u8]` does not grow):
/// callers size it first.
pub fn encode_stored_into<B: BufMut>(m: &StoredMessage, body: &[u8], topic: &str, properties: &str, out: &mut B) {
    let born_v6 = m.born_host.is_ipv6();
    let store_v6 = m.store_host.is_ipv6();
    let size = stored_size(body.len(), topic.len(), properties.len(), born_v6, store_v6);
    let mut sys_flag = m.sys_flag & !(FLAG_BORN_V6 | FLAG_STORE_V6);
    if born_v6 {
        sys_flag |= FLAG_BORN_V6;
    }
    if store_v6 {
        sys_flag |= FLAG_STORE_V6;
    }
    out.put_i32(size as i32);
    out.put_i32(MESSAGE_MAGIC);
    out.put_i32(body_crc(body));
    out.put_i32(m.queue_id);
    out.put_i32(m.flag);
    out.put_i64(m.queue_offset);
    out.put_i64(m.commit_log_offset);
    out.put_i32(sys_flag);
    out.put_i64(m.born_timestamp);
    put_host(out, &m.born_host);
    out.put_i64(m.store_timestamp);
    put_host(out, &m.store_host);
    out.put_i32(m.reconsume_times);
    out.put_i64(m.prepared_transaction_offset);
    out.put_i32(body.len() as i32);
    out.put_slice(body);
    out.put_u8(topic.len() as u8);
    out.put_slice(topic.as_bytes());
    out.put_i16(properties.len() as i16);
    out.put_slice(properties.as_bytes());
}

/// Bounds-checked big-endian reader over a slice.
struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize, what: &str) -> Result<&'a [u8], CodecError> {
        let end = self.pos.checked_add(n).filter(|&e| e <= self.buf.len());
        match end {
            Some(end) => {
                let s = &self.buf[self.pos..end];
                self.pos = end;
                Ok(s)
            }
            None => Err(CodecError::BadBody(format!(
                "stored message truncated reading {what} at byte {} (have {})",
                self.pos,
                self.buf.len()
            ))),
        }
    }
    fn i32(&mut self, what: &str) -> Result<i32, CodecError> {
        let s = self.take(4, what)?;
        Ok(i32::from_be_bytes([s[0], s[1], s[2], s[3]]))
    }
    fn i64(&mut self, what: &str) -> Result<i64, CodecError> {
        let s = self.take(8, what)?;
        let mut a = [0u8; 8];
        a.copy_from_slice(s);
        Ok(i64::from_be_bytes(a))
    }
    fn host(&mut self, v6: bool, what: &str) -> Result<SocketAddr, CodecError> {
        let ip = if v6 {
            let s = self.take(16, what)?;
            let mut a = [0u8; 16];
            a.copy_from_slice(s);
            IpAddr::V6(Ipv6Addr::from(a))
        } else {
            let s = self.take(4, what)?;
            IpAddr::V4(Ipv4Addr::new(s[0], s[1], s[2], s[3]))
        };
        let port = self.i32(what)?;
        Ok(SocketAddr::new(ip, port as u16))
    }
}

/// Decode one stored message from the start of `buf`; returns it and the bytes consumed (its totalSize).
pub fn decode_stored(buf: &[u8]) -> Result<(StoredMessage, usize), CodecError> {
    let mut r = Reader { buf, pos: 0 };
    let total = r.i32("totalSize")?;
    if total < FIXED_SIZE_V4 as i32 || total as usize > buf.len() {
        return Err(CodecError::BadBody(format!(
            "stored message totalSize {total} out of range (buffer has {} bytes)",
            buf.len()
        )));
    }
    let total = total as usize;
    let mut r = Reader { buf: &buf[..total], pos: 4 };
    let magic = r.i32("magic")?;
    if magic != MESSAGE_MAGIC {
        return Err(CodecError::BadBody(format!("stored message magic {:#010x} unknown", magic as u32)));
    }
    let body_crc = r.i32("bodyCRC")?;
    let queue_id = r.i32("queueId")?;
    let flag = r.i32("flag")?;
    let queue_offset = r.i64("queueOffset")?;
    let commit_log_offset = r.i64("commitLogOffset")?;
    let sys_flag = r.i32("sysFlag")?;
    let born_timestamp = r.i64("bornTimestamp")?;
    let born_host = r.host(sys_flag & FLAG_BORN_V6 != 0, "bornHost")?;
    let store_timestamp = r.i64("storeTimestamp")?;
    let store_host = r.host(sys_flag & FLAG_STORE_V6 != 0, "storeHost")?;
    let reconsume_times = r.i32("reconsumeTimes")?;
    let prepared_transaction_offset = r.i64("preparedTransactionOffset")?;
    let body_len = r.i32("bodyLength")?;
    if body_len < 0 {
        return Err(CodecError::BadBody(format!("stored message body length {body_len} negative")));
    }
    let body = Bytes::copy_from_slice(r.take(body_len as usize, "body")?);
    let topic_len = r.take(1, "topicLength")?[0] as usize;
    let topic = String::from_utf8(r.take(topic_len, "topic")?.to_vec())
        .map_err(|_| CodecError::BadBody("stored message topic is not UTF-8".into()))?;
    let p = r.take(2, "propertiesLength")?;
    let props_len = i16::from_be_bytes([p[0], p[1]]);
    if props_len < 0 {
        return Err(CodecError::BadBody(format!("stored message properties length {props_len} negative")));
    }
    let properties = String::from_utf8(r.take(props_len as usize, "properties")?.to_vec())
        .map_err(|_| CodecError::BadBody("stored message properties are not UTF-8".into()))?;
    if r.pos != total {
        return Err(CodecError::BadBody(format!("stored message totalSize {total} but fields end at {}", r.pos)));
    }
    let m = StoredMessage {
        queue_id,
        flag,
        queue_offset,
        commit_log_offset,
        sys_flag,
        born_timestamp,
        born_host,
        store_timestamp,
        store_host,
        reconsume_times,
        prepared_transaction_offset,
        body,
        topic,
        properties,
        body_crc,
    };
    Ok((m, total))
}

/// Decode a concatenation of stored messages (a PULL_MESSAGE body).
pub fn decode_all_stored(mut buf: &[u8]) -> Result<Vec<StoredMessage>, CodecError> {
    let mut out = Vec::new();
    while !buf.is_empty() {
        let (m, n) = decode_stored(buf)?;
        out.push(m);
        buf = &buf[n..];
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_copied_hasher_gives_crc32fast_hash() {
        for data in [&b""[..], b"a", b"payload", &[7u8; 1000][..]] {
            let mut h = crc32_hasher();
            h.update(data);
            assert_eq!(h.finalize(), crc32fast::hash(data));
            assert_eq!(body_crc(data), (crc32fast::hash(data) & 0x7FFF_FFFF) as i32);
        }
        // "123456789": the CRC-32 check value
        assert_eq!(body_crc(b"123456789"), 0xCBF4_3926u32 as i32 & 0x7FFF_FFFF);
    }

    fn fixture_body(name: &str) -> Vec<u8> {
        let path = format!("{}/tests/fixtures/frames/{name}", env!("CARGO_MANIFEST_DIR"));
        let text = std::fs::read_to_string(&path).expect("fixture present");
        let hex: String = text.split_whitespace().collect();
        let bytes: Vec<u8> = (0..hex.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).expect("hex"))
            .collect();
        let hdr_len = (u32::from_be_bytes([bytes[4], bytes[5], bytes[6], bytes[7]]) & 0xFF_FFFF) as usize;
        bytes[8 + hdr_len..].to_vec()
    }

    fn roundtrip(name: &str, count: usize) -> Vec<StoredMessage> {
        let body = fixture_body(name);
        let msgs = decode_all_stored(&body).expect("decodes");
        assert_eq!(msgs.len(), count);
        let mut out = BytesMut::new();
        for m in &msgs {
            assert_eq!(m.body_crc, body_crc(&m.body));
            encode_stored(m, &mut out);
        }
        assert_eq!(&out[..], &body[..], "{name} re-encodes byte for byte");
        msgs
    }

    #[test]
    fn vector_0015_two_messages() {
        let m = roundtrip("0015-pull-2msgs-response.hex", 2);
        assert_eq!(m[0].commit_log_offset, 205808);
        assert_eq!(&m[0].body[..], b"first");
        assert_eq!(m[0].topic, "vec_pull_90874");
        assert_eq!(m[1].queue_offset, 1);
    }

    #[test]
    fn vector_0028_push_pull() {
        let m = roundtrip("0028-push-pull-response.hex", 1);
        assert_eq!(m[0].queue_id, 2);
        assert_eq!(m[0].commit_log_offset, 204684);
        assert_eq!(m[0].store_host, "127.0.0.1:10911".parse::<SocketAddr>().unwrap());
        assert_eq!(&m[0].body[..], b"hello rocketmq");
    }

    #[test]
    fn vector_0021_check_transaction() {
        let m = roundtrip("0021-check-transaction-state.hex", 1);
        assert_eq!(m[0].queue_offset, 31);
        assert_eq!(m[0].commit_log_offset, 207934);
        assert_eq!(m[0].body_crc, 510604982);
    }

    fn sample(v6: bool) -> StoredMessage {
        let host: SocketAddr = if v6 { "[::1]:10911".parse().unwrap() } else { "10.0.0.1:10911".parse().unwrap() };
        StoredMessage {
            queue_id: 3,
            flag: 7,
            queue_offset: 99,
            commit_log_offset: 123456,
            sys_flag: 0,
            born_timestamp: 1,
            born_host: "1.2.3.4:5".parse().unwrap(),
            store_timestamp: 2,
            store_host: host,
            reconsume_times: 1,
            prepared_transaction_offset: 0,
            body: Bytes::from_static(b"payload"),
            topic: "t".into(),
            properties: "a\u{1}b".into(),
            body_crc: body_crc(b"payload"),
        }
    }

    #[test]
    fn roundtrip_and_every_prefix_truncation() {
        for v6 in [false, true] {
            let mut m = sample(v6);
            let mut out = BytesMut::new();
            encode_stored(&m, &mut out);
            assert_eq!(out.len(), stored_size(7, 1, 3, false, v6));
            let (d, n) = decode_stored(&out).unwrap();
            assert_eq!(n, out.len());
            m.sys_flag = if v6 { FLAG_STORE_V6 } else { 0 };
            assert_eq!(d, m);
            for cut in 0..out.len() {
                assert!(decode_stored(&out[..cut]).is_err(), "prefix {cut}");
            }
        }
    }

    #[test]
    fn garbage_never_panics() {
        let mut out = BytesMut::new();
        encode_stored(&sample(false), &mut out);
        for i in 0..out.len() {
            let mut b = out.to_vec();
            b[i] ^= 0xFF;
            let _ = decode_stored(&b);
        }
    }
}
