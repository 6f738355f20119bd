//! The cluster's I/O: UDP sockets, fault injection, and the async loop
//! that drives a [`crate::node::Node`] over a [`Transport`].
//!
//! * [`transport`] — the [`Transport`] trait the loop needs.
//! * [`udp`] — the real sockets (multicast group + unicast, IPv4 or IPv6).
//! * [`iface`] — which interface `--iface` means, checked against the host's.
//! * [`lossy`] — drops and duplicates datagrams (`--inject-loss`, tests).
//! * `memory` — an in-memory network (only with the `sim` feature).
//! * [`driver`] — the tokio task: socket, timers and local events in,
//!   datagrams and deliveries out. It decides nothing; the node does.
//! * [`config`] — [`ClusterConfig`], what a server is configured with.

pub mod config;
pub mod driver;
pub mod iface;
pub mod lossy;
#[cfg(feature = "sim")]
pub mod memory;
pub mod transport;
pub mod udp;

pub use config::{ClusterConfig, DEFAULT_CLUSTER};
pub use driver::{ClusterHandle, ClusterView};
pub use lossy::Lossy;
#[cfg(feature = "sim")]
pub use memory::{Impairment, MemoryNetwork, MemoryTransport};
pub use transport::{Transport, RECV_BUFFER};
pub use udp::{BindError, TransportConfig, UdpTransport, DEFAULT_GROUP};
