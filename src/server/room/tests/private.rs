//! Private messages: to the addressee and the sender only, wherever the
//! addressee is; refused to nobody and to oneself; deduplicated by cid.

use super::*;
use crate::relay::ChatEvent;
use tokio::sync::mpsc;

fn pm(
    room: &Room,
    from: &Registration,
    to: &str,
    text: &str,
    cid: Option<u64>,
) -> Result<MessageId, RoomError> {
    let cid = cid.map(|cid| ClientId { cid, ack: true });
    room.private_then_wake(from.id, to, text.into(), false, cid, &mut Wakes::default())
}

fn privates(msgs: &[ServerMsg]) -> Vec<(String, String, String)> {
    msgs.iter()
        .filter_map(|m| match m {
            ServerMsg::Private { from, to, text, .. } => {
                Some((from.clone(), to.clone(), text.clone()))
            }
            _ => None,
        })
        .collect()
}

#[test]
fn a_private_message_reaches_only_its_addressee_and_the_echo() {
    let (tx, mut relayed) = mpsc::unbounded_channel();
    let room = Room::new(id(5), "127.0.0.1:1".into(), 256).with_relay(tx);
    let (mut ann, mut bob, mut cat) = (
        member(&room, "Ann"),
        member(&room, "Bob"),
        member(&room, "Cat"),
    );
    room.enter(cat.id, "#dev").unwrap();
    drain(&mut cat);
    pm(&room, &ann, "bob", "for you only", None).unwrap();
    let one = [(
        "Ann".to_string(),
        "Bob".to_string(),
        "for you only".to_string(),
    )];
    assert_eq!(
        privates(&drain(&mut ann)),
        one,
        "the echo, with the name as held"
    );
    assert_eq!(privates(&drain(&mut bob)), one);
    assert!(drain(&mut cat).is_empty());
    // Relayed like every event (sealed when the cluster has a key).
    let events: Vec<ChatEvent> = std::iter::from_fn(|| relayed.try_recv().ok())
        .map(|(_, e)| e)
        .collect();
    assert!(events
        .iter()
        .any(|e| matches!(e, ChatEvent::Private { to, .. } if to == "Bob")));
    // Not history: nobody entering a room sees it.
    let mut late = member(&room, "Late");
    assert!(privates(&drain(&mut late)).is_empty());
}

#[test]
fn to_nobody_or_oneself_is_refused() {
    let room = Room::new(id(5), "127.0.0.1:1".into(), 256);
    let mut ann = member(&room, "Ann");
    assert_eq!(
        pm(&room, &ann, "Nobody", "hello?", None),
        Err(RoomError::NoSuchName("Nobody".into()))
    );
    assert_eq!(
        pm(&room, &ann, "ANN", "me", None),
        Err(RoomError::PrivateToSelf)
    );
    assert_eq!(
        pm(&room, &ann, "\u{ff21}nn", "me", None),
        Err(RoomError::PrivateToSelf)
    );
    assert!(drain(&mut ann).is_empty());
    let stranger = room.register();
    assert_eq!(
        pm(&room, &stranger, "Ann", "hi", None),
        Err(RoomError::NotJoined)
    );
}

#[test]
fn a_private_message_to_a_member_elsewhere_is_shown_only_by_its_server() {
    let room = Room::new(id(5), "127.0.0.1:1".into(), 256);
    let (mut ann, mut bob) = (member(&room, "Ann"), member(&room, "Bob"));
    room.apply(event(id(9), 1, ChatEvent::Joined { name: "Zed".into() }));
    drain_all(&mut [&mut ann, &mut bob]);
    pm(&room, &ann, "zed", "over there", None).unwrap();
    assert_eq!(privates(&drain(&mut ann)).len(), 1, "the echo only");
    assert!(drain(&mut bob).is_empty());
    let from_zed = |seq, to: &str, cid| {
        event(
            id(9),
            seq,
            ChatEvent::Private {
                from: "Zed".into(),
                to: to.into(),
                text: "back".into(),
                cid,
                action: false,
            },
        )
    };
    room.apply(from_zed(2, "Bob", 7));
    room.apply(from_zed(3, "Someone elsewhere", 0));
    assert_eq!(privates(&drain(&mut bob)).len(), 1);
    assert!(drain(&mut ann).is_empty());
    // The same line relayed again after a failover (same sender, same cid).
    room.apply(event(
        id(7),
        1,
        ChatEvent::Private {
            from: "Zed".into(),
            to: "Bob".into(),
            text: "back".into(),
            cid: 7,
            action: false,
        },
    ));
    assert!(drain(&mut bob).is_empty(), "shown once");
}

#[test]
fn a_resent_private_message_is_acknowledged_not_shown_again() {
    let room = Room::new(id(5), "127.0.0.1:1".into(), 256);
    let (mut ann, mut bob) = (member(&room, "Ann"), member(&room, "Bob"));
    let first = pm(&room, &ann, "Bob", "once", Some(11)).unwrap();
    drain_all(&mut [&mut ann, &mut bob]);
    assert_eq!(pm(&room, &ann, "Bob", "once", Some(11)), Ok(first));
    assert_eq!(drain(&mut ann), [ServerMsg::Ack { cid: 11, id: first }]);
    assert!(drain(&mut bob).is_empty());
}

#[test]
fn the_private_frame_carries_the_cid_and_the_ack_follows_the_echo() {
    // The recipient's client drops a resent line numbered anew by its
    // (from, cid), as for room lines: the frame must carry the cid.
    let room = Room::new(id(5), "127.0.0.1:1".into(), 256);
    let (mut ann, mut bob) = (member(&room, "Ann"), member(&room, "Bob"));
    drain_all(&mut [&mut ann, &mut bob]);
    let sent = pm(&room, &ann, "Bob", "psst", Some(42)).unwrap();
    let cid_of = |msg: &ServerMsg| match msg {
        ServerMsg::Private { cid, .. } => *cid,
        other => panic!("not a private frame: {other:?}"),
    };
    let echo = drain(&mut ann);
    assert_eq!(echo.len(), 2, "{echo:?}");
    assert_eq!(cid_of(&echo[0]), Some(42));
    assert_eq!(echo[1], ServerMsg::Ack { cid: 42, id: sent });
    assert_eq!(
        drain(&mut bob).iter().map(cid_of).collect::<Vec<_>>(),
        [Some(42)]
    );
    // Without a cid (and relayed with cid 0, "none"): no cid key.
    pm(&room, &ann, "Bob", "plain", None).unwrap();
    assert_eq!(
        drain(&mut ann).iter().map(cid_of).collect::<Vec<_>>(),
        [None]
    );
    for (seq, cid) in [(1, 0), (2, 9)] {
        let relayed = ChatEvent::Private {
            from: "Zed".into(),
            to: "Bob".into(),
            text: "relayed".into(),
            cid,
            action: false,
        };
        room.apply(event(id(9), seq, relayed));
    }
    let got: Vec<_> = drain(&mut bob).iter().map(cid_of).collect();
    assert_eq!(got, [None, None, Some(9)], "plain, then Zed's two");
}
