//! The server-to-server datagram format, shared by every layer above it.
//!
//! * [`envelope`] — the header every datagram carries (magic, version,
//!   kind, cluster) and the checks that run before any body is parsed.
//! * [`Transmit`], [`Destination`], [`Via`] — what the sans-IO machines
//!   hand the transport, and how a datagram arrived.
//! * The size budget: [`MAX_DATAGRAM`] on the wire, of which
//!   [`SEAL_OVERHEAD`] is kept for the cluster key's seal whether or not
//!   the cluster has a key, so packers never need to know.
//!
//! This module imports nothing from the crate but [`crate::protocol`]; the
//! membership, relay and seal layers import it, never the other way round.
//! CLUSTER.md is the normative description of the bytes.

use std::net::SocketAddr;

pub mod envelope;

pub use envelope::{open, overhead, Envelope, EnvelopeError, Kind, MAX_ENVELOPE};

/// First four bytes of every datagram, plain or sealed.
pub const MAGIC: [u8; 4] = *b"CHTY";
/// Envelope version this build speaks.
pub const VERSION: u8 = 1;
/// Largest datagram sent or accepted, envelope and seal included: small
/// enough never to fragment on an Ethernet LAN.
pub const MAX_DATAGRAM: usize = 1400;
/// Bytes the seal adds to a plain envelope: its clear header (42) and the
/// Poly1305 tag (16). [`crate::seal`] checks at compile time that its
/// layout adds exactly this.
pub const SEAL_OVERHEAD: usize = 42 + 16;

/// Where a datagram goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Destination {
    /// The multicast group.
    Group,
    /// One server's unicast address.
    Unicast(SocketAddr),
}

/// A datagram to send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transmit {
    /// Where to.
    pub to: Destination,
    /// The complete datagram.
    pub bytes: Vec<u8>,
}

/// How a datagram arrived.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Via {
    /// On the multicast group.
    Multicast,
    /// Addressed to this server.
    Unicast,
}
