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
    let line = if let Some(n) = state.count {
        format!(
            "[ROOM] {room} has {} (a large room: joins and leaves are not shown; /who lists them)",
            count(n as usize, "member")
        )
    } else {
        let names: Vec<String> = state.members.iter().map(|m| clean(&m.name)).collect();
        let line = format!("[ROOM] {room} has {}", count(names.len(), "member"));
        if names.is_empty() {
            line
        } else {
            format!("{line}: {}", names.join(", "))
        }
    };
    let mut lines = vec![line];
    if let Some(topic) = &state.topic {
        lines.push(topic_line(&state.room, &topic.text, &topic.by));
    }
    lines
}

/// A room already entered became large, or small again (the server's
/// unasked `room_state`).
pub fn room_resized(state: &RoomState) -> String {
    let room = clean(&state.room);
    match state.count {
        Some(n) => format!(
            "[ROOM] {room} now has {}: joins and leaves are no longer shown (/who lists them)",
            count(n as usize, "member")
        ),
        None => format!(
            "[ROOM] {room} has {} again: joins and leaves are shown again",
            count(state.members.len(), "member")
        ),
    }
}

/// Who is in `room`, and where: one page of a large room (`count` in all,
/// `next` the name to continue after).
pub fn who(room: &str, members: &[Member], total: Option<u32>, next: Option<&str>) -> Vec<String> {
    let spelled = room;
    let room = clean(room);
    let total = total.map_or(members.len(), |n| n as usize);
    let mut lines = vec![format!("[WHO] {room} has {}", count(total, "member"))];
    lines.extend(
        members
            .iter()
            .map(|m| format!("[WHO] {room}: {} on {}", clean(&m.name), m.server.short())),
    );
    if let Some(next) = next {
        let after = if next.contains(char::is_whitespace) {
            format!("\"{next}\"")
        } else {
            next.to_string()
        };
        lines.push(format!(
            "[WHO] {room}: {} shown; /who {} {} lists the next ones",
            members.len(),
            clean(spelled),
            clean(&after)
        ));
    }
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
