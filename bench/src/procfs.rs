//! What the kernel says about the processes of a run (Linux `/proc`): CPU
//! time, peak memory, open-file limits and UDP receive-buffer drops.
//!
//! The load generator shares the machine's cores with the servers, so every
//! benchmark reports the CPU of the servers, of itself and of everything
//! else over the timed window: a run disturbed by other load says so.

use std::process::Command;
use std::sync::OnceLock;

use anyhow::{bail, Context};

/// CPU time (user + system) process `pid` has used, in clock ticks.
pub fn cpu_ticks(pid: u32) -> anyhow::Result<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))?;
    // Fields after the command name (which may hold spaces), starting at field 3.
    let rest = &stat[stat.rfind(')').context("bad /proc stat")? + 1..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let utime: u64 = fields.get(11).context("no utime")?.parse()?;
    let stime: u64 = fields.get(12).context("no stime")?.parse()?;
    Ok(utime + stime)
}

/// CPU time all processes have used (everything but idle and iowait), in
/// clock ticks.
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

/// Clock ticks per second (`getconf CLK_TCK`, 100 if it cannot be asked).
pub fn clock_ticks_per_sec() -> u64 {
    static TICKS: OnceLock<u64> = OnceLock::new();
    *TICKS.get_or_init(|| {
        Command::new("getconf")
            .arg("CLK_TCK")
            .output()
            .ok()
            .and_then(|out| String::from_utf8(out.stdout).ok())
            .and_then(|s| s.trim().parse().ok())
            .filter(|&t| t > 0)
            .unwrap_or(100)
    })
}

/// Peak resident set size (`VmHWM`) in KiB.
pub fn peak_rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// UDP datagrams the kernel dropped because a socket's receive buffer was
/// full (`RcvbufErrors` in /proc/net/snmp; machine-wide).
pub fn udp_rcvbuf_errors() -> Option<u64> {
    let snmp = std::fs::read_to_string("/proc/net/snmp").ok()?;
    let mut udp = snmp.lines().filter(|l| l.starts_with("Udp:"));
    let names = udp.next()?;
    let values = udp.next()?;
    let at = names.split_whitespace().position(|n| n == "RcvbufErrors")?;
    values.split_whitespace().nth(at)?.parse().ok()
}

/// Fails, saying how to fix it, if this process (whose limit the servers
/// inherit) may not open `needed` files for its `clients` connections.
pub fn ensure_open_files(needed: usize, clients: usize) -> anyhow::Result<()> {
    let Some((soft, hard)) = open_file_limits() else {
        return Ok(());
    };
    if soft.parse::<usize>().is_ok_and(|soft| soft < needed) {
        bail!(
            "the open-file limit is {soft} (hard limit {hard}) but {clients} clients need about \
             {needed} sockets in this process, and the servers as many.\n\
             Raise it first, e.g. `ulimit -n 4096` (at most the hard limit), and rerun."
        );
    }
    Ok(())
}

/// The soft and hard open-file limits of this process.
fn open_file_limits() -> Option<(String, String)> {
    let limits = std::fs::read_to_string("/proc/self/limits").ok()?;
    let line = limits.lines().find(|l| l.starts_with("Max open files"))?;
    let mut words = line["Max open files".len()..].split_whitespace();
    Some((words.next()?.to_string(), words.next()?.to_string()))
}

/// CPU counters at one moment: the servers' (summed), this process's and
/// the whole machine's. A counter that cannot be read is `None`, and so is
/// every figure made from it.
#[derive(Debug, Clone, Copy)]
pub struct CpuSample {
    servers: Option<u64>,
    own: Option<u64>,
    system: Option<u64>,
}

impl CpuSample {
    /// Reads the counters of the servers `pids`, of this process and of the
    /// machine.
    pub fn take(pids: &[u32]) -> CpuSample {
        CpuSample {
            servers: pids.iter().map(|&pid| cpu_ticks(pid).ok()).sum(),
            own: cpu_ticks(std::process::id()).ok(),
            system: system_busy_ticks(),
        }
    }

    /// The CPU used from `before` to this sample.
    pub fn since(&self, before: &CpuSample) -> CpuUse {
        let tck = clock_ticks_per_sec() as f64;
        let secs = |after: Option<u64>, before: Option<u64>| {
            Some(after?.saturating_sub(before?) as f64 / tck)
        };
        CpuUse {
            servers: secs(self.servers, before.servers),
            own: secs(self.own, before.own),
            all: secs(self.system, before.system),
        }
    }
}

/// CPU seconds used over a window.
#[derive(Debug, Clone, Copy)]
pub struct CpuUse {
    /// By the servers.
    pub servers: Option<f64>,
    /// By this process, the load generator.
    pub own: Option<f64>,
    /// By everything on the machine.
    pub all: Option<f64>,
}

impl CpuUse {
    /// Cores busy over a `secs`-long window with anything but the servers
    /// and this process.
    pub fn others(&self, secs: f64) -> Option<f64> {
        Some(((self.all? - self.servers? - self.own?) / secs).max(0.0))
    }

    /// `CPU cores busy: servers 0.66, load generator 1.25, everything else
    /// 0.05` over a `secs`-long window, for the progress output.
    pub fn cores(&self, secs: f64, servers: &str) -> String {
        let cores = |value: Option<f64>| value.map_or_else(|| "?".into(), |v| format!("{v:.2}"));
        format!(
            "CPU cores busy: {servers} {}, load generator {}, everything else {}",
            cores(self.servers.map(|s| s / secs)),
            cores(self.own.map(|s| s / secs)),
            cores(self.others(secs))
        )
    }
}
