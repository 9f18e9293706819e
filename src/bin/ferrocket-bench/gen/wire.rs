//! Lean framing for the load generator: requests are encoded once into a template and only the
//! opaque and a per-message stamp are patched before each write; responses to sends are read by
//! peeking at the code and opaque without building a [`RemotingCommand`].
//!
//! Opaques stay in `1_000_000_000..2_000_000_000` so that their decimal form has a fixed width
//! and a JSON header can be patched in place as well as a binary one.
use ferrocket::client::codes;
use ferrocket::codec::frame::{decode_frame_body, encode_command};
use ferrocket::codec::{RemotingCommand, SerializeType};
use bytes::{Bytes, BytesMut};

/// First opaque used by the generator (10 decimal digits).
pub const OPAQUE_BASE: i32 = 1_000_000_000;
/// Bytes of the stamp at the start of every body: magic, run, connection, sequence, send time.
pub const STAMP_LEN: usize = 28;
const MAGIC: u32 = 0xFE11_BE4C;

/// What the generator writes at the start of each message body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stamp {
    pub run: u32,
    pub conn: u32,
    pub seq: u64,
    /// Nanoseconds since the generator's epoch (its start), for end-to-end latency.
    pub t_ns: u64,
}

impl Stamp {
    pub fn write(&self, out: &mut [u8]) {
        out[0..4].copy_from_slice(&MAGIC.to_be_bytes());
        out[4..8].copy_from_slice(&self.run.to_be_bytes());
        out[8..12].copy_from_slice(&self.conn.to_be_bytes());
        out[12..20].copy_from_slice(&self.seq.to_be_bytes());
        out[20..28].copy_from_slice(&self.t_ns.to_be_bytes());
    }

    /// The stamp of a body the generator wrote, if it is one.
    pub fn read(body: &[u8]) -> Option<Stamp> {
        if body.len() < STAMP_LEN || body[0..4] != MAGIC.to_be_bytes() {
            return None;
        }
        let u32_at = |i: usize| u32::from_be_bytes(body[i..i + 4].try_into().expect("4 bytes"));
        let u64_at = |i: usize| u64::from_be_bytes(body[i..i + 8].try_into().expect("8 bytes"));
        Some(Stamp {
            run: u32_at(4),
            conn: u32_at(8),
            seq: u64_at(12),
            t_ns: u64_at(20),
        })
    }
}

/// A send request encoded once; `patch` sets the opaque and each message's stamp.
#[derive(Debug, Clone)]
pub struct SendTemplate {
    pub frame: Vec<u8>,
    opaque_at: usize,
    stamps_at: Vec<usize>,
    /// Where each message's 32-digit UNIQ_KEY value is (empty without `uniq_key`).
    uniq_at: Vec<usize>,
    /// Where each message's 13-digit TIMER_DELIVER_MS value is (empty without `timer_spread`),
    /// and the base and spread of the due times (ms).
    timer_at: Vec<usize>,
    timer_base_ms: i64,
    timer_spread_ms: i64,
    /// ACL signing (binary headers only): recomputed after every patch.
    signer: Option<Signer>,
}

/// What an ACL signature covers, as fixed bytes and ranges of the frame that change per send.
#[derive(Debug, Clone)]
struct Signer {
    secret: Vec<u8>,
    parts: Vec<Part>,
    /// Where the 28-character Base64 signature is in the frame.
    sig_at: usize,
}

#[derive(Debug, Clone)]
enum Part {
    Fixed(Vec<u8>),
    Frame(std::ops::Range<usize>),
}

/// Parameters shared by every send of a run.
#[derive(Debug, Clone)]
pub struct SendSpec {
    pub topic: String,
    pub group: String,
    pub body: usize,
    pub batch: usize,
    pub json: bool,
    /// Give every message a UNIQ_KEY property as the Java client does (the broker indexes it).
    pub uniq_key: bool,
    /// ACL credentials (access key, secret key): sign every send (binary headers only).
    pub credentials: Option<(String, String)>,
    /// Timer messages: every message gets a `TIMER_DELIVER_MS` spread over this window
    /// (see [`timer_due`]).
    pub timer_spread: Option<std::time::Duration>,
}

/// A timer message's due time: from 1 h after `base_ms` to 1 h before `base_ms + spread`
/// (inside `timerMaxDelay` for runs shorter than an hour), scattered by a hash of the
/// connection and sequence number, as independent producers would schedule them.
pub fn timer_due(base_ms: i64, spread_ms: i64, conn: u32, seq: u64) -> i64 {
    const HOUR: i64 = 3_600_000;
    let window = (spread_ms - 2 * HOUR).max(1) as u64;
    // splitmix64 of (connection, sequence)
    let mut z = seq ^ (u64::from(conn) << 40) ^ 0x9E37_79B9_7F4A_7C15;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^= z >> 31;
    base_ms + HOUR + (z % window) as i64
}

/// A placeholder of a Base64 HmacSHA1 signature's length.
const SIG_PLACEHOLDER: &str = "AAAAAAAAAAAAAAAAAAAAAAAAAAA=";

const UNIQ_PLACEHOLDER: &str = "00000000000000000000000000000000";

const TIMER_PLACEHOLDER: &str = "0000000000000";

fn props(pairs: &[(&str, &str)]) -> String {
    pairs
        .iter()
        .map(|(k, v)| format!("{k}\u{1}{v}\u{2}"))
        .collect()
}

impl SendTemplate {
    /// SEND_MESSAGE_V2 (one message) or SEND_BATCH_MESSAGE (`batch > 1`) to `queue_id`.
    pub fn new(spec: &SendSpec, queue_id: i32) -> SendTemplate {
        let body_len = spec.body.max(STAMP_LEN);
        let payload = vec![b'x'; body_len];
        let mut msg_props: Vec<(&str, &str)> = if spec.uniq_key {
            vec![("UNIQ_KEY", UNIQ_PLACEHOLDER), ("WAIT", "true")]
        } else {
            vec![("WAIT", "true")]
        };
        if spec.timer_spread.is_some() {
            msg_props.push(("TIMER_DELIVER_MS", TIMER_PLACEHOLDER));
        }
        let uniq_in_props = "UNIQ_KEY\u{1}".len();
        let mut uniq_body = Vec::new();
        let (code, body, offsets) = if spec.batch <= 1 {
            (codes::SEND_MESSAGE_V2, payload, vec![0])
        } else {
            let p = props(&msg_props);
            let mut b = Vec::new();
            let mut offs = Vec::new();
            for _ in 0..spec.batch {
                let total = 20 + body_len + 2 + p.len();
                b.extend_from_slice(&(total as i32).to_be_bytes());
                b.extend_from_slice(&0i32.to_be_bytes()); // magic
                b.extend_from_slice(&0i32.to_be_bytes()); // body CRC
                b.extend_from_slice(&0i32.to_be_bytes()); // flag
                b.extend_from_slice(&(body_len as i32).to_be_bytes());
                offs.push(b.len());
                b.extend_from_slice(&payload);
                b.extend_from_slice(&(p.len() as i16).to_be_bytes());
                if spec.uniq_key {
                    uniq_body.push(b.len() + uniq_in_props);
                }
                b.extend_from_slice(p.as_bytes());
            }
            (codes::SEND_BATCH_MESSAGE, b, offs)
        };
        let mut cmd = RemotingCommand::request(code, OPAQUE_BASE)
            .with_ext("a", &spec.group)
            .with_ext("b", &spec.topic)
            .with_ext("c", "TBW102")
            .with_ext("d", 4)
            .with_ext("e", queue_id)
            .with_ext("f", 0)
            .with_ext("g", ferrocket::client::req::now_ms())
            .with_ext("h", 0)
            .with_ext(
                "i",
                props(if spec.batch <= 1 {
                    &msg_props
                } else {
                    &[("WAIT", "true")]
                }),
            )
            .with_ext("j", 0)
            .with_ext("k", false)
            .with_ext("m", spec.batch > 1)
            .with_body(body.clone());
        cmd.serialize_type = if spec.json {
            SerializeType::Json
        } else {
            SerializeType::RocketMq
        };
        if let Some((ak, _)) = &spec.credentials {
            cmd.set_ext("AccessKey", ak);
            cmd.set_ext("Signature", SIG_PLACEHOLDER);
        }
        let body_len = body.len();
        let signed = cmd.clone();
        let mut t = encode(cmd, offsets, body_len);
        if let Some((_, sk)) = &spec.credentials {
            assert!(!spec.json, "signing is supported with binary headers only");
            t.signer = Some(signer(&t.frame, &signed, sk, body_len));
        }
        if spec.uniq_key {
            let body_start = t.frame.len() - body_len;
            t.uniq_at = if spec.batch <= 1 {
                // raw in a binary header, `\u0001`-escaped in a JSON one
                let head = &t.frame[..body_start];
                let at = ["UNIQ_KEY\u{1}", "UNIQ_KEY\\u0001"].iter().find_map(|sep| {
                    let needle = format!("{sep}{UNIQ_PLACEHOLDER}");
                    head.windows(needle.len())
                        .position(|w| w == needle.as_bytes())
                        .map(|p| p + sep.len())
                });
                vec![at.expect("UNIQ_KEY in the header")]
            } else {
                uniq_body.iter().map(|o| body_start + o).collect()
            };
        }
        if let Some(spread) = spec.timer_spread {
            // in the header of a single send (raw or JSON-escaped), in each batch entry's properties
            t.timer_at = ["TIMER_DELIVER_MS\u{1}", "TIMER_DELIVER_MS\\u0001"]
                .iter()
                .flat_map(|sep| {
                    let needle = format!("{sep}{TIMER_PLACEHOLDER}");
                    let frame = &t.frame;
                    (0..frame.len().saturating_sub(needle.len() - 1))
                        .filter(move |p| frame[*p..].starts_with(needle.as_bytes()))
                        .map(move |p| p + sep.len())
                        .collect::<Vec<_>>()
                })
                .collect();
            assert_eq!(t.timer_at.len(), t.stamps_at.len(), "one TIMER_DELIVER_MS per message");
            t.timer_base_ms = ferrocket::client::req::now_ms();
            t.timer_spread_ms = spread.as_millis() as i64;
        }
        t
    }

    /// Set the opaque and stamp message `i` of the batch with `stamp(i)`.
    pub fn patch(&mut self, opaque: i32, mut stamp: impl FnMut(usize) -> Stamp) {
        if self.opaque_at == 13 {
            self.frame[13..17].copy_from_slice(&opaque.to_be_bytes());
        } else {
            let digits = opaque.to_string();
            self.frame[self.opaque_at..self.opaque_at + 10].copy_from_slice(digits.as_bytes());
        }
        for (i, at) in self.stamps_at.iter().enumerate() {
            let st = stamp(i);
            st.write(&mut self.frame[*at..*at + STAMP_LEN]);
            if let Some(u) = self.uniq_at.get(i) {
                hex(st.run as u64, &mut self.frame[*u..*u + 8]);
                hex(st.conn as u64, &mut self.frame[*u + 8..*u + 16]);
                hex(st.seq, &mut self.frame[*u + 16..*u + 32]);
            }
            if let Some(d) = self.timer_at.get(i) {
                let mut due = timer_due(self.timer_base_ms, self.timer_spread_ms, st.conn, st.seq) as u64;
                for b in self.frame[*d..*d + 13].iter_mut().rev() {
                    *b = b'0' + (due % 10) as u8;
                    due /= 10;
                }
            }
        }
        if let Some(sg) = &self.signer {
            use base64::Engine;
            use hmac::Mac;
            let mut mac = hmac::Hmac::<sha1::Sha1>::new_from_slice(&sg.secret).expect("any key length");
            for p in &sg.parts {
                match p {
                    Part::Fixed(b) => mac.update(b),
                    Part::Frame(r) => mac.update(&self.frame[r.clone()]),
                }
            }
            let sig = base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes());
            self.frame[sg.sig_at..sg.sig_at + sig.len()].copy_from_slice(sig.as_bytes());
        }
    }

    pub fn messages(&self) -> usize {
        self.stamps_at.len()
    }
}

fn encode(cmd: RemotingCommand, offsets: Vec<usize>, body_len: usize) -> SendTemplate {
    let json = cmd.serialize_type == SerializeType::Json;
    let mut buf = BytesMut::new();
    encode_command(&cmd, &mut buf);
    let frame = buf.to_vec();
    let body_start = frame.len() - body_len;
    let opaque_at = if json {
        let needle = format!("\"opaque\":{OPAQUE_BASE}");
        let pos = frame
            .windows(needle.len())
            .position(|w| w == needle.as_bytes())
            .expect("opaque in JSON header");
        pos + needle.len() - 10
    } else {
        13
    };
    SendTemplate {
        frame,
        opaque_at,
        stamps_at: offsets.iter().map(|o| body_start + o).collect(),
        uniq_at: Vec::new(),
        timer_at: Vec::new(),
        timer_base_ms: 0,
        timer_spread_ms: 0,
        signer: None,
    }
}

/// The signed content of `cmd` as laid out in its binary-header `frame`: the header values in
/// Java's key order (the `i` properties value, which carries UNIQ_KEY, read from the frame), then
/// the body (read from the frame).
fn signer(frame: &[u8], cmd: &RemotingCommand, secret: &str, body_len: usize) -> Signer {
    let find = |needle: &[u8]| frame.windows(needle.len()).position(|w| w == needle).expect("value in the header");
    let fields = cmd.ext_fields.as_ref().expect("fields");
    let mut keys: Vec<&str> = fields.keys().filter(|k| *k != "Signature").collect();
    keys.sort();
    let mut parts = Vec::new();
    for k in keys {
        let v = fields[k].as_bytes();
        if k == "i" {
            let at = find(v);
            parts.push(Part::Frame(at..at + v.len()));
        } else {
            parts.push(Part::Fixed(v.to_vec()));
        }
    }
    parts.push(Part::Frame(frame.len() - body_len..frame.len()));
    Signer { secret: secret.as_bytes().to_vec(), parts, sig_at: find(SIG_PLACEHOLDER.as_bytes()) }
}

/// Upper-case hex of the low `out.len() * 4` bits of `v`.
fn hex(mut v: u64, out: &mut [u8]) {
    for b in out.iter_mut().rev() {
        *b = b"0123456789ABCDEF"[(v & 15) as usize];
        v >>= 4;
    }
}

/// Encode any command with a given opaque (slow path: pulls and admin requests).
pub fn encode_with_opaque(cmd: &RemotingCommand, opaque: i32, json: bool, out: &mut BytesMut) {
    let mut c = cmd.clone();
    c.opaque = opaque;
    c.serialize_type = if json {
        SerializeType::Json
    } else {
        SerializeType::RocketMq
    };
    encode_command(&c, out);
}

/// Split one whole frame (with its 4-byte length) off the front of `buf`, if complete.
pub fn next_frame(buf: &mut BytesMut, max: usize) -> Result<Option<Bytes>, String> {
    if buf.len() < 4 {
        return Ok(None);
    }
    let len = i32::from_be_bytes(buf[0..4].try_into().expect("4 bytes"));
    if len < 4 || len as usize > max {
        return Err(format!("bad frame length {len}"));
    }
    if buf.len() < 4 + len as usize {
        return Ok(None);
    }
    Ok(Some(buf.split_to(4 + len as usize).freeze()))
}

/// (code, opaque) of a response frame; binary headers are peeked, JSON ones decoded.
pub fn peek_code_opaque(frame: &Bytes) -> Result<(i32, i32), String> {
    if frame.len() >= 17 && frame[4] == 1 {
        let code = i16::from_be_bytes([frame[8], frame[9]]) as i32;
        let opaque = i32::from_be_bytes(frame[13..17].try_into().expect("4 bytes"));
        return Ok((code, opaque));
    }
    let cmd = decode(frame)?;
    Ok((cmd.code, cmd.opaque))
}

/// Full decode of a frame (with its 4-byte length).
pub fn decode(frame: &Bytes) -> Result<RemotingCommand, String> {
    decode_frame_body(frame.slice(4..)).map_err(|e| e.to_string())
}

/// Offsets (into `body`) and lengths of each stored message's body in a pull response body,
/// found by walking the stored layout without decoding properties.
pub fn stored_bodies(body: &[u8]) -> Result<Vec<&[u8]>, String> {
    let mut out = Vec::new();
    let mut at = 0usize;
    while at < body.len() {
        let rest = &body[at..];
        if rest.len() < 4 {
            return Err("truncated stored message".into());
        }
        let total = i32::from_be_bytes(rest[0..4].try_into().expect("4 bytes")) as usize;
        if total < 60 || total > rest.len() {
            return Err(format!("bad stored size {total}"));
        }
        let m = &rest[..total];
        // totalSize 4, magic 4, bodyCRC 4, queueId 4, flag 4, queueOffset 8, physicalOffset 8,
        // sysFlag 4, bornTimestamp 8, bornHost, storeTimestamp 8, storeHost, reconsumeTimes 4,
        // preparedTxOffset 8, bodyLength 4, body ...
        let sys_flag = i32::from_be_bytes(m[36..40].try_into().expect("4 bytes"));
        let born_host = if sys_flag & 0x10 != 0 { 20 } else { 8 };
        let store_host = if sys_flag & 0x20 != 0 { 20 } else { 8 };
        let body_len_at = 40 + 8 + born_host + 8 + store_host + 4 + 8;
        if body_len_at + 4 > total {
            return Err("stored message too short".into());
        }
        let blen = i32::from_be_bytes(m[body_len_at..body_len_at + 4].try_into().expect("4 bytes"));
        let bstart = body_len_at + 4;
        if blen < 0 || bstart + blen as usize > total {
            return Err(format!("bad stored body length {blen}"));
        }
        out.push(&m[bstart..bstart + blen as usize]);
        at += total;
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(batch: usize, json: bool, timer_spread: Option<std::time::Duration>) -> SendSpec {
        SendSpec { topic: "t".into(), group: "g".into(), body: 64, batch, json, uniq_key: true, credentials: None, timer_spread }
    }

    #[test]
    fn template_patches_decode() {
        for json in [false, true] {
            for batch in [1, 4] {
                let spec = spec(batch, json, None);
                let mut t = SendTemplate::new(&spec, 3);
                t.patch(OPAQUE_BASE + 12345, |i| Stamp {
                    run: 7,
                    conn: 2,
                    seq: 10 + i as u64,
                    t_ns: 99,
                });
                let f = Bytes::from(t.frame.clone());
                let cmd = decode(&f).unwrap();
                assert_eq!(cmd.opaque, OPAQUE_BASE + 12345);
                assert_eq!(cmd.ext("e"), Some("3"));
                if batch == 1 {
                    assert_eq!(Stamp::read(&cmd.body).unwrap().seq, 10);
                    assert!(cmd
                        .ext("i")
                        .unwrap()
                        .contains("UNIQ_KEY\u{1}0000000700000002000000000000000A"));
                } else {
                    let last = b"UNIQ_KEY\x010000000700000002000000000000000D";
                    assert!(cmd.body.windows(last.len()).any(|w| w == last));
                }
                assert_eq!(t.messages(), batch);
            }
        }
    }

    #[test]
    fn timer_template_patches_a_due_time_per_message() {
        const DAY: i64 = 86_400_000;
        for json in [false, true] {
            for batch in [1, 3] {
                let spec = spec(batch, json, Some(std::time::Duration::from_secs(7 * 86_400)));
                let mut t = SendTemplate::new(&spec, 0);
                t.patch(OPAQUE_BASE, |i| Stamp { run: 1, conn: 2, seq: 5 + i as u64, t_ns: 0 });
                let cmd = decode(&Bytes::from(t.frame.clone())).unwrap();
                let text = if batch == 1 { cmd.ext("i").unwrap().to_string() } else { String::from_utf8_lossy(&cmd.body).into_owned() };
                for i in 0..batch as u64 {
                    let due = timer_due(t.timer_base_ms, 7 * DAY, 2, 5 + i);
                    assert!(text.contains(&format!("TIMER_DELIVER_MS\u{1}{due}")), "{text:?}");
                    assert!(due >= t.timer_base_ms + DAY / 24 && due < t.timer_base_ms + 7 * DAY - DAY / 24);
                }
            }
        }
    }

    #[test]
    fn stamp_round_trip() {
        let s = Stamp {
            run: 1,
            conn: 2,
            seq: 3,
            t_ns: 4,
        };
        let mut b = [0u8; STAMP_LEN];
        s.write(&mut b);
        assert_eq!(Stamp::read(&b), Some(s));
        assert_eq!(Stamp::read(&b[..10]), None);
    }
}
