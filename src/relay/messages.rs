//! Relay datagram bodies (positional MessagePack arrays, like membership's).

use serde::{Deserialize, Serialize};

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
    },
    /// An event kind this build does not know (from a newer server). It
    /// still takes its place in the sequence, so it never leaves a gap.
    Unknown {
        /// The wire kind.
        kind: u8,
    },
}

/// One event on the wire: `[seq, kind, name, text, reason]`, kind 1 = joined,
/// 2 = left, 3 = message; unused fields are empty / 0.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WireEvent(pub u64, pub u8, pub String, pub String, pub u8);

impl WireEvent {
    /// Encodes `event` with sequence number `seq`.
    pub fn new(seq: u64, event: &ChatEvent) -> WireEvent {
        WireEvent::from_event(seq, event.clone())
    }

    /// Like [`WireEvent::new`], taking the event's strings instead of copying them.
    pub fn from_event(seq: u64, event: ChatEvent) -> WireEvent {
        match event {
            ChatEvent::Joined { name } => WireEvent(seq, 1, name, String::new(), 0),
            ChatEvent::Left { name, reason } => {
                WireEvent(seq, 2, name, String::new(), reason_code(reason))
            }
            ChatEvent::Message { from, text } => WireEvent(seq, 3, from, text, 0),
            ChatEvent::Unknown { kind } => WireEvent(seq, kind, String::new(), String::new(), 0),
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
