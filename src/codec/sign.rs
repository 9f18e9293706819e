//! ACL 1.0 request signatures as RocketMQ's clients compute them (`AclClientRPCHook`, the C++
//! core's session credentials, ali-ons): the content is the values of every extField except
//! `Signature`, ordered by key as Java's `String.compareTo` orders them (UTF-16 code units),
//! concatenated as UTF-8 without separators, then the body; the signature is
//! Base64(HmacSHA1(secretKey, content)). Every field the client sent is signed, `_UNIQUE_KEY_QUERY`
//! included.
use super::command::RemotingCommand;
use base64::Engine;
use hmac::{Hmac, Mac};
use sha1::Sha1;

pub const ACCESS_KEY: &str = "AccessKey";
pub const SIGNATURE: &str = "Signature";
pub const SECURITY_TOKEN: &str = "SecurityToken";

type HmacSha1 = Hmac<Sha1>;

/// The HMAC over `cmd`'s signed content, keyed with `secret`.
fn mac(cmd: &RemotingCommand, secret: &[u8]) -> HmacSha1 {
    let mut mac = HmacSha1::new_from_slice(secret).expect("HMAC takes any key length");
    if let Some(fields) = &cmd.ext_fields {
        let mut keys: Vec<&str> = fields.keys().filter(|k| *k != SIGNATURE).collect();
        keys.sort_by(|a, b| a.encode_utf16().cmp(b.encode_utf16()));
        for k in keys {
            mac.update(fields[k].as_bytes());
        }
    }
    mac.update(&cmd.body);
    mac
}

/// The bytes a signature covers: the values of every field but `Signature` in Java's key order,
/// then the body. Keys themselves are not covered (RocketMQ's scheme): adding an empty field, or
/// moving text across the boundary of two adjacent values, leaves the content unchanged.
pub fn content(cmd: &RemotingCommand) -> Vec<u8> {
    let mut out = Vec::new();
    if let Some(fields) = &cmd.ext_fields {
        let mut keys: Vec<&str> = fields.keys().filter(|k| *k != SIGNATURE).collect();
        keys.sort_by(|a, b| a.encode_utf16().cmp(b.encode_utf16()));
        for k in keys {
            out.extend_from_slice(fields[k].as_bytes());
        }
    }
    out.extend_from_slice(&cmd.body);
    out
}

/// Base64(HmacSHA1(secret, content of `cmd`)).
pub fn signature(cmd: &RemotingCommand, secret: &str) -> String {
    base64::engine::general_purpose::STANDARD.encode(mac(cmd, secret.as_bytes()).finalize().into_bytes())
}

/// Add `AccessKey` and `Signature` to `cmd` as a client does (after every other field is set).
pub fn sign(cmd: &mut RemotingCommand, access_key: &str, secret: &str) {
    if let Some(f) = cmd.ext_fields.as_mut() {
        f.remove(SIGNATURE);
    }
    cmd.set_ext(ACCESS_KEY, access_key);
    let sig = signature(cmd, secret);
    cmd.set_ext(SIGNATURE, sig);
}

/// Whether `cmd`'s `Signature` is the one `secret` gives, compared in constant time.
pub fn verify(cmd: &RemotingCommand, secret: &str) -> bool {
    let Some(given) = cmd.ext(SIGNATURE) else { return false };
    let Ok(given) = base64::engine::general_purpose::STANDARD.decode(given.trim()) else { return false };
    mac(cmd, secret.as_bytes()).verify_slice(&given).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_a_signature_computed_by_the_java_recipe() {
        // The Java client: TreeMap of {AccessKey, topic, queueId}, values concatenated, then body.
        let mut cmd = RemotingCommand::request(10, 1).with_ext("topic", "T").with_ext("queueId", "3").with_body(&b"hi"[..]);
        sign(&mut cmd, "RocketMQ", "12345678");
        let content = b"RocketMQ3Thi"; // AccessKey < queueId < topic
        let mut mac = HmacSha1::new_from_slice(b"12345678").unwrap();
        mac.update(content);
        let expected = base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes());
        assert_eq!(cmd.ext(SIGNATURE), Some(expected.as_str()));
        assert!(verify(&cmd, "12345678"));
        assert!(!verify(&cmd, "12345679"));
        let mut tampered = cmd.clone();
        tampered.set_ext("queueId", "4");
        assert!(!verify(&tampered, "12345678"));
        let mut tampered = cmd.clone();
        tampered.body = bytes::Bytes::from_static(b"ho");
        assert!(!verify(&tampered, "12345678"));
        let mut tampered = cmd.clone();
        tampered.set_ext("_UNIQUE_KEY_QUERY", "true");
        assert!(!verify(&tampered, "12345678"), "every field is signed");
    }

    #[test]
    fn keys_sort_as_java_strings() {
        // U+FF21 (one UTF-16 unit) sorts before U+1F600 (a surrogate pair starting 0xD83D)?
        // No: 0xD83D < 0xFF21, so the emoji key comes first in Java's order, unlike Rust's.
        let cmd = RemotingCommand::request(10, 1).with_ext("\u{FF21}", "b").with_ext("\u{1F600}", "a");
        let mut mac = HmacSha1::new_from_slice(b"secret").unwrap();
        mac.update(b"ab");
        assert!(mac.verify_slice(&super::mac(&cmd, b"secret").finalize().into_bytes()).is_ok());
    }
}
