//! The real `chatty` binary for these tests, through the launcher the tests,
//! examples and benchmarks share (`chatty-harness`). Only integration tests
//! are told by Cargo where the binary is, so that part lives here.

use std::net::SocketAddrV4;

// Each test crate uses some of these.
#[allow(unused_imports)]
pub use chatty_harness::{Chatty, Process, Server, Signal, DEFAULT_DEADLINE as DEADLINE};

/// The `chatty` binary Cargo built for these tests, with `RUST_LOG=warn`.
pub fn chatty() -> Chatty {
    Chatty::new(env!("CARGO_BIN_EXE_chatty"))
}

/// `chatty server` on a free loopback port, its multicast on loopback in
/// the group on `group_port`, plus `extra` flags.
pub async fn loopback_server(group_port: u16, extra: &[&str]) -> Server {
    let group = SocketAddrV4::new(chatty_harness::loopback::GROUP_IP, group_port);
    chatty()
        .loopback_server(group, extra)
        .await
        .expect("start chatty server")
}

/// `chatty ARGS` started with piped stdin and stdout.
pub fn spawn(args: &[&str]) -> Process {
    chatty().spawn(args).expect("start chatty")
}

/// A terminal client (`chatty client`, piped) on `addr`, joined as `name`.
pub async fn person(addr: &str, name: &str) -> Process {
    let mut p = spawn(&["client", addr, "--name", name]);
    let greeting = format!(" as {name}; ");
    p.until_match("the greeting", |l| {
        l.starts_with("[SERVER] connected to") && l.contains(&greeting)
    })
    .await
    .expect("connected");
    p
}

/// Reads the rest of `proc`'s output in the background: its lines, and
/// its exit status.
pub fn drain(mut proc: Process) -> tokio::task::JoinHandle<(Vec<String>, i32)> {
    tokio::spawn(async move {
        let mut lines = Vec::new();
        while let Ok(Some(line)) = proc.next_line().await {
            lines.push(line);
        }
        (lines, proc.exit_code().await.expect("the client exits"))
    })
}

/// Reads `p` until `want`, adding everything read to `seen`.
pub async fn sees(p: &mut Process, seen: &mut Vec<String>, want: &str) {
    let lines = p
        .until(want)
        .await
        .unwrap_or_else(|e| panic!("never saw {want:?} (after {seen:?}): {e:#}"));
    seen.extend(lines);
}

/// Reads `p` until a line contains `what`; returns that line. Panics at
/// the deadline or at the end of output.
pub async fn line_with(p: &mut Process, what: &str) -> String {
    let lines = p
        .until_match(what, |l| l.contains(what))
        .await
        .unwrap_or_else(|e| panic!("{e:#}"));
    lines.last().unwrap().clone()
}

/// After `p`'s `/join ROOM`: waits until `p` shows `name` in `room` too,
/// in the room's member list (`[ROOM] #dev has 2 members: Cleo, Iris`) or,
/// when `name`'s entry reached `p`'s server only after `p`'s own, as a
/// join (`[#dev] [JOIN] Iris joined`). Panics at the deadline.
pub async fn sees_member(p: &mut Process, room: &str, name: &str) {
    let listed = format!("[ROOM] {room} has ");
    let joined = format!("[{room}] [JOIN] {name} joined");
    p.until_match(&format!("{name} in {room}"), |l| {
        l == joined
            || (l.starts_with(&listed)
                && l.split_once(": ")
                    .is_some_and(|(_, names)| names.split(", ").any(|n| n == name)))
    })
    .await
    .unwrap_or_else(|e| panic!("{e:#}"));
}

/// What the real-IRC-client tests start from: two real servers of one
/// loopback cluster, the first with its IRC gateway (`a.test`), whose IRC
/// address comes second, and Cleo, a terminal client on the other server,
/// in the chat before any IRC user comes (so she sees them join). The
/// servers stop when the first value is dropped.
pub async fn irc_cluster() -> ([Server; 2], std::net::SocketAddr, Process) {
    let group = super::free_udp_port();
    let mut a = loopback_server(group, &["--irc", "127.0.0.1:0", "--irc-name", "a.test"]).await;
    let irc = a.wait_listener("irc").await.expect("irc listening on");
    let b = loopback_server(group, &[]).await;
    let cleo = person(&b.addr().to_string(), "Cleo").await;
    ([a, b], irc, cleo)
}
