//! rustls client settings for [`super::RawClient::connect_tls`]: trust given PEM certificates
//! (a self-signed server certificate or a CA), optionally present a client certificate.
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use std::sync::Arc;

fn roots(trusted_pem: &str) -> Result<rustls::RootCertStore, String> {
    let mut roots = rustls::RootCertStore::empty();
    for c in CertificateDer::pem_slice_iter(trusted_pem.as_bytes()) {
        roots.add(c.map_err(|e| e.to_string())?).map_err(|e| e.to_string())?;
    }
    Ok(roots)
}

#[allow(deprecated)] // ring: see net::tls::crypto_provider
fn builder() -> rustls::ConfigBuilder<rustls::ClientConfig, rustls::WantsVerifier> {
    rustls::ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .with_safe_default_protocol_versions()
        .expect("ring supports the default protocol versions")
}

/// Trust the certificates in `trusted_pem`; no client certificate.
pub fn trusting(trusted_pem: &str) -> Result<Arc<rustls::ClientConfig>, String> {
    Ok(Arc::new(builder().with_root_certificates(roots(trusted_pem)?).with_no_client_auth()))
}

/// Trust `trusted_pem` and present the client certificate `cert_pem` with its key `key_pem`.
pub fn with_client_cert(trusted_pem: &str, cert_pem: &str, key_pem: &str) -> Result<Arc<rustls::ClientConfig>, String> {
    let chain = CertificateDer::pem_slice_iter(cert_pem.as_bytes()).collect::<Result<Vec<_>, _>>().map_err(|e| e.to_string())?;
    let key = PrivateKeyDer::from_pem_slice(key_pem.as_bytes()).map_err(|e| e.to_string())?;
    let cfg = builder().with_root_certificates(roots(trusted_pem)?).with_client_auth_cert(chain, key).map_err(|e| e.to_string())?;
    Ok(Arc::new(cfg))
}
