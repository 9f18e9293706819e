//! Lenient field deserializers for bodies written by Java, C++ and other clients.
use serde::de::{Deserializer, Error};
use serde::Deserialize;
use serde_json::Value;

fn int<'de, D: Deserializer<'de>>(d: D) -> Result<i64, D::Error> {
    match Value::deserialize(d)? {
        Value::Null => Ok(0),
        Value::Number(n) => n
            .as_i64()
            .or_else(|| {
                n.as_f64()
                    .filter(|f| f.fract() == 0.0 && f.abs() < 9.2e18)
                    .map(|f| f as i64)
            })
            .ok_or_else(|| D::Error::custom(format!("not an integer: {n}"))),
        Value::String(s) if s.trim().is_empty() => Ok(0),
        Value::String(s) => s
            .trim()
            .parse()
            .map_err(|_| D::Error::custom(format!("not an integer: {s}"))),
        Value::Bool(b) => Ok(b as i64),
        other => Err(D::Error::custom(format!("not an integer: {other}"))),
    }
}

/// An `i64` from a number or a numeric string; null is 0.
pub fn i64<'de, D: Deserializer<'de>>(d: D) -> Result<i64, D::Error> {
    int(d)
}

/// An `i32` from a number or a numeric string; null is 0.
pub fn i32<'de, D: Deserializer<'de>>(d: D) -> Result<i32, D::Error> {
    let v = int(d)?;
    i32::try_from(v).map_err(|_| D::Error::custom(format!("out of range for int: {v}")))
}

/// An `f64` from a number or a numeric string; null is 0.
pub fn f64<'de, D: Deserializer<'de>>(d: D) -> Result<f64, D::Error> {
    match Value::deserialize(d)? {
        Value::Null => Ok(0.0),
        Value::Number(n) => Ok(n.as_f64().unwrap_or(0.0)),
        Value::String(s) => s
            .trim()
            .parse()
            .map_err(|_| D::Error::custom("not a number")),
        _ => Err(D::Error::custom("not a number")),
    }
}

/// A boolean from `true`/`false`, `"true"` (any case), `"1"`/`"0"` or a number; null is false.
pub fn bool<'de, D: Deserializer<'de>>(d: D) -> Result<bool, D::Error> {
    Ok(match Value::deserialize(d)? {
        Value::Bool(b) => b,
        Value::String(s) => crate::codec::header::parse_bool(&s),
        Value::Number(n) => n.as_f64().map(|f| f != 0.0).unwrap_or(false),
        _ => false,
    })
}

/// A string; numbers and booleans are stringified, null is empty.
pub fn string<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    match Value::deserialize(d)? {
        Value::Null => Ok(String::new()),
        Value::String(s) => Ok(s),
        Value::Number(n) => Ok(n.to_string()),
        Value::Bool(b) => Ok(b.to_string()),
        _ => Err(D::Error::custom("expected a string")),
    }
}

/// An optional string; null is `None`, numbers are stringified.
pub fn opt_string<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    match Value::deserialize(d)? {
        Value::Null => Ok(None),
        Value::String(s) => Ok(Some(s)),
        Value::Number(n) => Ok(Some(n.to_string())),
        Value::Bool(b) => Ok(Some(b.to_string())),
        _ => Err(D::Error::custom("expected a string")),
    }
}

/// A list of strings (a Java `Set<String>` or `List<String>`); null is empty.
pub fn strings<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    match Value::deserialize(d)? {
        Value::Null => Ok(Vec::new()),
        Value::Array(items) => items
            .into_iter()
            .map(|v| match v {
                Value::String(s) => Ok(s),
                Value::Number(n) => Ok(n.to_string()),
                _ => Err(D::Error::custom("expected strings")),
            })
            .collect(),
        _ => Err(D::Error::custom("expected an array")),
    }
}

/// A list of `i32` (a Java `Set<Integer>`), numbers or numeric strings; null is empty.
pub fn i32s<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<i32>, D::Error> {
    match Value::deserialize(d)? {
        Value::Null => Ok(Vec::new()),
        Value::Array(items) => items
            .into_iter()
            .map(|v| i32(v).map_err(D::Error::custom))
            .collect(),
        _ => Err(D::Error::custom("expected an array")),
    }
}

/// A list of structs; null is empty.
pub fn list<'de, D: Deserializer<'de>, T: serde::de::DeserializeOwned>(
    d: D,
) -> Result<Vec<T>, D::Error> {
    match Value::deserialize(d)? {
        Value::Null => Ok(Vec::new()),
        v => serde_json::from_value(v).map_err(D::Error::custom),
    }
}

fn java_enum<'de, D: Deserializer<'de>>(d: D, names: &[&str]) -> Result<String, D::Error> {
    match Value::deserialize(d)? {
        Value::Null => Ok(String::new()),
        Value::String(s) => match s.trim().parse::<usize>() {
            Ok(i) => names
                .get(i)
                .map(|n| n.to_string())
                .ok_or_else(|| D::Error::custom("bad ordinal")),
            Err(_) => Ok(s),
        },
        Value::Number(n) => n
            .as_u64()
            .and_then(|i| names.get(i as usize))
            .map(|n| n.to_string())
            .ok_or_else(|| D::Error::custom("bad ordinal")),
        _ => Err(D::Error::custom("expected an enum name or ordinal")),
    }
}

/// Java `ConsumeType` ordinals.
pub const CONSUME_TYPES: [&str; 2] = ["CONSUME_ACTIVELY", "CONSUME_PASSIVELY"];
/// Java `MessageModel` ordinals.
pub const MESSAGE_MODELS: [&str; 2] = ["BROADCASTING", "CLUSTERING"];
/// Java `ConsumeFromWhere` ordinals (4.9.7, deprecated values included).
pub const CONSUME_FROM_WHERE: [&str; 6] = [
    "CONSUME_FROM_LAST_OFFSET",
    "CONSUME_FROM_LAST_OFFSET_AND_FROM_MIN_WHEN_BOOT_FIRST",
    "CONSUME_FROM_MIN_OFFSET",
    "CONSUME_FROM_MAX_OFFSET",
    "CONSUME_FROM_FIRST_OFFSET",
    "CONSUME_FROM_TIMESTAMP",
];
/// Java `LanguageCode` ordinals.
pub use crate::codec::command::LANGUAGES;

/// `ConsumeType` by name or ordinal, normalized to the name.
pub fn consume_type<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    java_enum(d, &CONSUME_TYPES)
}
/// `MessageModel` by name or ordinal.
pub fn message_model<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    java_enum(d, &MESSAGE_MODELS)
}
/// `ConsumeFromWhere` by name or ordinal.
pub fn consume_from_where<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    java_enum(d, &CONSUME_FROM_WHERE)
}
/// Java `MessageRequestMode` ordinals.
pub const REQUEST_MODES: [&str; 2] = ["PULL", "POP"];
/// `MessageRequestMode` by name or ordinal.
pub fn request_mode<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    java_enum(d, &REQUEST_MODES)
}
/// `LanguageCode` by name or ordinal.
pub fn language<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    java_enum(d, &LANGUAGES)
}
