//! Private lines survive a failover exactly once, as room lines do
//! (PROTOCOL.md 12.5): the real `chatty client` gives each a `cid` and
//! sends again what its SIGKILLed server had not made safe; the survivors
//! deduplicate the resends on (sender, cid), and a recipient's client
//! drops a line it showed already when it comes again under a new id.

use crate::common;

use chatty::client::Client;
use chatty::protocol::{ClientMsg, MessageId, ServerMsg, LOBBY};
use common::fake::{FakeServer, ANN};
use common::free_udp_port;
use common::proc::{loopback_server, person, spawn};
use common::typist::type_through_a_kill;
use common::DEADLINE;

/// Leo, on A, sends a private line every 50 ms, in turn to Bob on B and
/// to Cat on C, and A is SIGKILLed in the middle. Leo fails over to B or C
/// (his own turn decides), so one recipient's server gets the resends from
/// Leo himself and the other's from the relay: each recipient gets each of
/// its lines exactly once, in order, and Leo sees each echo once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_private_line_arrives_once_when_the_senders_server_is_killed() {
    const LINES: usize = 40;
    let to = |n: usize| if n % 2 == 1 { "Bob" } else { "Cat" };
    let typed = type_through_a_kill(LINES, 15, move |n| format!("/msg {} pm {n}", to(n))).await;
    for (who, heard) in [("Bob", &typed.bob), ("Cat", &typed.cat)] {
        let want: Vec<String> = (1..=LINES)
            .filter(|n| to(*n) == who)
            .map(|n| format!("(private) pm {n}"))
            .collect();
        assert_eq!(
            heard, &want,
            "{who} gets each of the lines to them once, in order"
        );
    }
    let echoed: Vec<&String> = typed
        .leo
        .iter()
        .filter(|l| l.starts_with("[PM to "))
        .collect();
    let want_echo: Vec<String> = (1..=LINES)
        .map(|n| format!("[PM to {}] pm {n}", to(n)))
        .collect();
    assert_eq!(
        echoed,
        want_echo.iter().collect::<Vec<_>>(),
        "Leo sees each of his private lines once"
    );
}

/// A private line the lost server showed its recipient but relayed to
/// nobody is sent again by its sender after his own failover and numbered
/// anew by a survivor that never had it: it reaches the recipient a second
/// time, under an id no watermark covers. The terminal client knows it by
/// its (from, cid) and shows it once; a new line, or another sender's
/// with the same cid, is shown.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_terminal_client_shows_a_private_line_numbered_twice_once() {
    let fake = FakeServer::start(2);
    let mut leo = person(&fake.addr, "Leo").await;
    let private = |id, from: &str, text: &str, cid| ServerMsg::Private {
        id,
        from: from.into(),
        to: "Leo".into(),
        text: text.into(),
        action: false,
        cid,
    };
    let other = chatty::protocol::MessageId {
        origin: chatty::protocol::ServerId::random(),
        seq: 3,
    };
    for msg in [
        private(fake.next_id(), ANN, "psst", Some(77)),
        private(other, "ann", "psst", Some(77)),
        private(fake.next_id(), ANN, "again", Some(78)),
        private(fake.next_id(), "Bo", "same cid, another sender", Some(77)),
        private(fake.next_id(), ANN, "no cid", None),
        private(fake.next_id(), ANN, "no cid", None),
    ] {
        fake.push(msg);
    }
    fake.push(ServerMsg::Message {
        id: fake.next_id(),
        from: ANN.into(),
        text: "the end".into(),
        room: LOBBY.into(),
        action: false,
        cid: None,
    });
    let shown = leo.until("[Ann] the end").await.unwrap();
    let privates: Vec<&String> = shown.iter().filter(|l| l.starts_with("[PM")).collect();
    assert_eq!(
        privates,
        [
            "[PM from Ann] psst",
            "[PM from Ann] again",
            "[PM from Bo] same cid, another sender",
            "[PM from Ann] no cid",
            "[PM from Ann] no cid",
        ],
        "{shown:?}"
    );
    leo.write("exit\n").await.unwrap();
    fake.until("the leave", |m| *m == ClientMsg::Leave { text: None });
    assert_eq!(leo.exit_code().await.unwrap(), 0);
}

/// Leo's private line `text` with client id `cid` to Ann, as the reference
/// client sends it; returns the id its `ack` names.
async fn private_to_ann(leo: &mut Client, text: &str, cid: u64) -> MessageId {
    leo.send_msg(&ClientMsg::Private {
        to: "Ann".into(),
        text: text.into(),
        cid: Some(cid),
        action: false,
    })
    .await
    .unwrap();
    let ack = async {
        loop {
            match leo.next_reply().await.expect("the server answers") {
                ServerMsg::Ack { cid: acked, id } if acked == cid => return id,
                _ => {}
            }
        }
    };
    tokio::time::timeout(DEADLINE, ack).await.expect("the ack")
}

/// The case only the recipient's client can mend: Leo and Ann are on A,
/// whose relay never reaches B (it drops every cluster datagram it sends).
/// A shows Leo's private line to Ann and is SIGKILLed before Leo knows the
/// line is safe. Both move to B; Leo sends the line again, as the
/// reference client does, and B, which never had it, numbers it anew: Ann
/// gets it a second time under an id her watermark cannot cover. Her
/// terminal client shows it once, by its (from, cid).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_private_line_the_dead_server_never_relayed_is_shown_once() {
    let port = free_udp_port();
    let mut a = loopback_server(port, &["--inject-loss", "100"]).await;
    let b = loopback_server(port, &[]).await;
    let (addr_a, addr_b) = (a.addr().to_string(), b.addr().to_string());
    let mut ann = spawn(&["client", &addr_a, &addr_b, "--name", "Ann"]);
    ann.until("[JOIN] Ann joined the chat").await.unwrap();
    let mut leo = Client::connect(&addr_a).await.unwrap();
    leo.join("Leo").await.unwrap();
    let first = private_to_ann(&mut leo, "psst", 5).await;
    let mut shown = ann.until("[PM from Leo] psst").await.unwrap();
    a.kill();
    drop(leo);
    shown.extend(
        ann.until(&format!("[SERVER] reconnected to {addr_b} as Ann"))
            .await
            .unwrap(),
    );
    let mut leo = Client::connect(&addr_b).await.unwrap();
    leo.rejoin("Leo", vec![first]).await.unwrap();
    let again = private_to_ann(&mut leo, "psst", 5).await;
    assert_ne!(again.origin, first.origin, "B never had it: numbered anew");
    private_to_ann(&mut leo, "after the failover", 6).await;
    shown.extend(ann.until("[PM from Leo] after the failover").await.unwrap());
    let count = shown.iter().filter(|l| *l == "[PM from Leo] psst").count();
    assert_eq!(count, 1, "{shown:?}");
    ann.write("exit\n").await.unwrap();
    assert_eq!(ann.exit_code().await.unwrap(), 0);
}
