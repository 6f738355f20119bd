//! The namespaces and links of one virtual LAN.
//!
//! Layout: a "switch" namespace holding a bridge `br0`, and one namespace per
//! host, each joined to the bridge by a veth pair (`p<i>` on the switch side,
//! `eth0` on the host side). Interface names only have to be unique inside
//! their namespace, so they stay short; the run's unique prefix lives in the
//! namespace names. The root namespace is never touched: no interface, no
//! address, no route is added there, so nothing a test sends can leave.
//!
//! Namespace names are `cvl-<pid>-<run>-sw` and `cvl-<pid>-<run>-h<i>`. The
//! pid lets a later run remove what a killed run left behind.

use std::net::{Ipv4Addr, Ipv6Addr};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};

use anyhow::{bail, Context};

/// Every namespace this harness creates starts with this.
pub const PREFIX: &str = "cvl-";

/// Where `ip netns` keeps its named namespaces.
pub const NETNS_DIR: &str = "/var/run/netns";

/// The namespaces of one LAN; deleted on drop.
#[derive(Debug)]
pub struct Network {
    /// `cvl-<pid>-<run>`.
    pub name: String,
    /// The third octet of the subnet `10.77.<subnet>.0/24`.
    pub subnet: u8,
    hosts: usize,
    created: Vec<String>,
}

impl Network {
    /// Creates the switch and `hosts` hosts, addressed `10.77.<subnet>.<i+1>/24`
    /// and `fd77:<subnet>::<i+1>/64` (a unique local IPv6 address; every
    /// host also has its link-local one).
    pub fn create(hosts: usize) -> anyhow::Result<Network> {
        assert!((1..=200).contains(&hosts), "1 to 200 hosts");
        remove_stale();
        static RUN: AtomicU32 = AtomicU32::new(0);
        let run = RUN.fetch_add(1, Ordering::Relaxed);
        let pid = std::process::id();
        let mut net = Network {
            name: format!("{PREFIX}{pid}-{run}"),
            // Subnets need not be unique (every LAN is sealed off), only
            // distinct enough to tell runs apart in logs.
            subnet: ((pid.wrapping_mul(7) + run) % 250) as u8 + 1,
            hosts,
            created: Vec::new(),
        };
        let sw = net.switch();
        net.add_namespace(&sw)?;
        ip(&["-n", &sw, "link", "add", "br0", "type", "bridge"])?;
        ip(&["-n", &sw, "link", "set", "br0", "up"])?;
        for i in 0..hosts {
            let host = net.host(i);
            net.add_namespace(&host)?;
            let port = format!("p{i}");
            ip(&[
                "-n", &sw, "link", "add", &port, "type", "veth", "peer", "name", "eth0", "netns",
                &host,
            ])?;
            ip(&["-n", &sw, "link", "set", &port, "master", "br0", "up"])?;
            let cidr = format!("{}/24", net.ip(i));
            ip(&["-n", &host, "addr", "add", &cidr, "dev", "eth0"])?;
            // nodad: usable at once, without duplicate address detection's
            // second of waiting (the LAN is ours; nothing can clash).
            let cidr6 = format!("{}/64", net.ip6(i));
            ip(&["-n", &host, "addr", "add", &cidr6, "dev", "eth0", "nodad"])?;
            ip(&["-n", &host, "link", "set", "eth0", "up"])?;
        }
        Ok(net)
    }

    fn add_namespace(&mut self, name: &str) -> anyhow::Result<()> {
        ip(&["netns", "add", name])?;
        self.created.push(name.to_string());
        ip(&["-n", name, "link", "set", "lo", "up"])
    }

    /// How many hosts.
    pub fn hosts(&self) -> usize {
        self.hosts
    }

    /// The switch namespace's name.
    pub fn switch(&self) -> String {
        format!("{}-sw", self.name)
    }

    /// Host `i`'s namespace name.
    pub fn host(&self, i: usize) -> String {
        format!("{}-h{i}", self.name)
    }

    /// Host `i`'s namespace file, for `setns`.
    pub fn host_path(&self, i: usize) -> PathBuf {
        PathBuf::from(NETNS_DIR).join(self.host(i))
    }

    /// Host `i`'s address.
    pub fn ip(&self, i: usize) -> Ipv4Addr {
        Ipv4Addr::new(10, 77, self.subnet, i as u8 + 1)
    }

    /// Host `i`'s IPv6 address (unique local, on the LAN only).
    pub fn ip6(&self, i: usize) -> Ipv6Addr {
        Ipv6Addr::new(0xfd77, u16::from(self.subnet), 0, 0, 0, 0, 0, i as u16 + 1)
    }

    /// Takes host `i`'s link down or up (a pulled cable).
    pub fn set_link(&self, i: usize, up: bool) -> anyhow::Result<()> {
        let state = if up { "up" } else { "down" };
        ip(&["-n", &self.host(i), "link", "set", "eth0", state])
    }
}

impl Drop for Network {
    fn drop(&mut self) {
        // Deleting a namespace deletes the veth ends inside it, and with
        // them their peers.
        for name in self.created.drain(..).rev() {
            delete_namespace(&name);
        }
    }
}

/// Runs `ip ARGS`, failing with its stderr.
pub fn ip(args: &[&str]) -> anyhow::Result<()> {
    run("ip", args, None)
}

/// Runs `program ARGS` with `stdin`, failing with its stderr.
pub fn run(program: &str, args: &[&str], stdin: Option<&str>) -> anyhow::Result<()> {
    use std::io::Write;
    let mut child = Command::new(program)
        .args(args)
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .with_context(|| format!("cannot run {program}"))?;
    if let Some(input) = stdin {
        let mut pipe = child.stdin.take().context("stdin")?;
        pipe.write_all(input.as_bytes())?;
    }
    let out = child.wait_with_output()?;
    if !out.status.success() {
        bail!(
            "`{program} {}` failed: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(())
}

/// Kills whatever still runs inside `name`, then deletes it.
fn delete_namespace(name: &str) {
    if let Ok(out) = Command::new("ip").args(["netns", "pids", name]).output() {
        for pid in String::from_utf8_lossy(&out.stdout).split_whitespace() {
            if let Ok(pid) = pid.parse::<i32>() {
                // SAFETY: kill(2) has no memory-safety preconditions.
                unsafe { libc::kill(pid, libc::SIGKILL) };
            }
        }
    }
    let _ = ip(&["netns", "del", name]);
}

/// Removes the namespaces of earlier runs whose process is gone (a test
/// killed before its cleanup ran).
pub fn remove_stale() {
    let Ok(entries) = std::fs::read_dir(NETNS_DIR) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let Some(pid) = name
            .strip_prefix(PREFIX)
            .and_then(|rest| rest.split('-').next())
            .and_then(|pid| pid.parse::<u32>().ok())
        else {
            continue;
        };
        if !process_alive(pid) {
            delete_namespace(&name);
        }
    }
}

/// Whether `pid` is a live process (a zombie, killed but not yet reaped,
/// is not).
fn process_alive(pid: u32) -> bool {
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return false;
    };
    // The state follows the command name, which is in parentheses.
    let state = stat
        .rfind(')')
        .and_then(|end| stat[end + 1..].split_whitespace().next());
    !matches!(state, Some("Z" | "X"))
}
