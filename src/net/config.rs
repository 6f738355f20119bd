//! What a server needs to take part in a cluster: sockets and the node's
//! settings, with the defaults the command line shows.

use std::net::SocketAddr;

use super::udp::{TransportConfig, DEFAULT_GROUP};
use crate::membership::MembershipConfig;
use crate::node::NodeConfig;
use crate::relay::RelayConfig;
use crate::seal::SealConfig;

/// The default cluster name.
pub const DEFAULT_CLUSTER: &str = "chatty";

/// Everything needed to take part in a cluster.
#[derive(Debug, Clone)]
pub struct ClusterConfig {
    /// Cluster name: servers with another name ignore each other.
    pub name: String,
    /// Sockets: interface, UDP port, multicast group, multicast on/off.
    pub transport: TransportConfig,
    /// Static peers' UDP addresses, for networks without multicast.
    pub peers: Vec<SocketAddr>,
    /// Heartbeat and failure-detector timings.
    pub membership: MembershipConfig,
    /// Relay buffer sizes and repair timings.
    pub relay: RelayConfig,
    /// The cluster key: with it every datagram is sealed and only sealed
    /// datagrams are accepted; without it, anyone on the network can join.
    pub seal: Option<SealConfig>,
}

impl Default for ClusterConfig {
    fn default() -> Self {
        ClusterConfig {
            name: DEFAULT_CLUSTER.to_string(),
            transport: TransportConfig::default(),
            peers: Vec::new(),
            membership: MembershipConfig::default(),
            relay: RelayConfig::default(),
            seal: None,
        }
    }
}

impl Default for TransportConfig {
    fn default() -> Self {
        TransportConfig {
            iface: std::net::Ipv4Addr::UNSPECIFIED.into(),
            iface_index: 0,
            udp_port: 0,
            group: DEFAULT_GROUP.into(),
            multicast: true,
        }
    }
}

impl ClusterConfig {
    /// The node's share of the settings, for a transport that is
    /// (`multicast`) or is not on the group.
    pub fn node_config(&self, multicast: bool) -> NodeConfig {
        NodeConfig {
            cluster: self.name.clone(),
            multicast,
            peers: self.peers.clone(),
            membership: self.membership.clone(),
            relay: self.relay.clone(),
            seal: self.seal.clone(),
        }
    }
}
