//! Bodies of the membership datagrams. Encoded as positional MessagePack
//! arrays (field order is the wire order; see CLUSTER.md) to keep
//! datagrams small; addresses travel as `"ip:port"` strings.

use std::net::SocketAddr;

use serde::{Deserialize, Serialize};

use crate::protocol::ServerId;

/// A server's addresses, as announced.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct MemberInfo {
    /// The server's incarnation.
    pub id: ServerId,
    /// Where clients connect (TCP).
    pub client_addr: SocketAddr,
    /// Where the server receives unicast datagrams (UDP).
    pub udp_addr: SocketAddr,
    /// Where it serves the web client (HTTP), if it does (`--http`).
    pub web_addr: Option<SocketAddr>,
}

/// `Kind::Heartbeat`: sent every heartbeat interval.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Heartbeat {
    /// The sender.
    pub id: ServerId,
    /// The sender's client address.
    pub client_addr: String,
    /// The sender's unicast UDP address.
    pub udp_addr: String,
    /// Increases by one per heartbeat; restarts from 1 with a new incarnation.
    pub heartbeat: u64,
    /// The sender's web address, only if it serves the web client: an
    /// optional last element, so a server without `--http` sends the
    /// four-element heartbeat of before.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub web_addr: Option<String>,
}

/// One member in a gossip digest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GossipEntry {
    /// The member.
    pub id: ServerId,
    /// Its client address.
    pub client_addr: String,
    /// Its unicast UDP address.
    pub udp_addr: String,
    /// The highest heartbeat counter the gossiper has seen from it.
    pub heartbeat: u64,
    /// Milliseconds since the gossiper saw that counter increase.
    pub age_ms: u32,
    /// Its web address, if it serves the web client (an optional last
    /// element, as in [`Heartbeat`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub web_addr: Option<String>,
}

/// `Kind::Gossip`: the members the sender believes alive.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Gossip {
    /// The sender.
    pub from: ServerId,
    /// A subset of the sender's live members (itself included) that fits one datagram.
    pub entries: Vec<GossipEntry>,
}

/// `Kind::Leave`: the sender is shutting down gracefully.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Leave {
    /// The departing server.
    pub id: ServerId,
    /// Its final heartbeat counter.
    pub heartbeat: u64,
}

impl Heartbeat {
    /// The announced member, if its addresses parse.
    pub fn member(&self) -> Option<MemberInfo> {
        Some(MemberInfo {
            id: self.id,
            client_addr: self.client_addr.parse().ok()?,
            udp_addr: self.udp_addr.parse().ok()?,
            web_addr: web_addr(self.web_addr.as_deref())?,
        })
    }
}

impl GossipEntry {
    /// The gossiped member, if its addresses parse.
    pub fn member(&self) -> Option<MemberInfo> {
        Some(MemberInfo {
            id: self.id,
            client_addr: self.client_addr.parse().ok()?,
            udp_addr: self.udp_addr.parse().ok()?,
            web_addr: web_addr(self.web_addr.as_deref())?,
        })
    }
}

/// An optional web address: absent is `Some(None)`; present but not an
/// address is `None`, which makes the datagram invalid like any other bad
/// address.
fn web_addr(addr: Option<&str>) -> Option<Option<SocketAddr>> {
    match addr {
        None => Some(None),
        Some(a) => a.parse().ok().map(Some),
    }
}
