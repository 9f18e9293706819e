//! Message properties: `key\u{1}value` pairs joined by `\u{2}` (no trailing separator).
use std::collections::HashMap;

pub const NAME_VALUE_SEP: char = '\u{1}';
pub const PAIR_SEP: char = '\u{2}';

/// Encode pairs in the given order.
pub fn encode<K: AsRef<str>, V: AsRef<str>>(pairs: &[(K, V)]) -> String {
    let mut out = String::new();
    for (i, (k, v)) in pairs.iter().enumerate() {
        if i > 0 {
            out.push(PAIR_SEP);
        }
        out.push_str(k.as_ref());
        out.push(NAME_VALUE_SEP);
        out.push_str(v.as_ref());
    }
    out
}

/// Decode as the Java side does: pairs with an empty name or value are dropped; last wins.
pub fn decode(s: &str) -> HashMap<String, String> {
    let mut map = HashMap::new();
    for seg in s.split(PAIR_SEP) {
        if let Some((k, v)) = seg.split_once(NAME_VALUE_SEP) {
            if !k.is_empty() && !v.is_empty() {
                map.insert(k.to_string(), v.to_string());
            }
        }
    }
    map
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip() {
        let s = encode(&[("a", "1"), ("TAGS", "T")]);
        assert_eq!(s, "a\u{1}1\u{2}TAGS\u{1}T");
        let m = decode(&s);
        assert_eq!(m["a"], "1");
        assert_eq!(m["TAGS"], "T");
        assert_eq!(decode("a\u{1}1\u{2}").len(), 1);
        assert!(decode("a\u{1}\u{2}\u{1}b").is_empty());
    }
}
