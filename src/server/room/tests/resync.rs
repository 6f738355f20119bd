//! Snapshots: a first sync shows the origin's members in their rooms; a
//! resync after an overrun brings names and rooms up to date by diff; a
//! lost server takes its members out of every room.

use super::*;
use crate::relay::{Delivery, SnapshotMember};

fn snap(members: &[(&str, &[&str])]) -> Vec<SnapshotMember> {
    members
        .iter()
        .map(|(name, rooms)| SnapshotMember {
            name: name.to_string(),
            rooms: rooms.iter().map(|r| r.to_string()).collect(),
        })
        .collect()
}

fn who(room: &Room, name: &str) -> Vec<String> {
    match room.who(name) {
        Ok(ServerMsg::WhoReply { members, .. }) => members.into_iter().map(|m| m.name).collect(),
        _ => Vec::new(),
    }
}

#[test]
fn a_first_sync_shows_members_in_their_rooms() {
    let room = Room::new(id(5), "127.0.0.1:1".into(), 256);
    let mut ann = member(&room, "Ann");
    room.enter(ann.id, "#dev").unwrap();
    drain(&mut ann);
    room.apply(Delivery::Synced {
        origin: id(9),
        members: snap(&[
            ("Zed", &["#dev", "#ops"]),
            ("Yan", &[]),
            ("Xi", &["#lobby", "bad room"]),
        ]),
        topics: vec![],
    });
    assert_eq!(who(&room, "#dev"), ["Ann", "Zed"]);
    assert_eq!(who(&room, "#ops"), ["Zed"]);
    assert_eq!(who(&room, LOBBY), ["Ann", "Xi"]);
    assert!(room.whois("Yan").is_ok(), "in no room, but holds its name");
    let joined: Vec<(String, String, u64)> = drain(&mut ann)
        .into_iter()
        .filter_map(|m| match m {
            ServerMsg::Joined { name, room, id, .. } => Some((name, room, id.seq)),
            _ => None,
        })
        .collect();
    let mut joined = joined;
    joined.sort();
    assert_eq!(
        joined,
        [
            ("Xi".into(), "#lobby".into(), 0),
            ("Zed".into(), "#dev".into(), 0)
        ]
    );
}

#[test]
fn a_resync_diffs_names_and_rooms() {
    let room = Room::new(id(5), "127.0.0.1:1".into(), 256);
    let (mut ann, mut old) = (member(&room, "Ann"), join_v1(&room, "Old"));
    room.enter(ann.id, "#dev").unwrap();
    room.enter(ann.id, "#ops").unwrap();
    room.apply(Delivery::Synced {
        origin: id(9),
        members: snap(&[
            ("Zed", &["#lobby", "#dev"]),
            ("Gone", &["#lobby"]),
            ("Same", &["#ops"]),
        ]),
        topics: vec![],
    });
    drain_all(&mut [&mut ann, &mut old]);
    // Lost in between: Zed parted #dev and entered #ops, Gone left, New joined.
    room.apply(Delivery::Resynced {
        origin: id(9),
        members: snap(&[
            ("Zed", &["#lobby", "#ops"]),
            ("Same", &["#ops"]),
            ("New", &["#dev"]),
        ]),
        topics: vec![],
    });
    let got = drain(&mut ann);
    assert!(matches!(&got[0], ServerMsg::Notice { text } if text.contains("brought up to date")));
    let mut changes: Vec<String> = got[1..]
        .iter()
        .map(|m| match m {
            ServerMsg::Joined { name, room, .. } => format!("+{name} {room}"),
            ServerMsg::Left {
                name, room, reason, ..
            } => format!("-{name} {room} {reason:?}"),
            other => panic!("{other:?}"),
        })
        .collect();
    changes.sort();
    assert_eq!(
        changes,
        [
            "+New #dev",
            "+Zed #ops",
            "-Gone #lobby Unknown",
            "-Zed #dev Unknown"
        ]
    );
    assert_eq!(who(&room, "#dev"), ["Ann", "New"]);
    assert_eq!(who(&room, "#ops"), ["Ann", "Same", "Zed"]);
    // Version 1 hears of #lobby only.
    let to_old: Vec<ServerMsg> = drain(&mut old);
    assert!(to_old.iter().all(|m| match m {
        ServerMsg::Left { room, .. } | ServerMsg::Joined { room, .. } => room == LOBBY,
        ServerMsg::Notice { .. } => true,
        _ => false,
    }));
    // Nothing changed: no notice.
    room.apply(Delivery::Resynced {
        origin: id(9),
        members: snap(&[
            ("Zed", &["#lobby", "#ops"]),
            ("Same", &["#ops"]),
            ("New", &["#dev"]),
        ]),
        topics: vec![],
    });
    assert!(drain(&mut ann).is_empty());
}

#[test]
fn a_lost_server_takes_its_members_out_of_every_room() {
    let room = Room::new(id(5), "127.0.0.1:1".into(), 256);
    let mut ann = member(&room, "Ann");
    room.enter(ann.id, "#dev").unwrap();
    remote_member(&room, id(9), "Zed", &["#dev"]);
    drain(&mut ann);
    room.apply(Delivery::OriginGone {
        origin: id(9),
        graceful: false,
    });
    let mut rooms: Vec<String> = drain(&mut ann)
        .into_iter()
        .filter_map(|m| match m {
            ServerMsg::Left {
                room,
                reason: LeaveReason::ServerLost,
                ..
            } => Some(room),
            _ => None,
        })
        .collect();
    rooms.sort();
    assert_eq!(rooms, ["#dev", "#lobby"]);
    assert_eq!(who(&room, "#dev"), ["Ann"]);
}
