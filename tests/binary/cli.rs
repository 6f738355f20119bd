//! The real `chatty` binary, driven the way a user or a script drives it:
//! piped stdin, stdout lines, exit codes, signals.

use crate::common;

use std::time::Duration;

use common::free_udp_port;
use common::proc::{chatty, loopback_server, spawn, Process, Server, Signal, DEADLINE};

/// Starts `chatty server` on a free loopback port, with multicast on the
/// loopback interface only and a group port of its own; returns it and its
/// client address.
async fn server() -> (Server, String) {
    server_in_group(free_udp_port()).await
}

async fn server_in_group(group_port: u16) -> (Server, String) {
    server_with(group_port, &[]).await
}

async fn server_with(group_port: u16, extra: &[&str]) -> (Server, String) {
    let server = loopback_server(group_port, extra).await;
    let addr = server.addr().to_string();
    (server, addr)
}

fn client(addr: &str, name: &str) -> Process {
    spawn(&["client", addr, "--name", name])
}

#[tokio::test]
async fn two_people_chat_through_pipes() {
    let (_server, addr) = server().await;
    let mut ann = client(&addr, "Ann");
    let greeting = ann.until("[JOIN] Ann joined the chat").await.unwrap();
    assert!(
        greeting[0].starts_with("[SERVER] connected to"),
        "{greeting:?}"
    );

    let mut bob = client(&addr, "Bob");
    bob.write("hello\nexit\n").await.unwrap();
    let bob_out = bob.rest().await.unwrap();
    assert_eq!(
        bob.exit_code().await.unwrap(),
        0,
        "clean leave exits 0: {bob_out:?}"
    );
    let expected_tail = [
        "[JOIN] Bob joined the chat",
        "[Bob] hello",
        "[LEAVE] Bob left the chat",
    ];
    assert_eq!(&bob_out[bob_out.len() - 3..], expected_tail, "{bob_out:?}");
    assert!(
        bob_out.iter().all(|l| !l.contains("-> ")),
        "no prompt when piped"
    );

    assert_eq!(
        ann.until("[LEAVE] Bob left the chat").await.unwrap(),
        expected_tail
    );
    ann.close_stdin(); // end of input leaves cleanly
    let tail = ann.rest().await.unwrap();
    assert_eq!(tail, ["[LEAVE] Ann left the chat"]);
    assert_eq!(ann.exit_code().await.unwrap(), 0);
}

/// The runtime's worker threads of process `pid` (`chatty-worker`).
fn worker_threads(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/task"))
        .expect("the server's threads")
        .filter_map(|task| std::fs::read_to_string(task.ok()?.path().join("comm")).ok())
        .filter(|comm| comm.trim() == "chatty-worker")
        .count()
}

/// Waits until `pid` has exactly `want` worker threads. A new thread names
/// itself only once it runs, so right after start-up it may not count yet.
async fn wait_workers(pid: u32, want: usize) {
    let deadline = tokio::time::Instant::now() + DEADLINE;
    loop {
        let got = worker_threads(pid);
        if got == want {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{got} worker threads, expected {want}"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test]
async fn threads_sets_the_worker_count_and_the_server_still_chats() {
    let (one, addr) = server_with(free_udp_port(), &["--threads", "1"]).await;
    wait_workers(one.pid(), 1).await;
    let mut ann = client(&addr, "Ann");
    ann.until("[JOIN] Ann joined the chat").await.unwrap();
    let mut bob = client(&addr, "Bob");
    bob.write("hello from one thread\nexit\n").await.unwrap();
    ann.until("[Bob] hello from one thread").await.unwrap();
    assert_eq!(bob.exit_code().await.unwrap(), 0);

    // The default is one worker per core.
    let (default, _) = server().await;
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    wait_workers(default.pid(), cores).await;
}

#[tokio::test]
async fn a_taken_name_exits_non_zero_with_a_message() {
    let (_server, addr) = server().await;
    let mut leo = client(&addr, "Leo");
    leo.until("[JOIN] Leo joined the chat").await.unwrap();
    let mut twin = client(&addr, "leo");
    twin.close_stdin();
    let out = twin.rest().await.unwrap();
    assert_eq!(twin.exit_code().await.unwrap(), 3);
    assert!(
        out.iter()
            .any(|l| l.starts_with("[ERROR]") && l.contains("taken")),
        "{out:?}"
    );
}

#[tokio::test]
async fn an_unreachable_server_exits_non_zero() {
    let port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    }; // closed again: nothing listens there now
    let mut proc = client(&format!("127.0.0.1:{port}"), "Leo");
    let out = proc.rest().await.unwrap();
    assert_eq!(proc.exit_code().await.unwrap(), 1);
    assert!(out.iter().any(|l| l.contains("cannot connect")), "{out:?}");
}

#[tokio::test]
async fn status_json_keeps_its_field_names() {
    let (_server, addr) = server().await;
    let mut leo = client(&addr, "Leo");
    leo.until("[JOIN] Leo joined the chat").await.unwrap();
    let out = chatty()
        .command(["status", &addr, "--json"])
        .output()
        .await
        .unwrap();
    assert!(out.status.success());
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("one JSON object");
    let id = v["id"].as_str().expect("id");
    assert_eq!(v["servers"][0]["id"], id);
    assert_eq!(v["servers"][0]["addr"], addr.as_str());
    assert_eq!(v["servers"][0]["state"], "alive");
    assert_eq!(v["members"][0]["name"], "Leo");
    assert_eq!(v["members"][0]["server"], id);

    let table = chatty().command(["status", &addr]).output().await.unwrap();
    let table = String::from_utf8(table.stdout).unwrap();
    assert!(table.contains(&addr) && table.contains("Leo"), "{table}");
}

#[tokio::test]
async fn sigterm_notifies_clients_and_exits_zero() {
    let (mut server, addr) = server().await;
    let mut leo = client(&addr, "Leo");
    leo.until("[JOIN] Leo joined the chat").await.unwrap();
    server.signal(Signal::Term).unwrap();
    assert_eq!(server.exit_code().await.unwrap(), 0, "graceful exit");
    let out = leo.rest().await.unwrap();
    assert!(
        out.iter()
            .any(|l| l.starts_with("[SERVER]") && l.contains("shutting down")),
        "{out:?}"
    );
    assert_eq!(leo.exit_code().await.unwrap(), 4);
}

/// Servers of one group find each other; a SIGKILLed one disappears from the
/// others' status, a SIGTERMed one too, and the JSON lists every server.
#[tokio::test]
async fn status_lists_the_cluster_and_forgets_killed_servers() {
    let port = free_udp_port();
    let (_a, addr_a) = server_in_group(port).await;
    let (mut b, addr_b) = server_in_group(port).await;
    let (mut c, addr_c) = server_in_group(port).await;
    let status = |addr: String| async move {
        let out = chatty()
            .command(["status", &addr, "--json"])
            .output()
            .await
            .unwrap();
        assert!(out.status.success());
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        let mut addrs: Vec<String> = v["servers"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s["addr"].as_str().unwrap().to_string())
            .collect();
        addrs.sort();
        addrs
    };
    let wait_for = |want: Vec<&String>| {
        let mut want: Vec<String> = want.into_iter().cloned().collect();
        want.sort();
        let addr_a = addr_a.clone();
        async move {
            let deadline = tokio::time::Instant::now() + DEADLINE;
            loop {
                let got = status(addr_a.clone()).await;
                if got == want {
                    return;
                }
                assert!(
                    tokio::time::Instant::now() < deadline,
                    "status shows {got:?}, want {want:?}"
                );
                tokio::time::sleep(Duration::from_millis(50)).await; // poll interval, bounded by the deadline
            }
        }
    };
    wait_for(vec![&addr_a, &addr_b, &addr_c]).await;
    b.kill();
    wait_for(vec![&addr_a, &addr_c]).await;
    c.signal(Signal::Term).unwrap();
    assert_eq!(c.exit_code().await.unwrap(), 0);
    wait_for(vec![&addr_a]).await;
}

/// A scripted client whose name is taken back mid-chat (a same-moment claim
/// on another server won) exits 3 with the server's explanation. The server
/// here is a stand-in that speaks the protocol from a script.
#[tokio::test]
async fn a_scripted_client_that_loses_its_name_exits_3() {
    use chatty::protocol::{
        encode_frame, ErrorCode, FrameDecoder, Member, ServerId, ServerMsg, MAX_CLIENT_FRAME,
    };
    use futures_util::StreamExt;
    use tokio::io::AsyncWriteExt;
    use tokio_util::codec::FramedRead;

    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let fake = tokio::spawn(async move {
        let (stream, _) = listener.accept().await.unwrap();
        let (rd, mut wr) = stream.into_split();
        let mut frames = FramedRead::new(rd, FrameDecoder::new(MAX_CLIENT_FRAME));
        let server = ServerId::random();
        frames.next().await.unwrap().unwrap(); // hello
        let hello = ServerMsg::Hello {
            version: 1,
            server,
            agent: "fake".into(),
            keepalive_ms: 15_000,
            features: Vec::new(),
            rate: None,
        };
        wr.write_all(&encode_frame(&hello)).await.unwrap();
        frames.next().await.unwrap().unwrap(); // join
        let welcome = ServerMsg::Welcome {
            web: vec![],
            server,
            name: "Leo".into(),
            members: vec![Member {
                name: "Leo".into(),
                server,
            }],
            servers: vec![],
            seen: Vec::new(),
            room: "#lobby".into(),
            rooms: Vec::new(),
        };
        wr.write_all(&encode_frame(&welcome)).await.unwrap();
        // A message type from some future version: a client must skip it.
        let mut future = vec![0u8; 4];
        future.extend_from_slice(b"\x82\xa4type\xa8hologram\xa4data\xa3xyz");
        let len = (future.len() - 4) as u32;
        future[..4].copy_from_slice(&len.to_be_bytes());
        wr.write_all(&future).await.unwrap();
        let revoked = ServerMsg::Error {
            code: ErrorCode::NAME_TAKEN,
            text: "someone on another server took this name at the same moment".into(),
            fatal: false,
            cid: None,
        };
        wr.write_all(&encode_frame(&revoked)).await.unwrap();
        // Hold the connection until the client goes.
        while let Some(Ok(_)) = frames.next().await {}
    });
    let mut proc = client(&addr, "Leo");
    let out = proc.rest().await.unwrap();
    assert_eq!(proc.exit_code().await.unwrap(), 3, "{out:?}");
    assert!(
        out.iter()
            .any(|l| l.starts_with("[ERROR]") && l.contains("same moment")),
        "{out:?}"
    );
    fake.abort();
}

/// SIGKILL the client's server mid-conversation while someone keeps
/// talking: the real `chatty client` notices, moves to another server under
/// the same name, and shows every message exactly once, in order.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_survives_a_sigkilled_server_without_gaps_or_repeats() {
    let port = free_udp_port();
    let (mut a, addr_a) = server_in_group(port).await;
    let (_b, addr_b) = server_in_group(port).await;
    let (_c, addr_c) = server_in_group(port).await;
    let mut leo = client(&addr_a, "Leo");
    leo.until("[JOIN] Leo joined the chat").await.unwrap();
    let mut bob = chatty::client::Client::connect(&addr_b).await.unwrap();
    bob.join("Bob").await.unwrap();
    leo.until("[JOIN] Bob joined the chat").await.unwrap();
    // Leo knows all three servers once the welcome/updates have arrived.
    let (mut bob_rx, mut bob_tx) = bob.split();
    let bob_reader = tokio::spawn(async move {
        // Bob keeps reading (and answering nothing): enough for 40 messages.
        let mut lines = Vec::new();
        while let Ok(Some(msg)) = bob_rx.recv().await {
            if let chatty::protocol::ServerMsg::Message { from, text, .. } = msg {
                lines.push(format!("[{from}] {text}"));
                if from == "Leo" {
                    return lines;
                }
            }
        }
        lines
    });
    for n in 0..10 {
        bob_tx.say(&format!("m{n}")).await.unwrap();
    }
    leo.until("[Bob] m9").await.unwrap();
    a.kill();
    for n in 10..30 {
        bob_tx.say(&format!("m{n}")).await.unwrap();
        // A conversation, not a burst: under the default 10 messages/s limit.
        tokio::time::sleep(Duration::from_millis(110)).await;
    }
    let out = leo.until("[Bob] m29").await.unwrap();
    assert!(
        out.iter()
            .any(|l| *l == format!("[SERVER] lost connection to {addr_a}; reconnecting…")),
        "{out:?}"
    );
    assert!(
        out.iter().any(|l| l.starts_with("[SERVER] reconnected to ")
            && (l.contains(&addr_b) || l.contains(&addr_c))
            && l.ends_with(" as Leo")),
        "{out:?}"
    );
    let got: Vec<&String> = out.iter().filter(|l| l.starts_with("[Bob] ")).collect();
    let want: Vec<String> = (10..30).map(|n| format!("[Bob] m{n}")).collect();
    assert_eq!(
        got,
        want.iter().collect::<Vec<_>>(),
        "every message after the crash, once, in order; full output {out:?}"
    );
    leo.write("back again\n").await.unwrap();
    let heard = tokio::time::timeout(DEADLINE, bob_reader)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        heard.last().unwrap(),
        "[Leo] back again",
        "the name survived the move"
    );
    leo.write("exit\n").await.unwrap();
    assert_eq!(leo.exit_code().await.unwrap(), 0);
}

/// A graceful shutdown names the alternatives and the client moves at once.
#[tokio::test]
async fn a_client_moves_at_once_when_its_server_shuts_down() {
    let port = free_udp_port();
    let (mut a, addr_a) = server_in_group(port).await;
    let (_b, addr_b) = server_in_group(port).await;
    let mut leo = client(&addr_a, "Leo");
    leo.until("[JOIN] Leo joined the chat").await.unwrap();
    let mut bob = chatty::client::Client::connect(&addr_b).await.unwrap();
    bob.join("Bob").await.unwrap();
    leo.until("[JOIN] Bob joined the chat").await.unwrap();
    a.signal(Signal::Term).unwrap();
    let out = leo
        .until_match("reconnected", |l| l.starts_with("[SERVER] reconnected to "))
        .await
        .unwrap();
    assert!(
        out.iter().any(|l| l.contains("is shutting down")),
        "{out:?}"
    );
    assert!(
        out.iter()
            .any(|l| l == "[SERVER] moving to another server…"),
        "{out:?}"
    );
    assert!(
        !out.iter().any(|l| l.contains("lost connection")),
        "no loss on a graceful move: {out:?}"
    );
    assert!(out.last().unwrap().contains(&addr_b));
    assert_eq!(a.exit_code().await.unwrap(), 0);
    leo.close_stdin();
    assert_eq!(leo.exit_code().await.unwrap(), 0);
}

/// With every server gone the client says so and exits non-zero.
#[tokio::test]
async fn a_client_gives_up_when_no_server_is_left() {
    let (mut a, addr_a) = server().await;
    let mut leo = spawn(&[
        "client",
        &addr_a,
        "--name",
        "Leo",
        "--failover-timeout",
        "1",
    ]);
    leo.until("[JOIN] Leo joined the chat").await.unwrap();
    a.kill();
    let out = leo.rest().await.unwrap();
    assert!(
        out.iter()
            .any(|l| l.contains("lost connection") && l.contains("reconnecting")),
        "{out:?}"
    );
    assert!(out.iter().any(|l| l.contains("giving up")), "{out:?}");
    assert_eq!(leo.exit_code().await.unwrap(), 1);
}
