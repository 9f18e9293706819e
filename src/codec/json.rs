//! Lenient JSON for fastjson peers, and writers for fastjson's object-keyed maps.
//!
//! [`parse_lenient`] reads standard JSON plus what fastjson writes or accepts: bare (unquoted)
//! member names such as numeric map keys, objects or arrays used as map keys (kept as their
//! canonical compact JSON text, members sorted), single-quoted strings, stray commas and trailing
//! whitespace. Nesting is limited to [`MAX_DEPTH`] so hostile input cannot exhaust the stack.
use super::error::CodecError;
use serde::Serialize;
use serde_json::{Map, Number, Value};

/// Deepest nesting accepted by [`parse_lenient`].
pub const MAX_DEPTH: usize = 128;

/// Parse fastjson-flavoured JSON into a [`Value`].
pub fn parse_lenient(input: &[u8]) -> Result<Value, CodecError> {
    let mut p = Parser { s: input, i: 0 };
    p.ws();
    let v = p.value(0)?;
    p.ws();
    if p.i != p.s.len() {
        return Err(p.err("trailing characters"));
    }
    Ok(v)
}

struct Parser<'a> {
    s: &'a [u8],
    i: usize,
}

impl Parser<'_> {
    fn err(&self, what: &str) -> CodecError {
        CodecError::BadBody(format!("JSON: {what} at byte {}", self.i))
    }

    fn ws(&mut self) {
        while self.i < self.s.len() && matches!(self.s[self.i], b' ' | b'\t' | b'\n' | b'\r') {
            self.i += 1;
        }
    }

    fn peek(&self) -> Option<u8> {
        self.s.get(self.i).copied()
    }

    fn eat(&mut self, c: u8) -> bool {
        if self.peek() == Some(c) {
            self.i += 1;
            true
        } else {
            false
        }
    }

    fn value(&mut self, depth: usize) -> Result<Value, CodecError> {
        if depth > MAX_DEPTH {
            return Err(self.err("nesting too deep"));
        }
        match self.peek() {
            Some(b'{') => self.object(depth),
            Some(b'[') => self.array(depth),
            Some(q @ (b'"' | b'\'')) => self.string(q).map(Value::String),
            Some(b'-' | b'0'..=b'9') => self.number(),
            Some(_) => match self.word().as_str() {
                "true" => Ok(Value::Bool(true)),
                "false" => Ok(Value::Bool(false)),
                "null" => Ok(Value::Null),
                _ => Err(self.err("unexpected token")),
            },
            None => Err(self.err("unexpected end")),
        }
    }

    /// A bare word: letters, digits, `_`, `$`, `-`, `.`, `+`.
    fn word(&mut self) -> String {
        let start = self.i;
        while let Some(c) = self.peek() {
            if c.is_ascii_alphanumeric() || matches!(c, b'_' | b'$' | b'-' | b'.' | b'+') {
                self.i += 1;
            } else {
                break;
            }
        }
        String::from_utf8_lossy(&self.s[start..self.i]).into_owned()
    }

    fn number(&mut self) -> Result<Value, CodecError> {
        let start = self.i;
        let text = self.word();
        if let Ok(n) = text.parse::<i64>() {
            return Ok(Value::Number(n.into()));
        }
        if let Ok(n) = text.parse::<u64>() {
            return Ok(Value::Number(n.into()));
        }
        match text.parse::<f64>().ok().and_then(Number::from_f64) {
            Some(n)
                if text
                    .bytes()
                    .all(|c| c.is_ascii_digit() || b"+-.eE".contains(&c)) =>
            {
                Ok(Value::Number(n))
            }
            _ => {
                self.i = start;
                Err(self.err("bad number"))
            }
        }
    }

    fn string(&mut self, quote: u8) -> Result<String, CodecError> {
        self.i += 1;
        let mut buf: Vec<u8> = Vec::new();
        loop {
            let c = self.peek().ok_or_else(|| self.err("unterminated string"))?;
            self.i += 1;
            if c == quote {
                break;
            }
            if c != b'\\' {
                buf.push(c);
                continue;
            }
            let e = self.peek().ok_or_else(|| self.err("unterminated escape"))?;
            self.i += 1;
            match e {
                b'"' | b'\'' | b'\\' | b'/' => buf.push(e),
                b'b' => buf.push(8),
                b'f' => buf.push(12),
                b'n' => buf.push(b'\n'),
                b'r' => buf.push(b'\r'),
                b't' => buf.push(b'\t'),
                b'u' => {
                    let ch = self.unicode_escape()?;
                    let mut tmp = [0u8; 4];
                    buf.extend_from_slice(ch.encode_utf8(&mut tmp).as_bytes());
                }
                _ => return Err(self.err("bad escape")),
            }
        }
        String::from_utf8(buf).map_err(|_| self.err("string is not UTF-8"))
    }

    fn hex4(&mut self) -> Result<u32, CodecError> {
        let h = self
            .s
            .get(self.i..self.i + 4)
            .ok_or_else(|| self.err("short \\u escape"))?;
        let h = std::str::from_utf8(h).map_err(|_| self.err("bad \\u escape"))?;
        let v = u32::from_str_radix(h, 16).map_err(|_| self.err("bad \\u escape"))?;
        self.i += 4;
        Ok(v)
    }

    fn unicode_escape(&mut self) -> Result<char, CodecError> {
        let hi = self.hex4()?;
        if (0xD800..0xDC00).contains(&hi) && self.s.get(self.i..self.i + 2) == Some(b"\\u") {
            let save = self.i;
            self.i += 2;
            let lo = self.hex4()?;
            if (0xDC00..0xE000).contains(&lo) {
                let c = 0x10000 + ((hi - 0xD800) << 10) + (lo - 0xDC00);
                return Ok(char::from_u32(c).unwrap_or('\u{FFFD}'));
            }
            self.i = save;
        }
        Ok(char::from_u32(hi).unwrap_or('\u{FFFD}'))
    }

    fn key(&mut self, depth: usize) -> Result<String, CodecError> {
        match self.peek() {
            Some(q @ (b'"' | b'\'')) => self.string(q),
            Some(b'{' | b'[') => Ok(self.value(depth + 1)?.to_string()),
            Some(_) => {
                let w = self.word();
                if w.is_empty() {
                    Err(self.err("bad member name"))
                } else {
                    Ok(w)
                }
            }
            None => Err(self.err("unexpected end")),
        }
    }

    fn object(&mut self, depth: usize) -> Result<Value, CodecError> {
        self.i += 1;
        let mut map = Map::new();
        loop {
            self.ws();
            if self.eat(b'}') {
                return Ok(Value::Object(map));
            }
            if self.eat(b',') {
                continue;
            }
            let k = self.key(depth)?;
            self.ws();
            if !self.eat(b':') {
                return Err(self.err("expected ':'"));
            }
            self.ws();
            let v = self.value(depth + 1)?;
            map.insert(k, v);
            self.ws();
            if !self.eat(b',') && self.peek() != Some(b'}') {
                return Err(self.err("expected ',' or '}'"));
            }
        }
    }

    fn array(&mut self, depth: usize) -> Result<Value, CodecError> {
        self.i += 1;
        let mut items = Vec::new();
        loop {
            self.ws();
            if self.eat(b']') {
                return Ok(Value::Array(items));
            }
            if self.eat(b',') {
                continue;
            }
            items.push(self.value(depth + 1)?);
            self.ws();
            if !self.eat(b',') && self.peek() != Some(b']') {
                return Err(self.err("expected ',' or ']'"));
            }
        }
    }
}

/// Write a map with object keys in fastjson's form: `{KEY:VALUE,...}` where each key is written
/// as a JSON object (serde's member order; declare key fields alphabetically to match Java).
pub fn write_object_keyed_map<K: Serialize, V: Serialize>(out: &mut Vec<u8>, entries: &[(K, V)]) {
    out.push(b'{');
    for (i, (k, v)) in entries.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        // Serializing plain structs, strings and numbers into a Vec cannot fail.
        let _ = serde_json::to_writer(&mut *out, k);
        out.push(b':');
        let _ = serde_json::to_writer(&mut *out, v);
    }
    out.push(b'}');
}

/// Read a map written by [`write_object_keyed_map`] (or as standard JSON with the key as a
/// string holding JSON text) from a parsed value.
pub fn read_object_keyed_map<K, V>(v: &Value) -> Result<Vec<(K, V)>, CodecError>
where
    K: serde::de::DeserializeOwned,
    V: serde::de::DeserializeOwned,
{
    let bad = |e: serde_json::Error| CodecError::BadBody(e.to_string());
    match v {
        Value::Null => Ok(Vec::new()),
        Value::Object(m) => m
            .iter()
            .map(|(k, val)| {
                let key_value = parse_lenient(k.as_bytes())?;
                let key = serde_json::from_value(key_value).map_err(bad)?;
                let val = serde_json::from_value(val.clone()).map_err(bad)?;
                Ok((key, val))
            })
            .collect(),
        _ => Err(CodecError::BadBody("expected an object-keyed map".into())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fastjson_forms() {
        let v = parse_lenient(b"{brokerAddrs:{0:'a:1',\"1\":\"b\"},}\n").unwrap();
        assert_eq!(v["brokerAddrs"]["0"], "a:1");
        assert_eq!(v["brokerAddrs"]["1"], "b");
        let v = parse_lenient(
            br#"{"offsetTable":{{"topic":"t","brokerName":"b","queueId":0}:42},"x":[1,-2.5,1e3,true,null]}"#,
        )
        .unwrap();
        let key = r#"{"brokerName":"b","queueId":0,"topic":"t"}"#;
        assert_eq!(v["offsetTable"][key], 42);
        assert_eq!(v["x"][1], -2.5);
        assert_eq!(
            parse_lenient(br#""\u0001\ud83d\ude00""#).unwrap(),
            "\u{1}\u{1F600}"
        );
        assert_eq!(parse_lenient(b"9223372036854775807").unwrap(), i64::MAX);
    }

    #[test]
    fn rejects_garbage() {
        for bad in [
            &b"{"[..],
            b"{\"a\" 1}",
            b"[1 2]",
            b"tru",
            b"\"abc",
            b"{}x",
            b"",
            b"-",
            b"1.2.3",
        ] {
            assert!(
                parse_lenient(bad).is_err(),
                "{:?}",
                String::from_utf8_lossy(bad)
            );
        }
        let deep = "[".repeat(10_000);
        assert!(parse_lenient(deep.as_bytes()).is_err());
    }
}
