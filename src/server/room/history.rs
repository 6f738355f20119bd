//! Recent messages per room, for history on entering and for backfill
//! after a failover, local and relayed alike.
//!
//! Bounded three ways: a room keeps its last [`RECENT_MESSAGES`]; the
//! server keeps the histories of at most [`MAX_HISTORIES`] rooms, and at
//! most [`MAX_LINES`] lines over all of them. Past either of the last two
//! the least recently used history goes (whole: one scan frees many lines).
//! A history outlives its room: a room that empties and fills again shows
//! what was said before, while its history is kept.

use std::collections::{BTreeMap, HashMap, VecDeque};

use super::NameHash;
use crate::protocol::{MessageId, ServerId};

/// Chat messages one room keeps (about 1 MB at most).
pub const RECENT_MESSAGES: usize = 1000;

/// Rooms whose history the server keeps, least recently used first out.
pub const MAX_HISTORIES: usize = 1024;

/// Lines kept over all rooms: about 17 MB at most (1,000-byte texts).
pub const MAX_LINES: usize = 16 * 1024;

/// One remembered message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Line {
    pub(super) id: MessageId,
    pub(super) from: String,
    pub(super) text: String,
    pub(super) action: bool,
    /// The sender's client id for the line (0 = none).
    pub(super) cid: u64,
}

#[derive(Debug, Default)]
struct Ring {
    lines: VecDeque<Line>,
    /// When it was last written or read, on the histories' own clock.
    used: u64,
}

/// Every room's recent messages, by room key.
#[derive(Debug, Default)]
pub(super) struct Histories {
    rings: HashMap<String, Ring, NameHash>,
    lines: usize,
    clock: u64,
}

impl Histories {
    /// Remembers a message said in the room with key `room`.
    pub(super) fn record(&mut self, room: &str, line: Line) {
        self.clock += 1;
        let clock = self.clock;
        if !self.rings.contains_key(room) {
            self.rings.insert(room.to_string(), Ring::default());
        }
        let Some(ring) = self.rings.get_mut(room) else {
            return;
        };
        ring.used = clock;
        if ring.lines.len() == RECENT_MESSAGES {
            ring.lines.pop_front();
            self.lines -= 1;
        }
        ring.lines.push_back(line);
        self.lines += 1;
        while self.lines > MAX_LINES || self.rings.len() > MAX_HISTORIES {
            if !self.forget_least_used(room) {
                break;
            }
        }
    }

    /// The room's recent messages, oldest first; marks the history used.
    pub(super) fn read(&mut self, room: &str) -> Option<&VecDeque<Line>> {
        self.clock += 1;
        let ring = self.rings.get_mut(room)?;
        ring.used = self.clock;
        Some(&ring.lines)
    }

    /// The room's recent messages, without marking them used.
    pub(super) fn peek(&self, room: &str) -> Option<&VecDeque<Line>> {
        self.rings.get(room).map(|r| &r.lines)
    }

    /// Forgets the least recently used history other than `keep`'s.
    fn forget_least_used(&mut self, keep: &str) -> bool {
        let victim = self
            .rings
            .iter()
            .filter(|(key, _)| key.as_str() != keep)
            .min_by_key(|(_, ring)| ring.used)
            .map(|(key, _)| key.clone());
        let Some(victim) = victim else { return false };
        if let Some(ring) = self.rings.remove(&victim) {
            self.lines -= ring.lines.len();
        }
        true
    }

    #[cfg(test)]
    pub(super) fn len(&self) -> (usize, usize) {
        (self.rings.len(), self.lines)
    }
}

/// The recent messages a client that saw up to `seen` (newest id per
/// origin) has missed, in this server's order. For an origin it named:
/// everything newer. For an origin it never heard from: everything after the
/// earliest point where the ring meets what it saw (all of the ring if it
/// has been away longer than the ring reaches).
pub(super) fn backfill<'a>(
    recent: &'a VecDeque<Line>,
    seen: &'a [MessageId],
) -> impl Iterator<Item = &'a Line> + 'a {
    let newest = |origin: ServerId| {
        seen.iter()
            .filter(|s| s.origin == origin)
            .map(|s| s.seq)
            .max()
    };
    let cutoff = recent.iter().position(|line| seen.contains(&line.id));
    recent
        .iter()
        .enumerate()
        .filter(move |(pos, line)| match newest(line.id.origin) {
            Some(last) => line.id.seq > last,
            None => cutoff.is_none_or(|c| *pos > c),
        })
        .map(|(_, line)| line)
}

/// The newest message id per origin among the recent messages: what a
/// joining client has, in effect, seen (`welcome.seen`).
pub(super) fn watermark<'a>(recent: impl IntoIterator<Item = &'a Line>) -> Vec<MessageId> {
    let mut newest: BTreeMap<ServerId, u64> = BTreeMap::new();
    for line in recent {
        let seq = newest.entry(line.id.origin).or_default();
        *seq = (*seq).max(line.id.seq);
    }
    newest
        .into_iter()
        .map(|(origin, seq)| MessageId { origin, seq })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(seq: u64) -> Line {
        Line {
            id: MessageId {
                origin: ServerId::from_bytes([1; 16]),
                seq,
            },
            from: "Leo".into(),
            text: "t".into(),
            action: false,
            cid: 0,
        }
    }

    #[test]
    fn a_room_keeps_its_last_messages() {
        let mut h = Histories::default();
        for seq in 1..=RECENT_MESSAGES as u64 + 5 {
            h.record("#dev", line(seq));
        }
        let ring = h.peek("#dev").unwrap();
        assert_eq!(ring.len(), RECENT_MESSAGES);
        assert_eq!(ring.front().unwrap().id.seq, 6);
        assert_eq!(h.len(), (1, RECENT_MESSAGES));
    }

    #[test]
    fn the_least_used_history_goes_first_and_the_bounds_hold() {
        let mut h = Histories::default();
        for room in 0..MAX_HISTORIES + 3 {
            h.record(&format!("#r{room}"), line(1));
            if room == MAX_HISTORIES - 1 {
                // Someone entered #r0 again: it is used, #r1 is not.
                h.read("#r0");
            }
        }
        assert_eq!(h.len().0, MAX_HISTORIES);
        assert!(h.peek("#r0").is_some(), "read recently");
        assert!(h.peek("#r1").is_none(), "least recently used");
        // Many lines in few rooms: the total holds too.
        for n in 0..MAX_LINES as u64 * 2 {
            h.record(&format!("#busy{}", n % 40), line(n));
        }
        assert!(h.len().1 <= MAX_LINES);
        assert!(h.peek("#busy39").is_some(), "the newest stays");
    }
}
