//! The wire codec: pure translation between bytes and typed RocketMQ remoting commands.
//!
//! No actix, no sled, no sockets, no clock. See `frame` for the frame layout.
pub mod command;
pub mod error;
pub mod frame;
pub mod stored;

pub use command::{RemotingCommand, SerializeType};
pub use error::CodecError;
pub use frame::RemotingCodec;
