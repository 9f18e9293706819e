//! Java-properties text, as `java.util.Properties::load` reads it, with one deliberate
//! difference: trailing unescaped whitespace of a value is removed (a stray space after
//! `ASYNC_FLUSH` is a common editing accident; `\ ` keeps a space on purpose).
//!
//! - natural lines end in `\n`, `\r\n` or `\r`; a line ending in an odd number of `\` continues
//!   on the next, whose leading whitespace is skipped;
//! - a line whose first non-blank character is `#` or `!` is a comment; blank lines are skipped;
//! - the key ends at the first unescaped `=`, `:` or whitespace; whitespace, one optional `=`
//!   or `:`, and whitespace again separate it from the value;
//! - escapes: `\t \n \r \f`, `\uXXXX` (surrogate pairs combined), `\x` = `x` for any other `x`.

use super::ConfigError;

/// One `key=value` pair and the (1-based) line where it starts.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Entry {
    pub key: String,
    pub value: String,
    pub line: usize,
}

fn is_ws(c: char) -> bool {
    c == ' ' || c == '\t' || c == '\x0c'
}

fn natural_lines(text: &str) -> Vec<&str> {
    let mut lines = Vec::new();
    let mut rest = text;
    while !rest.is_empty() {
        match rest.find(['\n', '\r']) {
            Some(i) => {
                lines.push(&rest[..i]);
                let skip = if rest[i..].starts_with("\r\n") { 2 } else { 1 };
                rest = &rest[i + skip..];
            }
            None => {
                lines.push(rest);
                rest = "";
            }
        }
    }
    lines
}

fn odd_trailing_backslashes(s: &str) -> bool {
    s.bytes().rev().take_while(|&b| b == b'\\').count() % 2 == 1
}

/// Parse properties text into entries, in file order (duplicates kept; the caller decides).
pub(crate) fn parse(text: &str) -> Result<Vec<Entry>, ConfigError> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let lines = natural_lines(text);
    let mut entries = Vec::new();
    let mut i = 0;
    while i < lines.len() {
        let line = i + 1;
        let first = lines[i].trim_start_matches(is_ws);
        i += 1;
        if first.is_empty() || first.starts_with('#') || first.starts_with('!') {
            continue;
        }
        let mut logical = first.to_string();
        while odd_trailing_backslashes(&logical) {
            logical.pop();
            if i >= lines.len() {
                break;
            }
            logical.push_str(lines[i].trim_start_matches(is_ws));
            i += 1;
        }
        let (raw_key, raw_value) = split_key_value(&logical);
        let key: String = unescape(raw_key, line)?.into_iter().map(|(c, _)| c).collect();
        let mut value = unescape(raw_value, line)?;
        while matches!(value.last(), Some(&(c, false)) if is_ws(c)) {
            value.pop();
        }
        entries.push(Entry { key, value: value.into_iter().map(|(c, _)| c).collect(), line });
    }
    Ok(entries)
}

/// Split a logical line (leading whitespace already removed) into raw key and raw value.
fn split_key_value(s: &str) -> (&str, &str) {
    let mut chars = s.char_indices();
    let mut key_end = s.len();
    let mut separator = None;
    while let Some((i, c)) = chars.next() {
        if c == '\\' {
            chars.next();
        } else if c == '=' || c == ':' || is_ws(c) {
            key_end = i;
            separator = Some(c);
            break;
        }
    }
    let Some(sep) = separator else { return (s, "") };
    let mut rest = s[key_end + sep.len_utf8()..].trim_start_matches(is_ws);
    if is_ws(sep) {
        if let Some(r) = rest.strip_prefix(['=', ':']) {
            rest = r.trim_start_matches(is_ws);
        }
    }
    (&s[..key_end], rest)
}

/// Resolve escapes; each char is paired with whether it came from an escape.
fn unescape(s: &str, line: usize) -> Result<Vec<(char, bool)>, ConfigError> {
    let mut out = Vec::with_capacity(s.len());
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push((c, false));
            continue;
        }
        let Some(e) = chars.next() else { break };
        let ch = match e {
            't' => '\t',
            'n' => '\n',
            'r' => '\r',
            'f' => '\x0c',
            'u' => {
                let unit = hex4(&mut chars, line)?;
                if (0xD800..0xDC00).contains(&unit) {
                    let low = if chars.peek() == Some(&'\\') {
                        chars.next();
                        if chars.next() != Some('u') {
                            return Err(bad_escape(line, "a high surrogate \\uD8xx must be followed by a \\uDCxx escape"));
                        }
                        hex4(&mut chars, line)?
                    } else {
                        0
                    };
                    if !(0xDC00..0xE000).contains(&low) {
                        return Err(bad_escape(line, "unpaired surrogate in \\uXXXX escape"));
                    }
                    let cp = 0x10000 + ((unit - 0xD800) << 10) + (low - 0xDC00);
                    char::from_u32(cp).ok_or_else(|| bad_escape(line, "invalid \\uXXXX escape"))?
                } else {
                    char::from_u32(unit).ok_or_else(|| bad_escape(line, "unpaired surrogate in \\uXXXX escape"))?
                }
            }
            other => other,
        };
        out.push((ch, true));
    }
    Ok(out)
}

fn hex4(chars: &mut std::iter::Peekable<std::str::Chars<'_>>, line: usize) -> Result<u32, ConfigError> {
    let mut v = 0u32;
    for _ in 0..4 {
        let d = chars
            .next()
            .and_then(|c| c.to_digit(16))
            .ok_or_else(|| bad_escape(line, "malformed \\uXXXX escape (expected four hex digits)"))?;
        v = v * 16 + d;
    }
    Ok(v)
}

fn bad_escape(line: usize, reason: &str) -> ConfigError {
    ConfigError::Syntax { line, reason: reason.to_string() }
}

/// Escape a value for properties text so that [`parse`] reads it back unchanged.
pub(crate) fn escape_value(v: &str) -> String {
    let mut out = String::with_capacity(v.len());
    for (i, c) in v.chars().enumerate() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\t' => out.push_str("\\t"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\x0c' => out.push_str("\\f"),
            ' ' if i == 0 => out.push_str("\\ "),
            '#' | '!' | '=' | ':' if i == 0 => {
                out.push('\\');
                out.push(c);
            }
            c if (c as u32) < 0x20 || (c as u32) > 0x7e => {
                let mut buf = [0u16; 2];
                for unit in c.encode_utf16(&mut buf) {
                    out.push_str(&format!("\\u{unit:04X}"));
                }
            }
            c => out.push(c),
        }
    }
    // A trailing space would be trimmed on reading: escape it.
    if out.ends_with(' ') && !out.ends_with("\\ ") {
        out.pop();
        out.push_str("\\ ");
    }
    out
}
