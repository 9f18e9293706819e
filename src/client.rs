//! A raw remoting-protocol client for tests and tools.
//!
//! [`RawClient`] owns one TCP connection. Requests get an opaque from a per-client counter and are
//! matched to their responses by it, so many may be in flight at once. Requests the server sends
//! to us (NOTIFY_CONSUMER_IDS_CHANGED, CHECK_TRANSACTION_STATE, ...) arrive on the channel taken
//! with [`RawClient::incoming`]. [`RawClient::send_raw`] writes arbitrary bytes, for hostile-input
//! tests.
//!
//! The [`req`] module builds common requests by hand (extFields as on the wire), independent of the
//! typed headers in `codec`. The [`props`] and [`ids`] modules hold the small encodings tests need.
use crate::codec::{CodecError, RemotingCodec, RemotingCommand};
use futures_util::{SinkExt, StreamExt};
use std::collections::HashMap;
use std::io;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicI32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::AsyncWriteExt;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;
use tokio::sync::{mpsc, oneshot, watch};
use tokio_util::codec::{FramedRead, FramedWrite};

pub mod ids;
pub mod pop;
pub mod props;
pub mod req;
pub mod tls;

/// What can go wrong with a request.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("I/O error: {0}")]
    Io(#[from] io::Error),
    #[error("codec error: {0}")]
    Codec(#[from] CodecError),
    #[error("no response within {0:?}")]
    Timeout(Duration),
    #[error("connection closed")]
    Closed,
}

type Pending = Arc<Mutex<HashMap<i32, oneshot::Sender<RemotingCommand>>>>;

type BoxWrite = Box<dyn AsyncWrite + Send + Unpin>;

/// One connection to a name server or broker.
pub struct RawClient {
    writer: Arc<tokio::sync::Mutex<FramedWrite<BoxWrite, RemotingCodec>>>,
    pending: Pending,
    next_opaque: AtomicI32,
    incoming: Option<mpsc::UnboundedReceiver<RemotingCommand>>,
    closed: watch::Receiver<bool>,
    local: SocketAddr,
    peer: SocketAddr,
    reader: tokio::task::JoinHandle<()>,
    /// ACL credentials (access key, secret key): when set, `request` and `oneway` sign.
    credentials: Mutex<Option<(String, String)>>,
}

impl RawClient {
    /// Connect to `addr` and start reading.
    pub async fn connect(addr: SocketAddr) -> io::Result<RawClient> {
        let stream = TcpStream::connect(addr).await?;
        stream.set_nodelay(true)?;
        let local = stream.local_addr()?;
        let peer = stream.peer_addr()?;
        let (rd, wr) = stream.into_split();
        Ok(Self::over(rd, Box::new(wr), local, peer))
    }

    /// Connect to `addr` over TLS (rustls, `config` decides which certificates are trusted and
    /// whether to present one), with `server_name` as the name the certificate must carry.
    pub async fn connect_tls(addr: SocketAddr, config: Arc<rustls::ClientConfig>, server_name: &str) -> io::Result<RawClient> {
        let stream = TcpStream::connect(addr).await?;
        stream.set_nodelay(true)?;
        let local = stream.local_addr()?;
        let peer = stream.peer_addr()?;
        let name = rustls::pki_types::ServerName::try_from(server_name.to_string())
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
        let tls = tokio_rustls::TlsConnector::from(config).connect(name, stream).await?;
        let (rd, wr) = tokio::io::split(tls);
        Ok(Self::over(rd, Box::new(wr), local, peer))
    }

    fn over<R: AsyncRead + Send + Unpin + 'static>(rd: R, wr: BoxWrite, local: SocketAddr, peer: SocketAddr) -> RawClient {
        let pending: Pending = Arc::default();
        let (in_tx, in_rx) = mpsc::unbounded_channel();
        let (closed_tx, closed_rx) = watch::channel(false);
        let reader = tokio::spawn(read_loop(rd, pending.clone(), in_tx, closed_tx));
        RawClient {
            writer: Arc::new(tokio::sync::Mutex::new(FramedWrite::new(wr, RemotingCodec::default()))),
            pending,
            next_opaque: AtomicI32::new(1),
            incoming: Some(in_rx),
            closed: closed_rx,
            local,
            peer,
            reader,
            credentials: Mutex::new(None),
        }
    }

    /// Our side of the connection (what the broker sees as the peer).
    pub fn local_addr(&self) -> SocketAddr {
        self.local
    }

    pub fn peer_addr(&self) -> SocketAddr {
        self.peer
    }

    /// Sign every later `request` and `oneway` with RocketMQ's ACL 1.0 signature
    /// (`codec::sign`), as the Java client's `AclClientRPCHook` does.
    pub fn set_credentials(&self, access_key: &str, secret_key: &str) {
        *self.credentials.lock().expect("credentials lock") = Some((access_key.to_string(), secret_key.to_string()));
    }

    fn sign(&self, cmd: &mut RemotingCommand) {
        if let Some((ak, sk)) = self.credentials.lock().expect("credentials lock").as_ref() {
            crate::codec::sign::sign(cmd, ak, sk);
        }
    }

    /// A fresh opaque from this client's counter.
    pub fn next_opaque(&self) -> i32 {
        self.next_opaque.fetch_add(1, Ordering::Relaxed)
    }

    /// Send `cmd` as a request (its opaque is replaced) and wait for the matching response.
    pub async fn request(
        &self,
        mut cmd: RemotingCommand,
        timeout: Duration,
    ) -> Result<RemotingCommand, ClientError> {
        let opaque = self.next_opaque();
        cmd.opaque = opaque;
        cmd.flag &= !crate::codec::command::FLAG_ONEWAY;
        self.sign(&mut cmd);
        let (tx, rx) = oneshot::channel();
        self.pending.lock().expect("pending lock").insert(opaque, tx);
        if *self.closed.borrow() {
            self.pending.lock().expect("pending lock").remove(&opaque);
            return Err(ClientError::Closed);
        }
        if let Err(e) = self.write(cmd).await {
            self.pending.lock().expect("pending lock").remove(&opaque);
            return Err(e);
        }
        match tokio::time::timeout(timeout, rx).await {
            Ok(Ok(resp)) => Ok(resp),
            Ok(Err(_)) => Err(ClientError::Closed),
            Err(_) => {
                self.pending.lock().expect("pending lock").remove(&opaque);
                Err(ClientError::Timeout(timeout))
            }
        }
    }

    /// Send `cmd` as a oneway request (flag bit 1 set, fresh opaque); no response is expected.
    pub async fn oneway(&self, mut cmd: RemotingCommand) -> Result<(), ClientError> {
        cmd.opaque = self.next_opaque();
        cmd.flag |= crate::codec::command::FLAG_ONEWAY;
        self.sign(&mut cmd);
        self.write(cmd).await
    }

    /// Send a response to a server-initiated request (`resp.opaque` must be the request's).
    pub async fn respond(&self, mut resp: RemotingCommand) -> Result<(), ClientError> {
        resp.flag |= crate::codec::command::FLAG_RESPONSE;
        self.write(resp).await
    }

    /// Write any command exactly as given (opaque and flags untouched).
    pub async fn write(&self, cmd: RemotingCommand) -> Result<(), ClientError> {
        let mut w = self.writer.lock().await;
        w.send(cmd).await?;
        Ok(())
    }

    /// Write raw bytes to the socket (hostile-input tests).
    pub async fn send_raw(&self, bytes: &[u8]) -> Result<(), ClientError> {
        let mut w = self.writer.lock().await;
        w.flush().await?;
        let sock = w.get_mut();
        sock.write_all(bytes).await?;
        sock.flush().await?;
        Ok(())
    }

    /// Write a hand-made frame and wait for the response carrying `opaque` (which the frame
    /// must contain). Use opaques <= 0: the counter never hands those out.
    pub async fn request_raw(
        &self,
        frame: &[u8],
        opaque: i32,
        timeout: Duration,
    ) -> Result<RemotingCommand, ClientError> {
        let (tx, rx) = oneshot::channel();
        self.pending.lock().expect("pending lock").insert(opaque, tx);
        if let Err(e) = self.send_raw(frame).await {
            self.pending.lock().expect("pending lock").remove(&opaque);
            return Err(e);
        }
        match tokio::time::timeout(timeout, rx).await {
            Ok(Ok(resp)) => Ok(resp),
            Ok(Err(_)) => Err(ClientError::Closed),
            Err(_) => {
                self.pending.lock().expect("pending lock").remove(&opaque);
                Err(ClientError::Timeout(timeout))
            }
        }
    }

    /// Take the receiver of server-initiated requests (only once; later calls panic).
    pub fn incoming(&mut self) -> mpsc::UnboundedReceiver<RemotingCommand> {
        self.incoming.take().expect("incoming() already taken")
    }

    /// Wait up to `timeout` for the server to close the connection; true if it did.
    pub async fn wait_closed(&self, timeout: Duration) -> bool {
        let mut rx = self.closed.clone();
        let fut = async {
            loop {
                if *rx.borrow_and_update() {
                    return;
                }
                if rx.changed().await.is_err() {
                    return;
                }
            }
        };
        tokio::time::timeout(timeout, fut).await.is_ok()
    }

    /// True once the read side has seen end of stream or an error.
    pub fn is_closed(&self) -> bool {
        *self.closed.borrow()
    }

    /// Close our write side (the server sees end of stream).
    pub async fn shutdown(&self) {
        let mut w = self.writer.lock().await;
        let _ = w.get_mut().shutdown().await;
    }
}

impl Drop for RawClient {
    fn drop(&mut self) {
        self.reader.abort();
    }
}

async fn read_loop<R: AsyncRead + Unpin>(
    rd: R,
    pending: Pending,
    incoming: mpsc::UnboundedSender<RemotingCommand>,
    closed: watch::Sender<bool>,
) {
    let mut frames = FramedRead::new(rd, RemotingCodec::default());
    while let Some(item) = frames.next().await {
        let cmd = match item {
            Ok(cmd) => cmd,
            Err(_) => break,
        };
        if cmd.is_response() {
            let waiter = pending.lock().expect("pending lock").remove(&cmd.opaque);
            if let Some(tx) = waiter {
                let _ = tx.send(cmd);
            }
        } else {
            let _ = incoming.send(cmd);
        }
    }
    let _ = closed.send(true);
    // Fail every request still waiting.
    pending.lock().expect("pending lock").clear();
}

/// Request codes used by the helpers and tests.
pub mod codes {
    pub const SEND_MESSAGE: i32 = 10;
    pub const PULL_MESSAGE: i32 = 11;
    pub const QUERY_CONSUMER_OFFSET: i32 = 14;
    pub const UPDATE_CONSUMER_OFFSET: i32 = 15;
    pub const SEARCH_OFFSET_BY_TIMESTAMP: i32 = 29;
    pub const GET_MAX_OFFSET: i32 = 30;
    pub const GET_MIN_OFFSET: i32 = 31;
    pub const HEART_BEAT: i32 = 34;
    pub const UNREGISTER_CLIENT: i32 = 35;
    pub const CHECK_TRANSACTION_STATE: i32 = 39;
    pub const NOTIFY_CONSUMER_IDS_CHANGED: i32 = 40;
    pub const GET_CONSUMER_LIST_BY_GROUP: i32 = 38;
    pub const LOCK_BATCH_MQ: i32 = 41;
    pub const UNLOCK_BATCH_MQ: i32 = 42;
    pub const GET_ROUTEINFO_BY_TOPIC: i32 = 105;
    pub const SEND_MESSAGE_V2: i32 = 310;
    pub const SEND_BATCH_MESSAGE: i32 = 320;
    pub const QUERY_ASSIGNMENT: i32 = 400;
    pub const SET_MESSAGE_REQUEST_MODE: i32 = 401;
    pub const GET_ALL_MESSAGE_REQUEST_MODE: i32 = 402;
    pub const POP_MESSAGE: i32 = 200050;
    pub const ACK_MESSAGE: i32 = 200051;
    pub const CHANGE_MESSAGE_INVISIBLETIME: i32 = 200053;
    pub const NOTIFICATION: i32 = 200054;
    pub const POLLING_INFO: i32 = 200055;
    pub const BATCH_ACK_MESSAGE: i32 = 200151;

    // Response codes.
    pub const SUCCESS: i32 = 0;
    pub const SYSTEM_ERROR: i32 = 1;
    pub const REQUEST_CODE_NOT_SUPPORTED: i32 = 3;
    pub const TOPIC_NOT_EXIST: i32 = 17;
    pub const PULL_NOT_FOUND: i32 = 19;
    pub const PULL_RETRY_IMMEDIATELY: i32 = 20;
    pub const PULL_OFFSET_MOVED: i32 = 21;
    pub const QUERY_NOT_FOUND: i32 = 22;
    pub const INVALID_PARAMETER: i32 = 29;
    pub const POLLING_FULL: i32 = 209;
    pub const POLLING_TIMEOUT: i32 = 210;
}
