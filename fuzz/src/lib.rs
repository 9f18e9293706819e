//! The fuzz targets, shared with `tests/reliability_fuzz.rs` (which includes `targets.rs` by path).
pub mod targets;
