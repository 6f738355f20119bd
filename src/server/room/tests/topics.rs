//! Topics: the greater `(at, origin)` wins in any arrival order; a topic
//! set here replaces the one shown; frames only when the topic changes.

use super::*;
use crate::relay::{ChatEvent, Delivery, TopicEntry};

fn topic_event(room: &str, text: &str, at: u64) -> ChatEvent {
    ChatEvent::Topic {
        room: room.into(),
        text: text.into(),
        by: "Zed".into(),
        at,
    }
}

fn topics(msgs: &[ServerMsg]) -> Vec<String> {
    msgs.iter()
        .filter_map(|m| match m {
            ServerMsg::Topic { text, .. } => Some(text.clone()),
            _ => None,
        })
        .collect()
}

fn shown(room: &Room, name: &str) -> String {
    match room.topic(name).unwrap() {
        ServerMsg::Topic { text, .. } => text,
        _ => unreachable!(),
    }
}

#[test]
fn the_later_topic_wins_and_a_tie_goes_to_the_larger_origin_in_either_order() {
    let events = [
        (id(2), 1, topic_event("#dev", "from 2", 1000)),
        (id(9), 1, topic_event("#dev", "from 9", 1000)),
        (id(3), 1, topic_event("#dev", "older", 999)),
    ];
    for order in [[0, 1, 2], [1, 0, 2], [2, 1, 0], [2, 0, 1]] {
        let room = Room::new(id(5), "127.0.0.1:1".into(), 256);
        let mut ann = member(&room, "Ann");
        room.enter(ann.id, "#dev").unwrap();
        drain(&mut ann);
        for i in order {
            let (origin, seq, ev) = events[i].clone();
            room.apply(event(origin, seq, ev));
        }
        assert_eq!(shown(&room, "#dev"), "from 9", "order {order:?}");
        // A frame each time the shown topic changed, never for a loser.
        let seen = topics(&drain(&mut ann));
        assert_eq!(
            seen.last().map(String::as_str),
            Some("from 9"),
            "order {order:?}"
        );
        assert!(
            !seen.contains(&"older".to_string()) || order[0] == 2,
            "order {order:?}"
        );
    }
}

#[test]
fn a_topic_set_here_replaces_the_one_shown_even_if_clocks_disagree() {
    let room = Room::new(id(5), "127.0.0.1:1".into(), 256);
    let (mut ann, mut bob, mut old) = (
        member(&room, "Ann"),
        member(&room, "Bob"),
        join_v1(&room, "Old"),
    );
    room.enter(ann.id, "#dev").unwrap();
    room.enter(bob.id, "#dev").unwrap();
    // Server 9's clock runs an hour ahead.
    room.apply(event(
        id(9),
        1,
        topic_event("#dev", "from the future", 3_600_000),
    ));
    drain_all(&mut [&mut ann, &mut bob, &mut old]);
    room.set_topic(ann.id, "#DEV", "ours", 1000).unwrap();
    let got = drain(&mut bob);
    assert!(matches!(
        &got[..],
        [ServerMsg::Topic { room, text, by, at }] if room == "#dev" && text == "ours" && by == "Ann" && *at == 3_600_001
    ));
    assert_eq!(topics(&drain(&mut ann)), ["ours"]);
    assert!(drain(&mut old).is_empty(), "version 1 has no topic frame");
    // Entering shows it; an empty text clears it.
    let mut cat = member(&room, "Cat");
    room.enter(cat.id, "#dev").unwrap();
    assert!(
        matches!(&drain(&mut cat)[0], ServerMsg::RoomState(s) if s.topic.as_ref().unwrap().text == "ours")
    );
    room.set_topic(ann.id, "#dev", "", 1000).unwrap();
    assert_eq!(shown(&room, "#dev"), "");
}

#[test]
fn topic_requests_are_checked() {
    let room = Room::new(id(5), "127.0.0.1:1".into(), 256);
    let ann = member(&room, "Ann");
    assert_eq!(
        room.topic("#none"),
        Err(RoomError::NoSuchRoom("#none".into()))
    );
    assert_eq!(
        room.topic(LOBBY),
        Ok(ServerMsg::Topic {
            room: LOBBY.into(),
            text: String::new(),
            by: String::new(),
            at: 0
        })
    );
    room.enter(ann.id, "#dev").unwrap();
    let bob = member(&room, "Bob");
    assert_eq!(
        room.set_topic(bob.id, "#dev", "x", 1),
        Err(RoomError::NotInRoom("#dev".into()))
    );
    for bad in ["a\tb".to_string(), "x".repeat(301), "\u{1b}[2J".into()] {
        assert!(matches!(
            room.set_topic(ann.id, "#dev", &bad, 1),
            Err(RoomError::TopicInvalid(_))
        ));
    }
    assert!(matches!(
        room.set_topic(ann.id, "dev", "x", 1),
        Err(RoomError::RoomInvalid(_))
    ));
}

#[test]
fn snapshot_topics_converge_and_bad_ones_are_ignored() {
    let room = Room::new(id(5), "127.0.0.1:1".into(), 256);
    let mut ann = member(&room, "Ann");
    room.enter(ann.id, "#dev").unwrap();
    room.set_topic(ann.id, "#dev", "mine", 1000).unwrap();
    drain(&mut ann);
    let entry = |text: &str, at, origin| TopicEntry {
        room: "#dev".into(),
        text: text.into(),
        by: "Zed".into(),
        at,
        origin: id(origin),
    };
    let synced = |topics| Delivery::Synced {
        origin: id(9),
        members: vec![],
        topics,
    };
    // Older (and the same stamp again): nothing changes, nothing is sent.
    room.apply(synced(vec![entry("stale", 999, 9), entry("mine", 1000, 5)]));
    assert!(drain(&mut ann).is_empty());
    room.apply(synced(vec![entry("bad \u{7}", 5000, 9)]));
    assert_eq!(shown(&room, "#dev"), "mine");
    room.apply(synced(vec![entry("healed", 1000, 9)]));
    assert_eq!(
        topics(&drain(&mut ann)),
        ["healed"],
        "same moment, larger origin"
    );
}
