//! The real `chatty client` with acknowledged sends and pacing: a server
//! SIGKILLed under a talking client loses none of its lines and shows none
//! twice, a pasted burst arrives whole at the default rate limit, and a
//! client that saw nothing before its server died is not sent the past.

use crate::common;

use common::free_udp_port;
use common::proc::{loopback_server, person, spawn, Process, Server};
use common::typist::{type_through_a_freeze, type_through_a_kill, Typed};
use common::watcher::{wait_cluster, wait_member, Watcher};

/// `chatty client ADDR --name NAME` with piped stdin and stdout.
fn client(addr: &str, name: &str) -> Process {
    spawn(&["client", addr, "--name", name])
}

/// A server of the test's group, and its client address.
async fn server(group_port: u16) -> (Server, String) {
    let server = loopback_server(group_port, &[]).await;
    let addr = server.addr().to_string();
    (server, addr)
}

/// Bob and Cat heard `line 1` to `line LINES` once each, in order, and Leo
/// saw each of his own once.
fn every_line_once(typed: &Typed, lines: usize) {
    let want: Vec<String> = (1..=lines).map(|n| format!("line {n}")).collect();
    assert_eq!(typed.bob, want, "Bob hears every line once, in order");
    assert_eq!(typed.cat, want, "Cat hears every line once, in order");
    let echoed: Vec<&String> = typed
        .leo
        .iter()
        .filter(|l| l.starts_with("[Leo] "))
        .collect();
    let want_echo: Vec<String> = want.iter().map(|l| format!("[Leo] {l}")).collect();
    assert_eq!(
        echoed,
        want_echo.iter().collect::<Vec<_>>(),
        "Leo sees each of his lines once"
    );
}

/// SIGKILL the server of a client that sends a line every 50 ms (twice
/// the default rate limit, so it also paces): every line reaches a client
/// on each other server exactly once, in order, and Leo sees each of his
/// own once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_line_arrives_once_in_order_when_the_senders_server_is_killed() {
    const LINES: usize = 60;
    let typed = type_through_a_kill(LINES, 20, |n| format!("line {n}")).await;
    every_line_once(&typed, LINES);
}

/// SIGSTOP instead of SIGKILL, with Leo typing on: his client gives the
/// silent server up and fails over, then the frozen server wakes with his
/// last lines still unread in its socket. Every line still reaches Bob and
/// Cat once, in order; Leo sees each of his own once; and every server,
/// the woken one included, lists one Leo, on the survivor.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_line_arrives_once_in_order_when_the_senders_server_freezes_and_wakes() {
    const LINES: usize = 150;
    let typed = type_through_a_freeze(LINES, 20, |n| format!("line {n}")).await;
    every_line_once(&typed, LINES);
}

/// 30 lines pasted at once, at the default limit of 10 per second in
/// bursts of 20: the client paces itself and none is refused.
#[tokio::test]
async fn a_pasted_burst_arrives_whole_and_in_order() {
    const LINES: usize = 30;
    let (_server, addr) = server(free_udp_port()).await;
    let mut ann = Watcher::join(&addr, "Ann", "Leo").await;
    let mut leo = client(&addr, "Leo");
    leo.until("[JOIN] Leo joined the chat").await.unwrap();
    let paste: String = (1..=LINES).map(|n| format!("pasted {n}\n")).collect();
    leo.write(&paste).await.unwrap();
    leo.close_stdin(); // end of input: leave once every line is acknowledged
    let heard = ann.wait("Leo to leave", |_, left| left).await;
    let want: Vec<String> = std::iter::once("<joined>".to_string())
        .chain((1..=LINES).map(|n| format!("pasted {n}")))
        .collect();
    assert_eq!(heard, want);
    let out = leo.rest().await.unwrap();
    assert_eq!(leo.exit_code().await.unwrap(), 0, "{out:?}");
    assert!(!out.iter().any(|l| l.starts_with("[ERROR]")), "{out:?}");
    assert_eq!(
        out.iter().filter(|l| l.starts_with("[Leo] ")).count(),
        LINES,
        "{out:?}"
    );
}

/// Leo joins, sees the recent history, and loses his server before anything
/// new is said: the rejoin asks from his welcome's watermark, so the old
/// messages do not come again as new ones.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rejoin_that_saw_nothing_is_not_sent_the_past() {
    let port = free_udp_port();
    let (mut a, addr_a) = server(port).await;
    let (_b, addr_b) = server(port).await;
    wait_cluster(&[&addr_a, &addr_b]).await;
    let mut ann = Watcher::join(&addr_b, "Ann", "Bob").await;
    // A has synced B's stream: what is said on B from now on reaches A.
    wait_member(&addr_a, "Ann").await;
    let mut bob = client(&addr_b, "Bob");
    bob.write("old 1\nold 2\nold 3\n").await.unwrap();
    ann.wait("the old lines", |heard, _| heard.len() == 4).await;
    let mut leo = client(&addr_a, "Leo");
    leo.until("[HISTORY] [Bob] old 3").await.unwrap();
    leo.until("[JOIN] Leo joined the chat").await.unwrap();
    a.kill();
    leo.until(&format!("[SERVER] reconnected to {addr_b} as Leo"))
        .await
        .unwrap();
    bob.write("new\n").await.unwrap();
    let after = leo.until("[Bob] new").await.unwrap();
    assert!(
        !after.iter().any(|l| l.contains("old")),
        "the past came again: {after:?}"
    );
    leo.close_stdin();
    bob.close_stdin();
    assert_eq!(leo.exit_code().await.unwrap(), 0);
}

/// A line shown in a room's history, then live again under another id (its
/// sender resent it after a failover, and a survivor that never had it
/// numbered it anew): the terminal client knows it by its (from, cid) and
/// shows it once (PROTOCOL.md 12.5).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_history_line_resent_under_a_new_id_is_shown_once() {
    use chatty::protocol::{MessageId, ServerId, ServerMsg, LOBBY};
    use common::fake::{FakeServer, ANN};
    let fake = FakeServer::start(2);
    let mut leo = person(&fake.addr, "Leo").await;
    let elsewhere = MessageId {
        origin: ServerId::random(),
        seq: 3,
    };
    let line = |id, text: &str, cid| ServerMsg::Message {
        id,
        from: ANN.into(),
        text: text.into(),
        room: LOBBY.into(),
        action: false,
        cid,
    };
    // The welcome's history, as a server sends it before anything live.
    fake.push(ServerMsg::History {
        id: fake.next_id(),
        from: ANN.into(),
        room: LOBBY.into(),
        text: "said before you came".into(),
        action: false,
        cid: Some(41),
    });
    fake.push(line(elsewhere, "said before you came", Some(41)));
    fake.push(line(fake.next_id(), "the end", None));
    let shown = leo.until("[Ann] the end").await.unwrap();
    let said: Vec<&String> = shown.iter().filter(|l| l.contains("said before")).collect();
    assert_eq!(said.len(), 1, "{shown:?}");
    leo.write("exit\n").await.unwrap();
    assert_eq!(leo.exit_code().await.unwrap(), 0);
}
