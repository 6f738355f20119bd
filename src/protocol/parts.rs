//! The structures that messages carry: members, rooms, topics, servers and
//! the status report.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::ids::ServerId;

/// The default room: everyone is put in it on joining.
pub const LOBBY: &str = "#lobby";

pub(super) fn lobby() -> String {
    LOBBY.to_string()
}

pub(super) fn is_false(b: &bool) -> bool {
    !*b
}

/// A room as a member entering it finds it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RoomState {
    /// The room, as spelled when it was created.
    pub room: String,
    /// Its topic, if it has one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub topic: Option<TopicInfo>,
    /// Its members, by name; empty for a large room.
    pub members: Vec<Member>,
    /// Present only for a large room (more members than the server's
    /// `--large-room` limit): how many members it has. Its members are then
    /// not listed here, and joins and leaves of others are not sent; `who`
    /// lists them a page at a time.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub count: Option<u32>,
}

/// A room's topic.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TopicInfo {
    /// The topic.
    pub text: String,
    /// Who set it.
    pub by: String,
    /// When, in Unix milliseconds.
    pub at: u64,
}

/// One room in `rooms_reply` and `status_reply`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RoomInfo {
    /// The room.
    pub room: String,
    /// How many members it has.
    pub members: u32,
    /// Its topic (empty when none).
    #[serde(default)]
    pub topic: String,
}

/// One person in the chat.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Member {
    /// Their name.
    pub name: String,
    /// The server they are connected to.
    pub server: ServerId,
}

/// What a server knows, as returned by `status`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StatusReport {
    /// The answering server.
    pub id: ServerId,
    /// Every server it knows, itself included.
    pub servers: Vec<ServerInfo>,
    /// Everyone in the chat, sorted by name.
    pub members: Vec<Member>,
    /// Named counters since the server started (connections refused by the
    /// caps, datagrams dropped or refused by cause), for operators. Names are
    /// listed in PROTOCOL.md; clients must accept names they do not know.
    #[serde(default)]
    pub counters: BTreeMap<String, u64>,
    /// Version 2: every room in the cluster with a member, by name.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub rooms: Vec<RoomInfo>,
}

/// Version 2: one change in the answering server's view of the cluster,
/// pushed to a `watch` subscriber as it happens.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClusterEvent {
    /// When the answering server saw it (Unix milliseconds, its clock).
    pub at_ms: u64,
    /// `joined`, `suspect`, `recovered`, `removed` (silent too long),
    /// `left` (announced a graceful leave) or `replaced` (a newer
    /// incarnation announced the same address: the server restarted).
    /// Clients must accept kinds they do not know.
    pub kind: String,
    /// The server it is about.
    pub server: ServerId,
    /// That server's client address (`ip:port`).
    pub addr: String,
}

/// One server as seen by the answering server.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServerInfo {
    /// The server's incarnation id.
    pub id: ServerId,
    /// Where clients connect to it (`ip:port`).
    pub addr: String,
    /// `alive`, `suspect` or `dead`.
    pub state: String,
    /// Milliseconds since the answering server last heard from it (0 for itself).
    #[serde(default)]
    pub last_heard_ms: u64,
}
