//! Relay datagram bodies (positional MessagePack arrays, like membership's).
//! The events they carry, and their encoding, are in `event.rs`.

mod event;

pub use event::{ChatEvent, WireEvent};

use serde::{Deserialize, Serialize};

use crate::protocol::ServerId;

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

/// `RelaySnapshot`: part `part` of `parts` of the state of the chat on
/// `origin` right after its event `seq`: its members with their rooms, and
/// the topics it knows (its own and other servers').
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
    /// The origin's members in this part. A member in many rooms may be
    /// split over several entries (and parts); its rooms are their union.
    pub members: Vec<SnapshotMember>,
    /// The origin's last event when it began relaying to the requester:
    /// the receiver's stream starts after it. A snapshot with `seq` past
    /// `from` was served late, and `seq - from` events relayed to the
    /// receiver are skipped (and reported lost). Absent from older servers.
    #[serde(default)]
    pub from: Option<u64>,
    /// Topics the origin knows, each with its stamp (part 0 first).
    #[serde(default)]
    pub topics: Vec<TopicEntry>,
}

/// One member of a snapshot: `[name, [rooms]]`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SnapshotMember {
    /// The member's name.
    pub name: String,
    /// Rooms it is in, as the origin spells them.
    pub rooms: Vec<String>,
}

/// A room's topic with its stamp: `[room, text, by, at, origin]`. Of two
/// topics for one room the one with the greater `(at, origin)` wins.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TopicEntry {
    /// The room.
    pub room: String,
    /// The topic (empty: cleared).
    pub text: String,
    /// The setter's name.
    pub by: String,
    /// When, in Unix milliseconds on the setter's server.
    pub at: u64,
    /// The setter's server.
    pub origin: ServerId,
}

impl TopicEntry {
    /// The stamp topics are ordered by: later wins, then the larger origin.
    pub fn stamp(&self) -> (u64, ServerId) {
        (self.at, self.origin)
    }
}
