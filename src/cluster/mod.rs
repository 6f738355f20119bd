//! Server-to-server membership: who is in the cluster.
//!
//! * [`envelope`] — the datagram envelope (magic, version, kind, cluster).
//! * [`seal`] — with a cluster key, authenticated encryption of whole
//!   envelopes and replay rejection ([`keyring`], [`replay`]); sits between
//!   the transport and the envelope decoder, so the state machines never see
//!   a datagram that failed it.
//! * [`messages`] — heartbeat, gossip and leave bodies.
//! * [`membership`] — the sans-IO state machine: failure detection,
//!   incarnations, tombstones, gossip.
//! * [`config`] — timings, with the arithmetic behind the defaults.
//! * [`transport`] — the UDP sockets (multicast group + unicast).
//! * [`driver`] — the tokio task running the state machine over a transport.

pub mod config;
pub mod driver;
pub mod envelope;
pub mod keyring;
pub mod membership;
pub mod memory;
pub mod messages;
pub mod replay;
pub mod seal;
pub mod tombstones;
pub mod transport;

pub use config::{ClusterConfig, MembershipConfig, DEFAULT_CLUSTER};
pub use driver::{ClusterHandle, ClusterView};
pub use keyring::{ClusterKey, KeyError, Keyring};
pub use membership::{
    Destination, DownReason, Event, Health, MemberView, Membership, Transmit, Via,
};
pub use memory::{Impairment, Lossy, MemoryNetwork, MemoryTransport};
pub use messages::MemberInfo;
pub use seal::{SealConfig, SealStats};
pub use transport::{AnyTransport, Transport, TransportConfig, UdpTransport, DEFAULT_GROUP};
