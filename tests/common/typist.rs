//! A terminal client typing through a SIGKILL of its server: the scenario
//! of the tests of lines that survive a failover (tests/terminal/resend.rs
//! for room lines, tests/terminal/private_resend.rs for private ones).

use std::time::Duration;

use chatty::client::status;
use tokio::io::AsyncWriteExt;
use tokio::sync::watch;

use super::free_udp_port;
use super::proc::{drain, loopback_server, spawn};
use super::watcher::{wait_cluster, wait_member, Watcher, CONVERSATION};

/// What the scenario's people saw.
pub struct Typed {
    /// What Bob, on B, heard from Leo (his joins left out).
    pub bob: Vec<String>,
    /// What Cat, on C, heard from Leo.
    pub cat: Vec<String>,
    /// Leo's output.
    pub leo: Vec<String>,
}

/// Three servers; Bob on B and Cat on C listen to Leo, a terminal client on
/// A who types `line(n)` for n in 1..=`lines`, one every 50 ms (twice the
/// default rate limit, so he also paces), then `exit`; A is SIGKILLed
/// after `kill_after` lines. Waits until Leo has left and exited, and
/// checks what every such run must show: Leo exited 0, reconnected, showed
/// no error, and resent lines were recognised (by the survivor he moved to,
/// which relayed them once more, and by the relay at the other survivor,
/// which had them from A).
pub async fn type_through_a_kill(
    lines: usize,
    kill_after: usize,
    line: impl Fn(usize) -> String + Send + 'static,
) -> Typed {
    let port = free_udp_port();
    let mut a = loopback_server(port, &[]).await;
    let b = loopback_server(port, &[]).await;
    let c = loopback_server(port, &[]).await;
    let [addr_a, addr_b, addr_c] = [&a, &b, &c].map(|s| s.addr().to_string());
    wait_cluster(&[&addr_a, &addr_b, &addr_c]).await;
    let mut bob = Watcher::join(&addr_b, "Bob", "Leo").await;
    let mut cat = Watcher::join(&addr_c, "Cat", "Leo").await;
    // A settled cluster: every server follows the others' streams (and,
    // once Leo's join reaches them, A's) before anything is said.
    for (addr, name) in [
        (&addr_c, "Bob"),
        (&addr_b, "Cat"),
        (&addr_a, "Bob"),
        (&addr_a, "Cat"),
    ] {
        wait_member(addr, name).await;
    }
    let mut leo = spawn(&["client", &addr_a, "--name", "Leo"]);
    leo.until("[JOIN] Leo joined the chat").await.unwrap();
    for watcher in [&mut bob, &mut cat] {
        watcher
            .wait("Leo to join", |l, _| {
                l.first().is_some_and(|j| j == "<joined>")
            })
            .await;
    }
    let mut stdin = leo.take_stdin().expect("piped stdin");
    let (written_tx, mut written) = watch::channel(0usize);
    let typist = tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_millis(50));
        for n in 1..=lines {
            tick.tick().await;
            let typed = line(n) + "\n";
            stdin.write_all(typed.as_bytes()).await.unwrap();
            stdin.flush().await.unwrap();
            let _ = written_tx.send(n);
        }
        stdin.write_all(b"exit\n").await.unwrap();
        stdin.flush().await.unwrap();
        stdin // closed when dropped by the test
    });
    tokio::time::timeout(CONVERSATION, written.wait_for(|n| *n >= kill_after))
        .await
        .expect("typing")
        .unwrap();
    a.kill();
    let out = drain(leo);
    let mut heard = Vec::new();
    for watcher in [&mut bob, &mut cat] {
        // Leo's leave comes after his last line in his server's stream.
        let all = watcher.wait("Leo to leave", |_, left| left).await;
        heard.push(all.into_iter().filter(|l| l != "<joined>").collect());
    }
    let _stdin = typist.await.unwrap();
    let (leo, code) = out.await.unwrap();
    assert_eq!(code, 0, "{leo:?}");
    let lost = format!("[SERVER] lost connection to {addr_a}; reconnecting…");
    assert!(leo.contains(&lost), "{leo:?}");
    assert!(
        leo.iter()
            .any(|l| l.starts_with("[SERVER] reconnected to ")),
        "{leo:?}"
    );
    assert!(!leo.iter().any(|l| l.starts_with("[ERROR]")), "{leo:?}");
    let mut counters = Vec::new();
    for addr in [&addr_b, &addr_c] {
        let report = status::fetch(addr).await.expect("status");
        counters.push((
            report.counters["duplicate_sends"],
            report.counters["duplicate_relayed"],
        ));
    }
    eprintln!("(duplicate_sends, duplicate_relayed) on B and C: {counters:?}");
    assert!(counters.iter().any(|c| c.0 > 0), "{counters:?}");
    assert!(counters.iter().any(|c| c.1 > 0), "{counters:?}");
    let cat = heard.pop().unwrap();
    let bob = heard.pop().unwrap();
    Typed { bob, cat, leo }
}
