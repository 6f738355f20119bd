//! Failover with rooms, private messages and a changed nick, between two
//! scripted version-2 servers (`common::fake`): the client rejoins under
//! the name it holds now, in every room it is in, with one `last_seen` for
//! them all; the lines the lost server never numbered go again to their
//! own room or addressee; the new server's backfill, room by room, is
//! shown once.

use crate::common;

use chatty::protocol::{ClientMsg, ServerMsg, LOBBY};
use common::fake::{FakeServer, ANN};
use common::proc::spawn;

/// The chat lines among `sent`: text, room or addressee, cid.
fn chat_lines(sent: &[ClientMsg]) -> Vec<(String, Option<String>, u64)> {
    sent.iter()
        .filter_map(|m| match m {
            ClientMsg::Send {
                text,
                room,
                cid: Some(cid),
                ..
            } => Some((text.clone(), room.clone(), *cid)),
            ClientMsg::Private {
                text,
                to,
                cid: Some(cid),
                ..
            } => Some((text.clone(), Some(to.clone()), *cid)),
            _ => None,
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failover_keeps_the_rooms_the_nick_and_the_unsent_lines() {
    let a = FakeServer::swallowing(2);
    let b = FakeServer::start(2);
    let mut leo = spawn(&["client", &a.addr, &b.addr, "--name", "Leo"]);
    leo.write("/join #dev\n/nick Leonardo\nhello dev\n/msg Ann psst\n")
        .await
        .unwrap();
    let on_a = a.until("the private line", |m| {
        matches!(m, ClientMsg::Private { .. })
    });
    let cids = chat_lines(&on_a);
    assert_eq!(cids.len(), 2, "{on_a:?}");
    let mut shown = leo.until("[NICK] Leo is now Leonardo").await.unwrap();
    // The last message Leo sees from A's numbering: the id to rejoin with.
    let last = a.next_id();
    a.push(ServerMsg::Message {
        id: last,
        from: ANN.into(),
        text: "before the crash".into(),
        room: "#dev".into(),
        action: false,
        cid: None,
    });
    shown.extend(leo.until("[#dev] [Ann] before the crash").await.unwrap());
    let newest = last.seq;
    assert!(
        !shown
            .iter()
            .any(|l| l.contains("hello dev") || l.contains("psst")),
        "A never numbered the two lines: {shown:?}"
    );

    a.close();
    let rejoin = b.until("the rejoin", |m| matches!(m, ClientMsg::Rejoin { .. }));
    let Some(ClientMsg::Rejoin {
        name,
        last_seen,
        rooms,
    }) = rejoin.last()
    else {
        unreachable!()
    };
    assert_eq!(name, "Leonardo", "the nick held, not the name started with");
    assert_eq!(rooms, &["#dev"], "every room besides the lobby");
    assert_eq!(last_seen, &[a.id(newest)], "shown {shown:?}");

    // The two lines A never answered go again, each where it went before,
    // under the same cid.
    let resent = b.until("the resent private line", |m| {
        matches!(m, ClientMsg::Private { .. })
    });
    assert_eq!(chat_lines(&resent), cids);
    assert_eq!(cids[0].1.as_deref(), Some("#dev"));
    assert_eq!(cids[1].1.as_deref(), Some(ANN));

    // B's backfill comes room by room: the lobby's newer message before
    // #dev's older one; both are new. A repeat is not.
    for (seq, room, text) in [
        (newest + 5, LOBBY, "lobby late"),
        (newest + 3, "#dev", "dev late"),
        (newest + 3, "#dev", "dev late"),
    ] {
        b.push(ServerMsg::Message {
            id: a.id(seq),
            from: ANN.into(),
            text: text.into(),
            room: room.into(),
            action: false,
            cid: None,
        });
    }
    shown.extend(leo.until("[#dev] [Ann] dev late").await.unwrap());
    leo.write("after\nexit\n").await.unwrap();
    let sent = b.until("the leave", |m| *m == ClientMsg::Leave { text: None });
    assert!(
        sent.iter().any(
            |m| matches!(m, ClientMsg::Send { text, room: Some(room), .. }
            if text == "after" && room == "#dev")
        ),
        "the active room survives the move: {sent:?}"
    );
    shown.extend(leo.rest().await.unwrap());
    assert_eq!(leo.exit_code().await.unwrap(), 0, "{shown:?}");
    for line in [
        format!("[SERVER] lost connection to {}; reconnecting…", a.addr),
        format!("[SERVER] reconnected to {} as Leonardo", b.addr),
        "[#dev] [Leonardo] hello dev".into(),
        "[PM to Ann] psst".into(),
        "[Ann] lobby late".into(),
        "[#dev] [Ann] dev late".into(),
        "[#dev] [Leonardo] after".into(),
    ] {
        let count = shown.iter().filter(|l| **l == line).count();
        assert_eq!(count, 1, "{line:?} shown {count} times: {shown:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_left_the_lobby_leaves_it_again_after_a_failover() {
    let a = FakeServer::start(2);
    let b = FakeServer::start(2);
    let mut leo = spawn(&["client", &a.addr, &b.addr, "--name", "Leo"]);
    leo.write("/join #dev\n/part #lobby\n").await.unwrap();
    leo.until("[LEAVE] Leo left the chat").await.unwrap();
    a.until("the part", |m| matches!(m, ClientMsg::Part { .. }));
    a.close();
    let after = b.until("the part", |m| matches!(m, ClientMsg::Part { .. }));
    assert!(
        matches!(&after[..], [ClientMsg::Hello { .. }, ClientMsg::Rejoin { rooms, .. }, ClientMsg::Part { room, .. }]
            if rooms == &["#dev"] && room == LOBBY),
        "{after:?}"
    );
    leo.write("still in dev\nexit\n").await.unwrap();
    let sent = b.until("the leave", |m| *m == ClientMsg::Leave { text: None });
    assert!(
        matches!(&sent[0], ClientMsg::Send { text, room: Some(room), .. } if text == "still in dev" && room == "#dev"),
        "{sent:?}"
    );
    assert_eq!(leo.exit_code().await.unwrap(), 0);
}

/// A survivor that answers the rejoin with 211 still counts the client's
/// old membership on the lost server (it has not declared that server dead
/// yet); another survivor may have. So the client asks the next survivor
/// at once instead of the same one again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rejoin_refused_with_211_moves_on_to_the_next_survivor() {
    let a = FakeServer::start(2);
    let busy = FakeServer::holding_names(2);
    let free = FakeServer::start(2);
    let mut leo = spawn(&["client", &a.addr, &busy.addr, &free.addr, "--name", "Leo"]);
    leo.until_match("the greeting", |l| l.starts_with("[SERVER] connected to"))
        .await
        .unwrap();
    // A announces itself and `busy` only: the failover order is then
    // `busy` (the one announced survivor), `free` (given), A (lost).
    a.push(ServerMsg::Servers {
        servers: vec![a.addr.clone(), busy.addr.clone()],
        web: vec![],
    });
    a.push(ServerMsg::Message {
        id: a.next_id(),
        from: ANN.into(),
        text: "ready".into(),
        room: LOBBY.into(),
        action: false,
        cid: None,
    });
    leo.until("[Ann] ready").await.unwrap();
    a.close();
    busy.until("the refused rejoin", |m| {
        matches!(m, ClientMsg::Rejoin { .. })
    });
    free.until("the rejoin", |m| matches!(m, ClientMsg::Rejoin { .. }));
    leo.until(&format!("[SERVER] reconnected to {} as Leo", free.addr))
        .await
        .unwrap();
    let asked_again: Vec<ClientMsg> = busy
        .pending()
        .into_iter()
        .filter(|m| matches!(m, ClientMsg::Rejoin { .. }))
        .collect();
    assert!(asked_again.is_empty(), "{asked_again:?}");
    leo.write("exit\n").await.unwrap();
    free.until("the leave", |m| *m == ClientMsg::Leave { text: None });
    assert_eq!(leo.exit_code().await.unwrap(), 0);
}

/// Waits until `fake` has been sent a `rejoin`, or gives up at `deadline`;
/// what it was sent up to then.
fn rejoin_on(fake: &FakeServer, deadline: std::time::Instant) -> Option<Vec<ClientMsg>> {
    let mut sent = Vec::new();
    while std::time::Instant::now() < deadline {
        sent.extend(fake.pending());
        if sent.iter().any(|m| matches!(m, ClientMsg::Rejoin { .. })) {
            return Some(sent);
        }
        std::thread::sleep(std::time::Duration::from_millis(20)); // poll, bounded by the deadline
    }
    None
}

/// Right after a rejoin the new server takes Leo's name away (211 without
/// a cid): most likely the lost server's last datagram, carrying his own
/// join there, read after the rejoin (PROTOCOL.md 11). The client fails
/// over again instead of asking for another name; the line typed in the
/// meantime goes through once, and no error is shown.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_name_taken_back_right_after_a_rejoin_is_joined_again() {
    use chatty::protocol::ErrorCode;
    let a = FakeServer::start(2);
    let b = FakeServer::start(2);
    let mut leo = spawn(&["client", &a.addr, &b.addr, "--name", "Leo"]);
    a.until("the join", |m| matches!(m, ClientMsg::Join { .. }));
    let greeting = format!("[SERVER] connected to {} as Leo;", a.addr);
    let mut shown = leo
        .until_match("the greeting", |l| l.starts_with(&greeting))
        .await
        .unwrap();
    a.close();
    b.until("the rejoin", |m| matches!(m, ClientMsg::Rejoin { .. }));
    shown.extend(
        leo.until(&format!("[SERVER] reconnected to {} as Leo", b.addr))
            .await
            .unwrap(),
    );
    b.push(ServerMsg::Error {
        code: ErrorCode::NAME_TAKEN,
        text: "someone on another server took this name at the same moment; choose another name and join again".into(),
        fatal: false,
        cid: None,
    });
    shown.extend(
        leo.until(
            "[SERVER] Leo was taken back for our old connection to the lost server; joining again…",
        )
        .await
        .unwrap(),
    );
    leo.write("after\n").await.unwrap();
    // Either server may take the second rejoin (both still listen).
    let deadline = std::time::Instant::now() + common::fake::FAKE_DEADLINE;
    let (fake, addr, mut sent) = loop {
        let soon = || std::time::Instant::now() + std::time::Duration::from_millis(100);
        if let Some(sent) = rejoin_on(&b, soon()) {
            break (&b, &b.addr, sent);
        }
        if let Some(sent) = rejoin_on(&a, soon()) {
            break (&a, &a.addr, sent);
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no second rejoin: {shown:?}"
        );
    };
    shown.extend(
        leo.until(&format!("[SERVER] reconnected to {addr} as Leo"))
            .await
            .unwrap(),
    );
    if chat_lines(&sent).is_empty() {
        sent.extend(fake.until("the line", |m| matches!(m, ClientMsg::Send { .. })));
    }
    assert_eq!(chat_lines(&sent).len(), 1, "{sent:?}");
    leo.write("exit\n").await.unwrap();
    fake.until("the leave", |m| matches!(m, ClientMsg::Leave { .. }));
    shown.extend(leo.rest().await.unwrap());
    assert_eq!(leo.exit_code().await.unwrap(), 0, "{shown:?}");
    assert!(!shown.iter().any(|l| l.starts_with("[ERROR]")), "{shown:?}");
    assert_eq!(
        shown.iter().filter(|l| *l == "[Leo] after").count(),
        1,
        "{shown:?}"
    );
}

/// The only survivor keeps answering the rejoin with 211 until
/// `--failover-timeout`: the client says the name stayed taken, not that
/// no server could be reached, and exits with status 3.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_name_that_stays_taken_through_the_failover_timeout_is_said_so() {
    let a = FakeServer::start(2);
    let busy = FakeServer::holding_names(2);
    let mut leo = spawn(&[
        "client",
        &a.addr,
        &busy.addr,
        "--name",
        "Leo",
        "--failover-timeout",
        "1",
    ]);
    leo.until_match("the greeting", |l| l.starts_with("[SERVER] connected to"))
        .await
        .unwrap();
    a.close();
    drop(a); // gone for good: its port refuses from now on
    busy.until("the refused rejoin", |m| {
        matches!(m, ClientMsg::Rejoin { .. })
    });
    let shown = leo.rest().await.unwrap();
    assert!(
        shown
            .iter()
            .any(|l| l == "[SERVER] the name Leo stayed taken for 1 s; giving up"),
        "{shown:?}"
    );
    assert_eq!(leo.exit_code().await.unwrap(), 3, "{shown:?}");
}
