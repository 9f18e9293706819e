//! gRPC connections: each accepted one takes a slot of `maxConnectionsPerIp` (shared with the
//! remoting listeners) or is closed at once; with TLS it is classified by [`Tls::classify`]
//! (permissive: by the first byte) off the accept loop; tonic gets it as [`Conn`], plaintext or
//! TLS, and the slot is released when tonic drops the connection.
use crate::net::connection::{IpSlot, Totals};
use super::coalesce::Coalesce;
use crate::net::tls::{Accepted, Tls};
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tonic::transport::server::{Connected, TcpConnectInfo};

/// One accepted gRPC connection.
pub struct Conn {
    /// Writes coalesced (see [`Coalesce`]).
    inner: Coalesce<Accepted>,
    info: TcpConnectInfo,
    _slot: IpSlot,
}

impl Connected for Conn {
    type ConnectInfo = TcpConnectInfo;
    fn connect_info(&self) -> TcpConnectInfo {
        self.info.clone()
    }
}

impl AsyncRead for Conn {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_read(cx, buf)
    }
}

impl Conn {
    fn new(inner: Accepted, info: TcpConnectInfo, slot: IpSlot) -> Conn {
        Conn { inner: Coalesce::new(inner), info, _slot: slot }
    }
}

impl AsyncWrite for Conn {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write(cx, buf)
    }
    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }
    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
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
