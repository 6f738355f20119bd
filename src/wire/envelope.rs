//! The envelope every server-to-server datagram travels in.
//!
//! ```text
//! offset  size  field
//! 0       4     magic "CHTY"
//! 4       1     envelope version (1)
//! 5       1     kind (see [`Kind`])
//! 6       1     cluster name length L (0..=64)
//! 7       L     cluster name, UTF-8
//! 7+L     ..    body: one MessagePack value (positional arrays), kind-specific
//! ```
//!
//! A whole datagram is at most [`MAX_DATAGRAM`] bytes so it never fragments
//! on an Ethernet LAN. Envelopes are built to at most [`MAX_ENVELOPE`], which
//! leaves room for the seal (see [`crate::seal`]) whether or not the cluster
//! has a key, so packers need not know. Decoding checks everything before a body is parsed,
//! returns an error for anything malformed, and never panics.

use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::protocol::skim::{check_shape, ShapeError};

use super::{MAGIC, MAX_DATAGRAM, SEAL_OVERHEAD, VERSION};

/// Largest plain envelope built: [`MAX_DATAGRAM`] less the seal overhead.
pub const MAX_ENVELOPE: usize = MAX_DATAGRAM - SEAL_OVERHEAD;
/// Longest cluster name, in bytes.
pub const MAX_CLUSTER_NAME: usize = 64;
/// Deepest container nesting accepted in a body.
const MAX_BODY_NESTING: usize = 8;
const HEADER_LEN: usize = 7;

/// What a datagram carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum Kind {
    /// A server's periodic "I am alive" with its addresses and counter.
    Heartbeat = 1,
    /// A digest of the members a server knows, for servers that cannot hear them.
    Gossip = 2,
    /// A server announcing its graceful departure.
    Leave = 3,
    /// Relay: sequenced chat events from their origin.
    RelayData = 16,
    /// Relay: the range of sequence numbers an origin still holds.
    RelayStatus = 17,
    /// Relay: a receiver asking an origin to resend missing events.
    RelayNack = 18,
    /// Relay: a receiver asking an origin for a snapshot of its members.
    RelaySyncRequest = 19,
    /// Relay: one part of an origin's member snapshot.
    RelaySnapshot = 20,
}

impl Kind {
    /// True for the relay's kinds (16–20), which the node hands to the
    /// relay; the others belong to membership.
    pub fn is_relay(self) -> bool {
        self as u8 >= Kind::RelayData as u8
    }

    fn from_byte(b: u8) -> Option<Kind> {
        Some(match b {
            1 => Kind::Heartbeat,
            2 => Kind::Gossip,
            3 => Kind::Leave,
            16 => Kind::RelayData,
            17 => Kind::RelayStatus,
            18 => Kind::RelayNack,
            19 => Kind::RelaySyncRequest,
            20 => Kind::RelaySnapshot,
            _ => return None,
        })
    }
}

/// Why a datagram was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EnvelopeError {
    /// Longer than [`MAX_DATAGRAM`].
    #[error("datagram of {0} bytes exceeds {MAX_DATAGRAM}")]
    Oversized(usize),
    /// Shorter than the header it claims.
    #[error("datagram truncated")]
    Truncated,
    /// Not a Chatty datagram.
    #[error("bad magic")]
    BadMagic,
    /// A Chatty datagram of another envelope version.
    #[error("unsupported envelope version {0}")]
    Version(u8),
    /// A kind this build does not know.
    #[error("unknown kind {0}")]
    UnknownKind(u8),
    /// The cluster name is not UTF-8 or too long.
    #[error("invalid cluster name")]
    ClusterName,
    /// The body is not a well-formed, shallow MessagePack value.
    #[error("malformed body: {0}")]
    Body(#[from] ShapeError),
    /// The body does not match its kind.
    #[error("invalid {kind:?} body: {detail}")]
    Fields {
        /// The datagram's kind.
        kind: Kind,
        /// What serde said.
        detail: String,
    },
    /// The encoded envelope would not fit (sender side).
    #[error("encoded envelope of {0} bytes exceeds {MAX_ENVELOPE}")]
    TooLargeToSend(usize),
}

/// A datagram whose envelope has been checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Envelope<'a> {
    /// What the body is.
    pub kind: Kind,
    /// The sender's cluster name.
    pub cluster: &'a str,
    /// The MessagePack body (shape-checked).
    pub body: &'a [u8],
}

impl Envelope<'_> {
    /// Decodes the body as `T`.
    pub fn body<T: DeserializeOwned>(&self) -> Result<T, EnvelopeError> {
        rmp_serde::from_slice(self.body).map_err(|e| EnvelopeError::Fields {
            kind: self.kind,
            detail: e.to_string(),
        })
    }
}

/// Checks and splits a received datagram.
pub fn open(datagram: &[u8]) -> Result<Envelope<'_>, EnvelopeError> {
    if datagram.len() > MAX_DATAGRAM {
        return Err(EnvelopeError::Oversized(datagram.len()));
    }
    if datagram.len() < HEADER_LEN {
        return Err(EnvelopeError::Truncated);
    }
    if datagram[..4] != MAGIC {
        return Err(EnvelopeError::BadMagic);
    }
    if datagram[4] != VERSION {
        return Err(EnvelopeError::Version(datagram[4]));
    }
    let kind = Kind::from_byte(datagram[5]).ok_or(EnvelopeError::UnknownKind(datagram[5]))?;
    let name_len = usize::from(datagram[6]);
    if name_len > MAX_CLUSTER_NAME {
        return Err(EnvelopeError::ClusterName);
    }
    let name = datagram
        .get(HEADER_LEN..HEADER_LEN + name_len)
        .ok_or(EnvelopeError::Truncated)?;
    let cluster = std::str::from_utf8(name).map_err(|_| EnvelopeError::ClusterName)?;
    let body = &datagram[HEADER_LEN + name_len..];
    check_shape(body, MAX_BODY_NESTING)?;
    Ok(Envelope {
        kind,
        cluster,
        body,
    })
}

/// Builds a datagram. Fails only if it would exceed [`MAX_ENVELOPE`] or the
/// cluster name is too long.
pub fn seal<T: Serialize>(kind: Kind, cluster: &str, body: &T) -> Result<Vec<u8>, EnvelopeError> {
    if cluster.len() > MAX_CLUSTER_NAME {
        return Err(EnvelopeError::ClusterName);
    }
    let mut out = Vec::with_capacity(128);
    out.extend_from_slice(&MAGIC);
    out.push(VERSION);
    out.push(kind as u8);
    out.push(cluster.len() as u8);
    out.extend_from_slice(cluster.as_bytes());
    rmp_serde::encode::write(&mut out, body)
        .expect("encoding a protocol message to memory cannot fail");
    if out.len() > MAX_ENVELOPE {
        return Err(EnvelopeError::TooLargeToSend(out.len()));
    }
    Ok(out)
}

/// Bytes of a datagram a body cannot use, for `cluster`: the envelope
/// header in front of it plus the room kept for the seal. A body of at most
/// `MAX_DATAGRAM - overhead(cluster)` bytes always fits.
pub fn overhead(cluster: &str) -> usize {
    HEADER_LEN + cluster.len() + SEAL_OVERHEAD
}

/// The cluster name of a plain envelope, if its header is well formed.
/// Checks nothing else (the seal layer uses it on authentic plaintext).
pub fn cluster_of(datagram: &[u8]) -> Option<&str> {
    if datagram.len() < HEADER_LEN || datagram[..4] != MAGIC {
        return None;
    }
    let name = datagram.get(HEADER_LEN..HEADER_LEN + usize::from(datagram[6]))?;
    std::str::from_utf8(name).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relay_kinds_are_the_relay_s() {
        let relay: Vec<u8> = (0..=u8::MAX)
            .filter_map(Kind::from_byte)
            .filter(|k| k.is_relay())
            .map(|k| k as u8)
            .collect();
        assert_eq!(relay, [16, 17, 18, 19, 20]);
    }

    #[test]
    fn round_trip() {
        let dgram = seal(Kind::Leave, "lab", &(1u8, "x")).unwrap();
        assert_eq!(&dgram[..7], b"CHTY\x01\x03\x03");
        let env = open(&dgram).unwrap();
        assert_eq!(env.kind, Kind::Leave);
        assert_eq!(env.cluster, "lab");
        assert_eq!(env.body::<(u8, String)>().unwrap(), (1, "x".to_string()));
    }

    #[test]
    fn rejects_junk_of_every_sort() {
        let good = seal(Kind::Heartbeat, "c", &[1u8, 2]).unwrap();
        assert_eq!(open(&good[..5]), Err(EnvelopeError::Truncated));
        let mut bad = good.clone();
        bad[0] = b'X';
        assert_eq!(open(&bad), Err(EnvelopeError::BadMagic));
        let mut bad = good.clone();
        bad[4] = 9;
        assert_eq!(open(&bad), Err(EnvelopeError::Version(9)));
        let mut bad = good.clone();
        bad[5] = 200;
        assert_eq!(open(&bad), Err(EnvelopeError::UnknownKind(200)));
        let mut bad = good.clone();
        bad[6] = 100;
        assert_eq!(open(&bad), Err(EnvelopeError::ClusterName));
        let mut bad = good.clone();
        bad[6] = 50; // claims a name longer than the datagram
        assert_eq!(open(&bad), Err(EnvelopeError::Truncated));
        let mut bad = good.clone();
        bad[7] = 0xff; // invalid UTF-8 name
        assert_eq!(open(&bad), Err(EnvelopeError::ClusterName));
        let mut bad = good.clone();
        bad.push(0x01); // trailing byte after the body
        assert!(matches!(open(&bad), Err(EnvelopeError::Body(_))));
        assert_eq!(open(&vec![0; 1401]), Err(EnvelopeError::Oversized(1401)));
        let env = open(&good).unwrap();
        assert!(matches!(
            env.body::<String>(),
            Err(EnvelopeError::Fields { .. })
        ));
    }

    #[test]
    fn refuses_to_build_oversized_datagrams() {
        let big = vec![0u8; 1500];
        assert!(matches!(
            seal(Kind::Gossip, "c", &big),
            Err(EnvelopeError::TooLargeToSend(_))
        ));
        assert_eq!(
            seal(Kind::Gossip, &"x".repeat(65), &1u8),
            Err(EnvelopeError::ClusterName)
        );
    }

    #[test]
    fn never_panics_on_random_bytes() {
        let mut rng = fastrand::Rng::with_seed(7);
        let good = seal(Kind::Heartbeat, "c", &(1u64, "a", [1u8, 2, 3])).unwrap();
        for _ in 0..20_000 {
            let mut d = good.clone();
            for _ in 0..rng.usize(1..4) {
                let i = rng.usize(..d.len());
                d[i] = rng.u8(..);
            }
            d.truncate(rng.usize(0..=d.len()));
            if let Ok(env) = open(&d) {
                let _ = env.body::<(u64, String, Vec<u8>)>();
            }
        }
    }
}
