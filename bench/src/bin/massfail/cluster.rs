//! The three servers of one run: started on loopback in a private
//! multicast group, found by each other, and one of them SIGKILLed.

use std::time::Duration;

use anyhow::bail;
use tokio::time::Instant;

use chatty_bench::api::status;
use chatty_harness::{loopback, Chatty, Server};

/// How long the servers may take to list each other.
const DISCOVERY: Duration = Duration::from_secs(15);

/// Starts `count` servers for `members` clients in all: no flood limit, no
/// per-address cap (every client comes from 127.0.0.1), no history replay
/// on join (a `rejoin` replays the store regardless), the default 1,024-frame
/// client queue unless `extra` flags say otherwise; waits until each lists
/// all of them.
pub async fn start(
    chatty: &Chatty,
    count: usize,
    members: usize,
    extra: &[String],
) -> anyhow::Result<Vec<Server>> {
    let group = loopback::private_group()?;
    let cap = (members + 1000).to_string();
    let mut flags = vec![
        "--rate-limit",
        "0",
        "--max-per-ip",
        "0",
        "--history",
        "0",
        "--max-connections",
        &cap,
    ];
    flags.extend(extra.iter().map(String::as_str));
    let mut servers = Vec::new();
    for _ in 0..count {
        servers.push(chatty.loopback_server(group, &flags).await?);
    }
    let deadline = Instant::now() + DISCOVERY;
    for server in &servers {
        let addr = server.addr().to_string();
        while status::fetch(&addr).await?.servers.len() < count {
            if Instant::now() > deadline {
                bail!("the servers did not find each other within {DISCOVERY:?}");
            }
            tokio::time::sleep(Duration::from_millis(20)).await; // bounded by the deadline
        }
    }
    Ok(servers)
}
