//! Streaming decode of the JSON header straight into a [`RemotingCommand`] (no intermediate
//! `serde_json::Value` tree for the common case): the hot path of every request.
use super::command::{language_name, RemotingCommand, SerializeType, MAX_EXT_FIELDS};
use super::ext::ExtFields;
use super::error::CodecError;
use bytes::Bytes;
use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::Value;
use std::fmt;

/// A scalar as a string: numbers and booleans stringified, null → `None`, nested values as
/// their JSON text.
struct Scalar(Option<String>);

impl<'de> Deserialize<'de> for Scalar {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Scalar;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a JSON value")
            }
            fn visit_str<E>(self, s: &str) -> Result<Scalar, E> {
                Ok(Scalar(Some(s.to_owned())))
            }
            fn visit_string<E>(self, s: String) -> Result<Scalar, E> {
                Ok(Scalar(Some(s)))
            }
            fn visit_i64<E>(self, v: i64) -> Result<Scalar, E> {
                Ok(Scalar(Some(v.to_string())))
            }
            fn visit_u64<E>(self, v: u64) -> Result<Scalar, E> {
                Ok(Scalar(Some(v.to_string())))
            }
            fn visit_f64<E>(self, v: f64) -> Result<Scalar, E> {
                let s = serde_json::Number::from_f64(v).map(|n| n.to_string());
                Ok(Scalar(Some(s.unwrap_or_else(|| v.to_string()))))
            }
            fn visit_bool<E>(self, v: bool) -> Result<Scalar, E> {
                Ok(Scalar(Some(v.to_string())))
            }
            fn visit_unit<E>(self) -> Result<Scalar, E> {
                Ok(Scalar(None))
            }
            fn visit_none<E>(self) -> Result<Scalar, E> {
                Ok(Scalar(None))
            }
            fn visit_map<A: MapAccess<'de>>(self, m: A) -> Result<Scalar, A::Error> {
                let v = Value::deserialize(de::value::MapAccessDeserializer::new(m))?;
                Ok(Scalar(Some(v.to_string())))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, s: A) -> Result<Scalar, A::Error> {
                let v = Value::deserialize(de::value::SeqAccessDeserializer::new(s))?;
                Ok(Scalar(Some(v.to_string())))
            }
        }
        d.deserialize_any(V)
    }
}

/// `extFields`: an object of scalars (null members dropped), or null. With more than
/// [`MAX_EXT_FIELDS`] members, `Err(count)`: the rest is skipped unhashed, only counted.
struct Ext(Result<Option<ExtFields>, usize>);

impl<'de> Deserialize<'de> for Ext {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Ext;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("extFields as an object")
            }
            fn visit_unit<E>(self) -> Result<Ext, E> {
                Ok(Ext(Ok(None)))
            }
            fn visit_none<E>(self) -> Result<Ext, E> {
                Ok(Ext(Ok(None)))
            }
            fn visit_map<A: MapAccess<'de>>(self, mut m: A) -> Result<Ext, A::Error> {
                let mut ext = ExtFields::with_capacity(m.size_hint().unwrap_or(8).min(MAX_EXT_FIELDS));
                let mut count = 0usize;
                while count < MAX_EXT_FIELDS {
                    let Some((k, v)) = m.next_entry::<String, Scalar>()? else { return Ok(Ext(Ok(Some(ext)))) };
                    count += 1;
                    if let Some(s) = v.0 {
                        ext.insert(k, s);
                    }
                }
                while m.next_entry::<de::IgnoredAny, de::IgnoredAny>()?.is_some() {
                    count += 1;
                }
                Ok(Ext(if count > MAX_EXT_FIELDS { Err(count) } else { Ok(Some(ext)) }))
            }
        }
        d.deserialize_any(V)
    }
}

#[derive(serde::Deserialize)]
#[serde(field_identifier, rename_all = "camelCase")]
enum Field {
    Code,
    ExtFields,
    Flag,
    Language,
    Opaque,
    Remark,
    Version,
    #[serde(other)]
    Other,
}

#[derive(Default)]
struct Raw {
    code: Option<Value>,
    version: Option<Value>,
    opaque: Option<Value>,
    flag: Option<Value>,
    language: Option<Value>,
    remark: Option<String>,
    ext: Option<Result<Option<ExtFields>, usize>>,
}

struct RawVisitor;

impl<'de> Visitor<'de> for RawVisitor {
    type Value = Raw;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON object header")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut m: A) -> Result<Raw, A::Error> {
        let mut r = Raw::default();
        while let Some(k) = m.next_key::<Field>()? {
            match k {
                Field::Code => r.code = Some(m.next_value()?),
                Field::Version => r.version = Some(m.next_value()?),
                Field::Opaque => r.opaque = Some(m.next_value()?),
                Field::Flag => r.flag = Some(m.next_value()?),
                Field::Language => r.language = Some(m.next_value()?),
                Field::Remark => r.remark = m.next_value::<Scalar>()?.0,
                Field::ExtFields => r.ext = Some(m.next_value::<Ext>()?.0),
                Field::Other => {
                    m.next_value::<de::IgnoredAny>()?;
                }
            }
        }
        Ok(r)
    }
}

fn json_i32(v: Option<&Value>, field: &'static str) -> Result<i32, CodecError> {
    let bad = |value: String| CodecError::InvalidField { field, value };
    match v {
        None | Some(Value::Null) => Ok(0),
        Some(Value::Number(n)) => n
            .as_i64()
            .and_then(|x| i32::try_from(x).ok())
            .ok_or_else(|| bad(n.to_string())),
        Some(Value::String(s)) => s.trim().parse::<i32>().map_err(|_| bad(s.clone())),
        Some(other) => Err(bad(other.to_string())),
    }
}

/// Decode a JSON (type 0) header. Numbers and booleans in `extFields` become strings; unknown
/// members are ignored; trailing whitespace (the C++ client's newline) is accepted.
pub fn decode_json_header(header: &[u8]) -> Result<RemotingCommand, CodecError> {
    let bad = |e: serde_json::Error| CodecError::BadJsonHeader(e.to_string());
    let mut de = serde_json::Deserializer::from_slice(header);
    let raw = de.deserialize_map(RawVisitor).map_err(bad)?;
    de.end().map_err(bad)?;
    let ext_fields = match raw.ext {
        None => None,
        Some(Ok(ext)) => ext,
        Some(Err(count)) => return Err(CodecError::TooManyExtFields { count, max: MAX_EXT_FIELDS }),
    };
    let language = match raw.language {
        Some(Value::String(s)) => s.into(),
        Some(Value::Number(n)) => language_name(n.as_u64().unwrap_or(7).min(255) as u8).into(),
        _ => "OTHER".into(),
    };
    Ok(RemotingCommand {
        code: json_i32(raw.code.as_ref(), "code")?,
        language,
        version: json_i32(raw.version.as_ref(), "version")?,
        opaque: json_i32(raw.opaque.as_ref(), "opaque")?,
        flag: json_i32(raw.flag.as_ref(), "flag")?,
        remark: raw.remark,
        ext_fields,
        body: Bytes::new(),
        serialize_type: SerializeType::Json,
    })
}
