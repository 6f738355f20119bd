//! A terminal client typing through a SIGKILL or a SIGSTOP of its server:
//! the scenario of the tests of lines that survive a failover
//! (tests/terminal/resend.rs for room lines, tests/terminal/private_resend.rs
//! for private ones).

use std::time::Duration;

use chatty::client::status;
use tokio::io::AsyncWriteExt;
use tokio::sync::watch;

use super::free_udp_port;
use super::proc::{drain, loopback_server, spawn, Signal};
use super::watcher::{wait_cluster, wait_member, Watcher, CONVERSATION};

/// Types `line(n)` for n in 1..=`lines` into a terminal client's `stdin`,
/// one every 50 ms (twice the default rate limit, so the client also
/// paces), then `exit`. The task hands stdin back (closed when dropped);
/// the watch counts the lines written.
pub fn type_lines(
    mut stdin: tokio::process::ChildStdin,
    lines: usize,
    line: impl Fn(usize) -> String + Send + 'static,
) -> (
    tokio::task::JoinHandle<tokio::process::ChildStdin>,
    watch::Receiver<usize>,
) {
    let (written_tx, written) = watch::channel(0usize);
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
        stdin
    });
    (typist, written)
}

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
    type_through(Fault::Kill, lines, kill_after, line).await
}

/// As [`type_through_a_kill`], but A is frozen (SIGSTOP) instead: Leo's
/// client hears nothing for three keepalive intervals (the servers ping
/// every second), gives A up and rejoins B or C, which have declared A
/// dead. Once Bob has seen Leo join again, A goes on (SIGCONT) and reads
/// what Leo had sent it meanwhile, lines Leo has sent again through the
/// survivor, then the end of Leo's old connection. It must neither show
/// them twice nor take Leo's name from him. Also checks that every server,
/// A included, then lists Leo once and on the same server.
pub async fn type_through_a_freeze(
    lines: usize,
    freeze_after: usize,
    line: impl Fn(usize) -> String + Send + 'static,
) -> Typed {
    type_through(Fault::Freeze, lines, freeze_after, line).await
}

/// What happens to Leo's server.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Fault {
    Kill,
    Freeze,
}

async fn type_through(
    fault: Fault,
    lines: usize,
    kill_after: usize,
    line: impl Fn(usize) -> String + Send + 'static,
) -> Typed {
    let port = free_udp_port();
    // Frozen, A sends no pings: Leo notices after three missed intervals.
    let flags: &[&str] = match fault {
        Fault::Kill => &[],
        Fault::Freeze => &["--keepalive", "1"],
    };
    let mut a = loopback_server(port, flags).await;
    let b = loopback_server(port, flags).await;
    let c = loopback_server(port, flags).await;
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
    let stdin = leo.take_stdin().expect("piped stdin");
    let (typist, mut written) = type_lines(stdin, lines, line);
    tokio::time::timeout(CONVERSATION, written.wait_for(|n| *n >= kill_after))
        .await
        .expect("typing")
        .unwrap();
    match fault {
        Fault::Kill => a.kill(),
        Fault::Freeze => {
            a.signal(Signal::Stop).expect("SIGSTOP");
            bob.wait("Leo to join again, elsewhere", |l, _| {
                l.iter().filter(|l| *l == "<joined>").count() == 2
            })
            .await;
            a.signal(Signal::Cont).expect("SIGCONT");
            one_leo_everywhere(&[&addr_a, &addr_b, &addr_c]).await;
        }
    }
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
    if fault == Fault::Kill {
        // A frozen A may not have taken (and relayed) Leo's last lines
        // before it stopped: then nothing is known twice.
        assert!(counters.iter().any(|c| c.0 > 0), "{counters:?}");
        assert!(counters.iter().any(|c| c.1 > 0), "{counters:?}");
    }
    let cat = heard.pop().unwrap();
    let bob = heard.pop().unwrap();
    Typed { bob, cat, leo }
}

/// Waits until every server at `addrs` lists Leo exactly once, and all on
/// the same server: the woken server gave up its old Leo and nobody shows
/// two.
async fn one_leo_everywhere(addrs: &[&String]) {
    let deadline = tokio::time::Instant::now() + CONVERSATION;
    loop {
        let mut homes = Vec::new();
        for addr in addrs {
            let report = status::fetch(addr).await.expect("status");
            let leos: Vec<_> = report.members.iter().filter(|m| m.name == "Leo").collect();
            homes.push(match leos.as_slice() {
                [one] => Some(one.server),
                _ => None,
            });
        }
        if homes.iter().all(|h| h.is_some() && *h == homes[0]) {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the servers never agreed on one Leo: {homes:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await; // poll, bounded by the deadline
    }
}
