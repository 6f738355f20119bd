//! `draft/chathistory` served from the room history this connection has
//! seen: the history Chatty replays on entering a room (`--history N`) and
//! every message since. The gateway keeps it per connection, bounded;
//! messages from before the connection entered a room beyond those N are
//! not reachable (IRC.md says so). Replayed history carries no time (Chatty
//! history has none), so `server-time` is only on messages seen live.

use std::collections::{HashMap, VecDeque};

use crate::protocol::validate::name_key;
use crate::protocol::MessageId;

use super::super::message::Message;
use super::super::names::to_nick;
use super::super::text::parse_timestamp;
use super::events::Line;
use super::Translator;

/// Messages kept per room.
const PER_ROOM: usize = 1000;
/// Rooms kept; the least recently written is forgotten first.
const ROOMS: usize = 64;
/// Most messages one CHATHISTORY request returns (ISUPPORT CHATHISTORY).
pub(super) const MAX_LIMIT: usize = 100;

/// One remembered message.
#[derive(Debug, Clone)]
pub(super) struct Entry {
    pub id: MessageId,
    /// When the gateway saw it (Unix ms); `None` for replayed history.
    pub at: Option<u64>,
    pub from: String,
    pub text: String,
    pub action: bool,
}

/// The messages of each room, oldest first.
#[derive(Debug, Default)]
pub(super) struct History {
    rooms: HashMap<String, (String, VecDeque<Entry>)>,
    order: VecDeque<String>,
}

impl History {
    /// Keeps `entry` for `room` (whose name key is `key`); false if it was
    /// kept already (same id).
    pub fn record_keyed(&mut self, key: String, room: &str, entry: Entry) -> bool {
        if !self.rooms.contains_key(&key) && self.rooms.len() >= ROOMS {
            if let Some(old) = self.order.pop_front() {
                self.rooms.remove(&old);
            }
        }
        self.order.retain(|k| *k != key);
        self.order.push_back(key.clone());
        let (_, entries) = self
            .rooms
            .entry(key)
            .or_insert_with(|| (room.to_string(), VecDeque::new()));
        if entries.iter().any(|e| e.id == entry.id) {
            return false;
        }
        if entries.len() == PER_ROOM {
            entries.pop_front();
        }
        entries.push_back(entry);
        true
    }

    /// Keeps a message seen live: its id is new, so no search for it.
    pub fn record_live(&mut self, key: String, room: &str, entry: Entry) {
        if self.order.back() != Some(&key) {
            if !self.rooms.contains_key(&key) && self.rooms.len() >= ROOMS {
                if let Some(old) = self.order.pop_front() {
                    self.rooms.remove(&old);
                }
            }
            self.order.retain(|k| *k != key);
            self.order.push_back(key.clone());
        }
        let (_, entries) = self
            .rooms
            .entry(key)
            .or_insert_with(|| (room.to_string(), VecDeque::new()));
        if entries.len() == PER_ROOM {
            entries.pop_front();
        }
        entries.push_back(entry);
    }

    fn room(&self, room: &str) -> Option<&(String, VecDeque<Entry>)> {
        self.rooms.get(&name_key(room))
    }
}

/// A message reference of CHATHISTORY: `*`, `msgid=…` or `timestamp=…`.
#[derive(Debug, Clone, Copy)]
enum Ref {
    Newest,
    At(usize),
    Time(u64),
}

impl Translator {
    pub(super) fn chathistory(&mut self, msg: &Message, now: u64) {
        let _ = now;
        let sub = msg.param(0).unwrap_or("").to_ascii_uppercase();
        let fail = |t: &mut Translator, code: &str, text: &str| {
            let server = t.gw.server_name.clone();
            t.raw(Some(&server), "FAIL", &["CHATHISTORY", code, &sub, text]);
        };
        if sub == "TARGETS" {
            return self.history_targets(msg);
        }
        if !["LATEST", "BEFORE", "AFTER", "AROUND", "BETWEEN"].contains(&sub.as_str()) {
            return fail(self, "INVALID_PARAMS", "Unknown subcommand");
        }
        let needed = if sub == "BETWEEN" { 5 } else { 4 };
        if msg.params.len() < needed {
            return fail(self, "INVALID_PARAMS", "Not enough parameters");
        }
        let target = msg.params[1].clone();
        let Some(limit) = msg.params[needed - 1]
            .parse::<usize>()
            .ok()
            .filter(|l| *l > 0)
        else {
            return fail(self, "INVALID_PARAMS", "Bad limit");
        };
        let limit = limit.min(MAX_LIMIT);
        let entries: Vec<Entry> = self
            .history
            .room(&target)
            .map(|(_, e)| e.iter().cloned().collect())
            .unwrap_or_default();
        let Some(first) = parse_ref(&msg.params[2], &entries, sub == "LATEST") else {
            return fail(self, "INVALID_PARAMS", "Bad message reference");
        };
        let range = match sub.as_str() {
            "LATEST" => {
                let start = after(first, &entries);
                let start = start.max(entries.len().saturating_sub(limit));
                start..entries.len()
            }
            "BEFORE" => {
                let end = before(first, &entries);
                end.saturating_sub(limit)..end
            }
            "AFTER" => {
                let start = after(first, &entries);
                start..(start + limit).min(entries.len())
            }
            "AROUND" => {
                let mid = before(first, &entries);
                let start = mid.saturating_sub(limit / 2);
                start..(start + limit).min(entries.len())
            }
            _ => {
                let Some(second) = parse_ref(&msg.params[3], &entries, false) else {
                    return fail(self, "INVALID_PARAMS", "Bad message reference");
                };
                let (a, b) = (after(first, &entries), before(second, &entries));
                let (a2, b2) = (after(second, &entries), before(first, &entries));
                if a <= b {
                    a..b.min(a + limit)
                } else if a2 <= b2 {
                    b2.saturating_sub(limit).max(a2)..b2
                } else {
                    0..0
                }
            }
        };
        let shown = self
            .history
            .room(&target)
            .map_or(target.clone(), |(name, _)| name.clone());
        let batch = self.open_batch("chathistory", &shown);
        for e in &entries[range] {
            let nick = to_nick(&e.from);
            self.show_line(&Line {
                id: e.id,
                from: &nick,
                target: &shown,
                text: &e.text,
                action: e.action,
                at: e.at,
                verb: "PRIVMSG",
                batch: batch.as_deref(),
            });
        }
        self.close_batch(batch);
    }

    fn history_targets(&mut self, msg: &Message) {
        let (Some(a), Some(b)) = (msg.param(1).and_then(ts), msg.param(2).and_then(ts)) else {
            let server = self.gw.server_name.clone();
            return self.raw(
                Some(&server),
                "FAIL",
                &["CHATHISTORY", "INVALID_PARAMS", "TARGETS", "Bad timestamps"],
            );
        };
        let limit = msg
            .param(3)
            .and_then(|l| l.parse::<usize>().ok())
            .unwrap_or(MAX_LIMIT)
            .min(MAX_LIMIT);
        let (lo, hi) = (a.min(b), a.max(b));
        let mut found: Vec<(u64, String)> = self
            .history
            .rooms
            .values()
            .filter_map(|(name, e)| {
                e.iter()
                    .filter_map(|e| e.at)
                    .filter(|t| *t >= lo && *t <= hi)
                    .max()
                    .map(|t| (t, name.clone()))
            })
            .collect();
        found.sort();
        let batch = self.open_batch("draft/chathistory-targets", "");
        for (at, name) in found.into_iter().take(limit) {
            let mut line = Message::new(
                "CHATHISTORY",
                &[
                    "TARGETS",
                    &name,
                    &format!("timestamp={}", super::super::text::timestamp(at)),
                ],
            );
            line.source = Some(self.gw.server_name.clone());
            if let Some(b) = &batch {
                line.tags.push(("batch".into(), b.clone()));
            }
            self.line(&line.write(false));
        }
        self.close_batch(batch);
    }

    /// Opens a batch if the client has `batch`; returns its reference.
    fn open_batch(&mut self, kind: &str, target: &str) -> Option<String> {
        if !self.caps.batch {
            return None;
        }
        self.batches += 1;
        let reference = format!("h{}", self.batches);
        let server = self.gw.server_name.clone();
        let open = format!("+{reference}");
        if target.is_empty() {
            self.raw_bare(Some(&server), "BATCH", &[&open, kind]);
        } else {
            self.raw_bare(Some(&server), "BATCH", &[&open, kind, target]);
        }
        Some(reference)
    }

    fn close_batch(&mut self, batch: Option<String>) {
        if let Some(reference) = batch {
            let server = self.gw.server_name.clone();
            self.raw_bare(Some(&server), "BATCH", &[&format!("-{reference}")]);
        }
    }
}

fn ts(param: &str) -> Option<u64> {
    parse_timestamp(param.strip_prefix("timestamp=")?)
}

/// Reads a reference; `*` only where `newest_ok` (LATEST). An unknown msgid
/// reads as "nothing around it" (an empty answer), as the spec allows.
fn parse_ref(param: &str, entries: &[Entry], newest_ok: bool) -> Option<Ref> {
    if param == "*" {
        return newest_ok.then_some(Ref::Newest);
    }
    if let Some(t) = param.strip_prefix("timestamp=") {
        return parse_timestamp(t).map(Ref::Time);
    }
    let id = param.strip_prefix("msgid=")?;
    let mut parts = id.split('-');
    let (origin, seq) = (parts.next()?, parts.next()?.parse::<u64>().ok()?);
    let found = entries.iter().position(|e| {
        super::events::msgid(e.id, 0).split('-').next() == Some(origin) && e.id.seq == seq
    });
    Some(found.map_or(Ref::At(usize::MAX), Ref::At))
}

/// The index of the first entry after `r`.
fn after(r: Ref, entries: &[Entry]) -> usize {
    match r {
        Ref::Newest => 0,
        Ref::At(usize::MAX) => entries.len(),
        Ref::At(i) => i + 1,
        Ref::Time(t) => entries.partition_point(|e| e.at.unwrap_or(0) <= t),
    }
}

/// The index just past the last entry before `r`.
fn before(r: Ref, entries: &[Entry]) -> usize {
    match r {
        Ref::Newest => entries.len(),
        Ref::At(usize::MAX) => 0,
        Ref::At(i) => i,
        Ref::Time(t) => entries.partition_point(|e| e.at.unwrap_or(0) < t),
    }
}
