//! Certificates as people make them: README's recipe, run as written
//! (with 127.0.0.1), gives a server a client can reach over TLS; the usual
//! `openssl req -x509` one-liner, whose certificate is a CA, is refused at
//! start with the fix, and a client that meets such a certificate anyway
//! is told what is wrong.
//!
//! Needs `openssl` (`.ci/run` installs it); without it these print
//! SKIPPED and pass.

use crate::common;

use std::path::{Path, PathBuf};
use std::process::Command;

use chatty::client::{Client, ClientTls, Connector};
use chatty::server::{ServerConfig, ServerTls};
use common::proc::{chatty, loopback_server, spawn};
use common::{free_udp_port, TestServer};
use rcgen::{BasicConstraints, CertificateParams, IsCa, KeyPair, SanType};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};

fn openssl_missing(test: &str) -> bool {
    let found = Command::new("openssl")
        .arg("version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !found {
        use std::io::Write;
        let _ = writeln!(
            std::io::stderr(),
            "SKIPPED: {test}: openssl is not installed"
        );
    }
    !found
}

/// A fresh directory, removed on drop.
struct Dir(PathBuf);

impl Dir {
    fn new(tag: &str) -> Dir {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .subsec_nanos();
        let path =
            std::env::temp_dir().join(format!("chatty-certs-{tag}-{}-{nanos}", std::process::id()));
        std::fs::create_dir_all(&path).unwrap();
        Dir(path)
    }

    fn file(&self, name: &str) -> String {
        self.0.join(name).to_string_lossy().into_owned()
    }
}

impl Drop for Dir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// The shell block README.md marks as run by this test.
fn readme_recipe() -> String {
    let readme = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("README.md"))
        .expect("README.md");
    let marker = "<!-- tests/tls/certificates.rs runs this block";
    let after = &readme[readme.find(marker).expect("the marked recipe")..];
    let start = after.find("```sh\n").expect("a sh block") + "```sh\n".len();
    let block = &after[start..];
    block[..block.find("```").expect("the block's end")].to_string()
}

fn sh(script: &str, dir: &Dir) {
    let out = Command::new("sh")
        .arg("-ec")
        .arg(script)
        .current_dir(&dir.0)
        .output()
        .expect("run sh");
    assert!(
        out.status.success(),
        "{script}\nfailed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[tokio::test]
async fn the_readme_recipe_makes_certificates_a_client_accepts() {
    if openssl_missing("the_readme_recipe_makes_certificates_a_client_accepts") {
        return;
    }
    let recipe = readme_recipe();
    assert!(recipe.starts_with("ip=10.0.0.1"), "{recipe}");
    let dir = Dir::new("recipe");
    sh(&recipe.replacen("ip=10.0.0.1", "ip=127.0.0.1", 1), &dir);
    let (cert, key, ca) = (
        dir.file("server.pem"),
        dir.file("server-key.pem"),
        dir.file("lan-ca.pem"),
    );
    let server = loopback_server(free_udp_port(), &["--tls-cert", &cert, "--tls-key", &key]).await;
    let addr = server.addr().to_string();
    let mut leo = spawn(&["client", &addr, "--name", "Leo", "--tls", "--tls-ca", &ca]);
    leo.until("[JOIN] Leo joined the chat").await.unwrap();
    leo.write("exit\n").await.unwrap();
    assert_eq!(leo.exit_code().await.unwrap(), 0);
}

#[tokio::test]
async fn the_one_liners_ca_certificate_is_refused_with_the_fix() {
    if openssl_missing("the_one_liners_ca_certificate_is_refused_with_the_fix") {
        return;
    }
    let dir = Dir::new("oneliner");
    sh(
        "openssl req -x509 -newkey rsa:2048 -nodes -keyout key.pem -out cert.pem -days 30 \
         -subj /CN=127.0.0.1 -addext subjectAltName=IP:127.0.0.1 2>/dev/null",
        &dir,
    );
    let out = chatty()
        .command(["server", "--listen", "127.0.0.1:0", "--iface", "127.0.0.1"])
        .args(["--group", &format!("239.255.77.77:{}", free_udp_port())])
        .args([
            "--tls-cert",
            &dir.file("cert.pem"),
            "--tls-key",
            &dir.file("key.pem"),
        ])
        .output()
        .await
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    for needle in [
        "cert.pem",
        "CA certificate",
        "openssl req -x509",
        "README.md",
    ] {
        assert!(err.contains(needle), "{needle:?} missing: {err}");
    }
}

/// A server that serves a CA certificate as its own (only possible by
/// building the acceptor directly): the client's error names the cause.
#[tokio::test]
async fn a_client_meeting_a_ca_certificate_is_told_the_fix() {
    let key = KeyPair::generate().unwrap();
    let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
    params.subject_alt_names = vec![SanType::IpAddress("127.0.0.1".parse().unwrap())];
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let cert = params.self_signed(&key).unwrap();
    let der = CertificateDer::from(cert.der().to_vec());
    let private = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der()));
    let tls = ServerTls::from_der(vec![der.clone()], private).unwrap();
    let server = TestServer::start(ServerConfig {
        tls: Some(tls),
        ..ServerConfig::default()
    })
    .await;
    let mut roots = rustls::RootCertStore::empty();
    roots.add(der).unwrap();
    let connector = Connector::Tls(std::sync::Arc::new(
        ClientTls::with_roots(roots, None).unwrap(),
    ));
    let err = Client::connect_via(&server.addr.to_string(), &connector)
        .await
        .expect_err("a CA certificate is refused");
    let text = err.to_string();
    assert!(
        text.contains("CA certificate") && text.contains("Certificates"),
        "{text}"
    );
}
