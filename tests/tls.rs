//! TLS on every port (`docs/security.md`): `tls.server.mode` permissive (TLS and plaintext on one
//! port) and enforcing, client certificates, the certificate reloaded when its files change, and
//! `ferrocket dev --tls`. The TLS client is rustls speaking remoting (`RawClient::connect_tls`).
mod common;

use common::{unique, DevBroker, Launch, T};
use ferrocket::client::req::{self, Msg};
use ferrocket::client::{tls, RawClient};
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

fn dev(config: Option<String>, tls_flag: bool) -> DevBroker {
    let args = if tls_flag { vec!["--tls".to_string()] } else { Vec::new() };
    DevBroker::start_with_args(Launch { config, ..Default::default() }, args)
}

async fn tls_client(addr: SocketAddr, cfg: Arc<rustls::ClientConfig>) -> std::io::Result<RawClient> {
    RawClient::connect_tls(addr, cfg, "localhost").await
}

/// A request that must be answered SUCCESS over `c`.
async fn works(c: &RawClient) {
    let topic = unique("tls");
    let r = c.request(req::create_topic(&topic, 1), T).await.expect("create topic over TLS");
    assert_eq!(r.code, 0, "{:?}", r.remark);
    let r = c.request(req::send_v2("pg", &Msg::new(&topic, "over tls"), 0), T).await.unwrap();
    assert_eq!(r.code, 0, "{:?}", r.remark);
}

/// The connection is unusable: the request fails (closed or no answer), never SUCCESS.
async fn unusable(c: std::io::Result<RawClient>) {
    let Ok(c) = c else { return };
    let r = c.request(req::max_offset("TBW102", 0), Duration::from_secs(5)).await;
    assert!(r.is_err(), "a request got through: {r:?}");
}

fn cert_of(b: &DevBroker) -> String {
    std::fs::read_to_string(b.data_dir.join("tls/cert.pem")).expect("dev --tls wrote its certificate")
}

#[tokio::test]
async fn permissive_serves_tls_and_plaintext_on_every_remoting_port() {
    let b = dev(None, true);
    let trust = tls::trusting(&cert_of(&b)).unwrap();
    works(&tls_client(b.broker, trust.clone()).await.expect("TLS handshake with the broker")).await;
    works(&b.client().await).await;
    // the name server too
    let ns = tls_client(b.namesrv, trust.clone()).await.expect("TLS handshake with the name server");
    let r = ns.request(req::route("TBW102"), T).await.unwrap();
    assert_eq!(r.code, 0, "{:?}", r.remark);
    let r = b.namesrv_client().await.request(req::route("TBW102"), T).await.unwrap();
    assert_eq!(r.code, 0);
    // a client that does not trust the certificate cannot talk TLS to it
    let (other, _) = ferrocket::net::tls::self_signed().unwrap();
    assert!(tls_client(b.broker, tls::trusting(&other).unwrap()).await.is_err());
}

#[tokio::test]
async fn grpc_port_speaks_tls_with_h2() {
    let b = dev(None, true);
    // the ready log line names the gRPC address (it may reach the log file a little after the
    // ready line on stdout)
    let deadline = Instant::now() + Duration::from_secs(15);
    let grpc: SocketAddr = loop {
        let log = b.log_tail(400);
        if let Some(a) = log.split("grpc=").nth(1).and_then(|s| s.split_whitespace().next()).and_then(|s| s.parse().ok()) {
            break a;
        }
        assert!(Instant::now() < deadline, "no gRPC address in the log: {log}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let mut cfg = (*tls::trusting(&cert_of(&b)).unwrap()).clone();
    cfg.alpn_protocols = vec![b"h2".to_vec()];
    let tcp = tokio::net::TcpStream::connect(grpc).await.unwrap();
    let name = rustls::pki_types::ServerName::try_from("localhost").unwrap();
    let s = tokio_rustls::TlsConnector::from(Arc::new(cfg)).connect(name, tcp).await.expect("TLS on the gRPC port");
    assert_eq!(s.get_ref().1.alpn_protocol(), Some(&b"h2"[..]));
}

fn write_cert(dir: &Path, name: &str) -> String {
    let (cert, key) = ferrocket::net::tls::self_signed().unwrap();
    std::fs::write(dir.join(format!("{name}.cert.pem")), &cert).unwrap();
    std::fs::write(dir.join(format!("{name}.key.pem")), &key).unwrap();
    cert
}

#[tokio::test]
async fn enforcing_refuses_plaintext() {
    let dir = tempfile::tempdir().unwrap();
    let cert = write_cert(dir.path(), "server");
    let conf = format!(
        "tls.server.mode=enforcing\ntls.server.certPath={0}/server.cert.pem\ntls.server.keyPath={0}/server.key.pem\n",
        dir.path().display()
    );
    let b = dev(Some(conf), false);
    works(&tls_client(b.broker, tls::trusting(&cert).unwrap()).await.unwrap()).await;
    unusable(RawClient::connect(b.broker).await).await;
    unusable(RawClient::connect(b.namesrv).await).await;
    // the broker still serves TLS clients after the plaintext attempts
    works(&tls_client(b.broker, tls::trusting(&cert).unwrap()).await.unwrap()).await;
}

#[tokio::test]
async fn client_certificates_are_required_when_configured() {
    use rcgen::{BasicConstraints, CertificateParams, ExtendedKeyUsagePurpose, IsCa, KeyPair};
    let dir = tempfile::tempdir().unwrap();
    let server_cert = write_cert(dir.path(), "server");
    let ca_key = KeyPair::generate().unwrap();
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let ca = ca_params.self_signed(&ca_key).unwrap();
    std::fs::write(dir.path().join("ca.pem"), ca.pem()).unwrap();
    let client_key = KeyPair::generate().unwrap();
    let mut client_params = CertificateParams::new(vec!["client".to_string()]).unwrap();
    client_params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
    let client_cert = client_params.signed_by(&client_key, &ca, &ca_key).unwrap();
    let conf = format!(
        "tls.server.mode=enforcing\ntls.server.certPath={0}/server.cert.pem\ntls.server.keyPath={0}/server.key.pem\ntls.server.need.client.auth=require\ntls.server.trustCertPath={0}/ca.pem\n",
        dir.path().display()
    );
    let b = dev(Some(conf), false);
    let with_cert = tls::with_client_cert(&server_cert, &client_cert.pem(), &client_key.serialize_pem()).unwrap();
    works(&tls_client(b.broker, with_cert).await.expect("a client certificate signed by the CA")).await;
    unusable(tls_client(b.broker, tls::trusting(&server_cert).unwrap()).await).await;
    // a certificate from another CA is refused too
    let (other_cert, other_key) = ferrocket::net::tls::self_signed().unwrap();
    let stranger = tls::with_client_cert(&server_cert, &other_cert, &other_key).unwrap();
    unusable(tls_client(b.broker, stranger).await).await;
}

#[tokio::test]
async fn the_certificate_is_reloaded_when_its_files_change() {
    let dir = tempfile::tempdir().unwrap();
    let first = write_cert(dir.path(), "server");
    let conf = format!(
        "tls.server.mode=permissive\ntls.server.certPath={0}/server.cert.pem\ntls.server.keyPath={0}/server.key.pem\n",
        dir.path().display()
    );
    let b = dev(Some(conf), false);
    works(&tls_client(b.broker, tls::trusting(&first).unwrap()).await.unwrap()).await;
    // a broken certificate file keeps the old certificate in force
    std::fs::write(dir.path().join("server.cert.pem"), "not a certificate").unwrap();
    tokio::time::sleep(Duration::from_millis(2500)).await;
    works(&tls_client(b.broker, tls::trusting(&first).unwrap()).await.unwrap()).await;
    let (second, key) = ferrocket::net::tls::self_signed().unwrap();
    std::fs::write(dir.path().join("server.key.pem"), key).unwrap();
    std::fs::write(dir.path().join("server.cert.pem"), &second).unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if let Ok(c) = tls_client(b.broker, tls::trusting(&second).unwrap()).await {
            works(&c).await;
            break;
        }
        assert!(Instant::now() < deadline, "the new certificate was not picked up");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert!(tls_client(b.broker, tls::trusting(&first).unwrap()).await.is_err(), "the old certificate is gone");
    assert!(b.log_tail(200).contains("TLS certificate not reloaded"), "the broken file was reported");
}

#[tokio::test]
async fn a_tls_mode_without_a_certificate_is_a_clear_startup_error() {
    let dir = tempfile::tempdir().unwrap();
    let conf = dir.path().join("broker.conf");
    std::fs::write(&conf, "tls.server.mode=enforcing\n").unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_ferrocket")).args(["dev", "--config"]).arg(&conf).output().unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("tls.server.certPath"), "{}", String::from_utf8_lossy(&out.stderr));
    std::fs::write(&conf, format!("tls.server.mode=enforcing\ntls.server.certPath={0}/none.pem\ntls.server.keyPath={0}/none.key\n", dir.path().display())).unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_ferrocket")).args(["dev", "--config"]).arg(&conf).output().unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("none.pem"), "{}", String::from_utf8_lossy(&out.stderr));
}
