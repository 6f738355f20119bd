//! Forged relay datagrams: well formed, with contents the fuzzer picks,
//! about real incarnations or made-up ones, numbered near the truth or
//! anywhere.

use arbitrary::Arbitrary;
use chatty::protocol::ServerId;
use chatty::relay::messages::{Data, Nack, Snapshot, Status, SyncRequest, WireEvent};
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
                        WireEvent(
                            self.seq(origin, seq),
                            kind % 5,
                            name(n),
                            "t".into(),
                            kind / 5,
                            0,
                        )
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
            Forged::SyncRequest { origin, seq, parts } => {
                let origin = self.who(&origin);
                let request = SyncRequest {
                    origin,
                    seq: self.seq(origin, seq),
                    parts: parts.into_iter().take(200).collect(), requester: Default::default(), resume: Default::default(), };
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
                    names: names.into_iter().take(40).map(name).collect(),
                    from: from.map(|f| self.seq(origin, f)),
                };
                envelope::seal(Kind::RelaySnapshot, CLUSTER, &snapshot)
            }
        };
        sealed.ok()
    }
}
