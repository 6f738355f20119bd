//! The topics a server knows, one per room, kept by the deterministic rule:
//! of two topics for a room, the one with the greater stamp `(at, origin)`
//! wins — the later one, and at the same millisecond the one set on the
//! server with the larger id. Every server applies the rule to whatever it
//! hears (events, snapshots), in any order, so all converge on the same
//! topic per room. The relay keeps a book to put in its snapshots; the room
//! keeps one to show.
//!
//! Bounded: at most [`MAX_TOPICS`] rooms. Past that the topic with the
//! smallest stamp is forgotten, the same one on every server that knows
//! the same topics.

use std::collections::HashMap;

use super::messages::TopicEntry;
use crate::protocol::validate::name_key;

/// Most rooms whose topic a book keeps.
pub const MAX_TOPICS: usize = 1024;

/// Topics by room key.
#[derive(Debug, Default, Clone)]
pub struct TopicBook {
    by_room: HashMap<String, TopicEntry>,
}

impl TopicBook {
    /// Keeps `entry` if it beats the topic held for its room. Returns true
    /// if it did (it is now the room's topic).
    pub fn offer(&mut self, entry: TopicEntry) -> bool {
        let key = name_key(&entry.room);
        if let Some(held) = self.by_room.get(&key) {
            if held.stamp() >= entry.stamp() {
                return false;
            }
        } else if self.by_room.len() >= MAX_TOPICS {
            let oldest = self
                .by_room
                .iter()
                .min_by_key(|(_, e)| e.stamp())
                .map(|(k, e)| (k.clone(), e.stamp()));
            match oldest {
                Some((k, stamp)) if stamp < entry.stamp() => {
                    self.by_room.remove(&k);
                }
                _ => return false,
            }
        }
        self.by_room.insert(key, entry);
        true
    }

    /// The topic of the room with key `key`.
    pub fn get(&self, key: &str) -> Option<&TopicEntry> {
        self.by_room.get(key)
    }

    /// Every topic, in no particular order.
    pub fn iter(&self) -> impl Iterator<Item = &TopicEntry> {
        self.by_room.values()
    }

    /// How many rooms have a topic here.
    pub fn len(&self) -> usize {
        self.by_room.len()
    }

    /// Whether no room has a topic here.
    pub fn is_empty(&self) -> bool {
        self.by_room.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::ServerId;

    fn topic(room: &str, text: &str, at: u64, origin: u8) -> TopicEntry {
        TopicEntry {
            room: room.into(),
            text: text.into(),
            by: "Leo".into(),
            at,
            origin: ServerId::from_bytes([origin; 16]),
        }
    }

    #[test]
    fn the_greater_stamp_wins_in_either_order() {
        let a = topic("#dev", "from 2", 100, 2);
        let b = topic("#Dev", "from 9", 100, 9);
        let c = topic("#dev", "earlier", 99, 200);
        for order in [[&a, &b, &c], [&c, &b, &a], [&b, &a, &c]] {
            let mut book = TopicBook::default();
            for t in order {
                book.offer(t.clone());
            }
            assert_eq!(book.get(&name_key("#dev")).unwrap().text, "from 9");
            assert_eq!(book.len(), 1);
        }
        let mut book = TopicBook::default();
        assert!(book.offer(a.clone()));
        assert!(!book.offer(a), "the same stamp again changes nothing");
    }

    #[test]
    fn the_book_is_bounded_and_forgets_the_oldest_stamp() {
        let mut book = TopicBook::default();
        for n in 0..MAX_TOPICS as u64 + 10 {
            book.offer(topic(&format!("#r{n}"), "t", 1000 + n, 1));
        }
        assert_eq!(book.len(), MAX_TOPICS);
        assert!(book.get(&name_key("#r0")).is_none());
        assert!(book
            .get(&name_key(&format!("#r{}", MAX_TOPICS + 9)))
            .is_some());
        assert!(!book.offer(topic("#ancient", "t", 1, 1)), "older than all");
    }
}
