//! Client TLS: chat over TLS with the library and the real binary, and clear
//! failures for every mismatch (plain vs TLS, wrong CA, wrong name, bad
//! files). Certificates are made at test time by rcgen; no key is committed.

use crate::common;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use chatty::client::{Client, ClientError, ClientTls, Connector};
use chatty::protocol::ErrorCode;
use chatty::server::{RateLimit, ServerConfig, ServerTls, TlsSetupError};
use common::proc::{chatty, loopback_server, spawn, Process, Server, Signal};
use common::{free_udp_port, wait_for_text, TestServer};
use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, KeyPair, KeyUsagePurpose};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer, ServerName};

/// A throwaway CA and a server certificate it signed.
struct Pki {
    ca_pem: String,
    ca_der: CertificateDer<'static>,
    cert_pem: String,
    cert_der: CertificateDer<'static>,
    key_pem: String,
    key_der: Vec<u8>,
}

impl Pki {
    /// A CA plus a leaf valid for `names` (DNS names or IP addresses).
    fn new(names: &[&str]) -> Pki {
        let ca_key = KeyPair::generate().unwrap();
        let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca_params
            .distinguished_name
            .push(DnType::CommonName, "chatty test CA");
        ca_params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        let ca = ca_params.self_signed(&ca_key).unwrap();
        let key = KeyPair::generate().unwrap();
        let names: Vec<String> = names.iter().map(|s| s.to_string()).collect();
        let leaf = CertificateParams::new(names)
            .unwrap()
            .signed_by(&key, &ca, &ca_key)
            .unwrap();
        Pki {
            ca_pem: ca.pem(),
            ca_der: ca.der().clone(),
            cert_pem: leaf.pem(),
            cert_der: leaf.der().clone(),
            key_pem: key.serialize_pem(),
            key_der: key.serialize_der(),
        }
    }

    fn server_tls(&self) -> ServerTls {
        let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(self.key_der.clone()));
        ServerTls::from_der(vec![self.cert_der.clone()], key).unwrap()
    }

    /// A client trusting only this CA.
    fn connector(&self, server_name: Option<&str>) -> Connector {
        let mut roots = rustls::RootCertStore::empty();
        roots.add(self.ca_der.clone()).unwrap();
        let name = server_name.map(|n| ServerName::try_from(n.to_string()).unwrap());
        Connector::Tls(Arc::new(ClientTls::with_roots(roots, name).unwrap()))
    }
}

async fn tls_server(pki: &Pki) -> TestServer {
    TestServer::start(ServerConfig {
        rate_limit: RateLimit::OFF,
        tls: Some(pki.server_tls()),
        ..ServerConfig::default()
    })
    .await
}

#[tokio::test]
async fn two_clients_chat_over_tls() {
    let pki = Pki::new(&["127.0.0.1"]);
    let server = tls_server(&pki).await;
    let tls = pki.connector(None);
    let addr = server.addr_string();
    let mut ann = Client::connect_via(&addr, &tls).await.unwrap();
    ann.join("Ann").await.unwrap();
    let mut bob = Client::connect_via(&addr, &tls).await.unwrap();
    bob.join("Bob").await.unwrap();
    ann.say("hello over TLS").await.unwrap();
    assert_eq!(wait_for_text(&mut bob, "hello over TLS").await, "Ann");
    // A burst: the server's writer must flush what TLS buffers, also the last frame.
    for n in 0..300 {
        bob.say(&format!("burst {n} {}", "x".repeat(500)))
            .await
            .unwrap();
    }
    let last = format!("burst 299 {}", "x".repeat(500));
    assert_eq!(wait_for_text(&mut ann, &last).await, "Bob");
    let report = ann.status().await.unwrap();
    assert_eq!(report.members.len(), 2);
}

#[tokio::test]
async fn a_plain_client_is_told_the_server_requires_tls() {
    let pki = Pki::new(&["127.0.0.1"]);
    let server = tls_server(&pki).await;
    match Client::connect(&server.addr_string()).await {
        Err(ClientError::Refused { code, text, fatal }) => {
            assert_eq!(code, ErrorCode::TLS_REQUIRED);
            assert!(fatal);
            assert!(text.contains("TLS"), "{text}");
        }
        other => panic!("expected tls_required, got {other:?}"),
    }
}

#[tokio::test]
async fn a_tls_client_is_told_the_server_does_not_use_tls() {
    let pki = Pki::new(&["127.0.0.1"]);
    let server = TestServer::unlimited().await;
    let err = Client::connect_via(&server.addr_string(), &pki.connector(None))
        .await
        .unwrap_err();
    assert!(matches!(err, ClientError::Tls { .. }), "{err:?}");
    assert!(
        err.to_string().contains("does not seem to use TLS"),
        "{err}"
    );
}

#[tokio::test]
async fn a_certificate_from_another_ca_is_refused() {
    let server_pki = Pki::new(&["127.0.0.1"]);
    let other = Pki::new(&["127.0.0.1"]);
    let server = tls_server(&server_pki).await;
    let err = Client::connect_via(&server.addr_string(), &other.connector(None))
        .await
        .unwrap_err();
    let text = err.to_string();
    assert!(matches!(err, ClientError::Tls { .. }), "{err:?}");
    // Both test CAs share a name, so rustls finds the issuer and then
    // fails its signature; either way the certificate is named as the cause.
    assert!(text.contains("invalid peer certificate"), "{text}");
    // The refused handshake affected nobody else.
    let mut ok = Client::connect_via(&server.addr_string(), &server_pki.connector(None))
        .await
        .unwrap();
    ok.join("Ann").await.unwrap();
}

/// Without --tls-server-name the certificate must name the host dialled;
/// with it, every server is checked against that one name.
#[tokio::test]
async fn the_certificate_must_name_the_server() {
    let pki = Pki::new(&["chat.example"]);
    let server = tls_server(&pki).await;
    let addr = server.addr_string();
    let err = Client::connect_via(&addr, &pki.connector(None))
        .await
        .unwrap_err();
    assert!(err.to_string().contains("not valid for name"), "{err}");
    let mut client = Client::connect_via(&addr, &pki.connector(Some("chat.example")))
        .await
        .unwrap();
    client.join("Ann").await.unwrap();
}

#[test]
fn unreadable_or_mismatched_files_are_reported_clearly() {
    let dir = TempDir::new("files");
    let pki = Pki::new(&["127.0.0.1"]);
    let other = Pki::new(&["127.0.0.1"]);
    let cert = dir.write("cert.pem", &pki.cert_pem);
    let key = dir.write("key.pem", &pki.key_pem);
    let other_key = dir.write("other-key.pem", &other.key_pem);
    assert!(ServerTls::load(&cert, &key).is_ok());

    let missing = dir.path.join("missing.pem");
    let err = ServerTls::load(&missing, &key).unwrap_err().to_string();
    assert!(
        err.contains("missing.pem") && err.contains("no such file"),
        "{err}"
    );

    let err = ServerTls::load(&cert, &cert).unwrap_err().to_string();
    assert!(
        err.contains("key file") && err.contains("PRIVATE KEY"),
        "{err}"
    );

    let err = ServerTls::load(&key, &key).unwrap_err().to_string();
    assert!(err.contains("no CERTIFICATE"), "{err}");

    match ServerTls::load(&cert, &other_key) {
        Err(err @ TlsSetupError::Rejected { .. }) => {
            assert!(err.to_string().contains("other-key.pem"), "{err}")
        }
        other => panic!("a key of another certificate must be refused: {other:?}"),
    }

    let err = ClientTls::new(Some(&key), None).err().unwrap().to_string();
    assert!(
        err.contains("CA file") && err.contains("no CERTIFICATE"),
        "{err}"
    );
}

// ------------------------------------------------------- the real binary

/// The real `chatty` server and clients over TLS: chat, status, a plain
/// status refused clearly, and failover to a second TLS server.
#[tokio::test]
async fn the_binary_chats_and_fails_over_over_tls() {
    let dir = TempDir::new("binary");
    let pki = Pki::new(&["127.0.0.1"]);
    let cert = dir.write("cert.pem", &pki.cert_pem);
    let key = dir.write("key.pem", &pki.key_pem);
    let ca = dir.write("ca.pem", &pki.ca_pem);
    let group = free_udp_port();
    let (a, addr_a) = tls_server_proc(group, &cert, &key).await;
    let (_b, addr_b) = tls_server_proc(group, &cert, &key).await;

    let mut leo = tls_client(&addr_a, "Leo", &ca);
    leo.until("[JOIN] Leo joined the chat").await.unwrap();
    let mut ann = tls_client(&addr_b, "Ann", &ca);
    ann.until("[JOIN] Ann joined the chat").await.unwrap();
    leo.until("[JOIN] Ann joined the chat").await.unwrap();
    ann.write("hi Leo\n").await.unwrap();
    leo.until("[Ann] hi Leo").await.unwrap();

    let status = chatty()
        .command(["status", "--json", "--tls", "--tls-ca"])
        .arg(&ca)
        .arg(&addr_a)
        .output()
        .await
        .unwrap();
    assert!(status.status.success(), "{status:?}");
    let json = String::from_utf8_lossy(&status.stdout);
    assert!(
        json.contains("\"Leo\"") && json.contains("\"Ann\""),
        "{json}"
    );

    let plain = chatty()
        .command(["status", &addr_a])
        .output()
        .await
        .unwrap();
    assert_eq!(plain.status.code(), Some(1));
    let err = String::from_utf8_lossy(&plain.stderr);
    assert!(err.contains("tls_required"), "{err}");

    // Failover: every candidate is reached over TLS too.
    a.signal(Signal::Term).unwrap();
    let out = leo
        .until_match("reconnected", |l| l.starts_with("[SERVER] reconnected to "))
        .await
        .unwrap();
    assert!(out.last().unwrap().contains(&addr_b), "{out:?}");
    leo.write("still here\n").await.unwrap();
    ann.until("[Leo] still here").await.unwrap();
    leo.close_stdin();
    assert_eq!(leo.exit_code().await.unwrap(), 0);
}

#[tokio::test]
async fn the_binary_refuses_to_start_with_a_bad_key() {
    let dir = TempDir::new("badkey");
    let pki = Pki::new(&["127.0.0.1"]);
    let cert = dir.write("cert.pem", &pki.cert_pem);
    let out = chatty()
        .command(["server", "--listen", "127.0.0.1:0", "--iface", "127.0.0.1"])
        .arg("--tls-cert")
        .arg(&cert)
        .arg("--tls-key")
        .arg(dir.path.join("nope.pem"))
        .output()
        .await
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("nope.pem") && err.contains("no such file"),
        "{err}"
    );
}

/// A directory under the system temp dir, removed on drop.
struct TempDir {
    path: PathBuf,
}

impl TempDir {
    fn new(tag: &str) -> TempDir {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos();
        let path =
            std::env::temp_dir().join(format!("chatty-tls-{tag}-{}-{nanos}", std::process::id()));
        std::fs::create_dir_all(&path).unwrap();
        TempDir { path }
    }

    fn write(&self, name: &str, contents: &str) -> PathBuf {
        let path = self.path.join(name);
        std::fs::write(&path, contents).unwrap();
        path
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.path);
    }
}

async fn tls_server_proc(group_port: u16, cert: &Path, key: &Path) -> (Server, String) {
    let (cert, key) = (cert.to_str().unwrap(), key.to_str().unwrap());
    let server = loopback_server(group_port, &["--tls-cert", cert, "--tls-key", key]).await;
    let addr = server.addr().to_string();
    (server, addr)
}

fn tls_client(addr: &str, name: &str, ca: &Path) -> Process {
    let ca = ca.to_str().unwrap();
    spawn(&["client", addr, "--name", name, "--tls", "--tls-ca", ca])
}
