//! Server-to-server membership: who is in the cluster.
//!
//! * [`envelope`] — the datagram envelope (magic, version, kind, cluster).
//! * [`messages`] — heartbeat, gossip and leave bodies.
//! * [`membership`] — the sans-IO state machine: failure detection,
//!   incarnations, tombstones, gossip.
//! * [`config`] — timings, with the arithmetic behind the defaults.

pub mod config;
pub mod envelope;
pub mod membership;
pub mod messages;
pub mod tombstones;

pub use config::MembershipConfig;
pub use membership::{
    Destination, DownReason, Event, Health, MemberView, Membership, Transmit, Via,
};
pub use messages::MemberInfo;
