//! The real `chatty client` on a terminal (a pseudo-terminal this test
//! opens): it stays live through failover — the loss is shown at once,
//! typed keys echo, a line typed meanwhile is shown pending and sent after
//! the rejoin — and when no server is left it gives the terminal back as
//! it found it, with no typed keys left over for the shell.
#![cfg(target_os = "linux")]

use crate::common;

use std::time::Duration;

use common::free_udp_port;
use common::proc::loopback_server;
use common::pty::Terminal;
use common::watcher::{wait_cluster, Watcher};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn typing_stays_live_through_failover() {
    // B declares A dead only 3 s after A's last heartbeat, and refuses
    // Leo's name until then: a failover window of seconds to type in.
    let slow = ["--suspect-ms", "1000", "--dead-ms", "3000"];
    let port = free_udp_port();
    let mut a = loopback_server(port, &slow).await;
    let addr_a = a.addr().to_string();
    let _b = loopback_server(port, &slow).await;
    let addr_b = _b.addr().to_string();
    wait_cluster(&[&addr_a, &addr_b]).await;
    let mut bob = Watcher::join(&addr_b, "Bob", "Leo").await;
    let mut term = Terminal::spawn(&[&addr_a, "--name", "Leo"]);
    term.wait_for("[JOIN] Leo joined the chat");
    bob.wait("Leo to join", |heard, _| !heard.is_empty()).await;

    a.kill();
    let noticed = term.wait_for(&format!(
        "[SERVER] lost connection to {addr_a}; reconnecting…"
    ));
    assert!(
        noticed < Duration::from_secs(2),
        "noticed after {noticed:?}"
    );
    // Keys echo while the client reconnects…
    term.type_keys("typed while away");
    term.wait_for("#lobby> typed while away");
    // …and Enter queues the line, shown as pending.
    term.type_keys("\r");
    term.wait_for("[PENDING] typed while away");
    assert!(
        !term.shows("[SERVER] reconnected"),
        "typed during the failover, not after it:\n{}",
        term.screen
    );
    term.wait_for(&format!("[SERVER] reconnected to {addr_b} as Leo"));
    term.wait_for("[Leo] typed while away");
    let heard = bob
        .wait("the line", |heard, _| {
            heard.iter().any(|l| l == "typed while away")
        })
        .await;
    assert_eq!(
        heard.iter().filter(|l| *l == "typed while away").count(),
        1,
        "{heard:?}"
    );
    term.type_keys("exit\r");
    assert_eq!(term.exit_code(), 0, "{}", term.screen);
    let restored = term.termios();
    assert_ne!(restored.c_lflag & libc::ICANON, 0, "line mode restored");
    assert_ne!(restored.c_lflag & libc::ECHO, 0, "echo restored");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_no_server_left_it_gives_up_and_gives_the_terminal_back() {
    let mut server = loopback_server(free_udp_port(), &[]).await;
    let addr = server.addr().to_string();
    let mut term = Terminal::spawn(&[&addr, "--name", "Leo", "--failover-timeout", "2"]);
    term.wait_for("[JOIN] Leo joined the chat");
    server.kill();
    term.wait_for("reconnecting…");
    term.type_keys("never sent\r");
    term.wait_for("[PENDING] never sent");
    // Keys typed without Enter echo too, and go nowhere after the exit.
    term.type_keys("half a line");
    term.wait_for("#lobby> half a line");
    term.wait_for("giving up; 1 typed line was not sent");
    assert_eq!(term.exit_code(), 1, "{}", term.screen);
    let restored = term.termios();
    assert_ne!(restored.c_lflag & libc::ICANON, 0, "line mode restored");
    assert_ne!(restored.c_lflag & libc::ECHO, 0, "echo restored");
    assert_eq!(
        String::from_utf8_lossy(&term.typeahead()),
        "",
        "nothing typed is left for the shell"
    );
}
