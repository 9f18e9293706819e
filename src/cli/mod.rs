//! Command-line parts of the `ferrocket` binary: the server's arguments, signal handling, and the
//! admin tool.
pub mod admin;
pub mod args;
pub mod signals;
