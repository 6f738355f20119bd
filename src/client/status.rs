//! `chatty status`: ask a server what it knows and print it.

use serde_json::json;

use super::{Client, ClientError, Connector};
use crate::protocol::StatusReport;

/// Connects to `addr` over plain TCP and fetches its status report.
pub async fn fetch(addr: &str) -> Result<StatusReport, ClientError> {
    fetch_via(addr, &Connector::Plain).await
}

/// Connects to `addr` as `connector` says and fetches its status report.
pub async fn fetch_via(addr: &str, connector: &Connector) -> Result<StatusReport, ClientError> {
    let mut client = Client::connect_via(addr, connector).await?;
    let report = client.status().await?;
    let _ = client.leave().await;
    Ok(report)
}

/// The report as one JSON object. Field names are a stable interface:
/// `id`, `servers[].{id,addr,state,last_heard_ms}`, `members[].{name,server}`,
/// `rooms[].{room,members,topic}`, `counters.{<name>}` (PROTOCOL.md lists
/// the names).
pub fn to_json(report: &StatusReport) -> serde_json::Value {
    json!({
        "id": report.id.to_string(),
        "servers": report.servers.iter().map(|s| json!({
            "id": s.id.to_string(),
            "addr": s.addr,
            "state": s.state,
            "last_heard_ms": s.last_heard_ms,
        })).collect::<Vec<_>>(),
        "members": report.members.iter().map(|m| json!({
            "name": m.name,
            "server": m.server.to_string(),
        })).collect::<Vec<_>>(),
        "rooms": report.rooms.iter().map(|r| json!({
            "room": r.room,
            "members": r.members,
            "topic": r.topic,
        })).collect::<Vec<_>>(),
        "counters": report.counters,
    })
}

/// The report as a table for people.
pub fn to_table(report: &StatusReport) -> String {
    use std::fmt::Write;
    let mut out = String::new();
    let _ = writeln!(out, "server {}", report.id);
    let _ = writeln!(out, "\nSERVERS ({})", report.servers.len());
    let addr_width = report
        .servers
        .iter()
        .map(|s| s.addr.len())
        .max()
        .unwrap_or(0)
        .max(7);
    let _ = writeln!(
        out,
        "  {:<36}  {:<addr_width$}  {:<7}  LAST HEARD",
        "ID", "ADDRESS", "STATE"
    );
    for s in &report.servers {
        let marker = if s.id == report.id {
            "  (this server)"
        } else {
            ""
        };
        let _ = writeln!(
            out,
            "  {:<36}  {:<addr_width$}  {:<7}  {} ms{marker}",
            s.id.to_string(),
            s.addr,
            s.state,
            s.last_heard_ms
        );
    }
    let _ = writeln!(out, "\nMEMBERS ({})", report.members.len());
    if !report.members.is_empty() {
        let name_width = report
            .members
            .iter()
            .map(|m| m.name.chars().count())
            .max()
            .unwrap_or(0)
            .max(4);
        let _ = writeln!(out, "  {:<name_width$}  SERVER", "NAME");
        for m in &report.members {
            let _ = writeln!(
                out,
                "  {:<name_width$}  {}",
                super::render::clean(&m.name),
                m.server.short()
            );
        }
    }
    let _ = writeln!(out, "\nROOMS ({})", report.rooms.len());
    if !report.rooms.is_empty() {
        let room_width = report
            .rooms
            .iter()
            .map(|r| r.room.chars().count())
            .max()
            .unwrap_or(0)
            .max(4);
        let _ = writeln!(out, "  {:<room_width$}  MEMBERS  TOPIC", "ROOM");
        for r in &report.rooms {
            let _ = writeln!(
                out,
                "  {:<room_width$}  {:>7}  {}",
                super::render::clean(&r.room),
                r.members,
                super::render::clean(&r.topic)
            );
        }
    }
    // Only what happened: a row of zeros says nothing to a person.
    let happened: Vec<_> = report.counters.iter().filter(|(_, v)| **v > 0).collect();
    if !happened.is_empty() {
        let _ = writeln!(out, "\nCOUNTERS (non-zero, since start)");
        for (name, value) in happened {
            let _ = writeln!(out, "  {:<40}  {value}", super::render::clean(name));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::{Member, RoomInfo, ServerId, ServerInfo};

    fn report() -> StatusReport {
        let id = ServerId::random();
        StatusReport {
            id,
            servers: vec![ServerInfo {
                id,
                addr: "127.0.0.1:7878".into(),
                state: "alive".into(),
                last_heard_ms: 0,
            }],
            members: vec![Member {
                name: "Leo".into(),
                server: id,
            }],
            counters: [
                ("seal_replayed".to_string(), 3),
                ("seal_bad_tag".to_string(), 0),
            ]
            .into_iter()
            .collect(),
            rooms: vec![
                RoomInfo {
                    room: "#lobby".into(),
                    members: 1,
                    topic: String::new(),
                },
                RoomInfo {
                    room: "#dev".into(),
                    members: 1,
                    topic: "ship \u{1b}[31mit".into(),
                },
            ],
        }
    }

    #[test]
    fn json_has_the_documented_fields() {
        let r = report();
        let v = to_json(&r);
        assert_eq!(v["id"], r.id.to_string());
        assert_eq!(v["servers"][0]["id"], r.id.to_string());
        assert_eq!(v["servers"][0]["addr"], "127.0.0.1:7878");
        assert_eq!(v["servers"][0]["state"], "alive");
        assert_eq!(v["members"][0]["name"], "Leo");
        assert_eq!(v["members"][0]["server"], r.id.to_string());
        assert_eq!(v["counters"]["seal_replayed"], 3);
        assert_eq!(v["rooms"][1]["room"], "#dev");
        assert_eq!(v["rooms"][1]["members"], 1);
        assert_eq!(v["rooms"][0]["topic"], "");
    }

    #[test]
    fn table_lists_servers_and_members() {
        let t = to_table(&report());
        assert!(t.contains("127.0.0.1:7878"));
        assert!(t.contains("(this server)"));
        assert!(t.contains("ROOMS (2)"), "{t}");
        assert!(t.contains("#dev"), "{t}");
        assert!(
            !t.contains('\u{1b}'),
            "a topic's escapes are not printed: {t}"
        );
        assert!(t.contains("MEMBERS (1)"));
        assert!(t.contains("Leo"));
        assert!(t.contains("seal_replayed"));
        assert!(!t.contains("seal_bad_tag"), "zero counters are not listed");
    }
}
