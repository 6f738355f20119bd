//! A chat event as servers relay it, and its encoding: `[seq, kind, body]`,
//! the body a positional array whose shape the kind decides.
//!
//! | kind | event | body |
//! |---|---|---|
//! | 1 | joined | `[name]` |
//! | 2 | left | `[name, reason, text?]` |
//! | 3 | message | `[from, text, room, cid, action]` |
//! | 4 | entered | `[name, room]` |
//! | 5 | parted | `[name, room, text?]` |
//! | 6 | private | `[from, to, text, cid, action]` |
//! | 7 | nick | `[old, new]` |
//! | 8 | topic | `[room, text, by, at]` |
//!
//! A decoder ignores elements after the ones it knows (in the event and in
//! its body), so a newer server can append fields. A kind it does not know
//! decodes as [`ChatEvent::Unknown`], whatever its body holds, and still
//! takes its place in the origin's numbering, so it never leaves a gap.
//! A `text?` is written only when there is one, and read as none when it is
//! absent (from a server that predates it).

use serde::de::{self, DeserializeSeed, Expected, IgnoredAny, SeqAccess, Visitor};
use serde::ser::SerializeTuple;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::protocol::LeaveReason;

/// A chat event as relayed between servers, in its origin's numbering.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChatEvent {
    /// `name` now holds its name on the origin and is in `#lobby`.
    Joined {
        /// The member.
        name: String,
    },
    /// `name` left the origin: every room, and its name is free.
    Left {
        /// The member.
        name: String,
        /// Why.
        reason: LeaveReason,
        /// What the member said as it left (`leave`'s text).
        text: Option<String>,
    },
    /// `name` entered `room`.
    Entered {
        /// The member.
        name: String,
        /// The room, as the origin spells it.
        room: String,
    },
    /// `name` left `room` (and stays in the chat).
    Parted {
        /// The member.
        name: String,
        /// The room.
        room: String,
        /// What the member said as it parted (`part`'s text).
        text: Option<String>,
    },
    /// `from` said `text` in `room`.
    Message {
        /// The sender.
        from: String,
        /// The text.
        text: String,
        /// The room.
        room: String,
        /// The sender's client id for the line (0 = none): every server
        /// deduplicates on (sender, cid), so a line resent after failover
        /// is shown once even where the lost server had relayed it.
        cid: u64,
        /// An action (`/me`).
        action: bool,
    },
    /// `from` told `to` something privately. Every server gets it; only
    /// the server where `to` is connected shows it.
    Private {
        /// The sender.
        from: String,
        /// The addressee.
        to: String,
        /// The text.
        text: String,
        /// As for [`ChatEvent::Message`].
        cid: u64,
        /// An action (`/me`).
        action: bool,
    },
    /// The member `old` is now called `new` (the old name is free).
    Nick {
        /// The name held before.
        old: String,
        /// The name held now.
        new: String,
    },
    /// `by` set `room`'s topic at `at` (Unix ms); empty text clears it.
    /// The origin is the setter's server: `(at, origin)` is the stamp.
    Topic {
        /// The room.
        room: String,
        /// The topic.
        text: String,
        /// The setter's name.
        by: String,
        /// When, in Unix milliseconds on the setter's server.
        at: u64,
    },
    /// An event kind this build does not know (from a newer server). It
    /// still takes its place in the sequence, so it never leaves a gap.
    Unknown {
        /// The wire kind.
        kind: u8,
    },
}

impl ChatEvent {
    /// The kind number on the wire.
    pub fn kind(&self) -> u8 {
        match self {
            ChatEvent::Joined { .. } => 1,
            ChatEvent::Left { .. } => 2,
            ChatEvent::Message { .. } => 3,
            ChatEvent::Entered { .. } => 4,
            ChatEvent::Parted { .. } => 5,
            ChatEvent::Private { .. } => 6,
            ChatEvent::Nick { .. } => 7,
            ChatEvent::Topic { .. } => 8,
            ChatEvent::Unknown { kind } => *kind,
        }
    }

    /// Applies the event to the names held on its origin: a join adds its
    /// name, a leave removes it, a nick change renames; other kinds leave
    /// the names as they are. (What a snapshot's member list plus the
    /// stream after it add up to; the simulations and fuzzers check it.)
    pub fn update_names(&self, names: &mut std::collections::BTreeSet<String>) {
        match self {
            ChatEvent::Joined { name } => {
                names.insert(name.clone());
            }
            ChatEvent::Left { name, .. } => {
                names.remove(name);
            }
            ChatEvent::Nick { old, new } => {
                if names.remove(old) {
                    names.insert(new.clone());
                }
            }
            ChatEvent::Entered { .. }
            | ChatEvent::Parted { .. }
            | ChatEvent::Message { .. }
            | ChatEvent::Private { .. }
            | ChatEvent::Topic { .. }
            | ChatEvent::Unknown { .. } => {}
        }
    }

    /// An upper bound of its encoding as a relay event, in bytes.
    pub fn size_bound(&self) -> usize {
        EVENT_OVERHEAD + self.strings().iter().map(|s| s.len()).sum::<usize>()
    }

    /// The strings the event carries, for size accounting.
    fn strings(&self) -> [&str; 3] {
        match self {
            ChatEvent::Joined { name } => [name, "", ""],
            ChatEvent::Left { name, text, .. } => [name, text.as_deref().unwrap_or(""), ""],
            ChatEvent::Entered { name, room } => [name, room, ""],
            ChatEvent::Parted { name, room, text } => [name, room, text.as_deref().unwrap_or("")],
            ChatEvent::Message {
                from, text, room, ..
            } => [from, text, room],
            ChatEvent::Private { from, to, text, .. } => [from, to, text],
            ChatEvent::Nick { old, new } => [old, new, ""],
            ChatEvent::Topic { room, text, by, .. } => [room, text, by],
            ChatEvent::Unknown { .. } => ["", "", ""],
        }
    }
}

/// One event on the wire: its sequence number and the event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WireEvent {
    /// The origin's number for the event.
    pub seq: u64,
    /// The event.
    pub event: ChatEvent,
}

/// Bytes an event's encoding takes beyond its strings, at most: the two
/// array headers, the sequence number and kind, up to five bytes of header
/// per string and ten for the numbers and flags of its body.
const EVENT_OVERHEAD: usize = 12 + 3 * 5 + 10;

impl WireEvent {
    /// Encodes `event` with sequence number `seq`.
    pub fn new(seq: u64, event: &ChatEvent) -> WireEvent {
        WireEvent::from_event(seq, event.clone())
    }

    /// Like [`WireEvent::new`], taking the event instead of copying it.
    pub fn from_event(seq: u64, event: ChatEvent) -> WireEvent {
        WireEvent { seq, event }
    }

    /// The sequence number.
    pub fn seq(&self) -> u64 {
        self.seq
    }

    /// The event ([`ChatEvent::Unknown`] for kinds this build does not know).
    pub fn event(&self) -> ChatEvent {
        self.event.clone()
    }

    /// The event, without copying it.
    pub fn into_event(self) -> ChatEvent {
        self.event
    }

    /// An upper bound of the encoded size, in bytes.
    pub fn size_bound(&self) -> usize {
        self.event.size_bound()
    }
}

impl Serialize for WireEvent {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut tuple = serializer.serialize_tuple(3)?;
        tuple.serialize_element(&self.seq)?;
        tuple.serialize_element(&self.event.kind())?;
        tuple.serialize_element(&Body(&self.event))?;
        tuple.end()
    }
}

/// An event's body: a positional array per kind.
struct Body<'a>(&'a ChatEvent);

impl Serialize for Body<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self.0 {
            ChatEvent::Joined { name } => (name,).serialize(s),
            ChatEvent::Left { name, reason, text } => match text {
                None => (name, reason_code(*reason)).serialize(s),
                Some(text) => (name, reason_code(*reason), text).serialize(s),
            },
            ChatEvent::Entered { name, room } => (name, room).serialize(s),
            ChatEvent::Parted { name, room, text } => match text {
                None => (name, room).serialize(s),
                Some(text) => (name, room, text).serialize(s),
            },
            ChatEvent::Message {
                from,
                text,
                room,
                cid,
                action,
            } => (from, text, room, cid, action).serialize(s),
            ChatEvent::Private {
                from,
                to,
                text,
                cid,
                action,
            } => (from, to, text, cid, action).serialize(s),
            ChatEvent::Nick { old, new } => (old, new).serialize(s),
            ChatEvent::Topic { room, text, by, at } => (room, text, by, at).serialize(s),
            ChatEvent::Unknown { .. } => s.serialize_tuple(0)?.end(),
        }
    }
}

impl<'de> Deserialize<'de> for WireEvent {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Fields;
        impl<'de> Visitor<'de> for Fields {
            type Value = WireEvent;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a relay event [seq, kind, body]")
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<WireEvent, A::Error> {
                let number: u64 = field(&mut seq, 0, &self)?;
                let kind: u8 = field(&mut seq, 1, &self)?;
                let event = seq
                    .next_element_seed(BodySeed(kind))?
                    .ok_or_else(|| de::Error::invalid_length(2, &self))?;
                // Fields a newer server added: not ours to read.
                while seq.next_element::<IgnoredAny>()?.is_some() {}
                Ok(WireEvent { seq: number, event })
            }
        }
        deserializer.deserialize_seq(Fields)
    }
}

/// The next element of a positional array, which must be there.
fn field<'de, T: Deserialize<'de>, A: SeqAccess<'de>>(
    seq: &mut A,
    index: usize,
    expected: &dyn Expected,
) -> Result<T, A::Error> {
    seq.next_element()?
        .ok_or_else(|| de::Error::invalid_length(index, expected))
}

/// Reads a body as its kind says; any value for a kind this build does not know.
struct BodySeed(u8);

impl<'de> DeserializeSeed<'de> for BodySeed {
    type Value = ChatEvent;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<ChatEvent, D::Error> {
        if !(1..=8).contains(&self.0) {
            IgnoredAny::deserialize(d)?;
            return Ok(ChatEvent::Unknown { kind: self.0 });
        }
        d.deserialize_seq(self)
    }
}

impl<'de> Visitor<'de> for BodySeed {
    type Value = ChatEvent;
    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        write!(f, "the body of a relay event of kind {}", self.0)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<ChatEvent, A::Error> {
        let s = &mut seq;
        let event = match self.0 {
            1 => ChatEvent::Joined {
                name: field(s, 0, &self)?,
            },
            2 => ChatEvent::Left {
                name: field(s, 0, &self)?,
                reason: reason_from(field(s, 1, &self)?),
                text: s.next_element()?,
            },
            3 => ChatEvent::Message {
                from: field(s, 0, &self)?,
                text: field(s, 1, &self)?,
                room: field(s, 2, &self)?,
                cid: field(s, 3, &self)?,
                action: field(s, 4, &self)?,
            },
            4 => ChatEvent::Entered {
                name: field(s, 0, &self)?,
                room: field(s, 1, &self)?,
            },
            5 => ChatEvent::Parted {
                name: field(s, 0, &self)?,
                room: field(s, 1, &self)?,
                text: s.next_element()?,
            },
            6 => ChatEvent::Private {
                from: field(s, 0, &self)?,
                to: field(s, 1, &self)?,
                text: field(s, 2, &self)?,
                cid: field(s, 3, &self)?,
                action: field(s, 4, &self)?,
            },
            7 => ChatEvent::Nick {
                old: field(s, 0, &self)?,
                new: field(s, 1, &self)?,
            },
            _ => ChatEvent::Topic {
                room: field(s, 0, &self)?,
                text: field(s, 1, &self)?,
                by: field(s, 2, &self)?,
                at: field(s, 3, &self)?,
            },
        };
        while s.next_element::<IgnoredAny>()?.is_some() {}
        Ok(event)
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

#[cfg(test)]
mod tests;
