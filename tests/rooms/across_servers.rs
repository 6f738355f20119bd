//! Rooms, private messages, nick changes and topics across three servers
//! on loopback (each test on its own multicast group port). Clients act
//! the moment their server is up; every wait is for a condition, with a
//! deadline. Absence is shown by order: a server relays one origin's
//! events in order, so a member who hears the sentinel sent after an
//! event without hearing the event never will.

use crate::common;

use chatty::client::ClientError;
use chatty::protocol::{ClientMsg, ErrorCode, ServerMsg, LOBBY};
use common::rooms::{
    ask, enter, heard, member, read_until, refused, say, send, servers, version_one, wait_answer,
    wait_who,
};
use common::{free_udp_port, message_texts, wait_for};

#[tokio::test]
async fn a_room_message_reaches_its_members_on_every_server_and_nobody_else() {
    let s = servers(3, free_udp_port()).await;
    let mut ann = member(&s[0], "Ann").await;
    let mut bob = member(&s[1], "Bob").await;
    let mut cat = member(&s[2], "Cat").await;
    let mut outside = [
        member(&s[0], "Out0").await,
        member(&s[1], "Out1").await,
        member(&s[2], "Out2").await,
    ];
    for c in [&mut ann, &mut bob, &mut cat] {
        enter(c, "#dev").await;
    }
    wait_who(&s, "#dev", &["Ann", "Bob", "Cat"]).await;
    wait_who(&s, LOBBY, &["Ann", "Bob", "Cat", "Out0", "Out1", "Out2"]).await;
    say(&mut ann, "#dev", "for #dev").await;
    say(&mut ann, LOBBY, "sentinel").await;
    for c in [&mut ann, &mut bob, &mut cat] {
        match heard(c, "for #dev").await {
            ServerMsg::Message { room, from, .. } => {
                assert_eq!((room.as_str(), from.as_str()), ("#dev", "Ann"))
            }
            _ => unreachable!(),
        }
    }
    for c in &mut outside {
        let got = read_until(
            c,
            "sentinel",
            |m| matches!(m, ServerMsg::Message { text, .. } if text == "sentinel"),
        )
        .await;
        assert_eq!(message_texts(&got), ["sentinel"], "only the lobby line");
    }
}

#[tokio::test]
async fn a_private_message_reaches_only_its_target() {
    let s = servers(3, free_udp_port()).await;
    let mut ann = member(&s[0], "Ann").await;
    let mut zed = member(&s[2], "Zed").await;
    let mut others = [
        member(&s[0], "Third0").await,
        member(&s[1], "Third1").await,
        member(&s[2], "Third2").await,
    ];
    wait_who(&s, LOBBY, &["Ann", "Zed", "Third0", "Third1", "Third2"]).await;
    let private = |to: &str, text: &str| ClientMsg::Private {
        to: to.into(),
        text: text.into(),
        cid: None,
        action: false,
    };
    send(&mut ann, private("zed", "just for you")).await;
    say(&mut ann, LOBBY, "sentinel").await;
    for c in [&mut ann, &mut zed] {
        let got = wait_for(c, "the private message", |m| {
            matches!(m, ServerMsg::Private { .. })
        })
        .await;
        assert!(
            matches!(&got, ServerMsg::Private { from, to, text, .. } if from == "Ann" && to == "Zed" && text == "just for you"),
            "{got:?}"
        );
    }
    for c in &mut others {
        let got = read_until(
            c,
            "sentinel",
            |m| matches!(m, ServerMsg::Message { text, .. } if text == "sentinel"),
        )
        .await;
        assert!(
            !got.iter().any(|m| matches!(m, ServerMsg::Private { .. })),
            "{got:?}"
        );
    }
    send(&mut ann, private("Nobody", "hello?")).await;
    refused(&mut ann, ErrorCode::NO_SUCH_NAME).await;
    send(&mut ann, private("ANN", "me")).await;
    refused(&mut ann, ErrorCode::PRIVATE_TO_SELF).await;
}

#[tokio::test]
async fn a_nick_change_reaches_everyone_who_shares_a_room() {
    let s = servers(3, free_udp_port()).await;
    let mut leo = member(&s[0], "Leo").await;
    let mut dev_only = member(&s[1], "DevOnly").await;
    let mut lobby = member(&s[2], "Lobby").await;
    let mut apart = member(&s[2], "Apart").await;
    let mut old = version_one(&s[1], "Old").await;
    enter(&mut leo, "#dev").await;
    enter(&mut dev_only, "#dev").await;
    send(
        &mut dev_only,
        ClientMsg::Part {
            room: LOBBY.into(),
            text: None,
        },
    )
    .await;
    send(
        &mut apart,
        ClientMsg::Part {
            room: LOBBY.into(),
            text: None,
        },
    )
    .await;
    enter(&mut apart, "#apart").await;
    wait_who(&s, "#dev", &["DevOnly", "Leo"]).await;
    wait_who(&s, LOBBY, &["Leo", "Lobby", "Old"]).await;
    wait_who(&s, "#apart", &["Apart"]).await;
    send(
        &mut leo,
        ClientMsg::Nick {
            name: "Leonardo".into(),
        },
    )
    .await;
    for c in [&mut leo, &mut dev_only, &mut lobby] {
        let got = wait_for(c, "nick", |m| matches!(m, ServerMsg::Nick { .. })).await;
        assert!(
            matches!(&got, ServerMsg::Nick { old, new, server, .. }
            if old == "Leo" && new == "Leonardo" && *server == s[0].id),
            "{got:?}"
        );
    }
    // Version 1: the old name leaves the chat and the new one joins.
    let mut seen = Vec::new();
    while seen.len() < 2 {
        match old.next().await.expect("open") {
            ServerMsg::Left { name, reason, .. } if name == "Leo" => {
                seen.push(format!("left {reason:?}"))
            }
            ServerMsg::Joined { name, .. } if name == "Leonardo" => seen.push("joined".into()),
            ServerMsg::Left { .. } | ServerMsg::Joined { .. } => {}
            other => panic!("version 1 got {other:?}"),
        }
    }
    assert_eq!(seen, ["left Leave", "joined"]);
    // Apart shares no room: when Leonardo enters #apart, that is all it hears.
    enter(&mut leo, "#apart").await;
    let got = read_until(
        &mut apart,
        "Leonardo entering",
        |m| matches!(m, ServerMsg::Joined { name, .. } if name == "Leonardo"),
    )
    .await;
    assert!(
        !got.iter().any(|m| matches!(m, ServerMsg::Nick { .. })),
        "{got:?}"
    );
    // The old name is free everywhere at once, the new one held.
    let mut again = chatty::client::Client::connect(&s[2].addr_string())
        .await
        .unwrap();
    wait_answer(
        &s[2],
        "Leonardo known",
        ClientMsg::Whois {
            name: "leonardo".into(),
        },
        |m| matches!(m, ServerMsg::WhoisReply { .. }),
    )
    .await;
    again.join("Leo").await.expect("the old name is free");
}

#[tokio::test]
async fn look_alike_names_are_refused_on_every_server() {
    let s = servers(3, free_udp_port()).await;
    let _leo = member(&s[0], "Leo").await;
    let mut max = member(&s[2], "Max").await;
    wait_who(&s, LOBBY, &["Leo", "Max"]).await;
    for (server, name) in [
        (&s[1], "\u{ff2c}\u{ff45}\u{ff4f}"),
        (&s[2], "L\u{435}\u{43e}"),
        (&s[1], "LE0"),
    ] {
        let mut c = chatty::client::Client::connect(&server.addr_string())
            .await
            .unwrap();
        match c.join(name).await {
            Err(ClientError::Refused {
                code, fatal: false, ..
            }) => assert_eq!(code, ErrorCode::NAME_TAKEN, "{name}"),
            other => panic!("{name} must be refused: {other:?}"),
        }
    }
    for name in ["leo", "\u{ff2c}eo", "L\u{435}o"] {
        send(&mut max, ClientMsg::Nick { name: name.into() }).await;
        refused(&mut max, ErrorCode::NAME_TAKEN).await;
    }
    assert!(matches!(
        ask(&s[0], ClientMsg::Whois { name: "max".into() }).await,
        ServerMsg::WhoisReply { name, .. } if name == "Max"
    ));
}

#[tokio::test]
async fn topics_set_on_two_servers_at_once_converge() {
    let s = servers(3, free_udp_port()).await;
    let mut ann = member(&s[0], "Ann").await;
    let mut bob = member(&s[1], "Bob").await;
    let mut cat = member(&s[2], "Cat").await;
    for c in [&mut ann, &mut bob, &mut cat] {
        enter(c, "#dev").await;
    }
    wait_who(&s, "#dev", &["Ann", "Bob", "Cat"]).await;
    let set = |text: &str| ClientMsg::Topic {
        room: "#dev".into(),
        text: Some(text.into()),
    };
    send(&mut ann, set("from Ann")).await;
    send(&mut bob, set("from Bob")).await;
    // Each setter is shown its own topic first: that gives both stamps.
    let stamp = |m: ServerMsg| match m {
        ServerMsg::Topic { at, by, .. } => (at, by),
        _ => unreachable!(),
    };
    let mine = |by: &'static str| move |m: &ServerMsg| matches!(m, ServerMsg::Topic { by: b, .. } if b == by);
    let (ann_at, _) = stamp(wait_for(&mut ann, "own topic", mine("Ann")).await);
    let (bob_at, _) = stamp(wait_for(&mut bob, "own topic", mine("Bob")).await);
    let winner = if (ann_at, s[0].id) > (bob_at, s[1].id) {
        "from Ann"
    } else {
        "from Bob"
    };
    for server in &s {
        wait_answer(
            server,
            "the topics to converge",
            ClientMsg::Topic {
                room: "#dev".into(),
                text: None,
            },
            |m| matches!(m, ServerMsg::Topic { text, .. } if text == winner),
        )
        .await;
    }
    // Cat saw the winner last, whatever came first.
    wait_for(
        &mut cat,
        "the winning topic",
        |m| matches!(m, ServerMsg::Topic { text, .. } if text == winner),
    )
    .await;
    send(
        &mut cat,
        ClientMsg::Topic {
            room: "#dev".into(),
            text: None,
        },
    )
    .await;
    let asked = wait_for(&mut cat, "asked", |m| matches!(m, ServerMsg::Topic { .. })).await;
    assert!(matches!(asked, ServerMsg::Topic { text, .. } if text == winner));
}

#[tokio::test]
async fn a_version_one_client_beside_version_two_sees_exactly_its_old_lines() {
    let s = servers(3, free_udp_port()).await;
    let mut old = version_one(&s[0], "Old").await;
    let mut ann = member(&s[1], "Ann").await;
    let _bob = member(&s[2], "Bob").await;
    wait_who(&s, LOBBY, &["Ann", "Bob", "Old"]).await;
    // Everything below comes from Ann's server, so reaches Old in order.
    say(&mut ann, LOBBY, "one").await;
    enter(&mut ann, "#dev").await;
    say(&mut ann, "#dev", "not for Old").await;
    send(
        &mut ann,
        ClientMsg::Topic {
            room: LOBBY.into(),
            text: Some("a topic".into()),
        },
    )
    .await;
    send(
        &mut ann,
        ClientMsg::Private {
            to: "Bob".into(),
            text: "psst".into(),
            cid: None,
            action: false,
        },
    )
    .await;
    send(
        &mut ann,
        ClientMsg::Send {
            text: "waves".into(),
            room: None,
            action: true,
            cid: None,
        },
    )
    .await;
    send(
        &mut ann,
        ClientMsg::Nick {
            name: "Anna".into(),
        },
    )
    .await;
    send(
        &mut ann,
        ClientMsg::Part {
            room: LOBBY.into(),
            text: None,
        },
    )
    .await;
    send(&mut ann, ClientMsg::Enter { room: LOBBY.into() }).await;
    say(&mut ann, LOBBY, "the end").await;
    let mut lines = Vec::new();
    loop {
        let msg = old.next().await.expect("open");
        let line = match &msg {
            ServerMsg::Joined { name, room, .. } if room == LOBBY => format!("[JOIN] {name}"),
            ServerMsg::Left {
                name, room, reason, ..
            } if room == LOBBY => format!("[LEAVE] {name} {reason:?}"),
            ServerMsg::Message {
                from, text, room, ..
            } if room == LOBBY => format!("[{from}] {text}"),
            other => panic!("not a version-1 line: {other:?}"),
        };
        lines.push(line);
        if matches!(&msg, ServerMsg::Message { text, .. } if text == "the end") {
            break;
        }
    }
    let lines: Vec<&str> = lines
        .iter()
        .map(String::as_str)
        .skip_while(|l| l.starts_with("[JOIN]"))
        .collect();
    assert_eq!(
        lines,
        [
            "[Ann] one",
            "[Ann] waves",
            "[LEAVE] Ann Leave",
            "[JOIN] Anna",
            "[LEAVE] Anna Leave",
            "[JOIN] Anna",
            "[Anna] the end",
        ]
    );
    // Asking for a version-2 request ends a version-1 connection as it always did.
    old.send(&ClientMsg::Rooms).await;
    old.expect_error(ErrorCode::BAD_FRAME, true).await;
    old.expect_closed().await;
}
