//! ferrocket: a message broker that speaks Apache RocketMQ's remoting protocol.
//!
//! Floors, each importing only the ones below it (docs/architecture.md draws them):
//! 1. [`codec`], [`config`], [`filter`]: pure. Bytes <-> typed frames, headers, bodies, message
//!    formats; the typed config tree; the SQL92 filter compiler.
//! 2. [`store`]: commit log, per-queue indexes, key index, sled metadata with typed accessors.
//!    The only code that touches disk.
//! 3. [`core`]: the broker's logic without sockets, actors or clocks: tables, clients, `read_queue`,
//!    `append` (store, then wake), redirects, transaction and schedule decisions.
//! 4. [`handlers`]: one small file per request family, one signature, typed errors.
//! 5. [`net`]: listener, connection (framed codec, back-pressure), registration client;
//!    [`http`]: `/metrics`, `/healthz`, `/readyz` (an edge beside `net`, reading `core`);
//!    [`grpc`], the 5.x gRPC front end (`apache.rocketmq.v2.MessagingService`), which calls `core`
//!    and never the remoting handlers.
//! 6. [`actors`]: thin shells over `core` that own timers, parked pulls and expiry.
//! 7. [`broker`]: wiring, and the embedding API used by tests and other programs.
//!
//! [`client`] is a raw-protocol client (tests, the admin CLI, the load generator).
pub mod codec;
pub mod config;
pub mod filter;
pub mod store;
pub mod core;
pub mod handlers;
pub mod net;
pub mod grpc;
pub mod http;
pub mod actors;
pub mod broker;
pub mod client;
