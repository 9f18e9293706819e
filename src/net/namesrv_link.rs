//! The broker's long-lived connection to one name server, as a Java broker keeps one.
//!
//! A name server ties a broker's liveness to the connection its registration arrived on: the Java
//! name server (and ferrocket's) drops the broker from every route when that connection closes. So
//! registrations, heartbeats and the final unregistration all travel over one connection per name
//! server, held open by a task that owns it:
//!
//! - it connects at once and, whenever the connection is lost, reconnects with back-off (100 ms
//!   doubling up to 5 s), logging a warning once per outage and calling `on_reconnect` when the
//!   connection is back, so the registrar registers everything again at once;
//! - requests are written in the order they are made and their answers matched by opaque;
//! - while the name server cannot be reached, a request fails at once instead of waiting.
//!
//! A slave's metadata sync (`actors/slave_sync.rs`) keeps the same kind of link to its master;
//! [`Peer`] says which one a link is, for its log lines.
use crate::codec::{RemotingCodec, RemotingCommand};
use futures_util::{SinkExt, StreamExt};
use std::collections::HashMap;
use std::io;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{mpsc, oneshot};
use tokio_util::codec::Framed;

const BACKOFF_MIN: Duration = Duration::from_millis(100);
const BACKOFF_MAX: Duration = Duration::from_secs(5);
const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);

/// Called (on the link's task) when a connection is re-established after being lost.
pub type OnReconnect = Arc<dyn Fn(&str) + Send + Sync>;

/// Who is at the other end of a link (its log lines and errors name it).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Peer {
    NameServer,
    /// A slave's master (the metadata sync).
    Master,
}

impl Peer {
    fn name(self) -> &'static str {
        match self {
            Peer::NameServer => "name server",
            Peer::Master => "master",
        }
    }

    /// What losing the connection means, for the warning.
    fn when_lost(self) -> &'static str {
        match self {
            Peer::NameServer => "it drops this broker from its routes; reconnecting",
            Peer::Master => "metadata sync paused; reconnecting",
        }
    }
}

struct Job {
    cmd: RemotingCommand,
    done: oneshot::Sender<io::Result<RemotingCommand>>,
}

/// A handle on the connection to one name server; the task ends when the last handle is dropped
/// (closing the connection).
#[derive(Clone)]
pub struct NamesrvLink {
    addr: Arc<str>,
    peer: Peer,
    jobs: mpsc::UnboundedSender<Job>,
}

impl NamesrvLink {
    /// Start the link's task to a name server on the current runtime (call it inside one).
    pub fn spawn(addr: &str, on_reconnect: OnReconnect) -> NamesrvLink {
        Self::spawn_to(addr, Peer::NameServer, on_reconnect)
    }

    /// [`NamesrvLink::spawn`] to another kind of peer.
    pub fn spawn_to(addr: &str, peer: Peer, on_reconnect: OnReconnect) -> NamesrvLink {
        let (jobs, rx) = mpsc::unbounded_channel();
        let addr: Arc<str> = Arc::from(addr);
        tokio::spawn(run(addr.clone(), peer, rx, on_reconnect));
        NamesrvLink { addr, peer, jobs }
    }

    pub fn addr(&self) -> &str {
        &self.addr
    }

    /// Send a request over the connection and wait (at most `timeout`) for its answer.
    pub async fn request(
        &self,
        cmd: RemotingCommand,
        timeout: Duration,
    ) -> io::Result<RemotingCommand> {
        let (done, answer) = oneshot::channel();
        self.jobs
            .send(Job { cmd, done })
            .map_err(|_| io::Error::new(io::ErrorKind::NotConnected, format!("{} link stopped", self.peer.name())))?;
        match tokio::time::timeout(timeout, answer).await {
            Ok(Ok(result)) => result,
            Ok(Err(_)) => Err(io::Error::new(
                io::ErrorKind::ConnectionAborted,
                format!("connection to the {} lost", self.peer.name()),
            )),
            Err(_) => Err(io::Error::new(
                io::ErrorKind::TimedOut,
                format!("no answer within {timeout:?}"),
            )),
        }
    }
}

type Conn = Framed<tokio::net::TcpStream, RemotingCodec>;

async fn connect(addr: &str) -> io::Result<Conn> {
    let stream = tokio::time::timeout(CONNECT_TIMEOUT, tokio::net::TcpStream::connect(addr))
        .await
        .map_err(|_| io::Error::new(io::ErrorKind::TimedOut, "connect timed out"))??;
    stream.set_nodelay(true)?;
    Ok(Framed::new(stream, RemotingCodec::default()))
}

async fn run(addr: Arc<str>, peer: Peer, mut jobs: mpsc::UnboundedReceiver<Job>, on_reconnect: OnReconnect) {
    let what = peer.name();
    let mut backoff = BACKOFF_MIN;
    let mut was_connected = false;
    let mut outage_logged = false;
    loop {
        match connect(&addr).await {
            Ok(conn) => {
                if was_connected || outage_logged {
                    tracing::info!(addr = %addr, "connection to the {what} re-established");
                    on_reconnect(&addr);
                } else {
                    tracing::debug!(addr = %addr, "connected to the {what}");
                }
                was_connected = true;
                backoff = BACKOFF_MIN;
                match serve(&addr, peer, conn, &mut jobs).await {
                    Ended::Dropped => return,
                    Ended::Lost(why) => {
                        tracing::warn!(addr = %addr, reason = %why, "connection to the {what} lost: {}", peer.when_lost());
                        outage_logged = true;
                    }
                }
            }
            Err(e) => {
                if !outage_logged {
                    tracing::warn!(addr = %addr, error = %e, "cannot connect to the {what}; retrying with back-off");
                    outage_logged = true;
                }
            }
        }
        // Not connected: fail requests at once until the back-off has passed.
        let retry = tokio::time::sleep(backoff);
        tokio::pin!(retry);
        loop {
            tokio::select! {
                _ = &mut retry => break,
                job = jobs.recv() => match job {
                    Some(job) => {
                        let _ = job.done.send(Err(io::Error::new(io::ErrorKind::NotConnected, format!("{what} {addr} not connected"))));
                    }
                    None => return,
                },
            }
        }
        backoff = (backoff * 2).min(BACKOFF_MAX);
    }
}

enum Ended {
    /// Every handle was dropped: stop.
    Dropped,
    /// The connection failed or the peer closed it.
    Lost(String),
}

/// Write requests in order and match answers by opaque until the connection ends.
async fn serve(addr: &str, peer: Peer, conn: Conn, jobs: &mut mpsc::UnboundedReceiver<Job>) -> Ended {
    let (mut sink, mut stream) = conn.split();
    let mut pending: HashMap<i32, oneshot::Sender<io::Result<RemotingCommand>>> = HashMap::new();
    loop {
        tokio::select! {
            job = jobs.recv() => {
                let Some(job) = job else { return Ended::Dropped };
                pending.retain(|_, tx| !tx.is_closed()); // requests whose caller gave up
                let opaque = job.cmd.opaque;
                if let Err(e) = sink.send(job.cmd).await {
                    let _ = job.done.send(Err(io::Error::other(e.to_string())));
                    return Ended::Lost(format!("write failed: {e}"));
                }
                pending.insert(opaque, job.done);
            }
            frame = stream.next() => match frame {
                Some(Ok(cmd)) if cmd.is_response() => {
                    match pending.remove(&cmd.opaque) {
                        Some(tx) => { let _ = tx.send(Ok(cmd)); }
                        None => tracing::debug!(addr = %addr, opaque = cmd.opaque, "answer matches no request (late)"),
                    }
                }
                Some(Ok(cmd)) => tracing::debug!(addr = %addr, code = cmd.code, "request from the {} ignored", peer.name()),
                Some(Err(e)) => return Ended::Lost(format!("undecodable frame: {e}")),
                None => return Ended::Lost(format!("closed by the {}", peer.name())),
            },
        }
    }
}
