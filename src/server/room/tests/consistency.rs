//! Whatever the relay delivers, in whatever order — forged, repeated,
//! contradictory — and whatever local members do meanwhile, the room never
//! panics and its state stays consistent: one holder per name key, the
//! roster and the rooms agree with the members, no room is empty.

use std::collections::BTreeSet;

use proptest::collection::vec;
use proptest::prelude::*;

use super::*;
use crate::protocol::validate::name_key;
use crate::relay::{ChatEvent, Delivery, SnapshotMember, TopicEntry};

const NAMES: &[&str] = &["Leo", "leo", "L\u{435}o", "Ann", "Bob", "Cat", ""];
const ROOMS: &[&str] = &["#lobby", "#dev", "#DEV", "#ops", "bad", "#x"];
const ORIGINS: &[u8] = &[2, 5, 9];

fn name() -> impl Strategy<Value = String> {
    proptest::sample::select(NAMES).prop_map(str::to_string)
}

fn room_name() -> impl Strategy<Value = String> {
    proptest::sample::select(ROOMS).prop_map(str::to_string)
}

fn chat_event() -> impl Strategy<Value = ChatEvent> {
    prop_oneof![
        name().prop_map(|name| ChatEvent::Joined { name }),
        name().prop_map(|name| ChatEvent::Left {
            name,
            reason: LeaveReason::Disconnected,
            text: None
        }),
        (name(), room_name()).prop_map(|(name, room)| ChatEvent::Entered { name, room }),
        (name(), room_name()).prop_map(|(name, room)| ChatEvent::Parted {
            name,
            room,
            text: None
        }),
        (name(), name()).prop_map(|(old, new)| ChatEvent::Nick { old, new }),
        (name(), room_name(), 0..3u64).prop_map(|(from, room, cid)| ChatEvent::Message {
            from,
            text: "t".into(),
            room,
            cid,
            action: false
        }),
        (name(), name(), 0..3u64).prop_map(|(from, to, cid)| ChatEvent::Private {
            from,
            to,
            text: "p".into(),
            cid,
            action: true
        }),
        (room_name(), 0..4u64).prop_map(|(room, at)| ChatEvent::Topic {
            room,
            text: format!("t{at}"),
            by: "x".into(),
            at
        }),
        Just(ChatEvent::Unknown { kind: 42 }),
    ]
}

fn members() -> impl Strategy<Value = Vec<SnapshotMember>> {
    vec(
        (name(), vec(room_name(), 0..3)).prop_map(|(name, rooms)| SnapshotMember { name, rooms }),
        0..4,
    )
}

fn topics() -> impl Strategy<Value = Vec<TopicEntry>> {
    vec(
        (room_name(), 0..4u64, proptest::sample::select(ORIGINS)).prop_map(|(room, at, o)| {
            TopicEntry {
                room,
                text: "s".into(),
                by: "y".into(),
                at,
                origin: id(o),
            }
        }),
        0..3,
    )
}

#[derive(Debug, Clone)]
enum Step {
    Deliver(Delivery),
    Enter(usize, String),
    Part(usize, String),
    Nick(usize, String),
    Say(usize, String),
    Leave(usize),
    Join(usize, String),
}

fn delivery() -> impl Strategy<Value = Delivery> {
    let origin = proptest::sample::select(ORIGINS).prop_map(id);
    prop_oneof![
        6 => (origin.clone(), 1..20u64, chat_event())
            .prop_map(|(origin, seq, event)| Delivery::Event { origin, seq, event }),
        1 => (origin.clone(), members(), topics())
            .prop_map(|(origin, members, topics)| Delivery::Synced { origin, members, topics }),
        1 => (origin.clone(), members(), topics())
            .prop_map(|(origin, members, topics)| Delivery::Resynced { origin, members, topics }),
        1 => (origin.clone(), any::<bool>())
            .prop_map(|(origin, graceful)| Delivery::OriginGone { origin, graceful }),
        1 => (origin, 1..5u64).prop_map(|(origin, count)| Delivery::Lost { origin, count }),
    ]
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        6 => delivery().prop_map(Step::Deliver),
        1 => (0..3usize, room_name()).prop_map(|(m, r)| Step::Enter(m, r)),
        1 => (0..3usize, room_name()).prop_map(|(m, r)| Step::Part(m, r)),
        1 => (0..3usize, name()).prop_map(|(m, n)| Step::Nick(m, n)),
        1 => (0..3usize, room_name()).prop_map(|(m, r)| Step::Say(m, r)),
        1 => (0..3usize).prop_map(Step::Leave),
        1 => (0..3usize, name()).prop_map(|(m, n)| Step::Join(m, n)),
    ]
}

/// The invariants of the state behind the lock.
fn check(room: &Room) -> Result<(), TestCaseError> {
    let state = room.lock();
    let mut shown = BTreeSet::new();
    for (key, conn) in &state.names {
        prop_assert!(!state.remote.contains_key(key), "{key} held twice");
        let entry = &state.conns[conn];
        let name = entry.name.as_ref().expect("a holder has a name");
        prop_assert_eq!(&name_key(name), key);
        prop_assert!(entry.rooms.len() <= MAX_ROOMS_PER_MEMBER);
        for r in &entry.rooms {
            let channel = state.rooms.get(r).expect("a member's room exists");
            prop_assert!(channel.local.contains_key(conn) && channel.members.contains_key(name));
        }
        shown.insert((name.clone(), state.me));
    }
    for (key, m) in &state.remote {
        prop_assert_eq!(&name_key(&m.name), key);
        prop_assert!(m.rooms.len() <= MAX_ROOMS_PER_MEMBER);
        for r in &m.rooms {
            let channel = state.rooms.get(r).expect("a member's room exists");
            prop_assert_eq!(channel.members.get(&m.name), Some(&m.server));
        }
        shown.insert((m.name.clone(), m.server));
    }
    let roster: BTreeSet<(String, ServerId)> =
        state.roster.iter().map(|(n, s)| (n.clone(), *s)).collect();
    prop_assert_eq!(roster, shown.clone());
    for (key, channel) in state.rooms.all() {
        prop_assert!(!channel.members.is_empty(), "{key} is empty");
        for (name, server) in &channel.members {
            prop_assert!(shown.contains(&(name.clone(), *server)), "{name} in {key}");
            let rooms = if *server == state.me {
                state
                    .names
                    .get(&name_key(name))
                    .map(|c| &state.conns[c].rooms)
            } else {
                state.remote.get(&name_key(name)).map(|m| &m.rooms)
            };
            prop_assert!(rooms.is_some_and(|r| r.contains(key)), "{name} in {key}");
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn any_deliveries_and_requests_keep_the_room_consistent(steps in vec(step(), 1..80)) {
        let room = Room::new(id(5), "127.0.0.1:1".into(), 1 << 16);
        let regs: Vec<Registration> = ["Leo", "Ann", "Zoe"].iter().map(|n| member(&room, n)).collect();
        for step in steps {
            match step {
                Step::Deliver(d) => room.apply(d),
                Step::Enter(m, r) => drop(room.enter(regs[m].id, &r)),
                Step::Part(m, r) => drop(room.part(regs[m].id, &r, None)),
                Step::Nick(m, n) => drop(room.nick(regs[m].id, &n)),
                Step::Say(m, r) => drop(say_in(&room, &regs[m], &r, "hi")),
                Step::Leave(m) => drop(room.leave(regs[m].id, LeaveReason::Leave, None)),
                Step::Join(m, n) => drop(room.join(regs[m].id, &n)),
            }
            check(&room)?;
        }
    }
}
