//! Actors and the shared state they own.
//!
//! | actor | file | owns |
//! |---|---|---|
//! | listener | `listener.rs` | accept loop; spreads connections over the worker arbiters (one per core) |
//! | connection | `connection.rs` | one per TCP connection: the framed codec, limits, broker-to-client requests |
//! | dispatch | `dispatch/` | one handler per request kind, called by the connection on its own thread |
//! | topic | `topic.rs` | the topic table; registers changes with the name servers |
//! | queue | `queue.rs` | held (long-polling) pulls, woken when messages arrive |
//! | consumer group | `consumer_group.rs` | clients, subscriptions, membership notifications, expiry, queue locks |
//! | name server | `namesrv.rs` | broker registrations, routes, KV config, broker expiry |
//! | scheduler | `scheduler.rs` | delayed messages: delivery of each delay level when due |
//! | transaction checker | `transaction.rs` | half messages: commit/rollback once, check-back |
//!
//! Hot paths (send, pull) never wait on another actor: the connection calls the store and reads the
//! shared tables directly, then tells the queue actor with a fire-and-forget message.
pub mod connection;
pub mod consumer_group;
pub mod context;
pub mod dispatch;
pub mod listener;
pub mod namesrv;
pub mod queue;
pub mod scheduler;
pub mod topic;
pub mod transaction;

use crate::codec::message::{prop, tag_hash_code, Properties};
use crate::codec::RemotingCommand;
use actix::prelude::*;
use std::net::SocketAddr;
use tokio::sync::oneshot;

/// A command for a connection to write: a response, or a broker-to-client request.
/// When `reply` is set, the connection assigns an opaque, remembers the request, and routes the
/// client's response there.
#[derive(Message)]
#[rtype(result = "()")]
pub struct Outbound {
    pub cmd: RemotingCommand,
    pub reply: Option<oneshot::Sender<RemotingCommand>>,
}

/// How other parts of the broker reach one client connection.
#[derive(Clone)]
pub struct ConnHandle {
    pub id: u64,
    pub peer: SocketAddr,
    pub out: Recipient<Outbound>,
}

impl ConnHandle {
    /// Send a command over this connection (fire and forget).
    pub fn send(&self, cmd: RemotingCommand) {
        self.out.do_send(Outbound { cmd, reply: None });
    }

    /// Send a request to the client and get its response (None on timeout or closed connection).
    pub async fn request(
        &self,
        cmd: RemotingCommand,
        timeout: std::time::Duration,
    ) -> Option<RemotingCommand> {
        let (tx, rx) = oneshot::channel();
        self.out.do_send(Outbound { cmd, reply: Some(tx) });
        match tokio::time::timeout(timeout, rx).await {
            Ok(Ok(resp)) => Some(resp),
            _ => None,
        }
    }
}

impl std::fmt::Debug for ConnHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "conn#{}({})", self.id, self.peer)
    }
}

/// What the store indexes of a message, from its properties: the tags code (Java hash of `TAGS`,
/// 0 without), the `KEYS` (space separated) and the unique id (`UNIQ_KEY`).
pub fn index_fields(props: &Properties) -> (i64, Vec<String>, Option<String>) {
    let tags_code = props.get(prop::TAGS).map(tag_hash_code).unwrap_or(0);
    let keys = props
        .get(prop::KEYS)
        .map(|k| k.split(' ').filter(|s| !s.is_empty()).map(String::from).collect())
        .unwrap_or_default();
    (tags_code, keys, props.get(prop::UNIQ_KEY).map(String::from))
}
