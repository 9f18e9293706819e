//! The listener: accepts connections and spreads them round-robin over the worker arbiters, so
//! both cores serve clients. Each connection then lives on one arbiter for its whole life.
use super::connection::{Connection, Limits, Totals};
use super::tls::Tls;
use crate::handlers::Service;
use actix_rt::ArbiterHandle;
use std::net::TcpListener;
use std::sync::Arc;

/// Run an accept loop on the current arbiter for `listener`; abort the returned task to stop
/// accepting.
pub fn spawn_listener(
    listener: TcpListener,
    service: Service,
    limits: Limits,
    totals: Arc<Totals>,
    workers: Vec<ArbiterHandle>,
    tls: Option<Arc<Tls>>,
) -> std::io::Result<tokio::task::JoinHandle<()>> {
    listener.set_nonblocking(true)?;
    let listener = tokio::net::TcpListener::from_std(listener)?;
    Ok(actix_rt::spawn(async move {
        let mut next = 0usize;
        loop {
            let (stream, peer) = match listener.accept().await {
                Ok(x) => x,
                Err(e) => {
                    // e.g. EMFILE: back off instead of spinning.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                    continue;
                }
            };
            let std_stream = match stream.into_std() {
                Ok(s) => s,
                Err(e) => {
                    tracing::warn!(%peer, error = %e, "cannot hand over accepted socket");
                    continue;
                }
            };
            let (service, totals, tls) = (service.clone(), totals.clone(), tls.clone());
            if workers.is_empty() {
                Connection::start(std_stream, peer, service, limits, totals, tls);
            } else {
                let w = &workers[next % workers.len()];
                next = next.wrapping_add(1);
                let sent = w.spawn_fn(move || Connection::start(std_stream, peer, service, limits, totals, tls));
                if !sent {
                    tracing::warn!(%peer, "worker arbiter gone; dropping connection");
                }
            }
        }
    }))
}
