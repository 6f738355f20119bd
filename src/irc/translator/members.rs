//! Other members' comings and goings as IRC sees them: JOIN, PART, QUIT
//! (one per lost session, however many rooms showed it), NICK and TOPIC.

use crate::protocol::validate::name_key;
use crate::protocol::{LeaveReason, MessageId};

use super::super::names::to_nick;
use super::{Pending, Translator};

impl Translator {
    pub(super) fn member_joined(
        &mut self,
        name: String,
        server: crate::protocol::ServerId,
        room: String,
    ) {
        if self.is_from_me(&name) {
            return self.replay_done(&room); // the JOIN showed when `room_state` came
        }
        let key = self.key(&room);
        // Not cached: each joiner's key is needed once, and a cache of
        // every name seen would be most of an idle connection's memory.
        let who = name_key(&name);
        let Some(channel) = self.channels.get_mut(&key) else {
            return;
        };
        if channel
            .members
            .insert(who.clone(), (name.clone(), server))
            .is_some()
        {
            return;
        }
        let shown = channel.name.clone();
        let source = self.source_of_name(&name);
        self.raw_bare(Some(&source), "JOIN", &[&shown]);
        if self.caps.away_notify {
            if let Some(away) = self.board.away(&who) {
                self.raw(Some(&source), "AWAY", &[&away]);
            }
        }
    }

    pub(super) fn member_left(
        &mut self,
        id: MessageId,
        name: &str,
        room: &str,
        reason: LeaveReason,
        text: Option<String>,
        quit: bool,
    ) {
        let key = self.key(room);
        let who = name_key(name);
        if self.is_from_me(name) {
            let our_reason = match self.pending.front() {
                Some(Pending::Part {
                    room: asked,
                    reason,
                }) if self.key(asked) == key => {
                    let reason = reason.clone();
                    self.pending.pop_front();
                    reason
                }
                _ if reason == LeaveReason::NameConflict => {
                    return self.close("Nick collision: someone on another server took this name at the same moment");
                }
                _ => None,
            };
            if let Some(channel) = self.channels.remove(&key) {
                if let Some(last) = channel.last.get() {
                    self.seen.left(key, last);
                }
                let me = self.me();
                match our_reason {
                    Some(r) => self.raw(Some(&me), "PART", &[&channel.name, &r]),
                    None => self.raw_bare(Some(&me), "PART", &[&channel.name]),
                }
            }
            return;
        }
        let source = self.source_of_name(name);
        if reason == LeaveReason::Leave && !quit {
            if let Some(channel) = self.channels.get_mut(&key) {
                if channel.members.remove(&who).is_some() {
                    let shown = channel.name.clone();
                    match &text {
                        Some(text) => self.raw(Some(&source), "PART", &[&shown, text]),
                        None => self.raw_bare(Some(&source), "PART", &[&shown]),
                    }
                }
            }
            return;
        }
        // Leaving the chat, for any reason, ends the member's session: one
        // QUIT for all rooms.
        let mut was_here = false;
        for channel in self.channels.values_mut() {
            was_here |= channel.members.remove(&who).is_some();
        }
        let repeat = self
            .last_quit
            .as_ref()
            .is_some_and(|(i, k)| *i == id && *k == who && id.seq != 0);
        if was_here && !repeat {
            let text = match (reason, text) {
                (LeaveReason::Leave, Some(text)) => text,
                (LeaveReason::Leave, None) => "Client Quit".to_string(),
                (other, _) => format!("Quit: {}", other.describe().unwrap_or("left")),
            };
            self.raw(Some(&source), "QUIT", &[&text]);
        }
        self.last_quit = Some((id, who));
    }

    pub(super) fn renamed(&mut self, old: &str, new: &str, server: crate::protocol::ServerId) {
        let (old_key, new_key) = (self.key(old), self.key(new));
        let source = self.source_of_name(old);
        let new_nick = to_nick(new);
        if self.is_me(old) {
            if matches!(self.pending.front(), Some(Pending::Nick { .. })) {
                self.pending.pop_front();
            }
            self.nick = Some(new_nick.clone());
            self.presence_version += 1;
        } else if !self.shares_room(&old_key) {
            return;
        }
        for channel in self.channels.values_mut() {
            if channel.members.remove(&old_key).is_some() {
                channel
                    .members
                    .insert(new_key.clone(), (new.to_string(), server));
            }
        }
        self.raw(Some(&source), "NICK", &[&new_nick]);
    }

    pub(super) fn topic_frame(&mut self, room: String, text: String, by: String, at: u64) {
        let key = self.key(&room);
        if let Some(Pending::TopicAsk { room: asked }) = self.pending.front() {
            if self.key(asked) == key {
                self.pending.pop_front();
                let topic = crate::protocol::TopicInfo { text, by, at };
                return self.topic_reply(&room, Some(&topic));
            }
        }
        if matches!(self.pending.front(), Some(Pending::TopicSet)) {
            self.pending.pop_front();
        }
        let Some(channel) = self.channels.get_mut(&key) else {
            return;
        };
        channel.topic = Some(crate::protocol::TopicInfo {
            text: text.clone(),
            by: by.clone(),
            at,
        });
        let shown = channel.name.clone();
        let source = self.source_of_name(&by);
        self.raw(Some(&source), "TOPIC", &[&shown, &text]);
    }
}
