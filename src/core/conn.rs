//! A client connection as the broker logic sees it: an id, a peer address and an outlet to write
//! to. The socket side (`net::connection`) implements [`Outlet`]; `core` never sees a socket or an
//! actor.
use crate::codec::RemotingCommand;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

/// A future answer to a broker-to-client request (`None`: timed out or connection closed).
pub type Answer = Pin<Box<dyn Future<Output = Option<RemotingCommand>> + Send>>;

/// Where commands for one connection go.
pub trait Outlet: Send + Sync {
    /// Write a command (fire and forget).
    fn send(&self, cmd: RemotingCommand);
    /// Send a request to the client and wait for its response.
    fn request(&self, cmd: RemotingCommand, timeout: Duration) -> Answer;
    /// Whether the connection is still open.
    fn connected(&self) -> bool;
}

/// How other parts of the broker reach one client connection.
#[derive(Clone)]
pub struct ConnHandle {
    pub id: u64,
    pub peer: SocketAddr,
    pub out: Arc<dyn Outlet>,
}

impl ConnHandle {
    /// Send a command over this connection (fire and forget).
    pub fn send(&self, cmd: RemotingCommand) {
        self.out.send(cmd);
    }

    /// Send a request to the client and get its response (None on timeout or closed connection).
    pub fn request(&self, cmd: RemotingCommand, timeout: Duration) -> Answer {
        self.out.request(cmd, timeout)
    }

    pub fn connected(&self) -> bool {
        self.out.connected()
    }
}

impl std::fmt::Debug for ConnHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "conn#{}({})", self.id, self.peer)
    }
}
