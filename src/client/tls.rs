//! How a client reaches a server: plain TCP or TLS.
//!
//! A [`Connector`] is chosen once (from `--tls`, `--tls-ca`,
//! `--tls-server-name`) and used for every connection, failover included,
//! so every candidate server is reached the same way.

use std::fmt;
use std::io;
use std::path::Path;
use std::sync::Arc;

use rustls::pki_types::ServerName;
use rustls::RootCertStore;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::CertificateDer;
use tokio::net::TcpStream;
use tokio_rustls::client::TlsStream;
use tokio_rustls::TlsConnector;

/// How to reach servers.
#[derive(Clone, Default)]
pub enum Connector {
    /// Plain TCP: the default, for a trusted LAN.
    #[default]
    Plain,
    /// TLS, verifying the server's certificate.
    Tls(Arc<ClientTls>),
}

impl fmt::Debug for Connector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Connector::Plain => f.write_str("Plain"),
            Connector::Tls(tls) => write!(f, "Tls({:?})", tls.server_name),
        }
    }
}

/// TLS settings for connecting: trusted roots and, optionally, one name
/// every server's certificate is checked against.
pub struct ClientTls {
    connector: TlsConnector,
    server_name: Option<ServerName<'static>>,
}

/// Why the client's TLS settings could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum ClientTlsError {
    /// The CA file could not be read or held no certificate.
    #[error("CA file {path}: {detail}")]
    CaFile {
        /// The file.
        path: String,
        /// What was wrong.
        detail: String,
    },
    /// No usable root certificate was found in the system store.
    #[error("no trusted root certificates found in the system store; give one with --tls-ca")]
    NoSystemRoots,
    /// `--tls-server-name` is not a valid DNS name or IP address.
    #[error("{0:?} is not a valid server name")]
    BadServerName(String),
    /// rustls refused the settings.
    #[error("TLS settings: {0}")]
    Rustls(#[from] rustls::Error),
}

impl ClientTls {
    /// Trusts the certificates in the PEM file `ca`, or the system's root
    /// store without one. With `server_name`, every server's certificate
    /// must be valid for that name; otherwise for the host part of the
    /// address dialled (a DNS name or an IP address).
    pub fn new(ca: Option<&Path>, server_name: Option<&str>) -> Result<ClientTls, ClientTlsError> {
        let mut roots = RootCertStore::empty();
        match ca {
            Some(path) => {
                let ca_err = |detail: String| ClientTlsError::CaFile {
                    path: path.display().to_string(),
                    detail,
                };
                let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(path)
                    .and_then(|certs| certs.collect::<Result<_, _>>())
                    .map_err(|e| ca_err(e.to_string()))?;
                if certs.is_empty() {
                    return Err(ca_err("no CERTIFICATE block found".into()));
                }
                for cert in certs {
                    roots
                        .add(cert)
                        .map_err(|e| ca_err(format!("unusable certificate: {e}")))?;
                }
            }
            None => {
                // Unreadable entries in the system store are skipped, as
                // browsers do; only an empty result is an error.
                let found = rustls_native_certs::load_native_certs();
                let (added, _ignored) = roots.add_parsable_certificates(found.certs);
                if added == 0 {
                    return Err(ClientTlsError::NoSystemRoots);
                }
            }
        }
        let server_name = server_name
            .map(|name| {
                ServerName::try_from(name.to_string())
                    .map_err(|_| ClientTlsError::BadServerName(name.to_string()))
            })
            .transpose()?;
        Ok(ClientTls::with_roots(roots, server_name)?)
    }

    /// From an already built root store (tests, embedding).
    pub fn with_roots(
        roots: RootCertStore,
        server_name: Option<ServerName<'static>>,
    ) -> Result<ClientTls, rustls::Error> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let config = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()?
            .with_root_certificates(roots)
            .with_no_client_auth();
        Ok(ClientTls {
            connector: TlsConnector::from(Arc::new(config)),
            server_name,
        })
    }

    /// Runs the TLS handshake over `tcp`, dialled as `addr` (`host:port`).
    pub async fn handshake(&self, tcp: TcpStream, addr: &str) -> io::Result<TlsStream<TcpStream>> {
        let name = match &self.server_name {
            Some(name) => name.clone(),
            None => host_name(addr)?,
        };
        self.connector.connect(name, tcp).await
    }
}

/// The name to verify a server by when none was configured: the host part
/// of `host:port` (`[v6]:port` too).
fn host_name(addr: &str) -> io::Result<ServerName<'static>> {
    let host = match addr.rsplit_once(':') {
        Some((host, _port)) => host,
        None => addr,
    };
    let host = host.trim_start_matches('[').trim_end_matches(']');
    ServerName::try_from(host.to_string()).map_err(|_| {
        io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("{host:?} is not a name a certificate can be checked against"),
        )
    })
}

/// Whether a failed handshake looks like the server speaking something
/// other than TLS (e.g. a server without `--tls-cert`).
pub fn not_tls(err: &io::Error) -> bool {
    let Some(inner) = err.get_ref() else {
        return false;
    };
    matches!(
        inner.downcast_ref::<rustls::Error>(),
        Some(rustls::Error::InvalidMessage(_)) | Some(rustls::Error::InappropriateMessage { .. })
    )
}

/// What to add to a failed handshake's error so that it says what to do.
pub fn hint(err: &io::Error) -> &'static str {
    if not_tls(err) {
        return " (the server does not seem to use TLS; try without --tls)";
    }
    let Some(rustls::Error::InvalidCertificate(cert)) = err
        .get_ref()
        .and_then(|e| e.downcast_ref::<rustls::Error>())
    else {
        return "";
    };
    // webpki's reasons reach us only as `Other(..)`, so they are matched
    // by name.
    match cert {
        rustls::CertificateError::Other(other)
            if format!("{other:?}").contains("CaUsedAsEndEntity") =>
        {
            " (the server's certificate is a CA certificate, as the usual `openssl req -x509` \
             one-liner makes; give the server a certificate signed by a CA instead: \
             README.md, \"Certificates\")"
        }
        rustls::CertificateError::UnknownIssuer | rustls::CertificateError::BadSignature => {
            " (pass the CA that signed the server's certificate with --tls-ca)"
        }
        rustls::CertificateError::NotValidForName
        | rustls::CertificateError::NotValidForNameContext { .. } => {
            " (the certificate does not name the address dialled; dial a name it holds, or \
             use --tls-server-name)"
        }
        _ => "",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_names_come_from_the_address() {
        assert_eq!(
            host_name("chat.lan:7878").unwrap(),
            ServerName::try_from("chat.lan").unwrap()
        );
        assert_eq!(
            host_name("127.0.0.1:7878").unwrap(),
            ServerName::try_from("127.0.0.1").unwrap()
        );
        assert_eq!(
            host_name("[::1]:7878").unwrap(),
            ServerName::try_from("::1").unwrap()
        );
        assert!(host_name("bad name:1").is_err());
    }
}
