//! The edge: sockets in, frames out.
//!
//! | file | what |
//! |---|---|
//! | `listener.rs` | accept loop; spreads connections over the worker arbiters (one per core) |
//! | `connection.rs` | one actor per TCP connection: the framed codec, back-pressure, broker-to-client requests |
//! | `gate.rs` | the read-side pause: a connection stops reading while too many answers are pending |
//! | `tls.rs` | rustls: `tls.server.mode`, certificate files and their reload, TLS told from plaintext by the first byte |
//! | `spin.rs` | `idleSpin`: a worker thread that has just answered polls its sockets a moment before it sleeps, for a window that adapts to how soon the next request comes |
//! | `ha.rs` | the HA port: a master serves its slaves the commit log, a slave follows its master |
//! | `namesrv_link.rs` | the broker's long-lived connection to one name server (registration, unregistration) |
pub mod connection;
pub mod gate;
pub mod ha;
pub mod listener;
pub mod namesrv_link;
pub mod spin;
pub mod tls;
