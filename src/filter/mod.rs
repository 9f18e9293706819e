//! Message filters. Pure code: no actix, no sled, no I/O, no clock.
pub mod sql92;
