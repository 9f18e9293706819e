//! The wire codec: pure translation between bytes and typed RocketMQ remoting commands.
//!
//! No actix, no sled, no sockets, no clock. Everything here is a function of its input, so every
//! wire type is tested by round trips, every-prefix truncation, golden frames captured from the
//! Java 4.9.7 client (`tests/fixtures/frames/`) and hostile input.
//!
//! # Frame
//!
//! ```text
//!  0               4   5           8
//! +---------------+---+-----------+------------------------+-----------------+
//! | frame length  | T | hdr len   | header (hdr len bytes) | body            |
//! |   i32 BE      |u8 |  u24 BE   |                        | (rest of frame) |
//! +---------------+---+-----------+------------------------+-----------------+
//!  frame length = 1 + 3 + hdr len + body length (the 4 length bytes are not counted)
//!  T = 0: JSON header {"code","extFields"{..},"flag","language","opaque","remark"?,
//!         "serializeTypeCurrentRPC","version"}
//!  T = 1: binary header: code i16 | language u8 | version i16 | opaque i32 | flag i32 |
//!         remark (i32 len + UTF-8) | extFields (i32 len, then i16 key len + key + i32 val len + val)*
//!  flag bit 0 = response, bit 1 = oneway; a response echoes its request's opaque.
//! ```
//!
//! # Modules
//!
//! | module | contents |
//! |---|---|
//! | [`frame`] | [`RemotingCodec`] (tokio-util `Decoder`/`Encoder`), JSON and binary header encode/decode, limits |
//! | [`command`] | [`RemotingCommand`], flags, language codes |
//! | [`ext`] | [`ExtFields`]: the custom header, a list of names and values that share the frame's bytes |
//! | [`codes`] | [`RequestCode`] (enum with an `Unknown` arm) and [`response_code`] constants |
//! | [`header`] | [`CommandHeader`] and one typed struct per Java header class; `RemotingCommand::decode_header` / `set_header` |
//! | [`body`] | serde structs for JSON bodies (heartbeat, route, cluster, registration, locks, admin) with `from_json` / `to_json` |
//! | [`json`] | lenient fastjson reader ([`json::parse_lenient`]) and the MessageQueue-keyed map writer |
//! | [`message`] | properties string, tag hash codes, batch bodies, offset msg ids, sysFlag / pull-flag / property-name constants |
//! | [`ha`] | the master/slave HA stream of 4.x replication: offset reports and master frames |
//! | [`error`] | [`CodecError`], the one error type of this layer |
//!
//! The stored-message layout (pull bodies) lives in `stored`, owned by the store.
//!
//! # Limits
//!
//! Frames are limited to `RemotingCodec::max_frame` (default 16 MiB including the length
//! prefix, like Java) before anything is allocated, on decode and on encode; a partial frame
//! returns `Ok(None)` and consumes nothing; headers are at most 2^24 - 1 bytes; JSON bodies nest at
//! most [`json::MAX_DEPTH`] levels.
pub mod body;
pub mod codes;
pub mod command;
pub mod error;
pub mod ext;
pub mod frame;
mod frame_json;
pub mod ha;
pub mod header;
pub mod json;
pub mod message;
pub mod sign;
pub mod recall;
pub mod stored;
pub mod trace;

pub use codes::{response_code, RequestCode};
pub use command::{RemotingCommand, SerializeType, MAX_EXT_FIELDS};
pub use ext::{ExtFields, Field};
pub use error::CodecError;
pub use frame::RemotingCodec;
pub use header::CommandHeader;
