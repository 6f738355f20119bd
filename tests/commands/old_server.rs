//! A client talking to a server from before rooms (a scripted one that
//! answers `hello` with version 1): it still chats in the lobby exactly as
//! before, and every version-2 command says clearly that the server does
//! not support rooms, without sending anything.

use crate::common;

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
            ClientMsg::Leave { .. } => "leave".into(),
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

/// A server from before protocol version 2, as it really answers: a
/// version-2 `hello` gets 102 and the connection closes; version 1 is
/// served. The library connects again and speaks version 1.
#[tokio::test]
async fn the_library_falls_back_to_version_1_when_an_old_server_refuses_2() {
    use chatty::protocol::{encode_frame, ErrorCode, FrameDecoder, ServerId, ServerMsg};
    use futures_util::StreamExt;
    use tokio::io::AsyncWriteExt;
    use tokio_util::codec::FramedRead;

    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let server = tokio::spawn(async move {
        let mut asked = Vec::new();
        for _ in 0..2 {
            let (stream, _) = listener.accept().await.unwrap();
            let (rd, mut wr) = stream.into_split();
            let mut frames = FramedRead::new(rd, FrameDecoder::new(1 << 16));
            let body = frames.next().await.unwrap().unwrap();
            let Ok(ClientMsg::Hello { version, .. }) = chatty::protocol::decode(&body) else {
                panic!("the first frame must be hello");
            };
            asked.push(version);
            let answer = if version == 1 {
                ServerMsg::Hello {
                    version: 1,
                    server: ServerId::from_bytes([7; 16]),
                    agent: "chatty/0.1.0".into(),
                    keepalive_ms: 15_000,
                    features: Vec::new(),
                    rate: None,
                }
            } else {
                ServerMsg::Error {
                    code: ErrorCode::UNSUPPORTED_VERSION,
                    text: format!(
                        "unsupported protocol version {version}; this server speaks version 1"
                    ),
                    fatal: true,
                    cid: None,
                }
            };
            wr.write_all(&encode_frame(&answer)).await.unwrap();
            if version == 1 {
                return asked;
            }
        }
        asked
    });
    let client = Client::connect(&addr)
        .await
        .expect("connects, speaking version 1");
    assert_eq!(client.version(), 1);
    assert!(!client.has_rooms());
    assert_eq!(
        server.await.unwrap(),
        [chatty::protocol::PROTOCOL_VERSION, 1]
    );
}
