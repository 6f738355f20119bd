//! TLS for the client listener: loading the certificate chain and key, and
//! telling a plain-TCP client that it knocked on a TLS port.
//!
//! The chat protocol is unchanged inside TLS (same frames, no ALPN). The
//! server authenticates itself with its certificate; clients are not
//! authenticated by TLS (no client certificates).

use std::fmt;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use tokio::net::TcpStream;
use tokio::time::{timeout_at, Instant};
use tokio_rustls::server::TlsStream;
use tokio_rustls::TlsAcceptor;
use tracing::{debug, info};

use super::closing::refuse;
use crate::protocol::ErrorCode;

/// The first byte of every TLS connection: a handshake record. A chat
/// frame starts with its length prefix, whose first byte is 0 for any
/// frame a client may send (at most 64 KiB), so one byte tells them apart.
pub const TLS_HANDSHAKE_RECORD: u8 = 0x16;

/// Why the TLS settings could not be loaded. Reported at startup.
#[derive(Debug, thiserror::Error)]
pub enum TlsSetupError {
    /// A PEM file could not be read or held nothing usable.
    #[error("{what} {path}: {detail}")]
    File {
        /// "certificate file" or "key file".
        what: &'static str,
        /// The file.
        path: PathBuf,
        /// What was wrong.
        detail: String,
    },
    /// The leaf is a CA certificate, which clients refuse ([`super::certs`]).
    #[error("certificate file {0}: {fix}", fix = super::certs::CA_AS_LEAF_FIX)]
    CaAsLeaf(PathBuf),
    /// rustls refused the pair, e.g. the key does not match the certificate.
    #[error("certificate {cert} with key {key}: {source}")]
    Rejected {
        /// The certificate file.
        cert: PathBuf,
        /// The key file.
        key: PathBuf,
        /// rustls's reason.
        source: rustls::Error,
    },
}

/// A loaded certificate and key, ready to accept TLS connections.
#[derive(Clone)]
pub struct ServerTls {
    acceptor: TlsAcceptor,
}

impl fmt::Debug for ServerTls {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ServerTls")
    }
}

impl ServerTls {
    /// Loads a PEM certificate chain (leaf first) and its PEM private key
    /// (PKCS#8, PKCS#1 or SEC1), and checks that they belong together.
    pub fn load(cert: &Path, key: &Path) -> Result<ServerTls, TlsSetupError> {
        let file_err = |what, path: &Path, detail: String| TlsSetupError::File {
            what,
            path: path.to_path_buf(),
            detail,
        };
        let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(cert)
            .and_then(|certs| certs.collect::<Result<_, _>>())
            .map_err(|e| file_err("certificate file", cert, pem_detail(e)))?;
        if chain.is_empty() {
            return Err(file_err(
                "certificate file",
                cert,
                "no CERTIFICATE block found".into(),
            ));
        }
        if super::certs::is_ca(&chain[0]) {
            return Err(TlsSetupError::CaAsLeaf(cert.to_path_buf()));
        }
        let private = PrivateKeyDer::from_pem_file(key)
            .map_err(|e| file_err("key file", key, pem_detail(e)))?;
        ServerTls::from_der(chain, private).map_err(|source| TlsSetupError::Rejected {
            cert: cert.to_path_buf(),
            key: key.to_path_buf(),
            source,
        })
    }

    /// Builds the acceptor from DER values (tests, embedding).
    pub fn from_der(
        chain: Vec<CertificateDer<'static>>,
        key: PrivateKeyDer<'static>,
    ) -> Result<ServerTls, rustls::Error> {
        // An explicit provider: the process-wide default panics if some
        // other crate in the build ever enables a second one.
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()?
            .with_no_client_auth()
            .with_single_cert(chain, key)?;
        Ok(ServerTls {
            acceptor: TlsAcceptor::from(Arc::new(config)),
        })
    }

    /// The acceptor, for a gateway that speaks another protocol inside TLS
    /// with the same certificate (the IRC port) and refuses plain peers in
    /// its own words.
    pub fn acceptor(&self) -> &TlsAcceptor {
        &self.acceptor
    }

    /// Runs the TLS handshake by `deadline`. A peer whose first byte is not a
    /// TLS record is taken for a plain chat client and told, in the clear, to
    /// use TLS. Returns `None` if the connection is over.
    pub async fn handshake(
        &self,
        stream: TcpStream,
        deadline: Instant,
    ) -> Option<TlsStream<TcpStream>> {
        let mut first = [0u8; 1];
        match timeout_at(deadline, stream.peek(&mut first)).await {
            Ok(Ok(1)) if first[0] == TLS_HANDSHAKE_RECORD => {}
            Ok(Ok(1)) => {
                info!("plain client on the TLS port; refusing");
                refuse(
                    stream,
                    ErrorCode::TLS_REQUIRED,
                    "this server only accepts TLS connections; connect with TLS (chatty client --tls)"
                        .into(),
                )
                .await;
                return None;
            }
            Ok(_) => return None,
            Err(_) => {
                debug!("no TLS handshake before the deadline");
                return None;
            }
        }
        match timeout_at(deadline, self.acceptor.accept(stream)).await {
            Ok(Ok(stream)) => Some(stream),
            Ok(Err(err)) => {
                info!(cause = %err, "TLS handshake failed");
                None
            }
            Err(_) => {
                debug!("TLS handshake did not finish before the deadline");
                None
            }
        }
    }
}

/// A PEM error in words a person running the server understands.
fn pem_detail(err: rustls_pki_types::pem::Error) -> String {
    use rustls_pki_types::pem::Error;
    match err {
        Error::Io(e) if e.kind() == io::ErrorKind::NotFound => "no such file".into(),
        Error::Io(e) => e.to_string(),
        Error::NoItemsFound => "no PEM private key found (expected a PRIVATE KEY block)".into(),
        other => format!("not valid PEM: {other}"),
    }
}
