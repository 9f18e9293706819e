//! ferrocket: a message broker that speaks Apache RocketMQ's remoting protocol.
//!
//! Layers (each imports only the ones above it):
//! 1. [`codec`]: pure bytes <-> typed commands, headers, bodies, message formats.
//! 2. [`store`]: commit log, per-queue indexes, sled metadata. The only code that touches disk.
//! 3. `actors`: one file per actor (listener, connection, dispatch, topic, queue, consumer group,
//!    name server).
//! 4. [`broker`]: wiring, and the embedding API used by tests and other programs.
pub mod client;
pub mod codec;
pub mod config;
pub mod store;
pub mod actors;
pub mod bench;
pub mod broker;
pub mod filter;
