//! A virtual LAN for fault tests: every server on a host of its own.
//!
//! [`Lan::new`] builds N hosts as Linux network namespaces, joined by veth
//! pairs to a bridge in a "switch" namespace, on a private /24 with no route
//! anywhere else ([`netns`]). It runs the real `chatty server` on each host
//! ([`server`]), injects loss, duplication and partitions with nftables
//! ([`faults`]), counts what each host sends ([`meter`]), and opens client
//! connections from inside a host ([`connect`]). Everything is removed when the `Lan` is dropped, which
//! also happens when a test panics; namespaces left by a killed run are
//! removed by the next one.
//!
//! Needs root, `ip` (iproute2) and `nft` (nftables). Tests call
//! [`available`] first and skip, saying why, where these are missing.
//!
//! `tests/vlan/`, the interactive `examples/vlan.rs` and the `vlan`
//! benchmark share this one implementation.

pub mod connect;
pub mod faults;
pub mod meter;
pub mod netns;

use std::future::Future;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4};
use std::path::PathBuf;
use std::sync::OnceLock;
use std::time::Duration;

use anyhow::Context;

use crate::api::{Client, ClientError, ServerId, StatusReport};
use crate::{Chatty, Server, Stderr};

pub use faults::Faults;
pub use netns::Network;

/// Port every server listens on for clients (each host has its own address).
pub const CLIENT_PORT: u16 = 7878;

/// How long a server may take to exit after SIGTERM ([`Lan::stop`]).
const STOP_LIMIT: Duration = Duration::from_secs(10);

/// Why the harness cannot run here, or `None` if it can. Checked once.
pub fn unavailable() -> Option<String> {
    static REASON: OnceLock<Option<String>> = OnceLock::new();
    REASON
        .get_or_init(|| {
            // SAFETY: geteuid(2) cannot fail and touches no memory.
            if unsafe { libc::geteuid() } != 0 {
                return Some("network namespaces need root".into());
            }
            for tool in ["ip", "nft"] {
                let found = std::process::Command::new(tool)
                    .arg("-V")
                    .output()
                    .is_ok_and(|out| out.status.success());
                if !found {
                    return Some(format!(
                        "`{tool}` is missing (install iproute2 and nftables)"
                    ));
                }
            }
            let probe = format!("{}{}-probe", netns::PREFIX, std::process::id());
            if let Err(err) = netns::ip(&["netns", "add", &probe]) {
                return Some(format!("cannot create a network namespace: {err:#}"));
            }
            // Everything a LAN needs, once, in the probe namespace: a
            // bridge, a veth pair, and every kind of fault rule.
            let works = netns::ip(&["-n", &probe, "link", "add", "br0", "type", "bridge"])
                .and_then(|()| {
                    netns::ip(&[
                        "-n", &probe, "link", "add", "eth0", "type", "veth", "peer", "name", "p0",
                    ])
                })
                .and_then(|()| {
                    Faults {
                        loss: 1,
                        dup: 1,
                        blocked: vec![Ipv4Addr::new(10, 77, 0, 1)],
                    }
                    .apply(&probe)
                });
            let _ = netns::ip(&["netns", "del", &probe]);
            if let Err(err) = works {
                return Some(format!("the kernel lacks what the LAN needs: {err:#}"));
            }
            None
        })
        .clone()
}

/// Whether the harness can run; if not, prints `SKIPPED: <reason>` to
/// stderr for `test`, which should then return (and pass).
pub fn available(test: &str) -> bool {
    match unavailable() {
        None => true,
        Some(reason) => {
            // Straight to the stderr handle, not `eprintln!`: the test
            // harness captures the macros' output of passing tests, and a
            // skip must be seen.
            use std::io::Write;
            let _ = writeln!(std::io::stderr(), "SKIPPED: {test}: {reason}");
            false
        }
    }
}

/// N hosts on a bridge, each able to run a `chatty server`.
pub struct Lan {
    // Fields drop in order: servers go before their namespaces.
    servers: Vec<Option<Server>>,
    faults: Vec<Faults>,
    net: Network,
    bin: PathBuf,
    group: SocketAddrV4,
    logs: PathBuf,
    server_flags: Vec<String>,
    /// Servers discover each other over IPv6 multicast ([`Lan::use_ipv6`]).
    ipv6: bool,
}

impl Lan {
    /// Builds the network for `hosts` hosts, with no servers yet. `bin` is
    /// the `chatty` binary.
    pub fn new(hosts: usize, bin: impl Into<PathBuf>) -> anyhow::Result<Lan> {
        let net = Network::create(hosts)?;
        let logs = std::env::temp_dir().join(&net.name);
        std::fs::create_dir_all(&logs).context("log directory")?;
        // The LAN is sealed off, so any group would do; a port of the run's
        // own keeps logs and packet captures of different runs apart.
        let group = SocketAddrV4::new(
            Ipv4Addr::new(239, 255, 77, 77),
            17000 + u16::from(net.subnet),
        );
        Ok(Lan {
            servers: (0..hosts).map(|_| None).collect(),
            faults: vec![Faults::default(); hosts],
            net,
            bin: bin.into(),
            group,
            logs,
            server_flags: Vec::new(),
            ipv6: false,
        })
    }

    /// Servers started from now on run the cluster over IPv6: `--iface
    /// eth0` (by name), an IPv6 group of link-local scope (ff12::), and a
    /// client listener on `[::]` that takes IPv4 and IPv6 clients; each
    /// announces its IPv6 address ([`Lan::addr`]).
    pub fn use_ipv6(&mut self) {
        self.ipv6 = true;
    }

    /// The IPv6 group the servers use after [`Lan::use_ipv6`].
    pub fn group6(&self) -> SocketAddr {
        let group = Ipv6Addr::new(0xff12, 0, 0, 0, 0, 0, 0, 0x7877);
        SocketAddr::new(IpAddr::V6(group), self.group.port())
    }

    /// Extra flags for every server started from now on.
    pub fn set_server_flags(&mut self, flags: &[&str]) {
        self.server_flags = flags.iter().map(|f| f.to_string()).collect();
    }

    /// How many hosts.
    pub fn hosts(&self) -> usize {
        self.net.hosts()
    }

    /// The network (namespace names, addresses).
    pub fn net(&self) -> &Network {
        &self.net
    }

    /// The multicast group the servers use.
    pub fn group(&self) -> SocketAddrV4 {
        self.group
    }

    /// Where server logs go (`h<i>.log`). Removed with the LAN, unless a
    /// test panicked or `VLAN_KEEP_LOGS` is set.
    pub fn log_dir(&self) -> &std::path::Path {
        &self.logs
    }

    /// Host `i`'s server address (whether or not it runs): IPv6 after
    /// [`Lan::use_ipv6`], else IPv4.
    pub fn addr(&self, i: usize) -> SocketAddr {
        if self.ipv6 {
            SocketAddr::from((self.net.ip6(i), CLIENT_PORT))
        } else {
            self.addr4(i)
        }
    }

    /// Host `i`'s server address over IPv4 (also served after
    /// [`Lan::use_ipv6`], on the dual-stack listener).
    pub fn addr4(&self, i: usize) -> SocketAddr {
        SocketAddr::from((self.net.ip(i), CLIENT_PORT))
    }

    /// `chatty` run inside host `i`'s namespace (`ip netns exec` execs it,
    /// so signals reach it directly), e.g. a terminal client.
    pub fn chatty_in(&self, i: usize) -> Chatty {
        Chatty::new(&self.bin).through(["ip", "netns", "exec", &self.net.host(i)])
    }

    /// Starts the server on host `i` (killing a running one first). Its
    /// stderr goes to `h<i>.log` in [`Lan::log_dir`], at `RUST_LOG` or info.
    pub async fn start(&mut self, i: usize) -> anyhow::Result<()> {
        self.kill(i);
        let log = self.logs.join(format!("h{i}.log"));
        let (iface, listen, group) = if self.ipv6 {
            let any = SocketAddr::from((Ipv6Addr::UNSPECIFIED, CLIENT_PORT));
            ("eth0".to_string(), any, self.group6().to_string())
        } else {
            (
                self.net.ip(i).to_string(),
                self.addr(i),
                self.group.to_string(),
            )
        };
        let server = self
            .chatty_in(i)
            .env(
                "RUST_LOG",
                std::env::var("RUST_LOG").unwrap_or("info".into()),
            )
            .stderr(Stderr::File(log))
            .server(
                ["--iface".to_string(), iface]
                    .into_iter()
                    .chain(["--listen".into(), listen.to_string()])
                    .chain(["--group".into(), group])
                    .chain(self.server_flags.iter().cloned()),
            )
            .await
            .with_context(|| format!("server on host {i}"))?;
        anyhow::ensure!(
            server.addr() == listen,
            "host {i}'s server listens on {}, not {listen}",
            server.addr()
        );
        self.servers[i] = Some(server);
        Ok(())
    }

    /// Starts a server on every host, one after another.
    pub async fn start_all(&mut self) -> anyhow::Result<()> {
        for i in 0..self.hosts() {
            self.start(i).await?;
        }
        Ok(())
    }

    /// Whether host `i`'s server is running.
    pub fn is_running(&mut self, i: usize) -> bool {
        self.servers[i].as_mut().is_some_and(|s| s.is_running())
    }

    /// The pid of host `i`'s server.
    pub fn pid(&self, i: usize) -> Option<u32> {
        self.servers[i].as_ref().map(|s| s.pid())
    }

    /// SIGKILLs host `i`'s server, if running; returns once it is gone.
    pub fn kill(&mut self, i: usize) {
        if let Some(mut server) = self.servers[i].take() {
            server.kill();
        }
    }

    /// SIGTERMs host `i`'s server and waits (up to 10 s) for it to exit.
    /// Returns whether it exited cleanly.
    pub async fn stop(&mut self, i: usize) -> bool {
        let Some(mut server) = self.servers[i].take() else {
            return false;
        };
        server
            .terminate(STOP_LIMIT)
            .await
            .is_ok_and(|status| status.success())
    }

    /// Host `i` loses `percent` of its packets, in and out.
    pub fn set_loss(&mut self, i: usize, percent: u8) -> anyhow::Result<()> {
        self.faults[i].loss = percent;
        self.apply(i)
    }

    /// Host `i` sends `percent` of its packets twice.
    pub fn set_dup(&mut self, i: usize, percent: u8) -> anyhow::Result<()> {
        self.faults[i].dup = percent;
        self.apply(i)
    }

    /// Splits the LAN: hosts in different groups cannot reach each other.
    /// Hosts in no group keep talking to everyone.
    pub fn partition(&mut self, groups: &[&[usize]]) -> anyhow::Result<()> {
        for (g, group) in groups.iter().enumerate() {
            let others: Vec<Ipv4Addr> = groups
                .iter()
                .enumerate()
                .filter(|&(o, _)| o != g)
                .flat_map(|(_, hosts)| hosts.iter().map(|&h| self.net.ip(h)))
                .collect();
            for &i in group.iter() {
                self.faults[i].blocked = others.clone();
                self.apply(i)?;
            }
        }
        Ok(())
    }

    /// Ends every partition (loss and duplication stay).
    pub fn heal(&mut self) -> anyhow::Result<()> {
        for i in 0..self.hosts() {
            if !self.faults[i].blocked.is_empty() {
                self.faults[i].blocked.clear();
                self.apply(i)?;
            }
        }
        Ok(())
    }

    /// Pulls host `i`'s cable (`up == false`) or plugs it back in.
    pub fn set_link(&mut self, i: usize, up: bool) -> anyhow::Result<()> {
        self.net.set_link(i, up)
    }

    /// Host `i`'s current faults.
    pub fn faults(&self, i: usize) -> &Faults {
        &self.faults[i]
    }

    /// What host `i`'s fault rules have done so far.
    pub fn fault_counters(&self, i: usize) -> anyhow::Result<faults::Counters> {
        Ok(faults::counters(&faults::list(&self.net.host(i))?))
    }

    fn apply(&self, i: usize) -> anyhow::Result<()> {
        self.faults[i].apply(&self.net.host(i))
    }

    /// A client on host `from`, connected to host `to`'s server.
    pub async fn client(&self, from: usize, to: usize) -> Result<Client, ClientError> {
        connect::client_in(self.net.host_path(from), self.addr(to)).await
    }

    /// A client on host `from`, connected to `addr`.
    pub async fn client_at(&self, from: usize, addr: SocketAddr) -> Result<Client, ClientError> {
        connect::client_in(self.net.host_path(from), addr).await
    }

    /// Host `i`'s server's status, asked from host `i`.
    pub async fn status(&self, i: usize) -> Result<StatusReport, ClientError> {
        let mut client = self.client(i, i).await?;
        let report = client.status().await;
        drop(client); // closing without `leave`: no need to wait for the server
        report
    }

    /// The server ids host `i`'s server lists (itself included), sorted.
    pub async fn servers_seen_by(&self, i: usize) -> Result<Vec<ServerId>, ClientError> {
        Ok(sorted_ids(&self.status(i).await?))
    }
}

impl Drop for Lan {
    fn drop(&mut self) {
        for i in 0..self.servers.len() {
            self.kill(i);
        }
        if std::thread::panicking() || std::env::var_os("VLAN_KEEP_LOGS").is_some() {
            eprintln!("vlan: server logs kept in {}", self.logs.display());
        } else {
            let _ = std::fs::remove_dir_all(&self.logs);
        }
    }
}

/// The ids in a status report's server list, sorted.
pub fn sorted_ids(report: &StatusReport) -> Vec<ServerId> {
    let mut ids: Vec<ServerId> = report.servers.iter().map(|s| s.id).collect();
    ids.sort();
    ids
}

/// Polls `check` every 50 ms until it returns `Ok`, or panics after `limit`
/// with `what` and the last `Err` it gave.
pub async fn eventually<T, F, Fut>(what: &str, limit: Duration, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, String>>,
{
    let deadline = tokio::time::Instant::now() + limit;
    loop {
        let last = match tokio::time::timeout_at(deadline, check()).await {
            Ok(Ok(value)) => return value,
            Ok(Err(why)) => why,
            Err(_) => "the check itself did not finish".into(),
        };
        if tokio::time::Instant::now() >= deadline {
            panic!("timed out after {limit:?} waiting for {what}: {last}");
        }
        tokio::time::sleep(Duration::from_millis(50)).await; // poll, bounded by the deadline
    }
}
