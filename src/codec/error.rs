//! Errors of the pure wire layer.
use thiserror::Error;

/// Everything that can go wrong turning bytes into typed commands (and back).
#[derive(Debug, Error)]
pub enum CodecError {
    #[error("frame length {0} is negative or smaller than the 4-byte header prefix")]
    BadFrameLength(i64),
    #[error("frame length {len} exceeds the limit of {max} bytes")]
    FrameTooLarge { len: usize, max: usize },
    #[error("header length {hdr} does not fit in frame of {frame} bytes")]
    BadHeaderLength { hdr: usize, frame: usize },
    #[error("unknown serialize type {0}")]
    BadSerializeType(u8),
    #[error("malformed JSON header: {0}")]
    BadJsonHeader(String),
    #[error("malformed binary header: {0}")]
    BadBinaryHeader(&'static str),
    #[error("missing header field `{0}`")]
    MissingField(&'static str),
    #[error("header field `{field}` has invalid value `{value}`")]
    InvalidField { field: &'static str, value: String },
    /// A header with more `extFields` than [`MAX_EXT_FIELDS`](super::command::MAX_EXT_FIELDS);
    /// `count` is how many the header holds.
    #[error("header has {count} extFields, more than the limit of {max}")]
    TooManyExtFields { count: usize, max: usize },
    #[error("malformed body: {0}")]
    BadBody(String),
    #[error("I/O error: {0}")]
    Io(#[from] std::io::Error),
}
