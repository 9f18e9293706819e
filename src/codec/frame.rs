//! The frame layer: a `tokio-util` [`Decoder`]/[`Encoder`] for [`RemotingCommand`].
//!
//! ```text
//! | length: i32 BE | type: u8 | header length: u24 BE | header | body |
//!   length counts everything after itself; type 0 = JSON header, 1 = binary header
//! ```
//! Lengths are checked against the configured limits before anything is allocated, and a partial
//! frame consumes nothing.
use super::command::{language_code, language_name, RemotingCommand, SerializeType, FLAG_RESPONSE, MAX_EXT_FIELDS, OUR_VERSION};
use super::header::SendAnswer;
use super::ext::ExtFields;
use super::error::CodecError;
use bytes::{Buf, BufMut, Bytes, BytesMut};
use tokio_util::codec::{Decoder, Encoder};

/// Java's default frame limit (`com.rocketmq.remoting.frameMaxLength`), 16 MiB.
pub const DEFAULT_MAX_FRAME: usize = 16 * 1024 * 1024;

/// Frame codec with a configurable size limit.
#[derive(Debug, Clone)]
pub struct RemotingCodec {
    /// Largest accepted frame, counting the 4 length bytes.
    pub max_frame: usize,
}

impl Default for RemotingCodec {
    fn default() -> Self {
        RemotingCodec {
            max_frame: DEFAULT_MAX_FRAME,
        }
    }
}

impl RemotingCodec {
    pub fn new(max_frame: usize) -> Self {
        RemotingCodec { max_frame }
    }
}

impl Decoder for RemotingCodec {
    type Item = RemotingCommand;
    type Error = CodecError;

    fn decode(&mut self, src: &mut BytesMut) -> Result<Option<RemotingCommand>, CodecError> {
        if src.len() < 4 {
            return Ok(None);
        }
        let len = i32::from_be_bytes([src[0], src[1], src[2], src[3]]);
        if len < 4 {
            return Err(CodecError::BadFrameLength(len as i64));
        }
        let len = len as usize;
        if len + 4 > self.max_frame {
            return Err(CodecError::FrameTooLarge {
                len: len + 4,
                max: self.max_frame,
            });
        }
        if src.len() >= 8 {
            // Reject a bad type byte or header length as soon as they arrive, without waiting
            // for (and buffering) the rest of a frame that can never decode.
            let ty = src[4];
            if ty > 1 {
                return Err(CodecError::BadSerializeType(ty));
            }
            let hdr_len = ((src[5] as usize) << 16) | ((src[6] as usize) << 8) | src[7] as usize;
            if hdr_len > len - 4 {
                return Err(CodecError::BadHeaderLength { hdr: hdr_len, frame: len });
            }
        }
        if src.len() < 4 + len {
            // Grow gradually: a peer announcing a large frame does not get it allocated up front.
            src.reserve((4 + len - src.len()).min(64 * 1024));
            return Ok(None);
        }
        src.advance(4);
        let frame = src.split_to(len).freeze();
        decode_frame_body(frame).map(Some)
    }
}

/// Decode a frame without its 4-byte length prefix (type byte, header length, header, body).
/// Inlined into the codec, with the header's decoder: the command (192 bytes) is then built where
/// the caller keeps it instead of being copied out of each call.
#[inline]
pub fn decode_frame_body(mut frame: Bytes) -> Result<RemotingCommand, CodecError> {
    let total = frame.len();
    if total < 4 {
        return Err(CodecError::BadFrameLength(total as i64));
    }
    let ty = frame[0];
    let hdr_len = ((frame[1] as usize) << 16) | ((frame[2] as usize) << 8) | frame[3] as usize;
    if hdr_len > total - 4 {
        return Err(CodecError::BadHeaderLength {
            hdr: hdr_len,
            frame: total,
        });
    }
    frame.advance(4);
    let header = frame.split_to(hdr_len);
    let mut cmd = match ty {
        0 => decode_json_header(&header)?,
        1 => decode_binary_header_shared(header)?,
        other => return Err(CodecError::BadSerializeType(other)),
    };
    cmd.body = frame;
    Ok(cmd)
}

pub use super::frame_json::decode_json_header;

/// Split one `i16 key length | key | i32 value length | value` entry off the front of `b`, each
/// length checked against what is left.
fn next_binary_field<'a>(b: &mut &'a [u8]) -> Result<(&'a [u8], &'a [u8]), CodecError> {
    fn take<'a>(b: &mut &'a [u8], len: i64, negative: &'static str, overrun: &'static str) -> Result<&'a [u8], CodecError> {
        if len < 0 {
            return Err(CodecError::BadBinaryHeader(negative));
        }
        if len as usize > b.len() {
            return Err(CodecError::BadBinaryHeader(overrun));
        }
        let (part, rest) = b.split_at(len as usize);
        *b = rest;
        Ok(part)
    }
    if b.len() < 2 {
        return Err(CodecError::BadBinaryHeader("truncated key length"));
    }
    let kl = b.get_i16() as i64;
    let key = take(b, kl, "negative key length", "key overruns header")?;
    if b.len() < 4 {
        return Err(CodecError::BadBinaryHeader("truncated value length"));
    }
    let vl = b.get_i32() as i64;
    let value = take(b, vl, "negative value length", "value overruns header")?;
    Ok((key, value))
}

/// Decode a ROCKETMQ binary (type 1) header; every length is bounded by the header, and at most
/// [`MAX_EXT_FIELDS`] extFields are accepted. The fields are copied out of `h`; the frame decoder
/// uses [`decode_binary_header_shared`], whose fields share the frame's bytes.
pub fn decode_binary_header(h: &[u8]) -> Result<RemotingCommand, CodecError> {
    decode_binary_header_shared(Bytes::copy_from_slice(h))
}

/// [`decode_binary_header`] of a header held in `Bytes`: remark, names and values are slices of
/// it (one allocation for the field list, none per field).
#[inline]
pub fn decode_binary_header_shared(header: Bytes) -> Result<RemotingCommand, CodecError> {
    fn need(h: &[u8], n: usize, what: &'static str) -> Result<(), CodecError> {
        if h.len() < n {
            Err(CodecError::BadBinaryHeader(what))
        } else {
            Ok(())
        }
    }
    let mut h: &[u8] = &header;
    need(h, 17, "fixed part shorter than 17 bytes")?;
    let code = h.get_i16() as i32;
    let language = std::borrow::Cow::Borrowed(language_name(h.get_u8()));
    let version = h.get_i16() as i32;
    let opaque = h.get_i32();
    let flag = h.get_i32();
    let remark_len = h.get_i32();
    if remark_len < 0 {
        return Err(CodecError::BadBinaryHeader("negative remark length"));
    }
    need(h, remark_len as usize, "remark overruns header")?;
    let remark = (remark_len > 0).then(|| String::from_utf8_lossy(&h[..remark_len as usize]).into_owned());
    h.advance(remark_len as usize);
    need(h, 4, "missing extFields length")?;
    let ext_len = h.get_i32();
    if ext_len < 0 || ext_len as usize > h.len() {
        return Err(CodecError::BadBinaryHeader(
            "extFields length overruns header",
        ));
    }
    let ext_bytes = &h[..ext_len as usize];
    let ext_fields = if ext_len == 0 {
        None
    } else {
        // walked here for its errors and count; read into a list only when asked for
        let (mut walk, mut count) = (ext_bytes, 0usize);
        while !walk.is_empty() {
            next_binary_field(&mut walk)?;
            count += 1;
        }
        if count > MAX_EXT_FIELDS {
            return Err(CodecError::TooManyExtFields { count, max: MAX_EXT_FIELDS });
        }
        let (at, len) = (ext_bytes.as_ptr() as usize - header.as_ptr() as usize, ext_bytes.len());
        Some(ExtFields::of_wire(header, at, len))
    };
    Ok(RemotingCommand {
        code,
        language,
        version,
        opaque,
        flag,
        remark,
        ext_fields,
        body: Bytes::new(),
        serialize_type: SerializeType::RocketMq,
    })
}

/// Java `String.hashCode` (UTF-16 units) spread as `java.util.HashMap` does.
fn java_hash(s: &str) -> u32 {
    let h = if s.is_ascii() {
        // one UTF-16 unit per byte: the common case, without the UTF-16 iterator
        s.bytes().fold(0u32, |h, b| h.wrapping_mul(31).wrapping_add(b as u32))
    } else {
        s.encode_utf16().fold(0u32, |h, u| h.wrapping_mul(31).wrapping_add(u as u32))
    };
    h ^ (h >> 16)
}

/// The fields of `ext` in the order a Java `HashMap` with default capacity iterates them (bucket
/// index, then name for the rare collisions): the Java side's `extFields` order, so frames we
/// build match captures byte for byte.
pub fn java_hash_map_order(ext: &ExtFields) -> Vec<(&str, &str)> {
    let mut out = Vec::with_capacity(ext.len());
    for_each_in_java_order(ext, |k, v| out.push((k, v)));
    out
}

/// Call `f` with each field of `ext` in [`java_hash_map_order`], without allocating for a
/// header of up to [`ORDER_CACHED`] fields.
fn for_each_in_java_order<'a>(ext: &'a ExtFields, mut f: impl FnMut(&'a str, &'a str)) {
    let n = ext.len();
    let mut on_stack = [("", ""); ORDER_CACHED];
    let spill: Vec<(&str, &str)>;
    let fields: &[(&'a str, &'a str)] = if n <= ORDER_CACHED {
        for (slot, kv) in on_stack.iter_mut().zip(ext.iter()) {
            *slot = kv;
        }
        &on_stack[..n]
    } else {
        spill = ext.iter().collect();
        &spill
    };
    // A header whose names are all the program's own (an answer's) usually has the same names
    // as the last one this thread wrote: its order is then taken from there, not worked out
    // again (hashing and sorting the names were ~4 % of a send's instructions).
    let mut names = [(0usize, 0usize); ORDER_CACHED];
    if n <= ORDER_CACHED && ext.static_names(&mut names[..n]) {
        let order = LAST_ORDER.with(|last| {
            let mut last = last.borrow_mut();
            if last.0 != names[..n] {
                let (known, order) = &mut *last;
                known.clear();
                known.extend_from_slice(&names[..n]);
                order.clear();
                java_order(fields, |i| order.push(i as u8));
            }
            let mut order = [0u8; ORDER_CACHED];
            order[..n].copy_from_slice(&last.1);
            order
        });
        for &i in &order[..n] {
            let (k, v) = fields[i as usize];
            f(k, v);
        }
        return;
    }
    java_order(fields, |i| f(fields[i].0, fields[i].1));
}

/// Headers of up to this many fields are ordered on the stack and have their order remembered
/// ([`LAST_ORDER`]); an answer has about 6.
const ORDER_CACHED: usize = 16;

/// The names (address, length) of a header and the positions of its fields in Java order.
type RememberedOrder = (Vec<(usize, usize)>, Vec<u8>);

thread_local! {
    /// The order of the last all-static header written on this thread.
    static LAST_ORDER: std::cell::RefCell<RememberedOrder> = const { std::cell::RefCell::new((Vec::new(), Vec::new())) };
}

/// Call `f` with the position of each of `fields` (names unique) in Java `HashMap` order: by
/// bucket of a default-capacity map grown to hold them, then by name for the rare collisions.
fn java_order(fields: &[(&str, &str)], mut f: impl FnMut(usize)) {
    let mut cap = 16usize;
    while fields.len() * 4 > cap * 3 {
        cap *= 2;
    }
    let mask = (cap - 1) as u32;
    // (bucket, name, position), on the stack for up to ORDER_CACHED fields
    let mut on_stack = [(0u32, "", 0usize); ORDER_CACHED];
    let mut spill = Vec::new();
    let keyed: &mut [(u32, &str, usize)] = if fields.len() <= on_stack.len() {
        &mut on_stack[..fields.len()]
    } else {
        spill.resize(fields.len(), (0u32, "", 0usize));
        &mut spill
    };
    for (i, (slot, (k, _))) in keyed.iter_mut().zip(fields).enumerate() {
        *slot = (java_hash(k) & mask, k, i);
    }
    keyed.sort_unstable_by(|a, b| (a.0, a.1).cmp(&(b.0, b.1)));
    for &(_, _, i) in keyed.iter() {
        f(i);
    }
}

/// Encode the JSON header as the Java side writes it: members in alphabetical order, `extFields`
/// in Java `HashMap` order, null remark omitted, every extFields value a string.
pub fn encode_json_header(cmd: &RemotingCommand, out: &mut Vec<u8>) {
    use std::io::Write;
    let _ = write!(out, "{{\"code\":{}", cmd.code);
    if let Some(ext) = &cmd.ext_fields {
        out.extend_from_slice(b",\"extFields\":{");
        let mut first = true;
        for_each_in_java_order(ext, |k, v| {
            if !first {
                out.push(b',');
            }
            first = false;
            let _ = serde_json::to_writer(&mut *out, k);
            out.push(b':');
            let _ = serde_json::to_writer(&mut *out, v);
        });
        out.push(b'}');
    }
    let _ = write!(out, ",\"flag\":{},\"language\":", cmd.flag);
    let _ = serde_json::to_writer(&mut *out, &cmd.language);
    let _ = write!(out, ",\"opaque\":{}", cmd.opaque);
    if let Some(r) = &cmd.remark {
        out.extend_from_slice(b",\"remark\":");
        let _ = serde_json::to_writer(&mut *out, r);
    }
    let st = match cmd.serialize_type {
        SerializeType::Json => "JSON",
        SerializeType::RocketMq => "ROCKETMQ",
    };
    let _ = write!(
        out,
        ",\"serializeTypeCurrentRPC\":\"{}\",\"version\":{}}}",
        st, cmd.version
    );
}

/// Encode the binary header (type 1). Empty strings are skipped as the Java writer does.
pub fn encode_binary_header(cmd: &RemotingCommand, out: &mut Vec<u8>) {
    out.put_i16(cmd.code as i16);
    out.put_u8(language_code(&cmd.language));
    out.put_i16(cmd.version as i16);
    out.put_i32(cmd.opaque);
    out.put_i32(cmd.flag);
    match &cmd.remark {
        Some(r) if !r.is_empty() => {
            out.put_i32(r.len() as i32);
            out.extend_from_slice(r.as_bytes());
        }
        _ => out.put_i32(0),
    }
    binary_fields(out, |put| {
        if let Some(ext) = &cmd.ext_fields {
            for_each_in_java_order(ext, put);
        }
    });
}

/// A binary header's fields area: its length, then each (name, value) `fields` gives, those
/// with an empty name or value (or too long for their length fields) left out as the Java writer
/// does.
fn binary_fields(out: &mut Vec<u8>, fields: impl FnOnce(&mut dyn FnMut(&str, &str))) {
    let len_pos = out.len();
    out.put_i32(0);
    fields(&mut |k: &str, v: &str| put_binary_field(out, k, v));
    let ext_len = (out.len() - len_pos - 4) as i32;
    out[len_pos..len_pos + 4].copy_from_slice(&ext_len.to_be_bytes());
}

/// The bytes [`put_binary_field`] writes for (`k`, `v`): 0 for a field the Java writer leaves out.
fn binary_field_len(k: &str, v: &str) -> usize {
    if k.is_empty() || v.is_empty() || k.len() > i16::MAX as usize || v.len() > i32::MAX as usize {
        0
    } else {
        2 + k.len() + 4 + v.len()
    }
}

/// One field of a binary header's fields area (nothing for a field the Java writer leaves out).
#[inline]
fn put_binary_field(out: &mut impl BufMut, k: &str, v: &str) {
    if binary_field_len(k, v) == 0 {
        return;
    }
    out.put_i16(k.len() as i16);
    out.put_slice(k.as_bytes());
    out.put_i32(v.len() as i32);
    out.put_slice(v.as_bytes());
}

/// Largest header the 24-bit header-length field can describe.
pub const MAX_HEADER_LEN: usize = 0xFF_FFFF;

/// Encode a whole command (with its length prefix) in its own serialize type, refusing a header
/// over 24 bits or a frame (counting the 4 length bytes) over `max_frame`. Nothing is written to
/// `dst` on error.
pub fn try_encode_command(
    cmd: &RemotingCommand,
    dst: &mut BytesMut,
    max_frame: usize,
) -> Result<(), CodecError> {
    with_header_buffer(|header| encode_into(cmd, header, dst, max_frame, true))
}

/// Run `f` with this thread's (emptied) header buffer: kept between commands, so an answer's
/// header costs no allocation.
fn with_header_buffer<R>(f: impl FnOnce(&mut Vec<u8>) -> R) -> R {
    thread_local! {
        static HEADER: std::cell::RefCell<Vec<u8>> = std::cell::RefCell::new(Vec::with_capacity(256));
    }
    HEADER.with(|h| {
        let mut header = h.borrow_mut();
        header.clear();
        let r = f(&mut header);
        if header.capacity() > 64 * 1024 {
            *header = Vec::with_capacity(256);
        }
        r
    })
}

fn encode_into(cmd: &RemotingCommand, header: &mut Vec<u8>, dst: &mut BytesMut, max_frame: usize, with_body: bool) -> Result<(), CodecError> {
    match cmd.serialize_type {
        SerializeType::Json => encode_json_header(cmd, header),
        SerializeType::RocketMq => encode_binary_header(cmd, header),
    }
    frame_into(cmd.serialize_type, header, &cmd.body, with_body, dst, max_frame)
}

/// The frame around an encoded `header`: length prefix, serialize type and header length, the
/// header, the body when `with_body` (its length counts either way).
fn frame_into(ty: SerializeType, header: &[u8], body: &[u8], with_body: bool, dst: &mut BytesMut, max_frame: usize) -> Result<(), CodecError> {
    if header.len() > MAX_HEADER_LEN {
        return Err(CodecError::BadHeaderLength {
            hdr: header.len(),
            frame: header.len() + body.len(),
        });
    }
    let total = 4 + header.len() + body.len();
    if total + 4 > max_frame.min(i32::MAX as usize) {
        return Err(CodecError::FrameTooLarge {
            len: total + 4,
            max: max_frame,
        });
    }
    dst.reserve(4 + total - if with_body { 0 } else { body.len() });
    let hl = header.len() as u32;
    dst.put_i32(total as i32);
    dst.put_u32((ty as u32) << 24 | hl);
    dst.extend_from_slice(header);
    if with_body {
        dst.extend_from_slice(body);
    }
    Ok(())
}

/// Encode a send's answer exactly as [`encode_command`] encodes [`SendAnswer::into_command`],
/// without building the command: a binary header's fields are written in their Java order,
/// worked out once (the order of a default-capacity `HashMap` depends only on the names, and
/// all seven fit one without growing it). A JSON answer goes through the command.
pub fn encode_send_answer(a: &SendAnswer, dst: &mut BytesMut) {
    if a.serialize_type != SerializeType::RocketMq {
        return encode_command(&a.clone().into_command(), dst);
    }
    static ORDER: std::sync::OnceLock<Vec<usize>> = std::sync::OnceLock::new();
    let order = ORDER.get_or_init(|| {
        let fields = SendAnswer::NAMES.map(|n| (n, ""));
        let mut order = Vec::with_capacity(fields.len());
        java_order(&fields, |i| order.push(i));
        order
    });
    a.fields(|values| {
        // straight into the frame: the header's length is known before a byte of it is written
        let ext: usize = (0..values.len()).map(|i| binary_field_len(SendAnswer::NAMES[i], values[i])).sum();
        let header = 2 + 1 + 2 + 4 + 4 + 4 + 4 + ext;
        if header > MAX_HEADER_LEN {
            // not from a broker's values; the command path refuses it the same way
            return encode_command(&a.clone().into_command(), dst);
        }
        dst.reserve(8 + header);
        dst.put_i32((4 + header) as i32);
        dst.put_u32((SerializeType::RocketMq as u32) << 24 | header as u32);
        dst.put_i16(a.code as i16);
        dst.put_u8(language_code("JAVA"));
        dst.put_i16(OUR_VERSION as i16);
        dst.put_i32(a.opaque);
        dst.put_i32(FLAG_RESPONSE);
        dst.put_i32(0); // no remark
        dst.put_i32(ext as i32);
        for &i in order {
            put_binary_field(dst, SendAnswer::NAMES[i], values[i]);
        }
    })
}

/// Encode a command's length prefix and header, without its body (the lengths count the body):
/// the body's bytes follow on the wire as they are. The same checks as [`try_encode_command`];
/// nothing is written to `dst` on error.
pub fn try_encode_command_head(cmd: &RemotingCommand, dst: &mut BytesMut) -> Result<(), CodecError> {
    with_header_buffer(|header| encode_into(cmd, header, dst, i32::MAX as usize, false))
}

/// Encode a whole command (with its length prefix) in its own serialize type. A command that
/// cannot be framed at all (header over 24 bits, frame over 2 GiB) writes nothing; use
/// [`try_encode_command`] to learn about it.
pub fn encode_command(cmd: &RemotingCommand, dst: &mut BytesMut) {
    let _ = try_encode_command(cmd, dst, i32::MAX as usize);
}

impl Encoder<RemotingCommand> for RemotingCodec {
    type Error = CodecError;

    /// Refuses (with an error, writing nothing) a frame larger than `max_frame`: a Java peer
    /// would close the connection on it.
    fn encode(&mut self, cmd: RemotingCommand, dst: &mut BytesMut) -> Result<(), CodecError> {
        try_encode_command(&cmd, dst, self.max_frame)
    }
}

#[cfg(test)]
mod ext_limit_tests {
    use super::*;

    #[test]
    fn a_send_answer_is_written_as_its_command_is() {
        use crate::codec::header::SendMessageResponseHeader;
        let header = |recall: Option<&str>, tx: Option<&str>| SendMessageResponseHeader {
            msg_id: "7F00000100002A9F0000000000031F8C".into(),
            queue_id: 3,
            queue_offset: -1,
            transaction_id: tx.map(String::from),
            recall_handle: recall.map(String::from),
        };
        for serialize_type in [SerializeType::RocketMq, SerializeType::Json] {
            for (region, trace_on, code) in [("DefaultRegion", true, 0), ("", false, 11), ("r\u{e9}gion", true, 0)] {
                for (recall, tx) in [(None, None), (Some("aGFuZGxl"), None), (None, Some("tx1")), (Some(""), Some(""))] {
                    let a = SendAnswer { opaque: 77, serialize_type, code, region: region.into(), trace_on, header: header(recall, tx) };
                    let (mut fast, mut slow) = (BytesMut::new(), BytesMut::new());
                    encode_send_answer(&a, &mut fast);
                    encode_command(&a.clone().into_command(), &mut slow);
                    assert_eq!(fast, slow, "{a:?}");
                    // and what a client reads back
                    let back = RemotingCodec::new(1 << 20).decode(&mut fast).unwrap().unwrap();
                    assert_eq!((back.code, back.opaque, back.ext("msgId"), back.ext("queueOffset")), (code, 77, Some("7F00000100002A9F0000000000031F8C"), Some("-1")));
                    // (a JSON header keeps an empty value, a binary one leaves it out)
                    assert_eq!(back.ext("MSG_REGION").filter(|r| !r.is_empty()), (!region.is_empty()).then_some(region));
                    assert_eq!(back.ext("recallHandle").filter(|r| !r.is_empty()), recall.filter(|r| !r.is_empty()));
                }
            }
        }
    }

    #[test]
    fn a_remembered_order_is_the_order_of_the_names_written() {
        // the same names as the program's own text (remembered order) and as copies (worked out
        // every time), inserted in different orders: one Java order for each set of names
        let owned = |pairs: &[(&'static str, &'static str)]| -> ExtFields { pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect() };
        let own = |pairs: &[(&'static str, &'static str)]| -> ExtFields { pairs.iter().map(|&(k, v)| (k, v)).collect() };
        let a = [("msgId", "1"), ("queueId", "2"), ("queueOffset", "3"), ("MSG_REGION", "r"), ("TRACE_ON", "true")];
        let b = [("TRACE_ON", "true"), ("queueOffset", "3"), ("MSG_REGION", "r"), ("queueId", "2"), ("msgId", "1")];
        let c = [("msgId", "1"), ("queueId", "2"), ("queueOffset", "3"), ("MSG_REGION", "r"), ("TRACE_ON", "true"), ("recallHandle", "h")];
        let want = java_hash_map_order(&owned(&a)).into_iter().map(|(k, v)| (k.to_string(), v.to_string())).collect::<Vec<_>>();
        for fields in [&a[..], &b[..], &a[..], &c[..], &b[..]] {
            let expected = java_hash_map_order(&owned(fields)).into_iter().map(|(k, v)| (k.to_string(), v.to_string())).collect::<Vec<_>>();
            let got = java_hash_map_order(&own(fields)).into_iter().map(|(k, v)| (k.to_string(), v.to_string())).collect::<Vec<_>>();
            assert_eq!(got, expected, "{fields:?}");
            if fields.len() == a.len() {
                assert_eq!(got, want);
            }
            let (mut x, mut y) = (Vec::new(), Vec::new());
            let mut cmd = RemotingCommand::request(10, 1);
            cmd.ext_fields = Some(own(fields));
            encode_binary_header(&cmd, &mut x);
            cmd.ext_fields = Some(owned(fields));
            encode_binary_header(&cmd, &mut y);
            assert_eq!(x, y);
        }
    }

    #[test]
    fn a_header_of_more_fields_than_the_stack_holds_keeps_the_java_order() {
        // 20 fields: a Java HashMap of them has 32 buckets; ordered by bucket, then name
        let names: Vec<String> = (0..20).map(|i| format!("field{i}")).collect();
        let ext: ExtFields = names.iter().map(|n| (n.clone(), "v".to_string())).collect();
        let mut want: Vec<&str> = names.iter().map(String::as_str).collect();
        want.sort_by_key(|n| (java_hash(n) & 31, *n));
        let got: Vec<&str> = java_hash_map_order(&ext).into_iter().map(|(k, _)| k).collect();
        assert_eq!(got, want);
    }

    #[test]
    fn a_head_followed_by_the_body_is_the_whole_frame() {
        let mut cmd = RemotingCommand::request(11, 7);
        cmd.set_ext("topic", "t");
        cmd.body = Bytes::from(vec![7u8; 40_000]);
        for st in [SerializeType::Json, SerializeType::RocketMq] {
            cmd.serialize_type = st;
            let (mut whole, mut head) = (BytesMut::new(), BytesMut::new());
            encode_command(&cmd, &mut whole);
            try_encode_command_head(&cmd, &mut head).unwrap();
            head.extend_from_slice(&cmd.body);
            assert_eq!(head, whole, "{st:?}");
        }
    }

    #[test]
    fn a_remark_that_is_not_utf8_decodes_with_replacement_characters() {
        let mut h = Vec::new();
        h.put_i16(105);
        h.put_u8(0);
        h.put_i16(407);
        h.put_i32(7);
        h.put_i32(0);
        h.put_i32(3);
        h.extend_from_slice(b"T\xffx");
        h.put_i32(0);
        let cmd = decode_binary_header(&h).unwrap();
        assert_eq!((cmd.remark.as_deref(), cmd.language.as_ref(), cmd.ext_fields), (Some("T\u{fffd}x"), "JAVA", None));
    }

    /// A request with `n` extFields, encoded in `ty`.
    fn frame_with_fields(n: usize, ty: SerializeType) -> BytesMut {
        let mut cmd = RemotingCommand::request(105, 7);
        for i in 0..n {
            cmd = cmd.with_ext(format!("field{i:04}"), i);
        }
        cmd.serialize_type = ty;
        let mut out = BytesMut::new();
        encode_command(&cmd, &mut out);
        out
    }

    fn decode(mut b: BytesMut) -> Result<Option<RemotingCommand>, CodecError> {
        RemotingCodec::default().decode(&mut b)
    }

    #[test]
    fn exactly_the_limit_decodes() {
        for ty in [SerializeType::Json, SerializeType::RocketMq] {
            let cmd = decode(frame_with_fields(MAX_EXT_FIELDS, ty)).unwrap().unwrap();
            assert_eq!(cmd.ext_fields.unwrap().len(), MAX_EXT_FIELDS, "{ty:?}");
            assert_eq!(cmd.opaque, 7);
        }
    }

    #[test]
    fn one_more_than_the_limit_is_refused_naming_count_and_limit() {
        for ty in [SerializeType::Json, SerializeType::RocketMq] {
            for n in [MAX_EXT_FIELDS + 1, 1000] {
                let e = decode(frame_with_fields(n, ty)).unwrap_err();
                assert!(matches!(e, CodecError::TooManyExtFields { count, max } if count == n && max == MAX_EXT_FIELDS), "{ty:?} {n}: {e}");
                let text = e.to_string();
                assert!(text.contains(&format!("{n} extFields")) && text.contains(&format!("limit of {MAX_EXT_FIELDS}")), "{text}");
            }
        }
    }

    #[test]
    fn null_json_members_and_empty_binary_values_count_too() {
        // Dropped members still cost a parse: the limit counts members, not kept fields.
        let members: Vec<String> = (0..=MAX_EXT_FIELDS).map(|i| format!("\"k{i}\":null")).collect();
        let header = format!("{{\"code\":105,\"opaque\":1,\"extFields\":{{{}}}}}", members.join(","));
        let e = decode_json_header(header.as_bytes()).unwrap_err();
        assert!(matches!(e, CodecError::TooManyExtFields { count, .. } if count == MAX_EXT_FIELDS + 1), "{e}");
        let members: Vec<String> = (0..MAX_EXT_FIELDS).map(|i| format!("\"k{i}\":null")).collect();
        let header = format!("{{\"code\":105,\"opaque\":1,\"extFields\":{{{}}}}}", members.join(","));
        assert_eq!(decode_json_header(header.as_bytes()).unwrap().ext_fields.unwrap().len(), 0);
    }

    #[test]
    fn a_broken_binary_tail_past_the_limit_is_still_malformed() {
        let mut f = frame_with_fields(MAX_EXT_FIELDS + 1, SerializeType::RocketMq);
        // Cut the last value short by one byte (and fix the lengths): the count cannot be told.
        let len = f.len();
        f.truncate(len - 1);
        let total = (f.len() - 4) as i32;
        f[..4].copy_from_slice(&total.to_be_bytes());
        let hdr = (((f[5] as usize) << 16) | ((f[6] as usize) << 8) | f[7] as usize) - 1;
        f[5..8].copy_from_slice(&(hdr as u32).to_be_bytes()[1..]);
        let e = decode(f).unwrap_err();
        assert!(matches!(e, CodecError::BadBinaryHeader(_)), "{e}");
    }
}
