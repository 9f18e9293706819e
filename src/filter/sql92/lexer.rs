//! Tokens of the RocketMQ selector language, lexed lazily (one token at a time) the way the Java
//! JavaCC token manager does: a lexical error after a complete expression is only reported if the
//! parser looks at that token.

use super::SqlParseError;

#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Tok<'a> {
    Not,
    And,
    Or,
    Between,
    In,
    True,
    False,
    Null,
    Is,
    /// `0` or `[1-9][0-9]*[lL]?` (the raw text).
    Decimal(&'a str),
    /// `1.5`, `5.`, `.5`, `1e10`, `1.5E-3` (the raw text).
    Float(&'a str),
    /// A quoted string, already decoded (`''` -> `'`).
    Str(String),
    Id(&'a str),
    Eq,
    Ne,
    Gt,
    Ge,
    Lt,
    Le,
    LParen,
    Comma,
    RParen,
    Plus,
    Minus,
    Eof,
}

impl Tok<'_> {
    /// How the token reads in an error message.
    pub(crate) fn describe(&self) -> String {
        match self {
            Tok::Not => "NOT".into(),
            Tok::And => "AND".into(),
            Tok::Or => "OR".into(),
            Tok::Between => "BETWEEN".into(),
            Tok::In => "IN".into(),
            Tok::True => "TRUE".into(),
            Tok::False => "FALSE".into(),
            Tok::Null => "NULL".into(),
            Tok::Is => "IS".into(),
            Tok::Decimal(s) | Tok::Float(s) => format!("number {s}"),
            Tok::Str(_) => "string literal".into(),
            Tok::Id(s) => format!("identifier {s}"),
            Tok::Eq => "'='".into(),
            Tok::Ne => "'<>'".into(),
            Tok::Gt => "'>'".into(),
            Tok::Ge => "'>='".into(),
            Tok::Lt => "'<'".into(),
            Tok::Le => "'<='".into(),
            Tok::LParen => "'('".into(),
            Tok::Comma => "','".into(),
            Tok::RParen => "')'".into(),
            Tok::Plus => "'+'".into(),
            Tok::Minus => "'-'".into(),
            Tok::Eof => "end of input".into(),
        }
    }
}

pub(crate) struct Lexer<'a> {
    src: &'a str,
    pos: usize,
}

fn is_space(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | b'\r' | 0x0c)
}

fn is_id_start(b: u8) -> bool {
    b.is_ascii_alphabetic() || b == b'_' || b == b'$'
}

fn is_id_part(b: u8) -> bool {
    is_id_start(b) || b.is_ascii_digit()
}

fn keyword(word: &str) -> Option<Tok<'static>> {
    const KW: [(&str, Tok<'static>); 9] = [
        ("NOT", Tok::Not),
        ("AND", Tok::And),
        ("OR", Tok::Or),
        ("BETWEEN", Tok::Between),
        ("IN", Tok::In),
        ("TRUE", Tok::True),
        ("FALSE", Tok::False),
        ("NULL", Tok::Null),
        ("IS", Tok::Is),
    ];
    KW.iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(word))
        .map(|(_, t)| t.clone())
}

impl<'a> Lexer<'a> {
    pub(crate) fn new(src: &'a str) -> Self {
        Lexer { src, pos: 0 }
    }

    pub(crate) fn source(&self) -> &'a str {
        self.src
    }

    fn bytes(&self) -> &'a [u8] {
        self.src.as_bytes()
    }

    fn at(&self, i: usize) -> Option<u8> {
        self.bytes().get(i).copied()
    }

    /// Skips white space and comments. A `--` comment only counts when a line break ends it
    /// (as in Java); otherwise the `-` is a token.
    fn skip_trivia(&mut self) -> Result<(), SqlParseError> {
        loop {
            while self.at(self.pos).is_some_and(is_space) {
                self.pos += 1;
            }
            let rest = &self.src[self.pos..];
            if rest.starts_with("--") {
                match rest.find(['\n', '\r']) {
                    Some(i) => {
                        self.pos += i + 1;
                        continue;
                    }
                    None => return Ok(()),
                }
            }
            if let Some(body) = rest.strip_prefix("/*") {
                match body.find("*/") {
                    Some(i) => {
                        self.pos += 2 + i + 2;
                        continue;
                    }
                    None => return Err(SqlParseError::at(self.pos, "unterminated /* comment")),
                }
            }
            return Ok(());
        }
    }

    fn digits_from(&self, mut i: usize) -> usize {
        while self.at(i).is_some_and(|b| b.is_ascii_digit()) {
            i += 1;
        }
        i
    }

    /// End of an exponent (`e`, optional sign, at least one digit) starting at `i`, if there is one.
    fn exponent_end(&self, i: usize) -> Option<usize> {
        if !matches!(self.at(i), Some(b'e' | b'E')) {
            return None;
        }
        let mut j = i + 1;
        if matches!(self.at(j), Some(b'+' | b'-')) {
            j += 1;
        }
        let end = self.digits_from(j);
        (end > j).then_some(end)
    }

    /// Longest match between DECIMAL_LITERAL and FLOATING_POINT_LITERAL at `start`.
    fn number(&mut self, start: usize) -> Tok<'a> {
        let int_end = self.digits_from(start);
        let end = if self.at(int_end) == Some(b'.') {
            let frac_end = self.digits_from(int_end + 1);
            Some(self.exponent_end(frac_end).unwrap_or(frac_end))
        } else {
            self.exponent_end(int_end)
        };
        if let Some(end) = end {
            self.pos = end;
            return Tok::Float(&self.src[start..end]);
        }
        let mut end = if self.at(start) == Some(b'0') {
            start + 1
        } else {
            int_end
        };
        if end == int_end
            && self.at(start) != Some(b'0')
            && matches!(self.at(end), Some(b'l' | b'L'))
        {
            end += 1;
        }
        self.pos = end;
        Tok::Decimal(&self.src[start..end])
    }

    fn string(&mut self, start: usize) -> Result<Tok<'a>, SqlParseError> {
        let mut out = String::new();
        let mut i = start + 1;
        loop {
            let rest = &self.src[i..];
            match rest.find('\'') {
                None => return Err(SqlParseError::at(start, "unterminated string literal")),
                Some(q) => {
                    out.push_str(&rest[..q]);
                    i += q + 1;
                    if self.at(i) == Some(b'\'') {
                        out.push('\'');
                        i += 1;
                    } else {
                        self.pos = i;
                        return Ok(Tok::Str(out));
                    }
                }
            }
        }
    }

    /// The next token and the byte offset where it starts.
    pub(crate) fn next_token(&mut self) -> Result<(Tok<'a>, usize), SqlParseError> {
        self.skip_trivia()?;
        let start = self.pos;
        let Some(b) = self.at(start) else {
            return Ok((Tok::Eof, start));
        };
        let two = |t: Tok<'a>, s: &mut Self| {
            s.pos += 2;
            Ok((t, start))
        };
        let one = |t: Tok<'a>, s: &mut Self| {
            s.pos += 1;
            Ok((t, start))
        };
        match b {
            b'<' if self.at(start + 1) == Some(b'>') => two(Tok::Ne, self),
            b'<' if self.at(start + 1) == Some(b'=') => two(Tok::Le, self),
            b'>' if self.at(start + 1) == Some(b'=') => two(Tok::Ge, self),
            b'<' => one(Tok::Lt, self),
            b'>' => one(Tok::Gt, self),
            b'=' => one(Tok::Eq, self),
            b'(' => one(Tok::LParen, self),
            b')' => one(Tok::RParen, self),
            b',' => one(Tok::Comma, self),
            b'+' => one(Tok::Plus, self),
            b'-' => one(Tok::Minus, self),
            b'\'' => Ok((self.string(start)?, start)),
            b'0'..=b'9' => Ok((self.number(start), start)),
            b'.' if self.at(start + 1).is_some_and(|c| c.is_ascii_digit()) => {
                let frac_end = self.digits_from(start + 1);
                let end = self.exponent_end(frac_end).unwrap_or(frac_end);
                self.pos = end;
                Ok((Tok::Float(&self.src[start..end]), start))
            }
            b if is_id_start(b) => {
                let mut end = start + 1;
                while self.at(end).is_some_and(is_id_part) {
                    end += 1;
                }
                self.pos = end;
                let word = &self.src[start..end];
                Ok((keyword(word).unwrap_or(Tok::Id(word)), start))
            }
            _ => {
                let c = self.src[start..].chars().next().unwrap_or('?');
                Err(SqlParseError::at(
                    start,
                    format!("unexpected character {c:?}"),
                ))
            }
        }
    }
}
