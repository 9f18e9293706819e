//! gRPC connections: each accepted one takes a slot of `maxConnectionsPerIp` (shared with the
//! remoting listeners) or is closed at once; with TLS it is classified by [`Tls::classify`]
//! (permissive: by the first byte) off the accept loop; tonic gets it as [`Conn`], plaintext or
//! TLS, and the slot is released when tonic drops the connection.
use crate::net::connection::{IpSlot, Totals};
use crate::net::tls::{Accepted, Tls};
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tonic::transport::server::{Connected, TcpConnectInfo};

/// One accepted gRPC connection.
pub struct Conn {
    inner: Accepted,
    info: TcpConnectInfo,
    _slot: IpSlot,
    /// Written by HTTP/2, not yet on the socket (from `sent` on).
    out: Vec<u8>,
    sent: usize,
    /// A flush was put off once: the next one writes.
    deferred: bool,
}

impl Connected for Conn {
    type ConnectInfo = TcpConnectInfo;
    fn connect_info(&self) -> TcpConnectInfo {
        self.info.clone()
    }
}

impl AsyncRead for Conn {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        match &mut self.get_mut().inner {
            Accepted::Plain(s) => Pin::new(s).poll_read(cx, buf),
            Accepted::Tls(s) => Pin::new(s.as_mut()).poll_read(cx, buf),
        }
    }
}

/// Buffered bytes past which writes go to the socket without waiting for a flush.
const COALESCE_MAX: usize = 64 * 1024;

impl Conn {
    fn new(inner: Accepted, info: TcpConnectInfo, slot: IpSlot) -> Conn {
        Conn { inner, info, _slot: slot, out: Vec::new(), sent: 0, deferred: false }
    }

    fn inner_write(&mut self, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        match &mut self.inner {
            Accepted::Plain(s) => Pin::new(s).poll_write(cx, buf),
            Accepted::Tls(s) => Pin::new(s.as_mut()).poll_write(cx, buf),
        }
    }

    /// Write every buffered byte to the socket.
    fn drain(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        while self.sent < self.out.len() {
            let out = std::mem::take(&mut self.out);
            let r = self.inner_write(cx, &out[self.sent..]);
            self.out = out;
            match std::task::ready!(r) {
                Ok(0) => return Poll::Ready(Err(io::ErrorKind::WriteZero.into())),
                Ok(n) => self.sent += n,
                Err(e) => return Poll::Ready(Err(e)),
            }
        }
        self.out.clear();
        self.sent = 0;
        Poll::Ready(Ok(()))
    }
}

/// Writes are coalesced: HTTP/2 flushes after every frame batch it has, which under many
/// concurrent calls is one `sendto` per response. Here a flush with bytes buffered first yields
/// once (the connection task is woken again at once), so the responses other calls finish in
/// the meantime leave in the same write; the second flush writes everything.
impl AsyncWrite for Conn {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        if this.out.len() >= COALESCE_MAX {
            std::task::ready!(this.drain(cx))?;
        }
        if this.out.is_empty() && buf.len() >= COALESCE_MAX {
            return this.inner_write(cx, buf);
        }
        this.out.extend_from_slice(buf);
        Poll::Ready(Ok(buf.len()))
    }
    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if !this.out.is_empty() && !this.deferred {
            this.deferred = true;
            cx.waker().wake_by_ref();
            return Poll::Pending;
        }
        std::task::ready!(this.drain(cx))?;
        this.deferred = false;
        match &mut this.inner {
            Accepted::Plain(s) => Pin::new(s).poll_flush(cx),
            Accepted::Tls(s) => Pin::new(s.as_mut()).poll_flush(cx),
        }
    }
    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        std::task::ready!(this.drain(cx))?;
        match &mut this.inner {
            Accepted::Plain(s) => Pin::new(s).poll_shutdown(cx),
            Accepted::Tls(s) => Pin::new(s.as_mut()).poll_shutdown(cx),
        }
    }
}

/// The stream of accepted connections; the accept loop ends when tonic drops the stream.
pub fn incoming(
    listener: tokio::net::TcpListener,
    tls: Option<Arc<Tls>>,
    totals: Arc<Totals>,
    max_per_ip: usize,
) -> tokio_stream::wrappers::ReceiverStream<io::Result<Conn>> {
    let (tx, rx) = tokio::sync::mpsc::channel(64);
    tokio::spawn(async move {
        loop {
            let (stream, peer) = tokio::select! {
                r = listener.accept() => match r {
                    Ok(x) => x,
                    Err(e) => {
                        tracing::warn!(error = %e, "gRPC accept failed");
                        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                        continue;
                    }
                },
                _ = tx.closed() => return,
            };
            let Some(slot) = totals.admit(peer.ip(), max_per_ip) else {
                tracing::debug!(%peer, max = max_per_ip, "gRPC connection refused: too many connections from this address");
                continue;
            };
            let _ = stream.set_nodelay(true);
            let info = TcpConnectInfo { local_addr: stream.local_addr().ok(), remote_addr: Some(peer) };
            let Some(tls) = tls.clone() else {
                if tx.send(Ok(Conn::new(Accepted::Plain(stream), info, slot))).await.is_err() {
                    return;
                }
                continue;
            };
            let tx = tx.clone();
            tokio::spawn(async move {
                match tls.classify(stream, true).await {
                    Ok(inner) => {
                        let _ = tx.send(Ok(Conn::new(inner, info, slot))).await;
                    }
                    Err(e) => tracing::info!(%peer, error = %e, "gRPC connection dropped before TLS was established"),
                }
            });
        }
    });
    tokio_stream::wrappers::ReceiverStream::new(rx)
}
