//! Command-line tools built into the `ferrocket` binary.
pub mod admin;
