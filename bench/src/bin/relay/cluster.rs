//! Three servers in one private multicast group on loopback, so they find
//! each other and relay chat between them, with C clients joined to each.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail};
use chatty_bench::api::{Client, ClientError, ServerId};
use chatty_bench::server::start_loaded;
use chatty_harness::{loopback, Chatty, Server};
use tokio::time::{timeout_at, Instant as Deadline};

use crate::{Args, SERVERS};

/// A running cluster: three servers and their joined clients.
pub(crate) struct Cluster {
    /// Killed when dropped.
    pub(crate) servers: Vec<Server>,
    /// (name, server index, connection), server by server.
    pub(crate) clients: Vec<(String, usize, Client)>,
    pub(crate) server_ids: Vec<ServerId>,
}

/// Starts three servers in one private group on loopback, joins `per_server`
/// clients to each, and waits until every server lists every member.
pub(crate) async fn start_cluster(
    chatty: &Chatty,
    args: &Args,
    loss: f64,
    deadline: Deadline,
) -> anyhow::Result<Cluster> {
    let group = loopback::private_group()?;
    let loss = loss.to_string();
    let mut servers = Vec::with_capacity(SERVERS);
    for _ in 0..SERVERS {
        let extra = ["--inject-loss", &loss];
        servers.push(start_loaded(chatty, group, args.client_queue, &extra).await?);
    }
    let addrs: Vec<String> = servers.iter().map(|s| s.addr().to_string()).collect();
    let per_server = args.clients;
    let mut clients = Vec::with_capacity(SERVERS * per_server);
    for (server, addr) in addrs.iter().enumerate() {
        for j in 0..per_server {
            let name = format!("s{server}c{j}");
            let client = timeout_at(deadline, async {
                let mut client = Client::connect(addr).await?;
                client.join(&name).await?;
                Ok::<_, ClientError>(client)
            })
            .await
            .map_err(|_| anyhow!("{name}: setup timed out"))?
            .map_err(|err| anyhow!("{name}: {err}"))?;
            clients.push((name, server, client));
        }
    }
    let server_ids: Vec<ServerId> = (0..SERVERS)
        .map(|s| clients[s * per_server].2.server_id())
        .collect();
    let expected: Vec<(String, usize)> = clients.iter().map(|(n, s, _)| (n.clone(), *s)).collect();
    let synced = wait_for_members(&addrs, &expected, &server_ids, deadline).await?;
    eprintln!(
        "  {} clients joined; every server listed all of them {} ms after the last join",
        clients.len(),
        synced.as_millis()
    );
    Ok(Cluster {
        servers,
        clients,
        server_ids,
    })
}

/// Shows the first lines each server logged (RUST_LOG=warn: warnings and
/// errors) on stderr; returns how many lines they logged in all.
pub(crate) fn report_logs(servers: &[Server]) -> u64 {
    let mut total = 0;
    for (index, server) in servers.iter().enumerate() {
        let (lines, count) = server.stderr();
        for line in lines.iter().take(10) {
            eprintln!("  [server {index}] {line}");
        }
        total += count;
    }
    total
}

/// Waits until every server's status lists every member, each on its own
/// server: then the relay streams between all servers are established.
async fn wait_for_members(
    addrs: &[String],
    expected: &[(String, usize)],
    server_ids: &[ServerId],
    deadline: Deadline,
) -> anyhow::Result<Duration> {
    let started = Instant::now();
    let limit = deadline.min(tokio::time::Instant::now() + Duration::from_secs(20));
    let mut probes = Vec::with_capacity(addrs.len());
    for addr in addrs {
        let probe = timeout_at(limit, Client::connect(addr))
            .await
            .map_err(|_| anyhow!("status connection to {addr} timed out"))?
            .map_err(|err| anyhow!("status connection to {addr}: {err}"))?;
        probes.push(probe);
    }
    let mut lacking = String::new();
    loop {
        let mut all = true;
        for (i, probe) in probes.iter_mut().enumerate() {
            let report = timeout_at(limit, probe.status())
                .await
                .map_err(|_| anyhow!("status of server {i} timed out"))?
                .map_err(|err| anyhow!("status of server {i}: {err}"))?;
            let listed: HashMap<&str, ServerId> = report
                .members
                .iter()
                .map(|m| (m.name.as_str(), m.server))
                .collect();
            let missing = expected
                .iter()
                .filter(|(name, s)| listed.get(name.as_str()) != Some(&server_ids[*s]))
                .count();
            if missing > 0 {
                all = false;
                lacking = format!(
                    "server {i} lists {} servers and lacks {missing} of the {} members",
                    report.servers.len(),
                    expected.len()
                );
            }
        }
        if all {
            return Ok(started.elapsed());
        }
        if tokio::time::Instant::now() + Duration::from_millis(20) >= limit {
            bail!("the servers did not sync their members in time: {lacking}");
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
