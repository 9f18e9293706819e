//! Write coalescing for HTTP/2 connections. hyper's HTTP/2 flushes after each batch of frames it
//! has, which under many concurrent calls means one `sendto` per response (or request). Here a
//! flush with bytes buffered first yields once (the task is woken again at once), so what other
//! calls finish in the meantime leaves in the same write; the second flush writes everything.
//! Used by the gRPC server for every accepted connection, and by the load generator's client.
use std::io;
use std::pin::Pin;
use std::task::{ready, Context, Poll};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// Buffered bytes past which writes go to the socket without waiting for a flush.
const COALESCE_MAX: usize = 64 * 1024;

/// A stream whose writes are coalesced until a flush (see the module doc).
pub struct Coalesce<S> {
    inner: S,
    /// Written by HTTP/2, not yet on the socket (from `sent` on).
    out: Vec<u8>,
    sent: usize,
    /// A flush was put off once: the next one writes.
    deferred: bool,
}

impl<S> Coalesce<S> {
    pub fn new(inner: S) -> Coalesce<S> {
        Coalesce { inner, out: Vec::new(), sent: 0, deferred: false }
    }

}

impl<S: AsyncWrite + Unpin> Coalesce<S> {
    /// Write every buffered byte to the socket.
    fn drain(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        while self.sent < self.out.len() {
            match ready!(Pin::new(&mut self.inner).poll_write(cx, &self.out[self.sent..])) {
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

impl<S: AsyncRead + Unpin> AsyncRead for Coalesce<S> {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_read(cx, buf)
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Coalesce<S> {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        if this.out.len() >= COALESCE_MAX {
            ready!(this.drain(cx))?;
        }
        if this.out.is_empty() && buf.len() >= COALESCE_MAX {
            return Pin::new(&mut this.inner).poll_write(cx, buf);
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
        ready!(this.drain(cx))?;
        this.deferred = false;
        Pin::new(&mut this.inner).poll_flush(cx)
    }
    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        ready!(this.drain(cx))?;
        Pin::new(&mut this.inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    #[tokio::test]
    async fn writes_wait_for_a_flush_and_then_leave_together() {
        let (a, mut b) = tokio::io::duplex(1 << 20);
        let mut c = Coalesce::new(a);
        c.write_all(b"one ").await.unwrap();
        c.write_all(b"two").await.unwrap();
        // Nothing reaches the peer before the flush.
        let mut buf = [0u8; 16];
        let early = tokio::time::timeout(std::time::Duration::from_millis(50), b.read(&mut buf)).await;
        assert!(early.is_err(), "bytes left before a flush");
        c.flush().await.unwrap();
        let n = b.read(&mut buf).await.unwrap();
        assert_eq!(&buf[..n], b"one two");
        // A large write goes straight through; the stream still ends cleanly.
        let big = vec![7u8; 100 * 1024];
        c.write_all(&big).await.unwrap();
        c.shutdown().await.unwrap();
        let mut rest = Vec::new();
        b.read_to_end(&mut rest).await.unwrap();
        assert_eq!(rest, big);
    }
}
