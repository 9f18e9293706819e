//! [`RemotingCommand`]: one request or response of the remoting protocol.
use bytes::Bytes;
use std::borrow::Cow;

/// Flag bit 0: this command is a response.
pub const FLAG_RESPONSE: i32 = 1;
/// Flag bit 1: the sender expects no response.
pub const FLAG_ONEWAY: i32 = 2;
/// The version ferrocket puts in everything it sends (V4_9_7).
pub const OUR_VERSION: i32 = 407;

/// Header encoding of a frame (byte 4 of the frame).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SerializeType {
    #[default]
    Json = 0,
    RocketMq = 1,
}

/// Language codes; JSON headers carry the name, binary headers the number.
pub const LANGUAGES: [&str; 14] = [
    "JAVA", "CPP", "DOTNET", "PYTHON", "DELPHI", "ERLANG", "RUBY", "OTHER", "HTTP", "GO", "PHP",
    "OMS", "RUST", "NODE_JS",
];

/// Number of a language name (unknown names become OTHER).
pub fn language_code(name: &str) -> u8 {
    LANGUAGES.iter().position(|l| *l == name).unwrap_or(7) as u8
}

/// Name of a language number (unknown numbers become OTHER).
pub fn language_name(code: u8) -> &'static str {
    LANGUAGES.get(code as usize).copied().unwrap_or("OTHER")
}

pub use super::ext::{ExtFields, Field};

/// Most `extFields` a decoded header may carry. RocketMQ's request headers have fewer than 40
/// fields (SEND_MESSAGE has 13, the widest admin headers about 20); a frame with more does not
/// decode ([`CodecError::TooManyExtFields`](super::CodecError::TooManyExtFields)).
pub const MAX_EXT_FIELDS: usize = 64;

/// One remoting command, request or response.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct RemotingCommand {
    pub code: i32,
    /// Language name as sent (`"JAVA"`, `"CPP"`, ...); a binary header's language number
    /// becomes a name without an allocation.
    pub language: Cow<'static, str>,
    pub version: i32,
    pub opaque: i32,
    pub flag: i32,
    pub remark: Option<String>,
    /// `None` when the sender attached no custom header (member omitted).
    pub ext_fields: Option<ExtFields>,
    pub body: Bytes,
    /// Encoding of the header this command came in or will go out with.
    pub serialize_type: SerializeType,
}

impl RemotingCommand {
    /// A new request from ferrocket (broker to client, or our own client).
    pub fn request(code: i32, opaque: i32) -> Self {
        RemotingCommand {
            code,
            language: "JAVA".into(),
            version: OUR_VERSION,
            opaque,
            ..Default::default()
        }
    }

    /// A oneway request (flag bit 1).
    pub fn oneway(code: i32, opaque: i32) -> Self {
        let mut c = Self::request(code, opaque);
        c.flag = FLAG_ONEWAY;
        c
    }

    /// A response to `req`: same opaque and serialize type, response bit set.
    pub fn response_to(req: &RemotingCommand, code: i32, remark: Option<String>) -> Self {
        Self::response(req.opaque, req.serialize_type, code, remark)
    }

    /// `text`, a value of this command's header, as text of its own: shared with the header's
    /// frame when it is part of it, else a copy.
    pub(crate) fn header_text(&self, text: &str) -> bytestring::ByteString {
        match &self.ext_fields {
            Some(ext) => ext.shared_text(text),
            None => bytestring::ByteString::from(text),
        }
    }

    /// A response to the request `opaque` in `serialize_type`, response bit set.
    pub fn response(opaque: i32, serialize_type: SerializeType, code: i32, remark: Option<String>) -> Self {
        RemotingCommand {
            code,
            language: "JAVA".into(),
            version: OUR_VERSION,
            opaque,
            flag: FLAG_RESPONSE,
            remark,
            ext_fields: None,
            body: Bytes::new(),
            serialize_type,
        }
    }

    pub fn is_response(&self) -> bool {
        self.flag & FLAG_RESPONSE != 0
    }

    pub fn is_oneway(&self) -> bool {
        self.flag & FLAG_ONEWAY != 0
    }

    /// A custom-header value by name.
    pub fn ext(&self, key: &str) -> Option<&str> {
        self.ext_fields.as_ref()?.get(key)
    }

    /// Set a custom-header value (creates the map).
    pub fn set_ext(&mut self, key: impl Into<Field>, value: impl ToString) -> &mut Self {
        self.set_ext_field(key, Field::Owned(value.to_string()))
    }

    /// [`Self::set_ext`] with the value as a [`Field`] (a static or shared one costs no copy).
    pub fn set_ext_field(&mut self, key: impl Into<Field>, value: Field) -> &mut Self {
        self.ext_fields.get_or_insert_with(ExtFields::default).insert(key, value);
        self
    }

    /// Builder form of [`Self::set_ext`].
    pub fn with_ext(mut self, key: impl Into<Field>, value: impl ToString) -> Self {
        self.set_ext(key, value);
        self
    }

    pub fn with_body(mut self, body: impl Into<Bytes>) -> Self {
        self.body = body.into();
        self
    }

    pub fn with_remark(mut self, remark: impl Into<String>) -> Self {
        self.remark = Some(remark.into());
        self
    }
}
