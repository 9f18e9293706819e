//! Runtime values and the Java comparison rules (`ComparisonExpression.__compare` with string
//! conversion switched on, which is how the broker always runs it).

use std::borrow::Cow;
use std::cmp::Ordering;

/// A value during evaluation. Java types: `null`, `Boolean`, `Integer`, `Long`, `Double`, `String`.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Value<'a> {
    Null,
    Bool(bool),
    Int(i32),
    Long(i64),
    Double(f64),
    Str(Cow<'a, str>),
}

/// An evaluation error (a Java exception): the whole evaluation fails and the message does not match.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct EvalError;

/// Java `Integer.parseInt` (radix 10; ASCII digits only).
pub(crate) fn java_parse_int(s: &str) -> Result<i32, EvalError> {
    s.parse::<i32>().map_err(|_| EvalError)
}

/// Java `Long.parseLong` (radix 10; ASCII digits only).
pub(crate) fn java_parse_long(s: &str) -> Result<i64, EvalError> {
    s.parse::<i64>().map_err(|_| EvalError)
}

/// Java `Boolean.valueOf(String)`.
pub(crate) fn java_parse_bool(s: &str) -> bool {
    s.eq_ignore_ascii_case("true")
}

/// Java `Double.valueOf(String)` for decimal forms: trims characters <= U+0020, optional sign,
/// `NaN`, `Infinity`, digits with optional `.` and exponent, optional `f/F/d/D` suffix.
/// Hexadecimal floating literals (`0x1p3`) are not supported and count as a format error.
pub(crate) fn java_parse_double(s: &str) -> Result<f64, EvalError> {
    let t = s.trim_matches(|c: char| c <= ' ');
    let (neg, body) = match t.as_bytes().first() {
        Some(b'-') => (true, &t[1..]),
        Some(b'+') => (false, &t[1..]),
        _ => (false, t),
    };
    let v = match body {
        "NaN" => f64::NAN,
        "Infinity" => f64::INFINITY,
        _ => {
            let core = body.strip_suffix(['f', 'F', 'd', 'D']).unwrap_or(body);
            if !is_decimal_float(core) {
                return Err(EvalError);
            }
            core.parse::<f64>().map_err(|_| EvalError)?
        }
    };
    Ok(if neg { -v } else { v })
}

/// `digits [. digits] [e [sign] digits]` with at least one mantissa digit.
fn is_decimal_float(s: &str) -> bool {
    let b = s.as_bytes();
    let mut i = 0;
    let digits = |i: &mut usize| {
        let st = *i;
        while *i < b.len() && b[*i].is_ascii_digit() {
            *i += 1;
        }
        *i - st
    };
    let mut n = digits(&mut i);
    if i < b.len() && b[i] == b'.' {
        i += 1;
        n += digits(&mut i);
    }
    if n == 0 {
        return false;
    }
    if i < b.len() && (b[i] == b'e' || b[i] == b'E') {
        i += 1;
        if i < b.len() && (b[i] == b'+' || b[i] == b'-') {
            i += 1;
        }
        if digits(&mut i) == 0 {
            return false;
        }
    }
    i == b.len()
}

/// Java `Double.compare`: NaN is above everything and equal to itself; -0.0 < 0.0.
pub(crate) fn java_double_cmp(a: f64, b: f64) -> i32 {
    if a < b {
        return -1;
    }
    if a > b {
        return 1;
    }
    let bits = |d: f64| {
        if d.is_nan() {
            0x7ff8_0000_0000_0000_i64
        } else {
            d.to_bits() as i64
        }
    };
    match bits(a).cmp(&bits(b)) {
        Ordering::Less => -1,
        Ordering::Equal => 0,
        Ordering::Greater => 1,
    }
}

fn ord(o: Ordering) -> i32 {
    match o {
        Ordering::Less => -1,
        Ordering::Equal => 0,
        Ordering::Greater => 1,
    }
}

/// Java `String.compareTo`: UTF-16 code unit order.
fn java_str_cmp(a: &str, b: &str) -> i32 {
    ord(a.encode_utf16().cmp(b.encode_utf16()))
}

/// `compareTo` between two values of the same type.
fn same_type_cmp(lv: &Value, rv: &Value) -> Option<i32> {
    Some(match (lv, rv) {
        (Value::Bool(a), Value::Bool(b)) => ord(a.cmp(b)),
        (Value::Int(a), Value::Int(b)) => ord(a.cmp(b)),
        (Value::Long(a), Value::Long(b)) => ord(a.cmp(b)),
        (Value::Double(a), Value::Double(b)) => java_double_cmp(*a, *b),
        (Value::Str(a), Value::Str(b)) => java_str_cmp(a, b),
        _ => return None,
    })
}

/// Java `ComparisonExpression.__compare(lv, rv, true)` for non-null values. Mixed types are
/// converted towards the right-hand type as Java does (strings parsed as Integer/Long/Double/
/// Boolean); incompatible types answer -1; a failed conversion is an error.
pub(crate) fn java_compare(lv: &Value, rv: &Value) -> Result<i32, EvalError> {
    use Value::*;
    if let Some(c) = same_type_cmp(lv, rv) {
        return Ok(c);
    }
    let (l, r): (Value, Value) = match (lv, rv) {
        // Java casts the Boolean itself to String here: a ClassCastException.
        (Bool(_), Str(_)) => return Err(EvalError),
        (Int(a), Long(_)) => (Long(i64::from(*a)), rv.clone()),
        (Int(a), Double(_)) => (Double(f64::from(*a)), rv.clone()),
        (Int(_), Str(s)) => (lv.clone(), Int(java_parse_int(s)?)),
        (Long(_), Int(b)) => (lv.clone(), Long(i64::from(*b))),
        (Long(a), Double(_)) => (Double(*a as f64), rv.clone()),
        (Long(_), Str(s)) => (lv.clone(), Long(java_parse_long(s)?)),
        (Double(_), Int(b)) => (lv.clone(), Double(f64::from(*b))),
        (Double(_), Long(b)) => (lv.clone(), Double(*b as f64)),
        (Double(_), Str(s)) => (lv.clone(), Double(java_parse_double(s)?)),
        (Str(s), Bool(_)) => (Bool(java_parse_bool(s)), rv.clone()),
        (Str(s), Int(_)) => (Int(java_parse_int(s)?), rv.clone()),
        (Str(s), Long(_)) => (Long(java_parse_long(s)?), rv.clone()),
        (Str(s), Double(_)) => (Double(java_parse_double(s)?), rv.clone()),
        _ => return Ok(-1),
    };
    Ok(same_type_cmp(&l, &r).unwrap_or(-1))
}

/// Java `Object.equals` between two non-null values.
pub(crate) fn java_equals(lv: &Value, rv: &Value) -> bool {
    match (lv, rv) {
        (Value::Double(a), Value::Double(b)) => java_double_cmp(*a, *b) == 0,
        _ => lv == rv,
    }
}
