//! Forged relay datagrams: well formed, with contents the fuzzer picks,
//! about real incarnations or made-up ones, numbered near the truth or
//! anywhere.

use arbitrary::Arbitrary;
use chatty::protocol::LeaveReason;
use chatty::protocol::ServerId;
use chatty::relay::messages::{
    ChatEvent, Data, Nack, Snapshot, SnapshotMember, Status, SyncRequest, WireEvent,
};
use chatty::wire::envelope::{self, Kind};

use super::{name, World};
use crate::datagrams::CLUSTER;

/// Who a forged datagram claims to be about.
#[derive(Debug, Arbitrary)]
pub enum Who {
    /// A running node's current incarnation.
    Node(u8),
    /// Some other id.
    Other([u8; 16]),
}

/// A sequence number, near the claimed origin's real one or anywhere.
#[derive(Debug, Clone, Copy, Arbitrary)]
pub enum Seq {
    /// The origin's last sequence number plus an offset.
    Near(i8),
    /// Any number.
    Abs(u64),
}

/// A forged relay body.
#[derive(Debug, Arbitrary)]
pub enum Forged {
    /// Events.
    Data {
        origin: Who,
        events: Vec<(Seq, u8, u8)>,
    },
    /// A range announcement.
    Status {
        origin: Who,
        highest: Seq,
        oldest: Seq,
    },
    /// A repair request.
    Nack {
        origin: Who,
        ranges: Vec<(Seq, Seq)>,
    },
    /// A snapshot request.
    SyncRequest {
        origin: Who,
        seq: Seq,
        parts: Vec<u32>,
        requester: Option<Who>,
        resume: Seq,
    },
    /// A snapshot part.
    Snapshot {
        origin: Who,
        seq: Seq,
        part: u32,
        parts: u32,
        names: Vec<u8>,
        from: Option<Seq>,
    },
}

impl World {
    fn who(&self, who: &Who) -> ServerId {
        match who {
            Who::Node(n) => self.id(self.slot(*n)),
            Who::Other(bytes) => ServerId::from_bytes(*bytes),
        }
    }

    fn seq(&self, origin: ServerId, seq: Seq) -> u64 {
        match seq {
            Seq::Abs(n) => n,
            Seq::Near(offset) => {
                let last = self.history.get(&origin).map_or(0, |h| h.len() as u64);
                last.saturating_add_signed(i64::from(offset))
            }
        }
    }

    pub(super) fn forge(&self, body: Forged) -> Option<Vec<u8>> {
        let sealed = match body {
            Forged::Data { origin, events } => {
                let origin = self.who(&origin);
                let events = events
                    .into_iter()
                    .take(40)
                    .map(|(seq, kind, n)| {
                        WireEvent::from_event(self.seq(origin, seq), forged_event(kind, n))
                    })
                    .collect();
                envelope::seal(Kind::RelayData, CLUSTER, &Data { origin, events })
            }
            Forged::Status {
                origin,
                highest,
                oldest,
            } => {
                let origin = self.who(&origin);
                let status = Status {
                    origin,
                    highest: self.seq(origin, highest),
                    oldest: self.seq(origin, oldest),
                };
                envelope::seal(Kind::RelayStatus, CLUSTER, &status)
            }
            Forged::Nack { origin, ranges } => {
                let origin = self.who(&origin);
                let ranges = ranges
                    .into_iter()
                    .take(80)
                    .map(|(a, b)| (self.seq(origin, a), self.seq(origin, b)))
                    .collect();
                envelope::seal(Kind::RelayNack, CLUSTER, &Nack { origin, ranges })
            }
            Forged::SyncRequest {
                origin,
                seq,
                parts,
                requester,
                resume,
            } => {
                let origin = self.who(&origin);
                let request = SyncRequest {
                    origin,
                    seq: self.seq(origin, seq),
                    parts: parts.into_iter().take(200).collect(),
                    requester: requester.map(|r| self.who(&r)),
                    resume: self.seq(origin, resume),
                };
                envelope::seal(Kind::RelaySyncRequest, CLUSTER, &request)
            }
            Forged::Snapshot {
                origin,
                seq,
                part,
                parts,
                names,
                from,
            } => {
                let origin = self.who(&origin);
                let snapshot = Snapshot {
                    origin,
                    seq: self.seq(origin, seq),
                    part,
                    parts,
                    members: names
                        .into_iter()
                        .take(40)
                        .map(|n| SnapshotMember {
                            name: name(n),
                            rooms: vec![room(n)],
                        })
                        .collect(),
                    from: from.map(|f| self.seq(origin, f)),
                    topics: vec![],
                };
                envelope::seal(Kind::RelaySnapshot, CLUSTER, &snapshot)
            }
        };
        sealed.ok()
    }
}

/// A room among a few, so forged events about rooms meet.
fn room(n: u8) -> String {
    format!("#r{}", n % 4)
}

/// An event of any kind (kinds past the known ones stay unknown), about
/// the member `name(n)`.
fn forged_event(kind: u8, n: u8) -> ChatEvent {
    let (who, room, text) = (name(n), room(n), "t".to_string());
    match kind % 10 {
        0 => ChatEvent::Joined { name: who },
        1 => ChatEvent::Left {
            name: who,
            reason: LeaveReason::Leave,
            text: None,
        },
        2 => ChatEvent::Message {
            from: who,
            text,
            room,
            cid: u64::from(kind / 10),
            action: kind & 1 == 1,
        },
        3 => ChatEvent::Entered { name: who, room },
        4 => ChatEvent::Parted {
            name: who,
            room,
            text: None,
        },
        5 => ChatEvent::Private {
            from: who,
            to: name(n.wrapping_add(1)),
            text,
            cid: u64::from(kind / 10),
            action: false,
        },
        6 => ChatEvent::Nick {
            old: who,
            new: name(n.wrapping_add(1)),
        },
        7 => ChatEvent::Topic {
            room,
            text,
            by: who,
            at: u64::from(kind),
        },
        _ => ChatEvent::Unknown {
            kind: 9 + kind / 10,
        },
    }
}
