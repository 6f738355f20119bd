//! A virtual LAN to try Chatty's failure handling by hand.
//!
//! Every host is a Linux network namespace on a private bridge, running a
//! real `chatty server` (`chatty_harness::vlan`, shared with the tests and
//! the `vlan` benchmark). Crash, stop and restart servers, add loss and
//! duplication, split the LAN and heal it, and watch what every server
//! sees. Needs root, iproute2 and nftables.
//!
//! ```text
//! cargo build --release --bin chatty --example vlan
//! sudo target/release/examples/vlan --hosts 5    # then type `help`
//! ```
//!
//! Everything it created is removed when it exits, also on Ctrl-C.

use std::time::Duration;

use anyhow::{bail, Context};
use chatty_harness::vlan::{self, Lan};
use clap::Parser;
use tokio::io::{AsyncBufReadExt, BufReader};

/// A virtual LAN of network namespaces running chatty servers.
#[derive(Debug, Parser)]
struct Args {
    /// Hosts on the LAN.
    #[arg(long, default_value_t = 5)]
    hosts: usize,
    /// Extra flags for every server, e.g. "--dead-ms 2000".
    #[arg(long, allow_hyphen_values = true, default_value = "")]
    server_flags: String,
    /// Run the cluster over IPv6 (`--iface eth0`, group ff12::7877, a
    /// dual-stack listener); faults still act on IPv4 only.
    #[arg(long)]
    ipv6: bool,
}

const HELP: &str = "\
commands (HOST is a number from 0, or `all` where it makes sense):
  status [HOST]           every host's view, or one server's full status
  kill HOST               SIGKILL the server (a crash)
  stop HOST               SIGTERM the server (graceful shutdown)
  start HOST | restart HOST   start the server again (a new incarnation)
  loss HOST PERCENT       drop PERCENT of the host's packets, in and out
  dup HOST PERCENT        send PERCENT of the host's packets twice
  partition A,B C,D,E     split the LAN into groups that cannot talk
  heal                    end the partition (loss and dup stay)
  down HOST | up HOST     pull the host's cable / plug it back in
  faults                  each host's faults and nftables packet counters
  help | quit";

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    if let Some(reason) = vlan::unavailable() {
        bail!("the virtual LAN cannot run here: {reason}");
    }
    let bin = chatty_harness::binary::beside_current_exe()?;
    let runtime = tokio::runtime::Runtime::new()?;
    runtime.block_on(interactive(&bin, &args))
}

async fn interactive(bin: &std::path::Path, args: &Args) -> anyhow::Result<()> {
    let (hosts, flags) = (args.hosts, &args.server_flags);
    let mut lan = Lan::new(hosts, bin)?;
    if args.ipv6 {
        lan.use_ipv6();
    }
    lan.set_server_flags(&flags.split_whitespace().collect::<Vec<_>>());
    lan.start_all().await?;
    println!(
        "{hosts} hosts on 10.77.{}.0/24, group {}, server logs in {}",
        lan.net().subnet,
        if args.ipv6 {
            lan.group6().to_string()
        } else {
            lan.group().to_string()
        },
        lan.log_dir().display()
    );
    for i in 0..hosts {
        println!(
            "  host {i}: {}  namespace {}",
            lan.addr(i),
            lan.net().host(i)
        );
    }
    println!(
        "chat from another terminal: sudo ip netns exec {} {} client {} --name you",
        lan.net().host(0),
        bin.display(),
        lan.addr(0)
    );
    println!("type `help` for commands");
    let mut lines = BufReader::new(tokio::io::stdin()).lines();
    loop {
        let line = tokio::select! {
            line = lines.next_line() => line?,
            _ = tokio::signal::ctrl_c() => None,
        };
        let Some(line) = line else { break };
        let words: Vec<&str> = line.split_whitespace().collect();
        if matches!(words.first(), Some(&"quit") | Some(&"exit")) {
            break;
        }
        if let Err(err) = command(&mut lan, &words).await {
            println!("error: {err:#}");
        }
    }
    println!("removing the LAN");
    Ok(())
}

/// Runs one interactive command.
async fn command(lan: &mut Lan, words: &[&str]) -> anyhow::Result<()> {
    let number = |i: usize| -> anyhow::Result<u8> {
        words
            .get(i)
            .context("missing PERCENT")?
            .parse::<u8>()
            .ok()
            .filter(|&n| n <= 100)
            .context("PERCENT must be 0 to 100")
    };
    match words {
        [] => {}
        ["help"] => println!("{HELP}"),
        ["status"] => {
            for i in 0..lan.hosts() {
                println!("  host {i}: {}", summary(lan, i).await);
            }
        }
        ["status", host] => {
            let report = lan.status(host_number(lan, host)?).await?;
            print!("{}", chatty::client::status::to_table(&report));
        }
        ["kill", host] => {
            for i in hosts(lan, host)? {
                lan.kill(i);
            }
        }
        ["stop", host] => {
            for i in hosts(lan, host)? {
                let clean = lan.stop(i).await;
                let how = if clean { "exited cleanly" } else { "killed" };
                println!("  host {i}: {how}");
            }
        }
        ["start" | "restart", host] => {
            for i in hosts(lan, host)? {
                lan.start(i).await?;
            }
        }
        ["loss", host, _] => {
            let n = number(2)?;
            for i in hosts(lan, host)? {
                lan.set_loss(i, n)?;
            }
        }
        ["dup", host, _] => {
            let n = number(2)?;
            for i in hosts(lan, host)? {
                lan.set_dup(i, n)?;
            }
        }
        ["partition", groups @ ..] if groups.len() >= 2 => {
            let groups: Vec<Vec<usize>> = groups
                .iter()
                .map(|g| g.split(',').map(|h| host_number(lan, h)).collect())
                .collect::<anyhow::Result<_>>()?;
            let refs: Vec<&[usize]> = groups.iter().map(Vec::as_slice).collect();
            lan.partition(&refs)?;
        }
        ["heal"] => lan.heal()?,
        ["down" | "up", host] => {
            for i in hosts(lan, host)? {
                lan.set_link(i, words[0] == "up")?;
            }
        }
        ["faults"] => {
            for i in 0..lan.hosts() {
                let c = lan.fault_counters(i).unwrap_or_default();
                let f = lan.faults(i);
                println!(
                    "  host {i}: loss {} %, dup {} %, cut off from {:?}; packets lost {}, \
                     duplicated {}, dropped by the partition {}",
                    f.loss, f.dup, f.blocked, c.lost, c.duplicated, c.partitioned
                );
            }
        }
        _ => println!("unknown command; type `help`"),
    }
    Ok(())
}

/// One line about host `i`: its server's pid and what it sees.
async fn summary(lan: &mut Lan, i: usize) -> String {
    let Some(pid) = lan.pid(i).filter(|_| lan.is_running(i)) else {
        return "no server".into();
    };
    let status = tokio::time::timeout(Duration::from_secs(2), lan.status(i)).await;
    match status {
        Ok(Ok(report)) => format!(
            "pid {pid}, id {}, sees {} servers ({} suspect), {} members",
            report.id.short(),
            report.servers.len(),
            report
                .servers
                .iter()
                .filter(|s| s.state == "suspect")
                .count(),
            report.members.len()
        ),
        Ok(Err(err)) => format!("pid {pid}, status failed: {err}"),
        Err(_) => format!("pid {pid}, status timed out"),
    }
}

fn host_number(lan: &Lan, word: &str) -> anyhow::Result<usize> {
    word.parse::<usize>()
        .ok()
        .filter(|&i| i < lan.hosts())
        .with_context(|| format!("no host {word:?} (0 to {})", lan.hosts() - 1))
}

/// The host a command names, or every host for `all`.
fn hosts(lan: &Lan, word: &str) -> anyhow::Result<Vec<usize>> {
    if word == "all" {
        Ok((0..lan.hosts()).collect())
    } else {
        Ok(vec![host_number(lan, word)?])
    }
}
