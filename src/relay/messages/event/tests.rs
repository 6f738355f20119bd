use super::*;

fn bytes(ev: &WireEvent) -> Vec<u8> {
    rmp_serde::to_vec(ev).unwrap()
}

fn back(bytes: &[u8]) -> WireEvent {
    rmp_serde::from_slice(bytes).unwrap()
}

#[test]
fn a_message_is_seq_kind_and_a_positional_body() {
    let ev = WireEvent::new(
        42,
        &ChatEvent::Message {
            from: "Ann".into(),
            text: "hi".into(),
            room: "#dev".into(),
            cid: 7,
            action: true,
        },
    );
    let b = bytes(&ev);
    // [42, 3, ["Ann", "hi", "#dev", 7, true]]
    assert_eq!(
        b,
        [
            0x93, 0x2a, 0x03, 0x95, 0xa3, b'A', b'n', b'n', 0xa2, b'h', b'i', 0xa4, b'#', b'd',
            b'e', b'v', 0x07, 0xc3
        ]
    );
    assert_eq!(back(&b), ev);
    assert!(b.len() <= ev.size_bound());
}

#[test]
fn every_kind_round_trips_within_its_size_bound() {
    let events = [
        ChatEvent::Joined { name: "Leo".into() },
        ChatEvent::Left {
            name: "Leo".into(),
            reason: LeaveReason::NameConflict,
            text: None,
        },
        ChatEvent::Left {
            name: "Leo".into(),
            reason: LeaveReason::Leave,
            text: Some("é".repeat(150)),
        },
        ChatEvent::Entered {
            name: "Leo".into(),
            room: "#dev".into(),
        },
        ChatEvent::Parted {
            name: "Leo".into(),
            room: "#dev".into(),
            text: None,
        },
        ChatEvent::Parted {
            name: "Leo".into(),
            room: "#dev".into(),
            text: Some("x".repeat(300)),
        },
        ChatEvent::Private {
            from: "Leo".into(),
            to: "Ann".into(),
            text: "x".repeat(1000),
            cid: u64::MAX,
            action: false,
        },
        ChatEvent::Nick {
            old: "Leo".into(),
            new: "Leonardo".into(),
        },
        ChatEvent::Topic {
            room: "#dev".into(),
            text: "release Friday".into(),
            by: "Ann".into(),
            at: u64::MAX,
        },
        ChatEvent::Unknown { kind: 200 },
    ];
    for event in events {
        let ev = WireEvent::new(u64::MAX, &event);
        let b = bytes(&ev);
        assert_eq!(back(&b), ev);
        assert!(b.len() <= ev.size_bound(), "{event:?}");
    }
}

#[test]
fn unknown_kinds_keep_their_place_whatever_their_body() {
    for body in [
        rmp_serde::to_vec(&(9u64, 99u8, ("a", 1u8, [1u8, 2]))).unwrap(),
        rmp_serde::to_vec(&(9u64, 99u8, "not an array")).unwrap(),
    ] {
        assert_eq!(
            back(&body),
            WireEvent::new(9, &ChatEvent::Unknown { kind: 99 })
        );
    }
}

#[test]
fn later_elements_are_ignored_and_short_ones_refused() {
    let longer = (1u64, 7u8, ("a", "b", "from a newer server"), "more");
    assert_eq!(
        back(&rmp_serde::to_vec(&longer).unwrap()),
        WireEvent::new(
            1,
            &ChatEvent::Nick {
                old: "a".into(),
                new: "b".into()
            }
        )
    );
    for short in [
        rmp_serde::to_vec(&(1u64, 7u8, ("a",))).unwrap(),
        rmp_serde::to_vec(&(1u64, 7u8)).unwrap(),
        rmp_serde::to_vec(&(1u64, 3u8, ("a", "b", "#r", 0u64))).unwrap(),
    ] {
        assert!(rmp_serde::from_slice::<WireEvent>(&short).is_err());
    }
}

#[test]
fn the_old_flat_form_is_refused() {
    // Servers before rooms wrote [seq, kind, name, text, reason]: a
    // cluster is upgraded all at once (CLUSTER.md 5.2, Compatibility).
    let old = (42u64, 3u8, "Ann", "hi", 0u8);
    assert!(rmp_serde::from_slice::<WireEvent>(&rmp_serde::to_vec(&old).unwrap()).is_err());
}

#[test]
fn a_part_or_leave_text_is_appended_only_when_there_is_one() {
    // Without text: byte for byte what servers before it wrote.
    let parted = |text: Option<&str>| {
        WireEvent::new(
            5,
            &ChatEvent::Parted {
                name: "Leo".into(),
                room: "#dev".into(),
                text: text.map(str::to_string),
            },
        )
    };
    assert_eq!(
        bytes(&parted(None)),
        rmp_serde::to_vec(&(5u64, 5u8, ("Leo", "#dev"))).unwrap()
    );
    assert_eq!(
        bytes(&parted(Some("lunch"))),
        rmp_serde::to_vec(&(5u64, 5u8, ("Leo", "#dev", "lunch"))).unwrap()
    );
    let left = WireEvent::new(
        6,
        &ChatEvent::Left {
            name: "Leo".into(),
            reason: LeaveReason::Leave,
            text: Some("bye".into()),
        },
    );
    assert_eq!(
        bytes(&left),
        rmp_serde::to_vec(&(6u64, 2u8, ("Leo", 1u8, "bye"))).unwrap()
    );
}

#[test]
fn an_old_servers_part_and_leave_read_as_without_text() {
    assert_eq!(
        back(&rmp_serde::to_vec(&(6u64, 2u8, ("Leo", 2u8))).unwrap()),
        WireEvent::new(
            6,
            &ChatEvent::Left {
                name: "Leo".into(),
                reason: LeaveReason::Disconnected,
                text: None,
            }
        )
    );
    // And a newer server's further fields after the text are skipped.
    assert_eq!(
        back(&rmp_serde::to_vec(&(7u64, 5u8, ("Leo", "#dev", "bye", 42u8))).unwrap()),
        WireEvent::new(
            7,
            &ChatEvent::Parted {
                name: "Leo".into(),
                room: "#dev".into(),
                text: Some("bye".into()),
            }
        )
    );
}
