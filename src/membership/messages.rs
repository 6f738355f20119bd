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

#[cfg(test)]
mod tests {
    use super::*;

    fn heartbeat(web_addr: Option<&str>) -> Heartbeat {
        Heartbeat {
            id: ServerId::from_bytes([7; 16]),
            client_addr: "127.0.0.1:7878".into(),
            udp_addr: "127.0.0.1:7879".into(),
            heartbeat: 3,
            web_addr: web_addr.map(str::to_string),
        }
    }

    /// The heartbeat of a server from before web addresses.
    #[derive(Debug, Serialize, Deserialize)]
    struct FourElements {
        id: ServerId,
        client_addr: String,
        udp_addr: String,
        heartbeat: u64,
    }

    #[test]
    fn without_a_web_address_the_heartbeat_is_the_four_elements_of_before() {
        let old = FourElements {
            id: ServerId::from_bytes([7; 16]),
            client_addr: "127.0.0.1:7878".into(),
            udp_addr: "127.0.0.1:7879".into(),
            heartbeat: 3,
        };
        let bytes = rmp_serde::to_vec(&heartbeat(None)).unwrap();
        assert_eq!(bytes, rmp_serde::to_vec(&old).unwrap());
        // And a heartbeat from an older server still reads.
        let read: Heartbeat = rmp_serde::from_slice(&bytes).unwrap();
        assert_eq!(read, heartbeat(None));
        assert_eq!(read.member().unwrap().web_addr, None);
    }

    #[test]
    fn a_web_address_is_a_fifth_element_that_older_servers_refuse() {
        let hb = heartbeat(Some("127.0.0.1:7880"));
        let bytes = rmp_serde::to_vec(&hb).unwrap();
        let read: Heartbeat = rmp_serde::from_slice(&bytes).unwrap();
        assert_eq!(
            read.member().unwrap().web_addr,
            Some("127.0.0.1:7880".parse().unwrap())
        );
        // What CLUSTER.md 4.1 warns about: a server from before this field
        // drops such a heartbeat as malformed, so --http stays off by default.
        assert!(rmp_serde::from_slice::<FourElements>(&bytes).is_err());
        // A web address that is no address makes the datagram invalid.
        assert!(heartbeat(Some("nowhere")).member().is_none());
    }

    #[test]
    fn gossip_entries_carry_the_web_address_too() {
        let entry = GossipEntry {
            id: ServerId::from_bytes([9; 16]),
            client_addr: "127.0.0.1:1".into(),
            udp_addr: "127.0.0.1:2".into(),
            heartbeat: 1,
            age_ms: 0,
            web_addr: Some("127.0.0.1:3".into()),
        };
        let read: GossipEntry = rmp_serde::from_slice(&rmp_serde::to_vec(&entry).unwrap()).unwrap();
        assert_eq!(
            read.member().unwrap().web_addr,
            Some("127.0.0.1:3".parse().unwrap())
        );
    }
}
