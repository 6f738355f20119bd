//! Relay datagram bodies (positional MessagePack arrays, like membership's).

use serde::de::{self, SeqAccess, Visitor};
use serde::ser::SerializeTuple;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::protocol::{LeaveReason, ServerId};

/// A chat event as relayed between servers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChatEvent {
    /// `name` joined on the origin server.
    Joined {
        /// The member.
        name: String,
    },
    /// `name` left the origin server.
    Left {
        /// The member.
        name: String,
        /// Why.
        reason: LeaveReason,
    },
    /// `from` said `text` on the origin server.
    Message {
        /// The sender.
        from: String,
        /// The text.
        text: String,
        /// The sender's client id for the line (0 = none): every server
        /// deduplicates on (sender, cid), so a line resent after failover
        /// is shown once even where the lost server had relayed it.
        cid: u64,
    },
    /// An event kind this build does not know (from a newer server). It
    /// still takes its place in the sequence, so it never leaves a gap.
    Unknown {
        /// The wire kind.
        kind: u8,
    },
}

/// One event on the wire: `[seq, kind, name, text, reason, cid]`, kind 1 =
/// joined, 2 = left, 3 = message; unused fields are empty / 0. The `cid` is
/// written only when it is not 0, so events without one keep the original
/// five-element form (and the bytes older servers read); a decoder accepts
/// five elements or more and ignores any after the sixth.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WireEvent(pub u64, pub u8, pub String, pub String, pub u8, pub u64);

impl Serialize for WireEvent {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let len = if self.5 == 0 { 5 } else { 6 };
        let mut tuple = serializer.serialize_tuple(len)?;
        tuple.serialize_element(&self.0)?;
        tuple.serialize_element(&self.1)?;
        tuple.serialize_element(&self.2)?;
        tuple.serialize_element(&self.3)?;
        tuple.serialize_element(&self.4)?;
        if self.5 != 0 {
            tuple.serialize_element(&self.5)?;
        }
        tuple.end()
    }
}

impl<'de> Deserialize<'de> for WireEvent {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Fields;
        impl<'de> Visitor<'de> for Fields {
            type Value = WireEvent;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a relay event array of five or more elements")
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<WireEvent, A::Error> {
                let missing = |n| de::Error::invalid_length(n, &self);
                let event = WireEvent(
                    seq.next_element()?.ok_or_else(|| missing(0))?,
                    seq.next_element()?.ok_or_else(|| missing(1))?,
                    seq.next_element()?.ok_or_else(|| missing(2))?,
                    seq.next_element()?.ok_or_else(|| missing(3))?,
                    seq.next_element()?.ok_or_else(|| missing(4))?,
                    seq.next_element()?.unwrap_or(0),
                );
                // Fields a newer server added: not ours to read.
                while seq.next_element::<de::IgnoredAny>()?.is_some() {}
                Ok(event)
            }
        }
        deserializer.deserialize_seq(Fields)
    }
}

impl WireEvent {
    /// Encodes `event` with sequence number `seq`.
    pub fn new(seq: u64, event: &ChatEvent) -> WireEvent {
        WireEvent::from_event(seq, event.clone())
    }

    /// Like [`WireEvent::new`], taking the event's strings instead of copying them.
    pub fn from_event(seq: u64, event: ChatEvent) -> WireEvent {
        match event {
            ChatEvent::Joined { name } => WireEvent(seq, 1, name, String::new(), 0, 0),
            ChatEvent::Left { name, reason } => {
                WireEvent(seq, 2, name, String::new(), reason_code(reason), 0)
            }
            ChatEvent::Message { from, text, cid } => WireEvent(seq, 3, from, text, 0, cid),
            ChatEvent::Unknown { kind } => WireEvent(seq, kind, String::new(), String::new(), 0, 0),
        }
    }

    /// The sequence number.
    pub fn seq(&self) -> u64 {
        self.0
    }

    /// The event ([`ChatEvent::Unknown`] for kinds this build does not know).
    pub fn event(&self) -> ChatEvent {
        match self.1 {
            1 => ChatEvent::Joined {
                name: self.2.clone(),
            },
            2 => ChatEvent::Left {
                name: self.2.clone(),
                reason: reason_from(self.4),
            },
            3 => ChatEvent::Message {
                from: self.2.clone(),
                text: self.3.clone(),
                cid: self.5,
            },
            kind => ChatEvent::Unknown { kind },
        }
    }
}

fn reason_code(reason: LeaveReason) -> u8 {
    match reason {
        LeaveReason::Leave => 1,
        LeaveReason::Disconnected => 2,
        LeaveReason::Timeout => 3,
        LeaveReason::TooSlow => 4,
        LeaveReason::ProtocolError => 5,
        LeaveReason::Shutdown => 6,
        LeaveReason::ServerLost => 7,
        LeaveReason::NameConflict => 8,
        LeaveReason::Unknown => 9,
        LeaveReason::Other => 0,
    }
}

fn reason_from(code: u8) -> LeaveReason {
    match code {
        1 => LeaveReason::Leave,
        2 => LeaveReason::Disconnected,
        3 => LeaveReason::Timeout,
        4 => LeaveReason::TooSlow,
        5 => LeaveReason::ProtocolError,
        6 => LeaveReason::Shutdown,
        7 => LeaveReason::ServerLost,
        8 => LeaveReason::NameConflict,
        9 => LeaveReason::Unknown,
        _ => LeaveReason::Other,
    }
}

/// `RelayData`: events from `origin`, in any order (retransmissions included).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Data {
    /// The server that created the events.
    pub origin: ServerId,
    /// The events.
    pub events: Vec<WireEvent>,
}

/// `RelayStatus`: `origin` has created events up to `highest` and can still
/// resend those from `oldest` on. Sent periodically, so a receiver notices
/// loss at the tail of a burst.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Status {
    /// The origin.
    pub origin: ServerId,
    /// Highest sequence number created (0 = none yet).
    pub highest: u64,
    /// Lowest sequence number still retained for repair.
    pub oldest: u64,
}

/// `RelayNack`: please resend these inclusive ranges of `origin`'s events.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Nack {
    /// Whose events are missing (the addressee).
    pub origin: ServerId,
    /// Inclusive `(first, last)` ranges.
    pub ranges: Vec<(u64, u64)>,
}

/// `RelaySyncRequest`: please send (parts of) a member snapshot. `seq` 0 and
/// no parts means "a fresh one, all parts".
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SyncRequest {
    /// Whose snapshot (the addressee).
    pub origin: ServerId,
    /// The snapshot being assembled, or 0.
    pub seq: u64,
    /// Missing part numbers, or empty for all.
    pub parts: Vec<u32>,
    /// Who asks. The origin answers only a peer it knows under this id at
    /// the request's source address: a restarted server at its
    /// predecessor's address is not served its predecessor's stream.
    /// Absent from older servers (then the address alone decides).
    #[serde(default)]
    pub requester: Option<ServerId>,
    /// 0 for a first sync: serve the snapshot as of where you began
    /// relaying to me. Otherwise the next event the requester needs (it
    /// lost events to an overrun, or it followed this origin before and
    /// removed it): serve a current snapshot, never an older one.
    #[serde(default)]
    pub resume: u64,
}

/// `RelaySnapshot`: part `part` of `parts` of the names of the members on
/// `origin` right after its event `seq`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Snapshot {
    /// The origin.
    pub origin: ServerId,
    /// The snapshot is exact as of this event (0 = before any event).
    pub seq: u64,
    /// This part's number, from 0.
    pub part: u32,
    /// How many parts in all.
    pub parts: u32,
    /// Member names in this part.
    pub names: Vec<String>,
    /// The origin's last event when it began relaying to the requester:
    /// the receiver's stream starts after it. A snapshot with `seq` past
    /// `from` was served late, and `seq - from` events relayed to the
    /// receiver are skipped (and reported lost). Absent from older servers.
    #[serde(default)]
    pub from: Option<u64>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn message(cid: u64) -> WireEvent {
        WireEvent::new(
            42,
            &ChatEvent::Message {
                from: "Ann".into(),
                text: "hi".into(),
                cid,
            },
        )
    }

    /// The form every server before the cid wrote, and still the one
    /// written for events without a cid.
    #[derive(Debug, PartialEq, Serialize, Deserialize)]
    struct FiveElements(u64, u8, String, String, u8);

    #[test]
    fn the_cid_round_trips_as_a_sixth_element() {
        let ev = message(0xdead_beef_0000_0001);
        let bytes = rmp_serde::to_vec(&ev).unwrap();
        assert_eq!(bytes[0], 0x96, "fixarray of six");
        let back: WireEvent = rmp_serde::from_slice(&bytes).unwrap();
        assert_eq!(back, ev);
        assert!(matches!(
            back.event(),
            ChatEvent::Message {
                cid: 0xdead_beef_0000_0001,
                ..
            }
        ));
    }

    #[test]
    fn events_without_a_cid_keep_the_five_element_bytes() {
        let ev = message(0);
        let bytes = rmp_serde::to_vec(&ev).unwrap();
        let old = FiveElements(42, 3, "Ann".into(), "hi".into(), 0);
        assert_eq!(bytes, rmp_serde::to_vec(&old).unwrap());
        // The RelayData example in CLUSTER.md 8: [42, 3, "Ann", "hi", 0].
        assert_eq!(
            bytes,
            [0x95, 0x2a, 0x03, 0xa3, b'A', b'n', b'n', 0xa2, b'h', b'i', 0x00]
        );
        let back: WireEvent = rmp_serde::from_slice(&bytes).unwrap();
        assert_eq!(back, ev);
    }

    #[test]
    fn five_element_events_from_older_servers_decode_with_no_cid() {
        let old = FiveElements(7, 2, "Bob".into(), String::new(), 1);
        let back: WireEvent = rmp_serde::from_slice(&rmp_serde::to_vec(&old).unwrap()).unwrap();
        assert_eq!(back, WireEvent(7, 2, "Bob".into(), String::new(), 1, 0));
        assert_eq!(
            back.event(),
            ChatEvent::Left {
                name: "Bob".into(),
                reason: LeaveReason::Leave
            }
        );
    }

    #[test]
    fn later_elements_are_ignored_and_short_arrays_refused() {
        let seven = (1u64, 3u8, "a", "b", 0u8, 5u64, "from a newer server");
        let back: WireEvent = rmp_serde::from_slice(&rmp_serde::to_vec(&seven).unwrap()).unwrap();
        assert_eq!(back, WireEvent(1, 3, "a".into(), "b".into(), 0, 5));
        let four = (1u64, 3u8, "a", "b");
        assert!(rmp_serde::from_slice::<WireEvent>(&rmp_serde::to_vec(&four).unwrap()).is_err());
    }

    /// What an older server makes of a six-element event, as CLUSTER.md 5.2 describes.
    #[test]
    fn older_servers_refuse_six_element_events() {
        let bytes = rmp_serde::to_vec(&message(9)).unwrap();
        assert!(rmp_serde::from_slice::<FiveElements>(&bytes).is_err());
    }
}
