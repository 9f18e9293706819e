//! One request over a fresh connection: the name-server registration client (registrations are
//! rare; no pooling needed).
use crate::codec::{RemotingCodec, RemotingCommand};
use futures_util::{SinkExt, StreamExt};
use std::time::Duration;
use tokio_util::codec::Framed;

/// One request over a fresh connection (registrations are rare; no pooling needed).
pub async fn call(
    addr: &str,
    cmd: RemotingCommand,
    timeout: Duration,
) -> std::io::Result<RemotingCommand> {
    let fut = async {
        let stream = tokio::net::TcpStream::connect(addr).await?;
        stream.set_nodelay(true)?;
        let mut framed = Framed::new(stream, RemotingCodec::default());
        let opaque = cmd.opaque;
        framed
            .send(cmd)
            .await
            .map_err(|e| std::io::Error::other(e.to_string()))?;
        while let Some(item) = framed.next().await {
            let resp =
                item.map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, e.to_string()))?;
            if resp.is_response() && resp.opaque == opaque {
                return Ok(resp);
            }
        }
        Err(std::io::Error::new(std::io::ErrorKind::UnexpectedEof, "connection closed"))
    };
    tokio::time::timeout(timeout, fut)
        .await
        .map_err(|_| std::io::Error::new(std::io::ErrorKind::TimedOut, "request timed out"))?
}
