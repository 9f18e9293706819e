//! The wire codec: pure translation between bytes and typed RocketMQ remoting commands.
//!
//! No actix, no sled, no sockets, no clock. See `frame` for the frame layout.
pub mod body;
pub mod codes;
pub mod command;
pub mod error;
pub mod frame;
mod frame_json;
pub mod header;
pub mod json;
pub mod message;

pub use codes::{response_code, RequestCode};
pub use command::{RemotingCommand, SerializeType};
pub use error::CodecError;
pub use frame::RemotingCodec;
pub use header::CommandHeader;
