//! Helpers shared by the benchmark examples (`fanout.rs`, `relay_bench.rs`,
//! `detection.rs`, `failover.rs`): finding the `chatty` binary, server
//! processes that die with the benchmark, a private multicast group on
//! loopback, timestamps carried in message text, digit formatting, and
//! reading a process's CPU time and peak memory from `/proc` (Linux).
//!
//! Included with `#[path = "support/mod.rs"] mod support;`; not an example itself.
#![allow(dead_code)]

use std::path::PathBuf;
use std::process::{Child, Command};
use std::sync::OnceLock;
use std::time::Instant;

use anyhow::{bail, Context};

/// The `chatty` binary of the same build profile as this example
/// (`target/<profile>/examples/x` → `target/<profile>/chatty`), or
/// `CHATTY_BIN`.
pub fn server_binary() -> anyhow::Result<PathBuf> {
    if let Some(path) = std::env::var_os("CHATTY_BIN") {
        let path = PathBuf::from(path);
        if !path.is_file() {
            bail!("CHATTY_BIN={} does not exist", path.display());
        }
        return Ok(path);
    }
    let exe = std::env::current_exe().context("cannot find the benchmark's own path")?;
    let profile_dir = exe
        .parent()
        .and_then(|examples| examples.parent())
        .context("unexpected location of the benchmark binary")?;
    let path = profile_dir.join(format!("chatty{}", std::env::consts::EXE_SUFFIX));
    if !path.is_file() {
        bail!(
            "the server binary {} is missing: the example does not build it.\n\
             Run `cargo build --release` first (with the same CARGO_TARGET_DIR), \
             or point CHATTY_BIN at a chatty binary.",
            path.display()
        );
    }
    Ok(path)
}

/// A child process that is killed (and reaped) when dropped, on every exit
/// path, so no benchmark leaves a server behind.
#[derive(Debug)]
pub struct KillOnDrop(pub Child);

impl KillOnDrop {
    /// The process id.
    pub fn pid(&self) -> u32 {
        self.0.id()
    }
}

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A multicast group and port (`--group`) of this benchmark's own, for
/// servers that also get `--iface 127.0.0.1`: discovery traffic stays on
/// loopback and never meets another run's.
pub fn loopback_group() -> anyhow::Result<String> {
    let port = std::net::UdpSocket::bind("127.0.0.1:0")?
        .local_addr()?
        .port();
    Ok(format!("239.255.77.77:{port}"))
}

/// The clock every timestamp is relative to (shared by publisher and receivers).
pub fn base() -> Instant {
    static BASE: OnceLock<Instant> = OnceLock::new();
    *BASE.get_or_init(Instant::now)
}

pub fn now_ns() -> u64 {
    base().elapsed().as_nanos() as u64
}

pub fn put_digits(out: &mut [u8], mut value: u64) {
    for slot in out.iter_mut().rev() {
        *slot = b'0' + (value % 10) as u8;
        value /= 10;
    }
}

pub fn parse_digits(digits: &[u8]) -> Option<u64> {
    digits.iter().try_fold(0u64, |acc, &d| {
        d.is_ascii_digit()
            .then(|| acc.wrapping_mul(10).wrapping_add(u64::from(d - b'0')))
    })
}

/// CPU time (user + system) the process has used, in clock ticks.
pub fn cpu_ticks(pid: u32) -> anyhow::Result<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))?;
    // Fields after the command name (which may hold spaces), starting at field 3.
    let rest = &stat[stat.rfind(')').context("bad /proc stat")? + 1..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let utime: u64 = fields.get(11).context("no utime")?.parse()?;
    let stime: u64 = fields.get(12).context("no stime")?.parse()?;
    Ok(utime + stime)
}

/// CPU time all processes have used (everything but idle and iowait), in clock ticks.
pub fn system_busy_ticks() -> Option<u64> {
    let stat = std::fs::read_to_string("/proc/stat").ok()?;
    let line = stat.lines().next()?.strip_prefix("cpu ")?;
    let fields: Vec<u64> = line
        .split_whitespace()
        .map(|f| f.parse().ok())
        .collect::<Option<_>>()?;
    // user nice system idle iowait irq softirq steal [guest guest_nice]
    let busy: u64 = fields.iter().take(8).sum();
    Some(busy - fields.get(3)? - fields.get(4)?)
}

pub fn clock_ticks_per_sec() -> u64 {
    Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|out| String::from_utf8(out.stdout).ok())
        .and_then(|s| s.trim().parse().ok())
        .filter(|&t| t > 0)
        .unwrap_or(100)
}

/// Peak resident set size in KiB.
pub fn peak_rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

pub fn thousands(value: f64) -> String {
    let digits = format!("{:.0}", value.max(0.0));
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}
