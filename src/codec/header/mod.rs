//! Typed custom headers (`extFields`): one struct per Java header class, named as in Java.
//!
//! Decoding follows the Java broker, made lenient for other clients: values are strings (numbers and
//! booleans were already stringified by the frame layer); integers may carry surrounding whitespace;
//! booleans are `true` only for `"true"` (any case) or `"1"`; a missing mandatory field is
//! [`CodecError::MissingField`] with the Java field name; an unparsable number is
//! [`CodecError::InvalidField`]; unknown keys are ignored. Encoding writes Java `toString()` forms and
//! omits `None` fields.
use super::command::{ExtFields, RemotingCommand};
use super::error::CodecError;

mod admin;
mod namesrv;
mod offset;
mod ops;
mod pop;
mod pull;
mod send;
mod tx;

pub use admin::*;
pub use namesrv::*;
pub use offset::*;
pub use ops::*;
pub use pop::*;
pub use pull::*;
pub use send::*;
pub use tx::*;

/// A typed view of a command's `extFields`.
pub trait CommandHeader: Sized {
    fn decode(ext: &ExtFields) -> Result<Self, CodecError>;
    fn encode(&self, ext: &mut ExtFields);
}

impl RemotingCommand {
    /// Decode the custom header; a command without `extFields` counts as an empty map.
    pub fn decode_header<T: CommandHeader>(&self) -> Result<T, CodecError> {
        match &self.ext_fields {
            Some(ext) => T::decode(ext),
            None => T::decode(&ExtFields::default()),
        }
    }

    /// Write a custom header into `extFields` (creating the map, so `{}` goes out even when every
    /// field is `None`, as Java does).
    pub fn set_header<T: CommandHeader>(&mut self, h: &T) {
        h.encode(self.ext_fields.get_or_insert_with(ExtFields::default));
    }
}

/// One header field type: how it is read from and written to `extFields`.
pub trait HeaderValue: Sized {
    /// Read a present value.
    fn parse(field: &'static str, raw: &str) -> Result<Self, CodecError>;
    /// Value when the key is absent (`None` = mandatory).
    fn absent() -> Option<Self>;
    /// Java `toString()` form, `None` to omit.
    fn render(&self) -> Option<String>;
    /// [`Self::render`] of a value given away (a string moves into the header, no copy).
    fn into_field(self) -> Option<String> {
        self.render()
    }
}

fn invalid(field: &'static str, raw: &str) -> CodecError {
    CodecError::InvalidField {
        field,
        value: raw.chars().take(64).collect(),
    }
}

/// `raw` without surrounding whitespace; a value that starts and ends with a printable ASCII
/// character (nearly every one) is returned as it is without the Unicode-aware scan of `trim`.
fn trimmed(raw: &str) -> &str {
    let printable = |b: &u8| (b'!'..0x80).contains(b);
    let b = raw.as_bytes();
    match (b.first(), b.last()) {
        (Some(f), Some(l)) if printable(f) && printable(l) => raw,
        _ => raw.trim(),
    }
}

/// Parse a Java `Boolean` leniently: `"true"` (any case, trimmed) and `"1"` are true.
pub fn parse_bool(raw: &str) -> bool {
    let t = trimmed(raw);
    t.eq_ignore_ascii_case("true") || t == "1"
}

impl HeaderValue for String {
    fn parse(_: &'static str, raw: &str) -> Result<Self, CodecError> {
        Ok(raw.to_string())
    }
    fn absent() -> Option<Self> {
        None
    }
    fn render(&self) -> Option<String> {
        Some(self.clone())
    }
    fn into_field(self) -> Option<String> {
        Some(self)
    }
}

/// Text shared with the frame it came in (a send's names and properties, no copy).
impl HeaderValue for bytestring::ByteString {
    fn parse(_: &'static str, raw: &str) -> Result<Self, CodecError> {
        Ok(raw.into())
    }
    fn absent() -> Option<Self> {
        None
    }
    fn render(&self) -> Option<String> {
        Some(self.to_string())
    }
}

/// Plain digits too few to overflow (`max` of them), as nearly every header number is: read
/// without the general parser (a send header has seven numbers).
#[inline]
pub(super) fn plain_digits(b: &[u8], max: usize) -> Option<i64> {
    if b.is_empty() || b.len() > max {
        return None;
    }
    b.iter().try_fold(0i64, |n, &c| {
        let d = c.wrapping_sub(b'0');
        (d <= 9).then_some(n * 10 + d as i64)
    })
}

macro_rules! int_value {
    ($t:ty, $digits:expr) => {
        impl HeaderValue for $t {
            fn parse(field: &'static str, raw: &str) -> Result<Self, CodecError> {
                if let Some(n) = plain_digits(raw.as_bytes(), $digits) {
                    return Ok(n as $t);
                }
                trimmed(raw).parse::<$t>().map_err(|_| invalid(field, raw))
            }
            fn absent() -> Option<Self> {
                None
            }
            fn render(&self) -> Option<String> {
                // without `fmt` (a send's answer renders two numbers)
                Some(itoa::Buffer::new().format(*self).to_owned())
            }
        }
    };
}
// 9 digits fit an i32, 18 an i64
int_value!(i32, 9);
int_value!(i64, 18);

impl HeaderValue for bool {
    fn parse(_: &'static str, raw: &str) -> Result<Self, CodecError> {
        Ok(parse_bool(raw))
    }
    /// An absent Java `Boolean` is null, which every handler treats as false.
    fn absent() -> Option<Self> {
        Some(false)
    }
    fn render(&self) -> Option<String> {
        Some(self.to_string())
    }
}

impl<T: HeaderValue> HeaderValue for Option<T> {
    fn parse(field: &'static str, raw: &str) -> Result<Self, CodecError> {
        T::parse(field, raw).map(Some)
    }
    fn absent() -> Option<Self> {
        Some(None)
    }
    fn render(&self) -> Option<String> {
        self.as_ref().and_then(|v| v.render())
    }
    fn into_field(self) -> Option<String> {
        self.and_then(|v| v.into_field())
    }
}

/// Read one field by its wire name.
pub fn get_field<T: HeaderValue>(ext: &ExtFields, key: &'static str) -> Result<T, CodecError> {
    field_from(ext.get(key), key)
}

/// Read a field that falls back to `default` when absent (Java fields with initialisers).
pub fn get_field_or<T: HeaderValue>(
    ext: &ExtFields,
    key: &'static str,
    default: T,
) -> Result<T, CodecError> {
    field_from_or(ext.get(key), key, default)
}

/// [`get_field`] of a value already looked up (`None`: absent).
pub fn field_from<T: HeaderValue>(raw: Option<&str>, key: &'static str) -> Result<T, CodecError> {
    match raw {
        Some(raw) => T::parse(key, raw),
        None => T::absent().ok_or(CodecError::MissingField(key)),
    }
}

/// [`get_field_or`] of a value already looked up.
pub fn field_from_or<T: HeaderValue>(raw: Option<&str>, key: &'static str, default: T) -> Result<T, CodecError> {
    match raw {
        Some(raw) => T::parse(key, raw),
        None => Ok(default),
    }
}

/// Write one field by its wire name (omitted when `render` gives `None`).
pub fn put_field<T: HeaderValue>(ext: &mut ExtFields, key: &'static str, v: &T) {
    if let Some(s) = v.render() {
        ext.insert(key, s);
    }
}

/// [`put_field`] of a value given away ([`HeaderValue::into_field`]).
pub fn put_field_owned<T: HeaderValue>(ext: &mut ExtFields, key: &'static str, v: T) {
    if let Some(s) = v.into_field() {
        ext.insert(key, s);
    }
}

/// Declare a header struct whose fields map one-to-one to `extFields` keys.
/// `field: Type = "javaName"` (mandatory unless `Option`/`bool`), or `= "javaName" or default`.
macro_rules! header {
    ($(#[$m:meta])* $name:ident {
        $($(#[$fm:meta])* $field:ident : $ty:ty = $key:literal $(or $def:expr)?),* $(,)?
    }) => {
        $(#[$m])*
        #[derive(Debug, Clone, PartialEq, Eq, Default)]
        pub struct $name {
            $($(#[$fm])* pub $field: $ty,)*
        }

        impl $crate::codec::header::CommandHeader for $name {
            #[allow(unused_variables)]
            fn decode(ext: &$crate::codec::command::ExtFields)
                -> Result<Self, $crate::codec::error::CodecError> {
                Ok($name {
                    $($field: header!(@get ext, $key, $ty $(, $def)?),)*
                })
            }
            #[allow(unused_variables)]
            fn encode(&self, ext: &mut $crate::codec::command::ExtFields) {
                $($crate::codec::header::put_field(ext, $key, &self.$field);)*
            }
        }

        impl $name {
            /// [`CommandHeader::encode`](crate::codec::header::CommandHeader::encode) of a header
            /// given away: its strings move into `ext` without a copy.
            #[allow(dead_code)]
            pub fn into_ext(self, ext: &mut $crate::codec::command::ExtFields) {
                $($crate::codec::header::put_field_owned(ext, $key, self.$field);)*
            }
        }
    };
    (@get $ext:ident, $key:literal, $ty:ty) => {
        $crate::codec::header::get_field::<$ty>($ext, $key)?
    };
    (@get $ext:ident, $key:literal, $ty:ty, $def:expr) => {
        $crate::codec::header::get_field_or::<$ty>($ext, $key, $def)?
    };
}
pub(crate) use header;

#[cfg(test)]
mod tests;
