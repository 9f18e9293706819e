//! The connection actor: one per TCP connection, the framed codec on the wire.
//!
//! Reading: a `FramedRead` stream of [`RemotingCommand`]s behind a [`Gated`] pause; a frame that
//! cannot be decoded closes the connection (there is no opaque to answer), as the Java side does.
//! Back-pressure: reading pauses while `max_in_flight` answers are pending (deferred answers and
//! parked pulls) or more than `max_queued_bytes` of responses wait for a peer that does not read;
//! it resumes when they drain. A peer that stays stuck is closed by the idle timeout.
//! Writing: responses are encoded here and handed to a writer task that batches them.
//! Requests: each goes to the [`Service`] (handlers), which answers now, later (a future), or
//! through an [`Outbound`] (a parked pull). Broker-to-client requests get our own opaque and
//! their responses are matched in `pending`.
use super::gate::{Gate, Gated, Read};
use crate::codec::frame::{encode_command, encode_send_answer, try_encode_command_head};
use crate::codec::header::SendAnswer;
use crate::codec::{CodecError, RemotingCodec, RemotingCommand};
use crate::core::{topics::next_opaque, Answer, ConnHandle, Outlet};
use crate::handlers::{Conn, LateAnswer, Reply, Service};
use actix::prelude::*;
use bytes::{Bytes, BytesMut};
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use super::tls::{Accepted, Tls};
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt};
use tokio::sync::{mpsc, oneshot};
use tokio_util::codec::FramedRead;

/// Per-connection limits.
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    pub max_frame: usize,
    pub max_in_flight: usize,
    pub max_queued_bytes: usize,
    pub idle_timeout: Duration,
    /// Open connections per client IP address over all listeners (0 = no limit).
    pub max_conns_per_ip: usize,
}

/// Requests in flight over every connection of a server (read by shutdown to drain them), and
/// the open connections per client IP address.
#[derive(Default)]
pub struct Totals {
    pub in_flight: AtomicUsize,
    per_ip: std::sync::Mutex<HashMap<std::net::IpAddr, usize>>,
}

impl Totals {
    /// Take a connection slot for `ip`, or `None` when it already holds `max` (0 = no limit).
    pub fn admit(self: &Arc<Self>, ip: std::net::IpAddr, max: usize) -> Option<IpSlot> {
        let mut per_ip = self.per_ip.lock().unwrap_or_else(|e| e.into_inner());
        let n = per_ip.entry(ip).or_insert(0);
        if max > 0 && *n >= max {
            return None;
        }
        *n += 1;
        Some(IpSlot { totals: self.clone(), ip })
    }

    /// Open connections from `ip`.
    pub fn connections_from(&self, ip: std::net::IpAddr) -> usize {
        self.per_ip.lock().unwrap_or_else(|e| e.into_inner()).get(&ip).copied().unwrap_or(0)
    }
}

/// One open connection counted against its IP address; released on drop.
pub struct IpSlot {
    totals: Arc<Totals>,
    ip: std::net::IpAddr,
}

impl Drop for IpSlot {
    fn drop(&mut self) {
        let mut per_ip = self.totals.per_ip.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(n) = per_ip.get_mut(&self.ip) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                per_ip.remove(&self.ip);
            }
        }
    }
}

/// A command for a connection to write: a response, or a broker-to-client request.
/// When `reply` is set, the connection assigns an opaque, remembers the request, and routes the
/// client's response there.
#[derive(Message)]
#[rtype(result = "()")]
pub struct Outbound {
    pub cmd: RemotingCommand,
    pub reply: Option<oneshot::Sender<RemotingCommand>>,
}

/// [`Outlet`] over the connection actor's mailbox.
struct ActorOutlet(Recipient<Outbound>);

impl Outlet for ActorOutlet {
    fn send(&self, cmd: RemotingCommand) {
        self.0.do_send(Outbound { cmd, reply: None });
    }
    fn request(&self, cmd: RemotingCommand, timeout: Duration) -> Answer {
        let (tx, rx) = oneshot::channel();
        self.0.do_send(Outbound { cmd, reply: Some(tx) });
        Box::pin(async move {
            match tokio::time::timeout(timeout, rx).await {
                Ok(Ok(resp)) => Some(resp),
                _ => None,
            }
        })
    }
    fn connected(&self) -> bool {
        self.0.connected()
    }
}

static NEXT_CONN_ID: AtomicU64 = AtomicU64::new(1);

pub struct Connection {
    /// This connection as handlers and the rest of the broker see it (id, peer, outlet).
    conn: Conn,
    service: Service,
    limits: Limits,
    totals: Arc<Totals>,
    tx: mpsc::UnboundedSender<Bytes>,
    gate: Arc<Gate>,
    writer: Option<tokio::task::JoinHandle<()>>,
    pending: HashMap<i32, oneshot::Sender<RemotingCommand>>,
    /// Where answers are encoded ([`Connection::write`]).
    out: BytesMut,
    last_activity: Instant,
    /// When the last request of the current run of reads was answered: the next one of the run
    /// starts then (one clock read per request instead of two).
    mark: Option<Instant>,
    /// This connection's place in the per-IP count, given back when the actor is dropped.
    _slot: IpSlot,
    /// `conn{id, peer, client_id}`: requests are handled inside it, so their log lines carry
    /// the connection (the heartbeat handler records the client id).
    span: tracing::Span,
}

impl Connection {
    /// Start a connection actor on the current arbiter for an accepted socket; with TLS on, first
    /// tell TLS from plaintext and finish the handshake.
    pub fn start(stream: std::net::TcpStream, peer: SocketAddr, service: Service, limits: Limits, totals: Arc<Totals>, tls: Option<Arc<Tls>>) {
        let Some(slot) = totals.admit(peer.ip(), limits.max_conns_per_ip) else {
            tracing::debug!(%peer, max = limits.max_conns_per_ip, "connection refused: too many connections from this address");
            return;
        };
        let stream = match stream.set_nonblocking(true).and_then(|_| tokio::net::TcpStream::from_std(stream)) {
            Ok(s) => s,
            Err(e) => {
                tracing::warn!(%peer, error = %e, "cannot adopt accepted socket");
                return;
            }
        };
        let _ = stream.set_nodelay(true);
        let Some(tls) = tls else {
            let (r, w) = stream.into_split();
            return Connection::run(r, w, peer, service, limits, totals, slot);
        };
        actix_rt::spawn(async move {
            match tls.classify(stream, false).await {
                Ok(Accepted::Plain(s)) => {
                    let (r, w) = s.into_split();
                    Connection::run(r, w, peer, service, limits, totals, slot);
                }
                Ok(Accepted::Tls(s)) => {
                    let (r, w) = tokio::io::split(*s);
                    Connection::run(r, w, peer, service, limits, totals, slot);
                }
                Err(e) => tracing::info!(%peer, error = %e, "connection dropped before TLS was established"),
            }
        });
    }

    /// The actor for a connection whose bytes come from `r` and go to `w`.
    fn run<R, W>(r: R, w: W, peer: SocketAddr, service: Service, limits: Limits, totals: Arc<Totals>, slot: IpSlot)
    where
        R: AsyncRead + Unpin + 'static,
        W: AsyncWrite + Unpin + 'static,
    {
        Connection::create(move |ctx| {
            let gate = Gate::new(limits.max_in_flight, limits.max_queued_bytes);
            ctx.add_stream(Gated::new(FramedRead::with_capacity(r, Boxed(RemotingCodec::new(limits.max_frame)), READ_BUFFER), gate.clone()));
            let (tx, rx) = mpsc::unbounded_channel();
            let writer = actix_rt::spawn(write_loop(w, rx, gate.clone()));
            let handle = ConnHandle {
                id: NEXT_CONN_ID.fetch_add(1, Ordering::Relaxed),
                peer,
                out: Arc::new(ActorOutlet(ctx.address().recipient())),
            };
            let span = tracing::info_span!("conn", id = handle.id, peer = %peer, client_id = tracing::field::Empty);
            Connection {
                _slot: slot,
                span,
                conn: Conn::new(handle),
                service,
                limits,
                totals,
                tx,
                gate,
                writer: Some(writer),
                pending: HashMap::new(),
                out: BytesMut::new(),
                last_activity: Instant::now(),
                mark: None,
            }
        });
    }

    /// Encode `cmd` into the connection's output buffer and hand the frame to the writer task.
    /// Frames are split off one buffer (4 KiB, grown for a larger answer, dropped after one over
    /// 64 KiB), whose space comes back once the writer has dropped them: a small answer costs no
    /// allocation of its own. A body of [`WRITE_ALONE`] bytes or more is handed over as it is,
    /// after the frame's head.
    fn write(&mut self, cmd: &RemotingCommand) {
        self.encode_now(cmd);
        self.queue_out();
    }

    /// Encode `cmd` into the output buffer; a large body is handed to the writer at once, with
    /// whatever was encoded before it.
    fn encode_now(&mut self, cmd: &RemotingCommand) {
        self.room();
        if cmd.body.len() >= WRITE_ALONE {
            // a large body (a pull's messages) is not copied: the frame's head, then the body
            let head = match try_encode_command_head(cmd, &mut self.out) {
                Ok(()) => self.out.split().freeze(),
                Err(e) => {
                    tracing::warn!(conn = self.conn.handle.id, error = %e, "answer not written: it cannot be framed");
                    return;
                }
            };
            self.gate.queue(head.len() + cmd.body.len());
            let _ = self.tx.send(head);
            let _ = self.tx.send(cmd.body.clone());
            return;
        }
        encode_command(cmd, &mut self.out);
    }

    /// Space for an answer in the output buffer.
    fn room(&mut self) {
        if self.out.capacity() - self.out.len() < 512 {
            self.out.reserve(4096);
        }
    }

    /// An answer to a request of the current run: encoded now, handed to the writer with the
    /// run's other answers when the run ends ([`Read::RunEnd`]) or [`RUN_OUT`] bytes are waiting.
    fn answer(&mut self, a: Answered<'_>) {
        match a {
            Answered::Command(cmd) => self.encode_now(cmd),
            Answered::Send(answer) => {
                self.room();
                encode_send_answer(answer, &mut self.out);
            }
        }
        if self.out.len() >= RUN_OUT {
            self.queue_out();
        }
    }

    /// A request of the current run, read at `start`, was answered now: its latency, and the
    /// start of the next request of the run.
    fn answered(&mut self, code: i32, response_code: i32, oneway: bool, start: Instant) {
        let end = Instant::now();
        self.service.answered(code, response_code, oneway, end.saturating_duration_since(start));
        self.mark = Some(end);
    }

    /// Hand the answers gathered in the output buffer to the writer.
    fn flush_run(&mut self) {
        if !self.out.is_empty() {
            self.queue_out();
        }
    }

    /// Hand the frame encoded in `out` to the writer.
    fn queue_out(&mut self) {
        let frame = self.out.split().freeze();
        if frame.len() > 64 * 1024 {
            // a frame this large here has a large header (large bodies took the path above):
            // its buffer does not stay with the connection
            self.out = BytesMut::new();
        }
        self.gate.queue(frame.len());
        let _ = self.tx.send(frame);
    }

    fn begin(&self) {
        self.gate.begin();
        self.totals.in_flight.fetch_add(1, Ordering::AcqRel);
    }

    fn end(&self) {
        self.gate.end();
        let _ = self.totals.in_flight.fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| n.checked_sub(1));
    }

    /// Handle a request read at `start`.
    fn handle_request(&mut self, cmd: Box<RemotingCommand>, start: Instant, ctx: &mut Context<Self>) {
        let oneway = cmd.is_oneway();
        let code = cmd.code;
        let reply = if is_send(code) {
            // not inside the connection's span: entering and leaving it was ~3 % of a small
            // send's instructions; the send path's few log lines name the connection themselves
            self.service.handle(&self.conn, &cmd)
        } else {
            let _in_conn = self.span.enter();
            self.service.handle(&self.conn, &cmd)
        };
        match reply {
            Reply::Now(resp) => {
                if !oneway {
                    self.answer(Answered::Command(&resp));
                }
                self.answered(code, resp.code, oneway, start);
            }
            Reply::Sent(answer) => {
                if !oneway {
                    self.answer(Answered::Send(&answer));
                }
                self.answered(code, answer.code, oneway, start);
            }
            Reply::Nothing => {
                if !oneway {
                    // a parked pull: its answer arrives as an Outbound
                    self.begin();
                }
            }
            Reply::Later(fut) => self.answer_later(async move { fut.await.map(LateAnswer::Command) }, code, oneway, start, ctx),
            Reply::SentLater(fut) => self.answer_later(async move { Some(fut.await) }, code, oneway, start, ctx),
        }
    }

    /// Answer a request read at `start` when `fut` completes (nothing when it gives nothing).
    fn answer_later(
        &mut self,
        fut: impl std::future::Future<Output = Option<LateAnswer>> + 'static,
        code: i32,
        oneway: bool,
        start: Instant,
        ctx: &mut Context<Self>,
    ) {
        self.begin();
        ctx.spawn(fut.into_actor(self).map(move |late, act, _| {
            act.end();
            let Some(late) = late else { return };
            if !oneway {
                match &late {
                    LateAnswer::Send(answer) => act.answer(Answered::Send(answer)),
                    LateAnswer::Command(resp) => act.answer(Answered::Command(resp)),
                }
                act.flush_run();
                super::spin::touch();
            }
            act.service.answered(code, late.code(), oneway, start.elapsed());
        }));
    }
}

/// Wall-clock milliseconds of `at`, worked out from a (monotonic, wall-clock) pair of readings
/// this thread takes at most every 100 ms: a send's store timestamp without a second clock read
/// (its start is already read for its latency). A step of the wall clock shows within 100 ms.
fn wall_ms(at: Instant) -> i64 {
    const REREAD: std::time::Duration = std::time::Duration::from_millis(100);
    thread_local! {
        static BASE: std::cell::Cell<Option<(Instant, i128)>> = const { std::cell::Cell::new(None) };
    }
    let nanos = |d: std::time::Duration| d.as_nanos() as i128;
    BASE.with(|base| {
        let (t0, wall0) = match base.get() {
            Some((t0, wall0)) if at.saturating_duration_since(t0) < REREAD => (t0, wall0),
            _ => {
                let t0 = Instant::now();
                let wall0 = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(nanos).unwrap_or(0);
                base.set(Some((t0, wall0)));
                (t0, wall0)
            }
        };
        // `at` may come before the pair's reading (a request read before it was taken)
        let wall = match at.checked_duration_since(t0) {
            Some(after) => wall0 + nanos(after),
            None => wall0 - nanos(t0 - at),
        };
        (wall / 1_000_000) as i64
    })
}

/// A request answered now, in the run of reads it came in.
enum Answered<'a> {
    Command(&'a RemotingCommand),
    Send(&'a SendAnswer),
}

/// SEND_MESSAGE, SEND_MESSAGE_V2, SEND_BATCH_MESSAGE.
fn is_send(code: i32) -> bool {
    matches!(code, 10 | 310 | 320)
}

/// Answers of a run gathered before they are handed to the writer at most (a client that keeps
/// the socket full never ends a run).
const RUN_OUT: usize = 32 * 1024;

/// The read buffer a connection starts with (tokio-util's default is 8 KiB): under S2's 64
/// requests in flight per connection a socket read takes what is queued in one call instead of
/// about three (recvfrom calls per message 0.061 -> 0.027). Pages are touched only as data comes.
const READ_BUFFER: usize = 32 * 1024;

/// Answers gathered into one write at most (a larger run is written in pieces of this size).
const WRITE_BATCH: usize = 256 * 1024;
/// Frames at least this long are written as they are, not copied into the batch.
const WRITE_ALONE: usize = 16 * 1024;

/// The writer task: frames from the connection, written in batches. While the reader is in the
/// middle of a run of requests (the frames of one socket read, which the actor handles a few at a
/// time), it waits for the run to end, so that their answers leave in one write: one wake-up of
/// the peer per read, not one per actor turn.
async fn write_loop<W: AsyncWrite + Unpin>(mut w: W, mut rx: mpsc::UnboundedReceiver<Bytes>, gate: Arc<Gate>) {
    let mut batch = BytesMut::new();
    let mut frames: Vec<Bytes> = Vec::new();
    let mut segs: Vec<Bytes> = Vec::new();
    while let Some(first) = rx.recv().await {
        let mut n = first.len();
        frames.push(first);
        let mut closed = false;
        std::future::poll_fn(|cx| {
            while n < WRITE_BATCH {
                match rx.poll_recv(cx) {
                    std::task::Poll::Ready(Some(b)) => {
                        n += b.len();
                        frames.push(b);
                    }
                    std::task::Poll::Ready(None) => {
                        closed = true;
                        return std::task::Poll::Ready(());
                    }
                    std::task::Poll::Pending => break,
                }
            }
            if n < WRITE_BATCH && gate.reader_busy(cx.waker()) {
                std::task::Poll::Pending
            } else {
                std::task::Poll::Ready(())
            }
        })
        .await;
        if frames.len() == 1 {
            let f = frames.pop().expect("one frame");
            if w.write_all(&f).await.is_err() {
                break;
            }
        } else {
            // small frames are copied together; a large one (a pull's messages) is written from
            // where it is, in the same vectored write
            for f in frames.drain(..) {
                if f.len() < WRITE_ALONE {
                    batch.extend_from_slice(&f);
                    continue;
                }
                if !batch.is_empty() {
                    segs.push(batch.split().freeze());
                }
                segs.push(f);
            }
            if !batch.is_empty() {
                segs.push(batch.split().freeze());
            }
            if write_segments(&mut w, &mut segs).await.is_err() {
                break;
            }
        }
        gate.written(n);
        if closed {
            break;
        }
    }
    gate.writer_gone();
    let _ = w.shutdown().await;
}

/// Write `segs` in order with vectored writes (up to 16 pieces a call), then empty it.
async fn write_segments<W: AsyncWrite + Unpin>(w: &mut W, segs: &mut Vec<Bytes>) -> std::io::Result<()> {
    use bytes::Buf;
    let mut first = 0;
    while first < segs.len() {
        let mut io = [std::io::IoSlice::new(&[]); 16];
        let k = (segs.len() - first).min(io.len());
        for (slot, seg) in io.iter_mut().zip(&segs[first..first + k]) {
            *slot = std::io::IoSlice::new(seg);
        }
        let mut n = w.write_vectored(&io[..k]).await?;
        if n == 0 {
            return Err(std::io::ErrorKind::WriteZero.into());
        }
        while n > 0 {
            let len = segs[first].len();
            if n >= len {
                n -= len;
                first += 1;
            } else {
                segs[first].advance(n);
                n = 0;
            }
        }
    }
    segs.clear();
    Ok(())
}

impl Actor for Connection {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        tracing::debug!(conn = self.conn.handle.id, peer = %self.conn.handle.peer, "connection opened");
        // The idle check runs as a task of its own that messages the actor: an interval in the
        // actor's context would have its timer polled every time the actor is (each request
        // and each deferred answer: ~2 % of a SYNC_FLUSH send's instructions).
        let check = Duration::from_secs(5).min(self.limits.idle_timeout);
        let actor = ctx.address().downgrade();
        actix_rt::spawn(async move {
            loop {
                tokio::time::sleep(check).await;
                match actor.upgrade() {
                    Some(a) if a.connected() => a.do_send(IdleCheck),
                    _ => break,
                }
            }
        });
    }

    fn stopped(&mut self, _: &mut Self::Context) {
        tracing::debug!(conn = self.conn.handle.id, peer = %self.conn.handle.peer, "connection closed");
        // the read stream is not polled again: the writer must not wait for it
        self.flush_run();
        self.gate.reader_paused();
        if let Some(w) = self.writer.take() {
            // Let queued responses drain briefly, then give up on a peer that does not read.
            let gate = self.gate.clone();
            actix_rt::spawn(async move {
                let deadline = Instant::now() + Duration::from_secs(2);
                while gate.queued() > 0 && Instant::now() < deadline && !w.is_finished() {
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
                w.abort();
            });
        }
        // Whatever this connection still had in flight will never be answered here.
        let left = self.gate.in_flight();
        let _ = self.totals.in_flight.fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| Some(n.saturating_sub(left)));
        self.service.closed(self.conn.handle.id);
    }
}

/// Time to see whether the connection has been idle (or stuck) past `idle_timeout`.
struct IdleCheck;

impl actix::Message for IdleCheck {
    type Result = ();
}

impl actix::Handler<IdleCheck> for Connection {
    type Result = ();

    fn handle(&mut self, _: IdleCheck, ctx: &mut Self::Context) {
        if self.last_activity.elapsed() > self.limits.idle_timeout {
            tracing::info!(conn = self.conn.handle.id, peer = %self.conn.handle.peer, queued = self.gate.queued(), in_flight = self.gate.in_flight(), "closing idle or stuck connection");
            ctx.stop();
        }
    }
}

/// The remoting codec, each command read handed on in a box: from the decoder to the handler a
/// command passes through five layers of streams and results, and moving its 192 bytes at each
/// was ~4 % of a small send's time (a `memcpy` call each); a box moves as a pointer.
struct Boxed(RemotingCodec);

impl tokio_util::codec::Decoder for Boxed {
    type Item = Box<RemotingCommand>;
    type Error = CodecError;

    fn decode(&mut self, src: &mut BytesMut) -> Result<Option<Self::Item>, CodecError> {
        Ok(self.0.decode(src)?.map(Box::new))
    }

    fn decode_eof(&mut self, src: &mut BytesMut) -> Result<Option<Self::Item>, CodecError> {
        Ok(self.0.decode_eof(src)?.map(Box::new))
    }
}

impl StreamHandler<Read<Result<Box<RemotingCommand>, CodecError>>> for Connection {
    fn handle(&mut self, item: Read<Result<Box<RemotingCommand>, CodecError>>, ctx: &mut Self::Context) {
        let item = match item {
            Read::Item(item) => item,
            Read::RunEnd => {
                self.mark = None;
                self.flush_run();
                super::spin::touch();
                return;
            }
        };
        let now = self.mark.take().unwrap_or_else(Instant::now);
        self.last_activity = now;
        self.conn.read_at_ms.set(wall_ms(now));
        match item {
            Ok(cmd) if cmd.is_response() => {
                if let Some(tx) = self.pending.remove(&cmd.opaque) {
                    let _ = tx.send(*cmd);
                } else {
                    tracing::debug!(conn = self.conn.handle.id, opaque = cmd.opaque, "response matches no request");
                }
            }
            Ok(cmd) => self.handle_request(cmd, now, ctx),
            Err(e) => {
                tracing::warn!(conn = self.conn.handle.id, peer = %self.conn.handle.peer, error = %e, "undecodable frame; closing the connection");
                // the answers of the requests before it still leave
                self.flush_run();
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
    fn handle(&mut self, msg: Outbound, _: &mut Self::Context) {
        let mut cmd = msg.cmd;
        if cmd.is_response() {
            // the answer to a parked pull
            self.end();
            self.last_activity = Instant::now();
        }
        if let Some(reply) = msg.reply {
            cmd.opaque = next_opaque();
            self.pending.retain(|_, tx| !tx.is_closed());
            self.pending.insert(cmd.opaque, reply);
        }
        self.write(&cmd);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn clock_ms() -> i64 {
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_millis() as i64
    }

    #[test]
    fn wall_ms_of_an_instant_is_the_clock_at_that_instant() {
        let start = Instant::now();
        for _ in 0..3 {
            let (before, at, after) = (clock_ms(), Instant::now(), clock_ms());
            let wall = wall_ms(at);
            assert!(before <= wall && wall <= after, "{before} <= {wall} <= {after}");
            std::thread::sleep(std::time::Duration::from_millis(60));
        }
        // an instant before the pair was read (past the re-read: a new pair now), and one long ago
        let (before, wall, after) = (clock_ms(), wall_ms(start), clock_ms());
        let ago = start.elapsed().as_millis() as i64;
        assert!(before - ago - 5 <= wall && wall <= after - ago + 5, "{wall} is not {ago} ms before {before}..{after}");
        let later = wall_ms(Instant::now());
        assert!(later >= wall + ago - 5, "time does not go back: {wall} then {later}");
    }
}
