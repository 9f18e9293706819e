//! The connection actor: one per TCP connection, the framed codec on the wire.
//!
//! Reading: a `FramedRead` stream of [`RemotingCommand`]s; a frame that cannot be decoded closes
//! the connection (there is no opaque to answer), as the Java side does.
//! Writing: responses are encoded here and handed to a writer task; the bytes queued for a peer that
//! does not read are counted, and past `max_queued_response_bytes` the connection is closed.
//! Requests: each goes to `dispatch`, which answers now, later (a future), or never (oneway, held
//! pull). At most `max_requests_in_flight` deferred answers per connection; past that the request
//! gets SYSTEM_BUSY. Broker-to-client requests get our own opaque and their responses are matched
//! in `pending`.
use super::consumer_group::ConnectionClosed;
use super::context::BrokerContext;
use super::dispatch::{self, ConnInfo, Reply};
use super::namesrv::NamesrvContext;
use super::{ConnHandle, Outbound};
use crate::codec::codes::response_code;
use crate::codec::frame::encode_command;
use crate::codec::{CodecError, RemotingCodec, RemotingCommand};
use actix::prelude::*;
use bytes::{Bytes, BytesMut};
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::io::AsyncWriteExt;
use tokio::sync::{mpsc, oneshot};
use tokio_util::codec::FramedRead;

/// Which role a listener serves.
#[derive(Clone)]
pub enum Role {
    Broker(Arc<BrokerContext>),
    Namesrv(Arc<NamesrvContext>),
}

/// Per-connection limits.
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    pub max_frame: usize,
    pub max_in_flight: usize,
    pub max_queued_bytes: usize,
    pub idle_timeout: Duration,
}

static NEXT_CONN_ID: AtomicU64 = AtomicU64::new(1);

pub struct Connection {
    id: u64,
    peer: SocketAddr,
    role: Role,
    limits: Limits,
    tx: mpsc::UnboundedSender<Bytes>,
    queued: Arc<AtomicUsize>,
    writer: Option<tokio::task::JoinHandle<()>>,
    pending: HashMap<i32, oneshot::Sender<RemotingCommand>>,
    in_flight: usize,
    last_activity: Instant,
    language: String,
    version: i32,
}

impl Connection {
    /// Start a connection actor on the current arbiter for an accepted socket.
    pub fn start(stream: std::net::TcpStream, peer: SocketAddr, role: Role, limits: Limits) {
        let stream = match stream.set_nonblocking(true).and_then(|_| tokio::net::TcpStream::from_std(stream)) {
            Ok(s) => s,
            Err(e) => {
                tracing::warn!(%peer, error = %e, "cannot adopt accepted socket");
                return;
            }
        };
        let _ = stream.set_nodelay(true);
        let (r, w) = stream.into_split();
        Connection::create(move |ctx| {
            ctx.add_stream(FramedRead::new(r, RemotingCodec::new(limits.max_frame)));
            let (tx, rx) = mpsc::unbounded_channel();
            let queued = Arc::new(AtomicUsize::new(0));
            let writer = actix_rt::spawn(write_loop(w, rx, queued.clone()));
            Connection {
                id: NEXT_CONN_ID.fetch_add(1, Ordering::Relaxed),
                peer,
                role,
                limits,
                tx,
                queued,
                writer: Some(writer),
                pending: HashMap::new(),
                in_flight: 0,
                last_activity: Instant::now(),
                language: String::new(),
                version: 0,
            }
        });
    }

    fn write(&mut self, cmd: &RemotingCommand, ctx: &mut Context<Self>) {
        let mut buf = BytesMut::new();
        encode_command(cmd, &mut buf);
        let n = buf.len();
        let queued = self.queued.fetch_add(n, Ordering::AcqRel) + n;
        if queued > self.limits.max_queued_bytes {
            tracing::warn!(conn = self.id, peer = %self.peer, queued, "peer is not reading its responses; closing the connection");
            ctx.stop();
            return;
        }
        let _ = self.tx.send(buf.freeze());
    }

    fn handle_request(&mut self, cmd: RemotingCommand, ctx: &mut Context<Self>) {
        self.language = cmd.language.clone();
        self.version = cmd.version;
        let oneway = cmd.is_oneway();
        let info = ConnInfo {
            handle: ConnHandle { id: self.id, peer: self.peer, out: ctx.address().recipient() },
            language: self.language.clone(),
            version: self.version,
        };
        let busy = self.in_flight >= self.limits.max_in_flight;
        if busy && !oneway {
            let resp = RemotingCommand::response_to(&cmd, response_code::SYSTEM_BUSY, Some(
                "[OVERLOAD]system busy, too many requests in flight on this connection".into(),
            ));
            self.write(&resp, ctx);
            return;
        }
        match dispatch::handle(&self.role, &info, cmd) {
            Reply::Now(resp) => {
                if !oneway {
                    self.write(&resp, ctx);
                }
            }
            Reply::Nothing => {
                if !oneway {
                    // a pull parked with the queue actor: its answer arrives as an Outbound
                    self.in_flight += 1;
                }
            }
            Reply::Later(fut) => {
                self.in_flight += 1;
                ctx.spawn(fut.into_actor(self).map(move |resp, act, ctx| {
                    act.in_flight -= 1;
                    if let (Some(resp), false) = (resp, oneway) {
                        act.write(&resp, ctx);
                    }
                }));
            }
        }
    }
}

async fn write_loop(
    mut w: tokio::net::tcp::OwnedWriteHalf,
    mut rx: mpsc::UnboundedReceiver<Bytes>,
    queued: Arc<AtomicUsize>,
) {
    let mut batch = BytesMut::new();
    while let Some(first) = rx.recv().await {
        let mut n = first.len();
        if let Ok(more) = rx.try_recv() {
            batch.extend_from_slice(&first);
            n += more.len();
            batch.extend_from_slice(&more);
            while batch.len() < 256 * 1024 {
                match rx.try_recv() {
                    Ok(b) => {
                        n += b.len();
                        batch.extend_from_slice(&b);
                    }
                    Err(_) => break,
                }
            }
            if w.write_all(&batch).await.is_err() {
                break;
            }
            batch.clear();
        } else if w.write_all(&first).await.is_err() {
            break;
        }
        queued.fetch_sub(n, Ordering::AcqRel);
    }
    let _ = w.shutdown().await;
}

impl Actor for Connection {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        tracing::debug!(conn = self.id, peer = %self.peer, "connection opened");
        let check = Duration::from_secs(5).min(self.limits.idle_timeout);
        ctx.run_interval(check, |act, ctx| {
            if act.last_activity.elapsed() > act.limits.idle_timeout {
                tracing::info!(conn = act.id, peer = %act.peer, "closing idle connection");
                ctx.stop();
            }
        });
    }

    fn stopped(&mut self, _: &mut Self::Context) {
        tracing::debug!(conn = self.id, peer = %self.peer, "connection closed");
        if let Some(w) = self.writer.take() {
            // Let queued responses drain briefly, then give up on a peer that does not read.
            let queued = self.queued.clone();
            actix_rt::spawn(async move {
                let deadline = Instant::now() + Duration::from_secs(2);
                while queued.load(Ordering::Acquire) > 0 && Instant::now() < deadline && !w.is_finished() {
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
                w.abort();
            });
        }
        if let Role::Broker(b) = &self.role {
            b.group_actor.do_send(ConnectionClosed(self.id));
        }
    }
}

impl StreamHandler<Result<RemotingCommand, CodecError>> for Connection {
    fn handle(&mut self, item: Result<RemotingCommand, CodecError>, ctx: &mut Self::Context) {
        self.last_activity = Instant::now();
        match item {
            Ok(cmd) if cmd.is_response() => {
                if let Some(tx) = self.pending.remove(&cmd.opaque) {
                    let _ = tx.send(cmd);
                } else {
                    tracing::debug!(conn = self.id, opaque = cmd.opaque, "response matches no request");
                }
            }
            Ok(cmd) => self.handle_request(cmd, ctx),
            Err(e) => {
                tracing::warn!(conn = self.id, peer = %self.peer, error = %e, "undecodable frame; closing the connection");
                ctx.stop();
            }
        }
    }

    fn finished(&mut self, ctx: &mut Self::Context) {
        ctx.stop();
    }
}

impl Handler<Outbound> for Connection {
    type Result = ();
    fn handle(&mut self, msg: Outbound, ctx: &mut Self::Context) {
        let mut cmd = msg.cmd;
        if cmd.is_response() {
            self.in_flight = self.in_flight.saturating_sub(1);
        }
        if let Some(reply) = msg.reply {
            cmd.opaque = super::topic::next_opaque();
            self.pending.retain(|_, tx| !tx.is_closed());
            self.pending.insert(cmd.opaque, reply);
        }
        self.write(&cmd, ctx);
    }
}
