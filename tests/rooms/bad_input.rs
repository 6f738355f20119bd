//! Bad version-2 requests (issue 15): each gets a clear, non-fatal error
//! to that client only; the connection goes on, and nobody else hears a
//! thing. A version-1 connection asking for a version-2 request ends as it
//! always did, with the fatal 100.

use crate::common;

use chatty::protocol::{ClientMsg, ErrorCode, LeaveReason, ServerMsg, LOBBY, MAX_ROOMS_PER_MEMBER};
use chatty::server::{RateLimit, ServerConfig};
use common::rooms::{enter, member, read_until, refused, say, send, version_one};
use common::{wait_for, Raw, TestServer};

async fn server() -> TestServer {
    TestServer::start(ServerConfig {
        rate_limit: RateLimit::OFF,
        ..ServerConfig::default()
    })
    .await
}

fn topic(room: &str, text: Option<&str>) -> ClientMsg {
    ClientMsg::Topic {
        room: room.into(),
        text: text.map(str::to_string),
    }
}

fn private(to: &str, text: &str) -> ClientMsg {
    ClientMsg::Private {
        to: to.into(),
        text: text.into(),
        cid: Some(9),
        action: false,
    }
}

#[tokio::test]
async fn every_bad_request_gets_its_error_and_disturbs_nothing() {
    let server = server().await;
    let mut bob = member(&server, "Bob").await;
    let mut eve = member(&server, "Eve").await;
    enter(&mut bob, "#dev").await;
    // Eve leaves every room Bob is in, so Bob hears her only by mistake.
    send(
        &mut eve,
        ClientMsg::Part {
            room: LOBBY.into(),
            text: None,
        },
    )
    .await;
    wait_for(
        &mut bob,
        "Eve's part",
        |m| matches!(m, ServerMsg::Left { name, .. } if name == "Eve"),
    )
    .await;
    let long_room = format!("#{}", "x".repeat(50));
    let cases: Vec<(ClientMsg, ErrorCode)> = vec![
        (
            ClientMsg::Enter { room: "dev".into() },
            ErrorCode::ROOM_INVALID,
        ),
        (
            ClientMsg::Enter {
                room: "#two words".into(),
            },
            ErrorCode::ROOM_INVALID,
        ),
        (
            ClientMsg::Enter {
                room: long_room.clone(),
            },
            ErrorCode::ROOM_INVALID,
        ),
        (
            ClientMsg::Enter {
                room: "#esc\u{1b}[2J".into(),
            },
            ErrorCode::ROOM_INVALID,
        ),
        (
            ClientMsg::Enter {
                room: "#a,b".into(),
            },
            ErrorCode::ROOM_INVALID,
        ),
        (
            ClientMsg::Part {
                room: "#dev".into(),
                text: None,
            },
            ErrorCode::NOT_IN_ROOM,
        ),
        // A bad text refuses the leave: Eve stays for the cases below.
        (
            ClientMsg::Leave {
                text: Some("two\nlines".into()),
            },
            ErrorCode::REASON_INVALID,
        ),
        (
            ClientMsg::Leave {
                text: Some("x".repeat(301)),
            },
            ErrorCode::REASON_INVALID,
        ),
        (
            ClientMsg::Send {
                text: "sneak".into(),
                room: Some("#dev".into()),
                action: false,
                cid: Some(1),
            },
            ErrorCode::NOT_IN_ROOM,
        ),
        (
            ClientMsg::Send {
                text: "nobody here".into(),
                room: None,
                action: false,
                cid: None,
            },
            ErrorCode::NOT_IN_ROOM,
        ),
        (topic("#dev", Some("mine now")), ErrorCode::NOT_IN_ROOM),
        (topic("#nowhere", None), ErrorCode::NO_SUCH_ROOM),
        (
            ClientMsg::Who {
                room: "#nowhere".into(),
                after: None,
            },
            ErrorCode::NO_SUCH_ROOM,
        ),
        (
            ClientMsg::Who {
                room: "nowhere".into(),
                after: None,
            },
            ErrorCode::ROOM_INVALID,
        ),
        (
            ClientMsg::Whois {
                name: "Nobody".into(),
            },
            ErrorCode::NO_SUCH_NAME,
        ),
        (private("Nobody", "hi"), ErrorCode::NO_SUCH_NAME),
        (private("eve", "hi me"), ErrorCode::PRIVATE_TO_SELF),
        (private("Bob", "bad \u{7} bell"), ErrorCode::TEXT_INVALID),
        (
            ClientMsg::Nick { name: "bob".into() },
            ErrorCode::NAME_TAKEN,
        ),
        (
            ClientMsg::Nick {
                name: "B\u{43e}b".into(),
            },
            ErrorCode::NAME_TAKEN,
        ),
        (
            ClientMsg::Nick {
                name: " Eve".into(),
            },
            ErrorCode::NAME_INVALID,
        ),
        (
            ClientMsg::Nick {
                name: "x".repeat(33),
            },
            ErrorCode::NAME_INVALID,
        ),
    ];
    for (msg, code) in cases {
        send(&mut eve, msg.clone()).await;
        let text = refused(&mut eve, code).await;
        assert!(!text.is_empty(), "{msg:?}: a clear error");
    }
    // Topics: too long, control characters, in a room Eve is in.
    enter(&mut eve, "#eve").await;
    for bad in ["x".repeat(301), "tab\there".into(), "\u{9b}c1".into()] {
        send(&mut eve, topic("#eve", Some(&bad))).await;
        refused(&mut eve, ErrorCode::TOPIC_INVALID).await;
    }
    // The 33rd room.
    for n in 1..MAX_ROOMS_PER_MEMBER {
        enter(&mut eve, &format!("#r{n}")).await;
    }
    send(
        &mut eve,
        ClientMsg::Enter {
            room: "#one-more".into(),
        },
    )
    .await;
    refused(&mut eve, ErrorCode::TOO_MANY_ROOMS).await;
    // Nick flapping: three at once, then one per 10 s.
    for name in ["Eve1", "Eve2", "Eve3"] {
        send(&mut eve, ClientMsg::Nick { name: name.into() }).await;
        wait_for(
            &mut eve,
            name,
            |m| matches!(m, ServerMsg::Nick { new, .. } if new == name),
        )
        .await;
    }
    send(
        &mut eve,
        ClientMsg::Nick {
            name: "Eve4".into(),
        },
    )
    .await;
    let text = refused(&mut eve, ErrorCode::RATE_LIMITED).await;
    assert!(text.contains("Eve3"), "says who you still are: {text}");
    // Still connected and served.
    send(&mut eve, ClientMsg::Ping { nonce: 77 }).await;
    wait_for(&mut eve, "pong", |m| {
        matches!(m, ServerMsg::Pong { nonce: 77 })
    })
    .await;
    // Bob heard nothing of it: his own next line is the next thing he hears.
    say(&mut bob, "#dev", "still fine").await;
    let got = read_until(
        &mut bob,
        "own line",
        |m| matches!(m, ServerMsg::Message { text, .. } if text == "still fine"),
    )
    .await;
    assert_eq!(got.len(), 1, "{got:?}");
}

#[tokio::test]
async fn version_two_requests_before_joining_are_refused_or_answered() {
    let server = server().await;
    let mut bob = member(&server, "Bob").await;
    let mut early = chatty::client::Client::connect(&server.addr_string())
        .await
        .unwrap();
    for msg in [
        ClientMsg::Enter {
            room: "#dev".into(),
        },
        ClientMsg::Part {
            room: LOBBY.into(),
            text: None,
        },
        ClientMsg::Nick { name: "Sly".into() },
        topic(LOBBY, Some("hijacked")),
        private("Bob", "boo"),
    ] {
        send(&mut early, msg).await;
        refused(&mut early, ErrorCode::NOT_JOINED).await;
    }
    // Questions need no name, like status.
    send(&mut early, ClientMsg::Rooms).await;
    wait_for(&mut early, "rooms", |m| {
        matches!(m, ServerMsg::RoomsReply { .. })
    })
    .await;
    say(&mut bob, LOBBY, "undisturbed").await;
    let got = read_until(
        &mut bob,
        "own line",
        |m| matches!(m, ServerMsg::Message { text, .. } if text == "undisturbed"),
    )
    .await;
    assert_eq!(got.len(), 1, "{got:?}");
}

#[tokio::test]
async fn a_version_one_client_asking_for_rooms_is_closed_and_nobody_else_notices() {
    let server = server().await;
    let mut bob = member(&server, "Bob").await;
    for msg in [
        ClientMsg::Enter {
            room: "#dev".into(),
        },
        ClientMsg::Whois { name: "Bob".into() },
    ] {
        let mut old = version_one(&server, "Old").await;
        old.send(&msg).await;
        let text = old.expect_error(ErrorCode::BAD_FRAME, true).await;
        assert!(text.contains("version 1"), "{text}");
        old.expect_closed().await;
    }
    // A version-1 send with version-2 fields is a plain #lobby line.
    let mut old = version_one(&server, "Old").await;
    old.send(&ClientMsg::Send {
        text: "old style".into(),
        room: Some("#dev".into()),
        action: true,
        cid: None,
    })
    .await;
    match wait_for(
        &mut bob,
        "the old line",
        |m| matches!(m, ServerMsg::Message { text, .. } if text == "old style"),
    )
    .await
    {
        ServerMsg::Message { room, action, .. } => {
            assert_eq!((room.as_str(), action), (LOBBY, false))
        }
        _ => unreachable!(),
    }
}

/// A rejoin lists rooms to enter again: each is answered, in the order
/// asked, with its `room_state` or an error (a bad name, past the cap), so
/// the client knows which rooms it is in again.
#[tokio::test]
async fn a_rejoin_answers_every_room_it_lists_in_order() {
    let server = server().await;
    let mut raw = common::Raw::greeted(&server).await;
    let mut rooms: Vec<String> = vec!["#a".into(), "no-hash".into()];
    rooms.extend((0..MAX_ROOMS_PER_MEMBER).map(|i| format!("#r{i}")));
    raw.send(&ClientMsg::Rejoin {
        name: "Leo".into(),
        last_seen: Vec::new(),
        rooms: rooms.clone(),
    })
    .await;
    let mut answers = Vec::new();
    while answers.len() < rooms.len() {
        match raw.next().await.expect("answers") {
            ServerMsg::RoomState(state) if state.room != LOBBY => answers.push(state.room),
            ServerMsg::Error { code, fatal, .. } => {
                assert!(!fatal);
                answers.push(format!("error {}", code.0));
            }
            _ => {}
        }
    }
    // #lobby and #a, then 30 of the #r rooms reach the cap of 32.
    let mut expected = vec![
        "#a".to_string(),
        format!("error {}", ErrorCode::ROOM_INVALID.0),
    ];
    expected.extend((0..MAX_ROOMS_PER_MEMBER - 2).map(|i| format!("#r{i}")));
    expected.extend(std::iter::repeat_n(
        format!("error {}", ErrorCode::TOO_MANY_ROOMS.0),
        2,
    ));
    assert_eq!(answers, expected);
}

/// A `private` whose `cid` is not a u64 (a string, a negative number, a
/// float) is no valid message: fatal 100 for that connection, with a text
/// that says what was wrong; the addressee sees the sender leave and
/// nothing else, and chats on.
#[tokio::test]
async fn a_private_line_with_a_bad_cid_ends_only_its_senders_connection() {
    let server = server().await;
    let mut bob = member(&server, "Bob").await;
    let bad_cids: [(&str, &[u8]); 3] = [
        ("a string", b"\xa1x"),
        ("negative", b"\xff"),
        ("a float", b"\xcb\x3f\xf0\0\0\0\0\0\0"),
    ];
    for (what, cid) in bad_cids {
        let mut eve = Raw::greeted(&server).await;
        eve.send(&ClientMsg::Join { name: "Eve".into() }).await;
        let mut body = b"\x84\xa4type\xa7private\xa2to\xa3Bob\xa4text\xa2hi\xa3cid".to_vec();
        body.extend_from_slice(cid);
        eve.write_body(&body).await;
        let text = eve.expect_error(ErrorCode::BAD_FRAME, true).await;
        eprintln!("{what}: {text}");
        assert!(text.contains("u64"), "{what}: {text}");
        eve.expect_closed().await;
        let got = read_until(&mut bob, "Eve to leave", |m| {
            matches!(m, ServerMsg::Left { name, reason: LeaveReason::ProtocolError, .. } if name == "Eve")
        })
        .await;
        assert!(
            !got.iter().any(|m| matches!(m, ServerMsg::Private { .. })),
            "{what}: {got:?}"
        );
    }
    say(&mut bob, LOBBY, "still here").await;
    wait_for(
        &mut bob,
        "Bob's own line",
        |m| matches!(m, ServerMsg::Message { text, .. } if text == "still here"),
    )
    .await;
}
