//! Helpers for the rooms tests (protocol version 2): raw requests through
//! the library client, and waits on what servers show, each with a deadline.

use std::time::Duration;

use chatty::client::Client;
use chatty::protocol::{ClientMsg, ErrorCode, ServerMsg};

use super::{clustered, loopback_cluster, wait_for, Raw, TestServer, DEADLINE};

/// `n` servers of one cluster on the multicast group port `port`, started
/// one after another; nobody waits for them to find each other.
pub async fn servers(n: usize, port: u16) -> Vec<TestServer> {
    let mut servers = Vec::new();
    for _ in 0..n {
        servers.push(TestServer::start(clustered(loopback_cluster("rooms", port))).await);
    }
    servers
}

/// A version-2 member named `name` on `server`, past its own `joined`.
pub async fn member(server: &TestServer, name: &str) -> Client {
    let mut client = Client::connect(&server.addr_string())
        .await
        .expect("connect");
    client.join(name).await.expect("join");
    wait_for(
        &mut client,
        "own joined",
        |m| matches!(m, ServerMsg::Joined { name: n, .. } if n == name),
    )
    .await;
    client
}

/// A version-1 connection (a client from before rooms) joined as `name`,
/// its `welcome` read.
pub async fn version_one(server: &TestServer, name: &str) -> Raw {
    let mut raw = Raw::connect(server).await;
    raw.send(&ClientMsg::Hello {
        version: 1,
        agent: "old/1".into(),
        features: Vec::new(),
    })
    .await;
    match raw.next().await {
        Some(ServerMsg::Hello { version: 1, .. }) => {}
        other => panic!("a version-1 hello is answered with version 1: {other:?}"),
    }
    raw.send(&ClientMsg::Join { name: name.into() }).await;
    assert!(matches!(raw.next().await, Some(ServerMsg::Welcome { .. })));
    raw
}

/// Sends `msg`; panics if the connection is gone.
pub async fn send(client: &mut Client, msg: ClientMsg) {
    client.send_msg(&msg).await.expect("send");
}

/// Enters `room` and waits for its `room_state`.
pub async fn enter(client: &mut Client, room: &str) {
    send(client, ClientMsg::Enter { room: room.into() }).await;
    wait_for(
        client,
        "room_state",
        |m| matches!(m, ServerMsg::RoomState(s) if s.room.eq_ignore_ascii_case(room)),
    )
    .await;
}

/// Says `text` in `room`.
pub async fn say(client: &mut Client, room: &str, text: &str) {
    send(
        client,
        ClientMsg::Send {
            text: text.into(),
            room: Some(room.into()),
            action: false,
            cid: None,
        },
    )
    .await;
}

/// Waits for the `message` with this text, and returns it.
pub async fn heard(client: &mut Client, text: &str) -> ServerMsg {
    wait_for(
        client,
        text,
        |m| matches!(m, ServerMsg::Message { text: t, .. } if t == text),
    )
    .await
}

/// Every message up to and including the first that satisfies `last`.
pub async fn read_until(
    client: &mut Client,
    what: &str,
    last: impl Fn(&ServerMsg) -> bool,
) -> Vec<ServerMsg> {
    let mut got = Vec::new();
    chatty_harness::client::wait_for(client, what, DEADLINE, |m| {
        got.push(m.clone());
        last(m)
    })
    .await
    .unwrap_or_else(|err| panic!("{err:#}"));
    got
}

/// Waits for an error with `code`; it must not be fatal.
pub async fn refused(client: &mut Client, code: ErrorCode) -> String {
    match wait_for(client, &format!("error {code}"), |m| {
        matches!(m, ServerMsg::Error { .. })
    })
    .await
    {
        ServerMsg::Error {
            code: c,
            fatal,
            text,
            ..
        } => {
            assert_eq!((c, fatal), (code, false), "{text}");
            text
        }
        _ => unreachable!(),
    }
}

/// What `server` answers `msg` with, asked on a fresh connection (the
/// questions need no join).
pub async fn ask(server: &TestServer, msg: ClientMsg) -> ServerMsg {
    let mut probe = Client::connect(&server.addr_string())
        .await
        .expect("connect");
    send(&mut probe, msg).await;
    wait_for(&mut probe, "an answer", |m| {
        matches!(
            m,
            ServerMsg::WhoReply { .. }
                | ServerMsg::RoomsReply { .. }
                | ServerMsg::WhoisReply { .. }
                | ServerMsg::Topic { .. }
                | ServerMsg::Error { .. }
        )
    })
    .await
}

/// The names `server` lists in `room` (none if the room does not exist).
pub async fn who(server: &TestServer, room: &str) -> Vec<String> {
    match ask(
        server,
        ClientMsg::Who {
            room: room.into(),
            after: None,
        },
    )
    .await
    {
        ServerMsg::WhoReply { members, .. } => members.into_iter().map(|m| m.name).collect(),
        _ => Vec::new(),
    }
}

/// Polls `server` (bounded by the deadline) until `check` holds for what
/// it answers `msg` with.
pub async fn wait_answer(
    server: &TestServer,
    what: &str,
    msg: ClientMsg,
    check: impl Fn(&ServerMsg) -> bool,
) {
    let deadline = tokio::time::Instant::now() + DEADLINE;
    loop {
        let answer = ask(server, msg.clone()).await;
        if check(&answer) {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{what}: last answer {answer:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await; // poll, bounded by the deadline
    }
}

/// Waits until every one of `servers` lists exactly `names` in `room`.
pub async fn wait_who(servers: &[TestServer], room: &str, names: &[&str]) {
    let mut want: Vec<String> = names.iter().map(|s| s.to_string()).collect();
    want.sort();
    for server in servers {
        let what = format!("{room} on {} to be {want:?}", server.id.short());
        wait_answer(
            server,
            &what,
            ClientMsg::Who {
                room: room.into(),
                after: None,
            },
            |m| match m {
                ServerMsg::WhoReply { members, .. } => {
                    let mut got: Vec<&String> = members.iter().map(|m| &m.name).collect();
                    got.sort();
                    got == want.iter().collect::<Vec<_>>()
                }
                _ => want.is_empty(),
            },
        )
        .await;
    }
}
