//! A server under benchmark load, on loopback.

use std::net::SocketAddrV4;

use chatty_harness::{Chatty, Server};

/// Starts a server on loopback in `group` for the load generator to flood:
/// no flood limit, no per-address cap (every simulated client comes from
/// 127.0.0.1), `client_queue` frames of queue per client, plus `extra`
/// flags.
pub async fn start_loaded(
    chatty: &Chatty,
    group: SocketAddrV4,
    client_queue: usize,
    extra: &[&str],
) -> anyhow::Result<Server> {
    let queue = client_queue.to_string();
    let load = [
        "--rate-limit",
        "0",
        "--max-per-ip",
        "0",
        "--client-queue",
        &queue,
    ];
    chatty
        .loopback_server(group, &[&load, extra].concat())
        .await
}
