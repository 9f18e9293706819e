//! The compressed form of `RegisterBrokerBody` (REGISTER_BROKER with the header's `compressed`
//! flag, sent by RocketMQ 4.9.7 brokers with `compressedRegister=true`).
//!
//! The Java broker (`RegisterBrokerBody.encode(true)`) writes, through a zlib `Deflater` at
//! `BEST_COMPRESSION`: the data version's JSON with a 4-byte big-endian length before it, the
//! number of topics (4 bytes), each topic as `TopicConfig.encode()` (`name read write perm
//! filterType`, space-separated, length first), then the filter server list as JSON (length
//! first). Only those five fields of a topic travel: `topicSysFlag` and `order` arrive as 0 and
//! false, in Java as here. [`decode_compressed`] reads it as the Java name server's
//! `RegisterBrokerBody.decode(data, true)` does, and refuses what would make Java throw.
use super::{DataVersion, RegisterBrokerBody, TopicConfigSerializeWrapper, TopicConfigWire};
use crate::codec::error::CodecError;
use flate2::read::ZlibDecoder;
use flate2::write::ZlibEncoder;
use flate2::Compression;
use std::io::{Read, Write};

/// The default bound on a compressed registration body once inflated (64 MiB: about 1.5 M topics
/// of 40 characters).
pub const MAX_INFLATED_REGISTRATION: usize = 64 << 20;

fn bad(what: impl Into<String>) -> CodecError {
    CodecError::BadBody(format!("compressed registration body: {}", what.into()))
}

/// Encode `body` as a Java broker with `compressedRegister=true` does (topics in name order).
pub fn encode_compressed(body: &RegisterBrokerBody) -> Vec<u8> {
    let mut raw = Vec::new();
    let mut put = |b: &[u8]| {
        raw.extend_from_slice(&(b.len() as i32).to_be_bytes());
        raw.extend_from_slice(b);
    };
    let w = &body.topic_config_serialize_wrapper;
    put(&w.data_version.to_json());
    let mut out = Vec::with_capacity(8 + w.topic_config_table.len() * 40);
    out.extend_from_slice(&(w.topic_config_table.len() as i32).to_be_bytes());
    for t in w.topic_config_table.values() {
        let filter = if t.topic_filter_type.is_empty() { "SINGLE_TAG" } else { &t.topic_filter_type };
        let line = format!("{} {} {} {} {filter}", t.topic_name, t.read_queue_nums, t.write_queue_nums, t.perm);
        out.extend_from_slice(&(line.len() as i32).to_be_bytes());
        out.extend_from_slice(line.as_bytes());
    }
    let filters = serde_json::to_vec(&body.filter_server_list).unwrap_or_else(|_| b"[]".to_vec());
    out.extend_from_slice(&(filters.len() as i32).to_be_bytes());
    out.extend_from_slice(&filters);
    raw.extend_from_slice(&out);
    let mut z = ZlibEncoder::new(Vec::with_capacity(raw.len() / 4), Compression::best());
    // Writing into a Vec cannot fail.
    let _ = z.write_all(&raw);
    z.finish().unwrap_or_default()
}

/// Decode a compressed registration body, inflating at most `max_inflated` bytes (a larger body
/// is refused before more memory is taken).
pub fn decode_compressed(data: &[u8], max_inflated: usize) -> Result<RegisterBrokerBody, CodecError> {
    let mut raw = Vec::new();
    ZlibDecoder::new(data)
        .take(max_inflated as u64 + 1)
        .read_to_end(&mut raw)
        .map_err(|e| bad(format!("inflate failed: {e}")))?;
    if raw.len() > max_inflated {
        return Err(bad(format!("inflates to more than {max_inflated} bytes")));
    }
    let mut r = Reader { raw: &raw, at: 0 };
    let dv = r.chunk("data version")?;
    let data_version = DataVersion::from_json(dv).map_err(|e| bad(format!("data version: {e}")))?;
    let mut wrapper = TopicConfigSerializeWrapper { data_version, ..Default::default() };
    // Java loops `for (i = 0; i < n; i++)`: a negative count reads no topic.
    let n = r.int("topic count")?;
    for i in 0..n.max(0) {
        let line = r.chunk("topic config")?;
        let t = topic_config(line).map_err(|e| bad(format!("topic config {i}: {e}")))?;
        wrapper.topic_config_table.insert(t.topic_name.clone(), t);
    }
    let filters = r.chunk("filter server list")?;
    // Java logs a bad list and keeps an empty one.
    let filter_server_list = serde_json::from_slice::<Vec<String>>(filters).unwrap_or_default();
    Ok(RegisterBrokerBody { filter_server_list, topic_config_serialize_wrapper: wrapper })
}

/// `TopicConfig.decode`: exactly five space-separated fields (Java's `split` drops trailing empty
/// fields); a decode that fails in Java leaves a topic without a name, which its map refuses.
fn topic_config(line: &[u8]) -> Result<TopicConfigWire, String> {
    let s = std::str::from_utf8(line).map_err(|_| "not UTF-8".to_string())?;
    let mut f: Vec<&str> = s.split(' ').collect();
    while f.last() == Some(&"") {
        f.pop();
    }
    if f.len() != 5 {
        return Err(format!("{s:?}: expected 5 space-separated fields"));
    }
    let int = |v: &str| v.parse::<i32>().map_err(|_| format!("{s:?}: {v:?} is not an integer"));
    if f[4] != "SINGLE_TAG" && f[4] != "MULTI_TAG" {
        return Err(format!("{s:?}: unknown filter type {:?}", f[4]));
    }
    Ok(TopicConfigWire {
        topic_name: f[0].to_string(),
        read_queue_nums: int(f[1])?,
        write_queue_nums: int(f[2])?,
        perm: int(f[3])?,
        topic_filter_type: f[4].to_string(),
        topic_sys_flag: 0,
        order: false,
    })
}

struct Reader<'a> {
    raw: &'a [u8],
    at: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize, what: &str) -> Result<&'a [u8], CodecError> {
        if self.raw.len() - self.at < n {
            return Err(bad(format!("{what}: ends after {} of {n} bytes", self.raw.len() - self.at)));
        }
        let s = &self.raw[self.at..self.at + n];
        self.at += n;
        Ok(s)
    }

    fn int(&mut self, what: &str) -> Result<i32, CodecError> {
        let b = self.take(4, what)?;
        Ok(i32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    }

    /// A length-prefixed chunk; a negative length is refused as Java's array allocation does.
    fn chunk(&mut self, what: &str) -> Result<&'a [u8], CodecError> {
        let n = self.int(what)?;
        if n < 0 {
            return Err(bad(format!("{what}: negative length {n}")));
        }
        self.take(n as usize, what)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body(n: usize) -> RegisterBrokerBody {
        let mut b = RegisterBrokerBody::default();
        let w = &mut b.topic_config_serialize_wrapper;
        w.data_version = DataVersion { counter: 7, timestamp: 1_700_000_000_000 };
        for i in 0..n {
            let name = format!("topic-{i}");
            w.topic_config_table.insert(name.clone(), TopicConfigWire {
                topic_name: name, read_queue_nums: 8, write_queue_nums: 8, perm: 6,
                topic_filter_type: "SINGLE_TAG".into(), topic_sys_flag: 0, order: false,
            });
        }
        b
    }

    #[test]
    fn round_trip() {
        for n in [0, 1, 1000] {
            let b = body(n);
            let z = encode_compressed(&b);
            assert_eq!(decode_compressed(&z, MAX_INFLATED_REGISTRATION).unwrap(), b);
        }
    }

    /// The exact inflated bytes of one topic, as `RegisterBrokerBody.encode(true)` writes them.
    #[test]
    fn exact_inflated_bytes() {
        let mut raw = Vec::new();
        ZlibDecoder::new(&encode_compressed(&body(1))[..]).read_to_end(&mut raw).unwrap();
        let dv = br#"{"counter":7,"timestamp":1700000000000}"#;
        let line = b"topic-0 8 8 6 SINGLE_TAG";
        let mut want = (dv.len() as i32).to_be_bytes().to_vec();
        want.extend_from_slice(dv);
        want.extend_from_slice(&1i32.to_be_bytes());
        want.extend_from_slice(&(line.len() as i32).to_be_bytes());
        want.extend_from_slice(line);
        want.extend_from_slice(&2i32.to_be_bytes());
        want.extend_from_slice(b"[]");
        assert_eq!(raw, want);
    }

    /// The layout written by hand as `RegisterBrokerBody.encode(true)` lays it out.
    #[test]
    fn java_layout() {
        let mut raw = Vec::new();
        let mut chunk = |b: &[u8]| {
            raw.extend_from_slice(&(b.len() as i32).to_be_bytes());
            raw.extend_from_slice(b);
        };
        chunk(br#"{"counter":3,"timestamp":1234}"#);
        let mut rest = 2i32.to_be_bytes().to_vec();
        for t in ["a 4 4 6 SINGLE_TAG", "b 1 2 2 MULTI_TAG"] {
            rest.extend_from_slice(&(t.len() as i32).to_be_bytes());
            rest.extend_from_slice(t.as_bytes());
        }
        rest.extend_from_slice(&(2i32).to_be_bytes());
        rest.extend_from_slice(b"[]");
        raw.extend_from_slice(&rest);
        let mut z = ZlibEncoder::new(Vec::new(), Compression::best());
        z.write_all(&raw).unwrap();
        let d = decode_compressed(&z.finish().unwrap(), 1 << 20).unwrap();
        let w = d.topic_config_serialize_wrapper;
        assert_eq!((w.data_version.counter, w.data_version.timestamp), (3, 1234));
        assert_eq!(w.topic_config_table["b"].write_queue_nums, 2);
        assert_eq!(w.topic_config_table["b"].topic_filter_type, "MULTI_TAG");
        assert_eq!(w.topic_config_table["a"].perm, 6);
    }

    #[test]
    fn refuses_bad_bodies() {
        let z = encode_compressed(&body(3));
        for cut in 0..z.len() {
            assert!(decode_compressed(&z[..cut], 1 << 20).is_err(), "prefix {cut}");
        }
        assert!(decode_compressed(b"not zlib at all", 1 << 20).is_err());
        // a bomb: 100 MiB of zeros inflates past the bound
        let mut big = ZlibEncoder::new(Vec::new(), Compression::best());
        big.write_all(&vec![0u8; 100 << 20]).unwrap();
        let e = decode_compressed(&big.finish().unwrap(), 1 << 20).unwrap_err();
        assert!(e.to_string().contains("more than"), "{e}");
        // a topic line with four fields
        let mut raw = Vec::new();
        raw.extend_from_slice(&2i32.to_be_bytes());
        raw.extend_from_slice(b"{}");
        raw.extend_from_slice(&1i32.to_be_bytes());
        raw.extend_from_slice(&(9i32).to_be_bytes());
        raw.extend_from_slice(b"a 4 4 6 X");
        let mut z = ZlibEncoder::new(Vec::new(), Compression::best());
        z.write_all(&raw).unwrap();
        assert!(decode_compressed(&z.finish().unwrap(), 1 << 20).is_err());
    }
}
