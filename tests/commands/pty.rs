//! The terminal client's commands typed on a pseudo-terminal, against a
//! scripted server that speaks protocol version 2 (`common::fake`): each
//! command sends its frame, each answer shows its line, with the time in
//! front and the active room in the prompt; an unknown command is never
//! sent; `/quit` leaves.
#![cfg(target_os = "linux")]

use crate::common;

use chatty::protocol::{ClientMsg, ServerMsg, LOBBY};
use common::fake::{FakeServer, ANN, TAKEN};
use common::pty::Terminal;

/// Whether `line` appears on `screen` right after a `HH:MM ` time.
fn stamped(screen: &str, line: &str) -> bool {
    screen.match_indices(line).any(|(at, _)| {
        let Some(before) = at.checked_sub(6).and_then(|from| screen.get(from..at)) else {
            return false;
        };
        let b = before.as_bytes();
        let digits = |i: usize| b[i].is_ascii_digit();
        digits(0)
            && digits(1)
            && b[2] == b':'
            && digits(3)
            && digits(4)
            && b[5] == b' '
            && before[..2].parse::<u8>().is_ok_and(|h| h < 24)
            && before[3..5].parse::<u8>().is_ok_and(|m| m < 60)
    })
}

/// A client on a terminal, joined as Leo to `fake`.
fn leo_on(fake: &FakeServer) -> Terminal {
    let mut term = Terminal::spawn(&[&fake.addr, "--name", "Leo"]);
    term.wait_for("as Leo; 2 online: Ann, Leo");
    assert!(matches!(fake.next(), ClientMsg::Hello { version: 2, .. }));
    assert!(matches!(fake.next(), ClientMsg::Join { name } if name == "Leo"));
    term
}

/// Types `line` and Enter.
fn enter(term: &mut Terminal, line: &str) {
    term.type_keys(line);
    term.type_keys("\r");
}

#[test]
fn rooms_actions_and_private_messages_from_the_keyboard() {
    let fake = FakeServer::start(2);
    let mut term = leo_on(&fake);
    assert!(
        stamped(&term.screen, "[SERVER] connected to"),
        "the time in front of every line:\n{}",
        term.screen
    );
    term.wait_for("#lobby> ");

    enter(&mut term, "/join #dev");
    assert_eq!(
        fake.next(),
        ClientMsg::Enter {
            room: "#dev".into()
        }
    );
    term.wait_for("[ROOM] #dev has 1 member: Leo");
    term.wait_for("[#dev] [JOIN] Leo joined");
    term.wait_for("#dev> ");

    // Plain lines go to the active room.
    enter(&mut term, "hello dev");
    assert!(
        matches!(fake.next(), ClientMsg::Send { text, room: Some(room), action: false, cid: Some(_) }
        if text == "hello dev" && room == "#dev")
    );
    term.wait_for("[#dev] [Leo] hello dev");
    assert!(stamped(&term.screen, "[#dev] [Leo] hello dev"));

    enter(&mut term, "/me waves");
    assert!(
        matches!(fake.next(), ClientMsg::Send { text, room: Some(room), action: true, .. }
        if text == "waves" && room == "#dev")
    );
    term.wait_for("[#dev] * Leo waves");

    enter(&mut term, "/msg Ann psst");
    assert!(
        matches!(fake.next(), ClientMsg::Private { to, text, action: false, cid: Some(_) }
        if to == ANN && text == "psst")
    );
    term.wait_for("[PM to Ann] psst");

    fake.push(ServerMsg::Private {
        id: fake.next_id(),
        from: ANN.into(),
        to: "Leo".into(),
        text: "hi back".into(),
        action: false,
        cid: None,
    });
    term.wait_for("[PM from Ann] hi back");
    for (room, text) in [("#dev", "dev talk"), (LOBBY, "lobby talk")] {
        fake.push(ServerMsg::Message {
            id: fake.next_id(),
            from: ANN.into(),
            text: text.into(),
            room: room.into(),
            action: false,
            cid: None,
        });
    }
    term.wait_for("[#dev] [Ann] dev talk");
    term.wait_for("[Ann] lobby talk");
    assert!(!term.shows("[#lobby]"), "the default room is not named");

    enter(&mut term, "/switch #lobby");
    term.wait_for("#lobby> ");
    enter(&mut term, "hi all");
    assert!(matches!(fake.next(), ClientMsg::Send { text, room: None, .. } if text == "hi all"));
    term.wait_for("[Leo] hi all");

    enter(&mut term, "/part #dev see you");
    assert_eq!(
        fake.next(),
        ClientMsg::Part {
            room: "#dev".into(),
            text: Some("see you".into()),
        }
    );
    term.wait_for("[#dev] [LEAVE] Leo left");

    enter(&mut term, "/quit bye now");
    assert_eq!(
        fake.next(),
        ClientMsg::Leave {
            text: Some("bye now".into())
        }
    );
    term.wait_for("[LEAVE] Leo left the chat");
    assert_eq!(term.exit_code(), 0, "{}", term.screen);
}

#[test]
fn nick_topic_queries_and_commands_that_stay_local() {
    let fake = FakeServer::start(2);
    let mut term = leo_on(&fake);
    enter(&mut term, "/join #dev");
    assert_eq!(
        fake.next(),
        ClientMsg::Enter {
            room: "#dev".into()
        }
    );
    term.wait_for("#dev> ");

    enter(&mut term, "/topic release friday");
    assert_eq!(
        fake.next(),
        ClientMsg::Topic {
            room: "#dev".into(),
            text: Some("release friday".into())
        }
    );
    term.wait_for("[TOPIC] #dev: release friday (set by Leo)");
    enter(&mut term, "/topic #lobby");
    assert_eq!(
        fake.next(),
        ClientMsg::Topic {
            room: "#lobby".into(),
            text: None
        }
    );
    term.wait_for("[TOPIC] #lobby has no topic");

    let short = fake.id.short();
    enter(&mut term, "/who");
    assert_eq!(
        fake.next(),
        ClientMsg::Who {
            room: "#dev".into(),
            after: None,
        }
    );
    term.wait_for("[WHO] #dev has 2 members");
    term.wait_for(&format!("[WHO] #dev: Ann on {short}"));
    enter(&mut term, "/rooms");
    assert_eq!(fake.next(), ClientMsg::Rooms);
    term.wait_for("[ROOMS] 2 rooms");
    term.wait_for("[ROOMS] #dev: 1 member, topic: release friday");
    enter(&mut term, "/whois Ann");
    assert_eq!(fake.next(), ClientMsg::Whois { name: ANN.into() });
    term.wait_for(&format!("[WHOIS] Ann on {short}, in #lobby"));

    enter(&mut term, "/nick Leonardo");
    assert_eq!(
        fake.next(),
        ClientMsg::Nick {
            name: "Leonardo".into()
        }
    );
    term.wait_for("[NICK] Leo is now Leonardo");
    // A refused nick is an error, not a lost name: the chat goes on.
    enter(&mut term, &format!("/nick {TAKEN}"));
    assert_eq!(fake.next(), ClientMsg::Nick { name: TAKEN.into() });
    term.wait_for("[ERROR] that name is taken");
    enter(&mut term, "still here");
    assert!(matches!(fake.next(), ClientMsg::Send { text, .. } if text == "still here"));
    term.wait_for("[#dev] [Leonardo] still here");
    assert!(!term.shows("choose another name"), "{}", term.screen);

    // Answered here, never sent: help, bad arguments, unknown commands.
    enter(&mut term, "/help");
    term.wait_for("[HELP] /join #room");
    enter(&mut term, "/join dev");
    term.wait_for("[ERROR] room names start with #: try #dev");
    enter(&mut term, "/switch #nowhere");
    term.wait_for("[ERROR] you are not in #nowhere; /join #nowhere enters it");
    enter(&mut term, "/msg Leonardo hi me");
    term.wait_for("[ERROR] Leonardo is you");
    enter(&mut term, "/frobnicate secret");
    term.wait_for("[ERROR] unknown command /frobnicate; /help lists them");
    enter(&mut term, "//frobnicate is a word");
    assert!(
        matches!(fake.next(), ClientMsg::Send { text, .. } if text == "/frobnicate is a word"),
        "nothing was sent for the lines before"
    );
    term.wait_for("[#dev] [Leonardo] /frobnicate is a word");

    term.type_keys("exit\r");
    assert_eq!(fake.next(), ClientMsg::Leave { text: None });
    assert_eq!(term.exit_code(), 0, "{}", term.screen);
}

#[test]
fn a_name_taken_back_asks_for_another_and_commands_wait() {
    use chatty::protocol::ErrorCode;
    let fake = FakeServer::start(2);
    let mut term = leo_on(&fake);
    // Not the answer to a /nick: the name itself was taken back.
    fake.push(ServerMsg::Error {
        code: ErrorCode::NAME_TAKEN,
        text: "someone on another server took this name at the same moment".into(),
        fatal: false,
        cid: None,
    });
    term.wait_for("choose another name: ");
    enter(&mut term, "/join #dev");
    term.wait_for("[ERROR] you are not in the chat now: type a name to join with");
    enter(&mut term, "/nick Leo2");
    assert_eq!(
        fake.next(),
        ClientMsg::Join {
            name: "Leo2".into()
        }
    );
    term.wait_for("[SERVER] you are back in the chat as Leo2");
    term.wait_for("#lobby> ");
    enter(&mut term, "hello again");
    assert!(
        matches!(fake.next(), ClientMsg::Send { text, room: None, .. } if text == "hello again")
    );
    term.wait_for("[Leo2] hello again");
    term.type_keys("exit\r");
    assert_eq!(fake.next(), ClientMsg::Leave { text: None });
    assert_eq!(term.exit_code(), 0, "{}", term.screen);
}
