//! TLS on the edge (rustls): RocketMQ's `tls.server.mode` (disabled, permissive, enforcing), the
//! certificate and key from PEM files, optional client certificates, and a hot reload when the
//! files change. Every listener (broker, VIP, name server, gRPC) asks [`Tls::classify`] what a new
//! connection is: permissive mode peeks at the first byte (0x16 starts a TLS handshake), enforcing
//! mode takes every connection as TLS.
//!
//! The certificate files are read here (not in `store`): they are the edge's own configuration.
use crate::config::{BrokerConfig, TlsMode};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::ServerConfig;
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};
use std::time::{Duration, SystemTime};
use tokio::net::TcpStream;
use tokio_rustls::TlsAcceptor;

/// The first byte of a TLS record carrying a handshake.
pub const TLS_HANDSHAKE: u8 = 0x16;
/// Longest a client may take to send its first byte or finish the handshake.
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// What to build a server config from.
#[derive(Clone, Debug)]
struct Files {
    cert: PathBuf,
    key: PathBuf,
    client_auth: String,
    trust: PathBuf,
}

type Stamps = Vec<Option<(SystemTime, u64)>>;

/// The TLS settings in force; the configs are replaced whole on reload.
pub struct Tls {
    pub mode: TlsMode,
    files: Files,
    remoting: RwLock<Arc<ServerConfig>>,
    grpc: RwLock<Arc<ServerConfig>>,
    stamps: std::sync::Mutex<Stamps>,
}

fn read(path: &Path, what: &str) -> Result<Vec<u8>, String> {
    std::fs::read(path).map_err(|e| format!("cannot read the TLS {what} {}: {e}", path.display()))
}

fn certs(path: &Path, what: &str) -> Result<Vec<CertificateDer<'static>>, String> {
    let pem = read(path, what)?;
    let certs = CertificateDer::pem_slice_iter(&pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| format!("TLS {what} {}: {e}", path.display()))?;
    if certs.is_empty() {
        return Err(format!("TLS {what} {}: no PEM certificate in it", path.display()));
    }
    Ok(certs)
}

fn build(files: &Files, alpn: &[&[u8]]) -> Result<ServerConfig, String> {
    let chain = certs(&files.cert, "certificate (tls.server.certPath)")?;
    let key_pem = read(&files.key, "key (tls.server.keyPath)")?;
    let key = PrivateKeyDer::from_pem_slice(&key_pem)
        .map_err(|e| format!("TLS key {}: {e} (an unencrypted PKCS#8, PKCS#1 or SEC1 PEM key is expected)", files.key.display()))?;
    let provider = crypto_provider();
    let builder = ServerConfig::builder_with_provider(provider.clone()).with_safe_default_protocol_versions().map_err(|e| e.to_string())?;
    let builder = if files.client_auth == "none" {
        builder.with_no_client_auth()
    } else {
        let mut roots = rustls::RootCertStore::empty();
        for c in certs(&files.trust, "trusted CA (tls.server.trustCertPath)")? {
            roots.add(c).map_err(|e| format!("TLS trusted CA {}: {e}", files.trust.display()))?;
        }
        let v = rustls::server::WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider);
        let v = if files.client_auth == "optional" { v.allow_unauthenticated() } else { v };
        builder.with_client_cert_verifier(v.build().map_err(|e| e.to_string())?)
    };
    let mut cfg = builder.with_single_cert(chain, key).map_err(|e| format!("TLS certificate and key do not go together: {e}"))?;
    cfg.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
    Ok(cfg)
}

/// rustls's `ring` provider: `aws-lc-rs` (rustls's default, with post-quantum key exchange)
/// needs cmake and a long C build; ring's classical suites are what RocketMQ's clients offer.
#[allow(deprecated)]
pub fn crypto_provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

fn stamp(p: &Path) -> Option<(SystemTime, u64)> {
    let m = std::fs::metadata(p).ok()?;
    Some((m.modified().ok()?, m.len()))
}

/// How a new connection speaks.
pub enum Accepted {
    Plain(TcpStream),
    Tls(Box<tokio_rustls::server::TlsStream<TcpStream>>),
}

impl tokio::io::AsyncRead for Accepted {
    fn poll_read(self: std::pin::Pin<&mut Self>, cx: &mut std::task::Context<'_>, buf: &mut tokio::io::ReadBuf<'_>) -> std::task::Poll<std::io::Result<()>> {
        match self.get_mut() {
            Accepted::Plain(s) => std::pin::Pin::new(s).poll_read(cx, buf),
            Accepted::Tls(s) => std::pin::Pin::new(s.as_mut()).poll_read(cx, buf),
        }
    }
}

impl tokio::io::AsyncWrite for Accepted {
    fn poll_write(self: std::pin::Pin<&mut Self>, cx: &mut std::task::Context<'_>, buf: &[u8]) -> std::task::Poll<std::io::Result<usize>> {
        match self.get_mut() {
            Accepted::Plain(s) => std::pin::Pin::new(s).poll_write(cx, buf),
            Accepted::Tls(s) => std::pin::Pin::new(s.as_mut()).poll_write(cx, buf),
        }
    }
    fn poll_flush(self: std::pin::Pin<&mut Self>, cx: &mut std::task::Context<'_>) -> std::task::Poll<std::io::Result<()>> {
        match self.get_mut() {
            Accepted::Plain(s) => std::pin::Pin::new(s).poll_flush(cx),
            Accepted::Tls(s) => std::pin::Pin::new(s.as_mut()).poll_flush(cx),
        }
    }
    fn poll_shutdown(self: std::pin::Pin<&mut Self>, cx: &mut std::task::Context<'_>) -> std::task::Poll<std::io::Result<()>> {
        match self.get_mut() {
            Accepted::Plain(s) => std::pin::Pin::new(s).poll_shutdown(cx),
            Accepted::Tls(s) => std::pin::Pin::new(s.as_mut()).poll_shutdown(cx),
        }
    }
}

impl Tls {
    /// The TLS settings of `cfg`: `None` when `tls.server.mode=disabled`; an error naming the
    /// file when a certificate or key cannot be used.
    pub fn from_config(cfg: &BrokerConfig) -> Result<Option<Arc<Tls>>, String> {
        if cfg.tls_mode == TlsMode::Disabled {
            return Ok(None);
        }
        let files = Files {
            cert: cfg.tls_cert_path.clone().into(),
            key: cfg.tls_key_path.clone().into(),
            client_auth: cfg.tls_need_client_auth.clone(),
            trust: cfg.tls_trust_cert_path.clone().into(),
        };
        let remoting = build(&files, &[])?;
        let grpc = build(&files, &[b"h2"])?;
        let tls = Tls {
            mode: cfg.tls_mode,
            stamps: std::sync::Mutex::new(Self::stamps_of(&files)),
            files,
            remoting: RwLock::new(Arc::new(remoting)),
            grpc: RwLock::new(Arc::new(grpc)),
        };
        Ok(Some(Arc::new(tls)))
    }

    fn stamps_of(files: &Files) -> Stamps {
        vec![stamp(&files.cert), stamp(&files.key), stamp(&files.trust)]
    }

    /// Rebuild the configs when a file changed; a file that does not load keeps the old ones.
    pub fn reload_if_changed(&self) -> Result<bool, String> {
        let now = Self::stamps_of(&self.files);
        let mut stamps = self.stamps.lock().unwrap_or_else(|e| e.into_inner());
        if *stamps == now {
            return Ok(false);
        }
        *stamps = now;
        let remoting = build(&self.files, &[])?;
        let grpc = build(&self.files, &[b"h2"])?;
        *self.remoting.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(remoting);
        *self.grpc.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(grpc);
        Ok(true)
    }

    fn acceptor(&self, grpc: bool) -> TlsAcceptor {
        let lock = if grpc { &self.grpc } else { &self.remoting };
        TlsAcceptor::from(lock.read().unwrap_or_else(|e| e.into_inner()).clone())
    }

    /// Tell what a new connection speaks and finish the TLS handshake when it is TLS. `Err` when
    /// the peer said nothing in time, closed, or failed the handshake (the caller drops it).
    pub async fn classify(&self, stream: TcpStream, grpc: bool) -> std::io::Result<Accepted> {
        let tls = match self.mode {
            TlsMode::Disabled => false,
            TlsMode::Enforcing => true,
            TlsMode::Permissive => {
                let mut first = [0u8; 1];
                let n = tokio::time::timeout(HANDSHAKE_TIMEOUT, stream.peek(&mut first))
                    .await
                    .map_err(|_| std::io::Error::new(std::io::ErrorKind::TimedOut, "no first byte"))??;
                if n == 0 {
                    return Err(std::io::Error::new(std::io::ErrorKind::UnexpectedEof, "closed before the first byte"));
                }
                first[0] == TLS_HANDSHAKE
            }
        };
        if !tls {
            return Ok(Accepted::Plain(stream));
        }
        let s = tokio::time::timeout(HANDSHAKE_TIMEOUT, self.acceptor(grpc).accept(stream))
            .await
            .map_err(|_| std::io::Error::new(std::io::ErrorKind::TimedOut, "TLS handshake timed out"))??;
        Ok(Accepted::Tls(Box::new(s)))
    }
}

/// Check the certificate files every second and reload them when they change (on the current
/// runtime, for as long as it runs).
pub fn watch(tls: Arc<Tls>) {
    actix_rt::spawn(async move {
        loop {
            tokio::time::sleep(Duration::from_secs(1)).await;
            match tls.reload_if_changed() {
                Ok(true) => tracing::info!(cert = %tls.files.cert.display(), "TLS certificate files changed; reloaded"),
                Ok(false) => {}
                Err(e) => tracing::warn!("TLS certificate not reloaded, the previous one stays in force: {e}"),
            }
        }
    });
}

/// A self-signed certificate for `localhost` and 127.0.0.1 (`ferrocket dev --tls`, tests):
/// (certificate PEM, private key PEM).
pub fn self_signed() -> Result<(String, String), String> {
    let names = vec!["localhost".to_string(), "127.0.0.1".to_string()];
    let ck = rcgen::generate_simple_self_signed(names).map_err(|e| e.to_string())?;
    Ok((ck.cert.pem(), ck.key_pair.serialize_pem()))
}
