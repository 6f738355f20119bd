//! The lines for the answers to version-2 queries and for `/help`. Pure,
//! so it is unit-tested. Each answer is one or more lines with one tag, so
//! a script can pick them out:
//!
//! - entering a room: `[ROOM] #dev has 3 members: Ann, Bob, Leo`, then its
//!   topic (`[TOPIC] #dev: text (set by Leo)`) if it has one;
//! - `/who #dev`: `[WHO] #dev has 2 members`, then one line per member with
//!   its server (the short id `chatty status` shows too):
//!   `[WHO] #dev: Ann on 1f3a9c2e`;
//! - `/rooms`: `[ROOMS] 2 rooms`, then one line per room:
//!   `[ROOMS] #dev: 3 members, topic: release friday` (`#lobby: 5 members`
//!   without a topic);
//! - `/whois Ann`: `[WHOIS] Ann on 1f3a9c2e, in #dev, #lobby` (`in no room`);
//! - `/help`: `[HELP] …`, one line per command.

use super::command::HELP;
use super::sanitize::clean;
use crate::protocol::{Member, RoomInfo, RoomState, ServerId};

/// "1 member", "3 members".
fn count(n: usize, what: &str) -> String {
    match n {
        1 => format!("1 {what}"),
        n => format!("{n} {what}s"),
    }
}

/// The room as the member entering it finds it.
pub fn room_state(state: &RoomState) -> Vec<String> {
    let room = clean(&state.room);
    let names: Vec<String> = state.members.iter().map(|m| clean(&m.name)).collect();
    let mut line = format!("[ROOM] {room} has {}", count(names.len(), "member"));
    if !names.is_empty() {
        line = format!("{line}: {}", names.join(", "));
    }
    let mut lines = vec![line];
    if let Some(topic) = &state.topic {
        lines.push(topic_line(&state.room, &topic.text, &topic.by));
    }
    lines
}

/// Who is in `room`, and where.
pub fn who(room: &str, members: &[Member]) -> Vec<String> {
    let room = clean(room);
    let mut lines = vec![format!(
        "[WHO] {room} has {}",
        count(members.len(), "member")
    )];
    lines.extend(
        members
            .iter()
            .map(|m| format!("[WHO] {room}: {} on {}", clean(&m.name), m.server.short())),
    );
    lines
}

/// Every room with a member.
pub fn rooms(rooms: &[RoomInfo]) -> Vec<String> {
    let mut lines = vec![format!("[ROOMS] {}", count(rooms.len(), "room"))];
    lines.extend(rooms.iter().map(|r| {
        let members = count(r.members as usize, "member");
        match r.topic.as_str() {
            "" => format!("[ROOMS] {}: {members}", clean(&r.room)),
            topic => format!(
                "[ROOMS] {}: {members}, topic: {}",
                clean(&r.room),
                clean(topic)
            ),
        }
    }));
    lines
}

/// Where a member is.
pub fn whois(name: &str, server: ServerId, rooms: &[String]) -> String {
    let rooms = if rooms.is_empty() {
        "no room".to_string()
    } else {
        rooms
            .iter()
            .map(|r| clean(r))
            .collect::<Vec<_>>()
            .join(", ")
    };
    format!("[WHOIS] {} on {}, in {rooms}", clean(name), server.short())
}

/// `[TOPIC] #dev: text (set by Leo)`; an empty topic is none, or cleared.
pub fn topic_line(room: &str, text: &str, by: &str) -> String {
    let room = clean(room);
    match (text.is_empty(), by.is_empty()) {
        (false, false) => format!("[TOPIC] {room}: {} (set by {})", clean(text), clean(by)),
        (false, true) => format!("[TOPIC] {room}: {}", clean(text)),
        (true, false) => format!("[TOPIC] {room}: cleared by {}", clean(by)),
        (true, true) => format!("[TOPIC] {room} has no topic"),
    }
}

/// What `/help` prints.
pub fn help() -> Vec<String> {
    HELP.iter().map(|line| format!("[HELP] {line}")).collect()
}
