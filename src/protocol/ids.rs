//! Identifiers that travel on the wire: server incarnations and event ids.
//!
//! A [`ServerId`] is a random UUID drawn when a server process starts, so a
//! restarted server is a *new* incarnation and can never be confused with the
//! one that died. On the wire it is always a 16-byte MessagePack `bin`,
//! whatever serde's human-readable hint says, so the byte layout documented in
//! PROTOCOL.md holds for every encoder.

use std::fmt;

use serde::de::{self, Visitor};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use uuid::Uuid;

/// One server process (an incarnation). Fresh at every start.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ServerId(Uuid);

impl ServerId {
    /// Draws a fresh id for a new server process. Ids are UUID v7: they sort
    /// by creation time, so when two incarnations claim the same address the
    /// newer one is recognisable without trusting anyone's clock comparison
    /// beyond "a restart happens later than the start it replaces".
    pub fn random() -> Self {
        ServerId(Uuid::now_v7())
    }

    /// Wraps raw bytes, e.g. from a datagram.
    pub fn from_bytes(bytes: [u8; 16]) -> Self {
        ServerId(Uuid::from_bytes(bytes))
    }

    /// The 16 raw bytes.
    pub fn as_bytes(&self) -> &[u8; 16] {
        self.0.as_bytes()
    }

    /// The last eight hex digits, for compact human-facing output. (The
    /// first digits of a v7 id are a timestamp, shared by servers started
    /// in the same minute; the tail is random.)
    pub fn short(&self) -> String {
        self.0.simple().to_string()[24..].to_string()
    }
}

impl fmt::Display for ServerId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0.hyphenated(), f)
    }
}

impl fmt::Debug for ServerId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ServerId({})", self.short())
    }
}

impl std::str::FromStr for ServerId {
    type Err = uuid::Error;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Uuid::parse_str(s).map(ServerId)
    }
}

impl Serialize for ServerId {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_bytes(self.0.as_bytes())
    }
}

impl<'de> Deserialize<'de> for ServerId {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Bin16;
        impl<'de> Visitor<'de> for Bin16 {
            type Value = ServerId;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a 16-byte binary server id")
            }
            fn visit_bytes<E: de::Error>(self, v: &[u8]) -> Result<ServerId, E> {
                let bytes: [u8; 16] = v
                    .try_into()
                    .map_err(|_| E::invalid_length(v.len(), &self))?;
                Ok(ServerId::from_bytes(bytes))
            }
            fn visit_byte_buf<E: de::Error>(self, v: Vec<u8>) -> Result<ServerId, E> {
                self.visit_bytes(&v)
            }
        }
        deserializer.deserialize_bytes(Bin16)
    }
}

/// A cluster-wide event id: the server that created the event and that
/// server's sequence number for it. Sequence numbers start at 1 and increase
/// by one per event the origin creates (join, leave, message, and in
/// protocol version 2 room entry and part, private message, nick change,
/// topic).
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct MessageId {
    /// The server (incarnation) where the event happened.
    pub origin: ServerId,
    /// The origin's sequence number for the event.
    pub seq: u64,
}

impl fmt::Debug for MessageId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}#{}", self.origin.short(), self.seq)
    }
}

impl fmt::Display for MessageId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}#{}", self.origin, self.seq)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn server_id_is_bin16_on_the_wire() {
        let id = ServerId::from_bytes([7; 16]);
        let bytes = rmp_serde::to_vec(&id).unwrap();
        assert_eq!(bytes[0], 0xc4, "bin8 marker");
        assert_eq!(bytes[1], 16);
        assert_eq!(&bytes[2..], &[7; 16]);
        let back: ServerId = rmp_serde::from_slice(&bytes).unwrap();
        assert_eq!(back, id);
    }

    #[test]
    fn server_id_rejects_wrong_length() {
        // bin8 of length 3
        let bytes = [0xc4, 3, 1, 2, 3];
        assert!(rmp_serde::from_slice::<ServerId>(&bytes).is_err());
    }

    #[test]
    fn display_round_trips() {
        let id = ServerId::random();
        let parsed: ServerId = id.to_string().parse().unwrap();
        assert_eq!(parsed, id);
        assert_eq!(id.short().len(), 8);
        assert!(id.to_string().ends_with(&id.short()));
    }

    #[test]
    fn later_ids_sort_after_earlier_ones() {
        let first = ServerId::random();
        std::thread::sleep(std::time::Duration::from_millis(2));
        let second = ServerId::random();
        assert!(second > first);
        assert_ne!(first.short(), second.short());
    }
}
