//! One look inside a certificate, so a common mistake is explained at
//! start instead of as a client's `CaUsedAsEndEntity`: the usual
//! `openssl req -x509` one-liner makes a CA certificate
//! (basicConstraints CA:TRUE), which TLS clients refuse as a server's
//! certificate.
//!
//! Only the basicConstraints extension is read, by a bounded scan of the
//! DER bytes; nothing here trusts or verifies anything (rustls does that).

/// The DER encoding of the basicConstraints OID, 2.5.29.19.
const BASIC_CONSTRAINTS: [u8; 5] = [0x06, 0x03, 0x55, 0x1d, 0x13];

/// Whether the DER certificate `der` says it is a CA (basicConstraints
/// with cA TRUE). Anything that does not parse as that is "no".
pub fn is_ca(der: &[u8]) -> bool {
    let Some(at) = der
        .windows(BASIC_CONSTRAINTS.len())
        .position(|w| w == BASIC_CONSTRAINTS)
    else {
        return false;
    };
    let mut rest = &der[at + BASIC_CONSTRAINTS.len()..];
    // critical BOOLEAN, optional
    if let [0x01, 0x01, _, tail @ ..] = rest {
        rest = tail;
    }
    // extnValue OCTET STRING holding SEQUENCE { cA BOOLEAN DEFAULT FALSE, pathLen INTEGER OPTIONAL }
    match rest {
        [0x04, _, 0x30, len, 0x01, 0x01, flag, ..] => *len >= 3 && *flag != 0,
        _ => false,
    }
}

/// What to tell someone whose server certificate is a CA certificate.
pub const CA_AS_LEAF_FIX: &str = "its first certificate is a CA certificate \
    (basicConstraints CA:TRUE, as `openssl req -x509` makes by default), and TLS clients \
    refuse a CA certificate as a server's (CaUsedAsEndEntity). Make a small CA and a server \
    certificate it signs: README.md, \"Certificates\", has the commands";

#[cfg(test)]
mod tests {
    use super::is_ca;
    use rcgen::{BasicConstraints, CertificateParams, IsCa, KeyPair};

    fn cert(ca: IsCa) -> Vec<u8> {
        let mut params = CertificateParams::new(vec!["chat.lan".into()]).unwrap();
        params.is_ca = ca;
        let key = KeyPair::generate().unwrap();
        params.self_signed(&key).unwrap().der().to_vec()
    }

    #[test]
    fn ca_certificates_are_told_from_server_certificates() {
        assert!(is_ca(&cert(IsCa::Ca(BasicConstraints::Unconstrained))));
        assert!(is_ca(&cert(IsCa::Ca(BasicConstraints::Constrained(0)))));
        assert!(!is_ca(&cert(IsCa::NoCa)), "no basicConstraints at all");
        assert!(!is_ca(&cert(IsCa::ExplicitNoCa)), "CA:FALSE");
        assert!(!is_ca(b"not a certificate"));
        assert!(!is_ca(&[0x06, 0x03, 0x55, 0x1d, 0x13, 0x04]), "cut short");
    }
}
