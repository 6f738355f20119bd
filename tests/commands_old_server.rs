//! A client talking to a server from before rooms (a scripted one that
//! answers `hello` with version 1): it still chats in the lobby exactly as
//! before, and every version-2 command says clearly that the server does
//! not support rooms, without sending anything.

mod common;

use chatty::client::{Client, ClientError};
use chatty::protocol::ClientMsg;
use common::fake::FakeServer;
use common::proc::spawn;

const NO_ROOMS: &str = "[ERROR] the server does not support rooms, private messages or nick \
                        changes (it speaks protocol version 1)";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_terminal_client_chats_in_the_lobby_and_refuses_room_commands() {
    let fake = FakeServer::start(1);
    let mut leo = spawn(&["client", &fake.addr, "--name", "Leo"]);
    let commands = [
        "/join #dev",
        "/part",
        "/msg Ann hi",
        "/me waves",
        "/nick Leonardo",
        "/topic hello",
        "/who",
        "/rooms",
        "/whois Ann",
    ];
    let mut input = String::from("hello\n");
    for command in commands {
        input.push_str(command);
        input.push('\n');
    }
    input.push_str("//slash\nexit\n");
    leo.write(&input).await.unwrap();
    let out = leo.rest().await.unwrap();
    assert_eq!(leo.exit_code().await.unwrap(), 0, "{out:?}");

    let said: Vec<&String> = out.iter().filter(|l| l.starts_with("[Leo] ")).collect();
    assert_eq!(said, ["[Leo] hello", "[Leo] /slash"], "{out:?}");
    let refused = out.iter().filter(|l| *l == NO_ROOMS).count();
    assert_eq!(refused, commands.len(), "one clear error each: {out:?}");
    assert_eq!(out.last().unwrap(), "[LEAVE] Leo left the chat");

    // Only what a version-1 server knows was sent, the lobby unnamed. (The
    // fake records each frame before answering it, and it answered the
    // leave: everything is recorded.)
    let sent = fake.pending();
    let kinds: Vec<String> = sent
        .iter()
        .map(|m| match m {
            ClientMsg::Hello { .. } => "hello".into(),
            ClientMsg::Join { name } => format!("join {name}"),
            ClientMsg::Send {
                text,
                room: None,
                action: false,
                ..
            } => format!("send {text}"),
            ClientMsg::Leave => "leave".into(),
            other => format!("unexpected {other:?}"),
        })
        .collect();
    assert_eq!(
        kinds,
        ["hello", "join Leo", "send hello", "send /slash", "leave"]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_library_says_the_server_has_no_rooms_and_sends_nothing() {
    let fake = FakeServer::start(1);
    let mut leo = Client::connect(&fake.addr).await.unwrap();
    assert_eq!(leo.version(), 1);
    assert!(!leo.has_rooms());
    leo.join("Leo").await.unwrap();
    let refusals = [
        leo.enter("#dev").await.map(|_| ()),
        leo.part("#lobby").await,
        leo.say_in("#dev", "x").await,
        leo.act("#lobby", "waves").await,
        leo.private("Ann", "x").await.map(|_| ()),
        leo.nick("Leonardo").await.map(|_| ()),
        leo.topic_get("#lobby").await.map(|_| ()),
        leo.topic_set("#lobby", "x").await.map(|_| ()),
        leo.who("#lobby").await.map(|_| ()),
        leo.rooms().await.map(|_| ()),
        leo.whois("Ann").await.map(|_| ()),
    ];
    for refusal in refusals {
        let err = refusal.expect_err("a version-1 server has no rooms");
        assert!(matches!(err, ClientError::NoRooms(1)), "{err}");
        assert!(err.to_string().contains("does not support rooms"), "{err}");
    }
    // The lobby works as it always did.
    leo.say_in("#Lobby", "still here").await.unwrap();
    let sent = fake.until("the line", |m| matches!(m, ClientMsg::Send { .. }));
    assert!(
        matches!(sent.last(), Some(ClientMsg::Send { text, room: None, .. }) if text == "still here")
    );
    assert!(
        sent.iter().all(|m| matches!(
            m,
            ClientMsg::Hello { .. } | ClientMsg::Join { .. } | ClientMsg::Send { .. }
        )),
        "{sent:?}"
    );
    leo.leave().await.unwrap();
}
