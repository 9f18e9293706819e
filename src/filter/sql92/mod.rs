//! SQL92 message filter: the selector language of Apache RocketMQ's `MessageSelector.bySql`.
//!
//! Grammar, construction-time checks and evaluation follow the Java 4.9.7
//! `org.apache.rocketmq.filter` classes (see `docs/protocol/consumer-groups.md` §10), plus the 5.x string
//! operators `CONTAINS`, `STARTSWITH`, `ENDSWITH` and their `NOT` forms (recognised only in operator
//! position, so properties with those names still work as in 4.9.7).
//!
//! Java behaviours kept on purpose (all are observable by clients):
//! - Parsing stops after one complete expression: trailing tokens are ignored (`a = 1 )` compiles),
//!   but a lexical error in the token right after is still an error. [`SqlFilter::compile_strict`]
//!   also rejects trailing input.
//! - `NOT` binds tighter than comparisons: `NOT a = 1` is `(NOT a) = 1` and never matches; write
//!   `NOT (a = 1)`.
//! - `>`, `>=`, `<`, `<=`, `BETWEEN` only accept numeric literals (`a > 'x'` is a parse error); a
//!   string property is converted to the literal's type (`Integer` / `Long` / `Double`), and a
//!   failed conversion aborts the whole evaluation (not matched, even under `OR`).
//! - `=` converts too: `a = 1` is true for `a = "1"` and an evaluation error for `a = "x"`;
//!   `a = 'x'` is a plain string comparison. `a = NULL` is a parse error (use `IS NULL`).
//! - A missing property gives SQL unknown (null); but `a = b` with both missing is TRUE, and with
//!   only `b` missing is FALSE (Java's `doCreateEqual`).
//! - Literal `0.0` (any float literal that rounds to 0) is a parse error; `5L` is still an
//!   `Integer` when it fits.
//! - `CONTAINS` & co. are FALSE (not unknown) for a missing property or an empty pattern, in both
//!   the plain and the `NOT` form.
//! - No hexadecimal or octal literals exist (`0x10` lexes as `0` then `x10`, the rest ignored).
//!
//! Known deviations: property strings are converted with ASCII digits only (Java's `parseInt` also
//! takes other Unicode decimal digits) and hexadecimal float strings (`0x1p3`) are not parsed.

mod ast;
mod build;
mod lexer;
mod parser;
mod value;

#[cfg(test)]
mod tests;

use ast::Expr;
use value::Value;

/// Longest accepted expression, in bytes.
pub const MAX_EXPRESSION_LEN: usize = 64 * 1024;
/// Deepest accepted nesting of parentheses and unary operators (`(`, `NOT`, `-`, `+`).
pub const MAX_NESTING: usize = 64;
/// Deepest accepted compiled tree (chains such as `a IS NULL IS NULL ...` grow it).
pub const MAX_DEPTH: usize = 128;

/// A compiled SQL92 selector.
#[derive(Debug, Clone)]
pub struct SqlFilter {
    expr: Expr,
}

/// Why an expression does not compile. `position` is the byte offset in the expression where the
/// problem was found (the expression's length for an unexpected end); `message` names it too.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct SqlParseError {
    pub message: String,
    pub position: usize,
}

impl SqlParseError {
    pub(crate) fn at(position: usize, what: impl Into<String>) -> Self {
        SqlParseError {
            message: format!("{} at position {position}", what.into()),
            position,
        }
    }
}

impl SqlFilter {
    /// Compiles like the Java broker (`SelectorParser.parse`): an error here is what the broker
    /// answers with `SUBSCRIPTION_PARSE_FAILED`.
    pub fn compile(expr: &str) -> Result<SqlFilter, SqlParseError> {
        Self::compile_inner(expr, false)
    }

    /// Like [`SqlFilter::compile`] but also rejects anything after the expression
    /// (`a = 1 )`, `a = 1 b`), which Java silently ignores.
    pub fn compile_strict(expr: &str) -> Result<SqlFilter, SqlParseError> {
        Self::compile_inner(expr, true)
    }

    fn compile_inner(expr: &str, strict: bool) -> Result<SqlFilter, SqlParseError> {
        if expr.len() > MAX_EXPRESSION_LEN {
            return Err(SqlParseError::at(
                MAX_EXPRESSION_LEN,
                format!("expression longer than {MAX_EXPRESSION_LEN} bytes"),
            ));
        }
        let mut p = parser::Parser::new(expr);
        let e = p.selector()?;
        if strict {
            if let Some((what, pos)) = p.at_end()? {
                return Err(SqlParseError::at(
                    pos,
                    format!("unexpected {what} after the expression"),
                ));
            }
        }
        Ok(SqlFilter { expr: e })
    }

    /// Evaluates against message properties; only a boolean TRUE matches (null/unknown/errors -> false).
    pub fn matches(&self, get: &dyn Fn(&str) -> Option<String>) -> bool {
        matches!(ast::eval(&self.expr, get), Ok(Value::Bool(true)))
    }

    /// Evaluates against a RocketMQ properties string (`k\u{1}v\u{2}k2\u{1}v2`), parsed like Java's
    /// `MessageDecoder.string2messageProperties`.
    pub fn matches_properties(&self, props: &str) -> bool {
        let map = parse_properties(props);
        self.matches(&|name: &str| {
            map.iter()
                .rev()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| (*v).to_string())
        })
    }
}

/// Java `string2messageProperties`: entries split on `\u{2}`, key and value split at the first
/// `\u{1}`; entries with an empty key or an empty value (or no separator) are dropped; a later
/// duplicate key wins (callers search from the end).
pub(crate) fn parse_properties(props: &str) -> Vec<(&str, &str)> {
    props
        .split('\u{2}')
        .filter_map(|entry| {
            let (k, v) = entry.split_once('\u{1}')?;
            (!k.is_empty() && !v.is_empty()).then_some((k, v))
        })
        .collect()
}
