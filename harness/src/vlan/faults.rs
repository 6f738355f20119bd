//! Faults of one host, as an nftables table inside its namespace.
//!
//! The kernels these tests run on have no `netem`, so faults are nftables
//! rules on the host's LAN interface `eth0` (never on `lo`: a client talking
//! to its own host's server is not affected):
//!
//! * **loss** `N` %: `numgen random mod 100 < N drop` on the input *and* the
//!   output hook, as a host with a bad network card would see. A datagram
//!   between two hosts that both lose N % is lost with 1 − (1 − N/100)²
//!   (19 % for 10 %).
//! * **duplication** `N` %: on output, `dup to ip daddr device "eth0"` sends a
//!   second copy of N % of the packets the host sends (unicast and multicast
//!   alike). Each packet is sent by exactly one host, so with the same N on
//!   every host, N % of all packets arrive twice.
//! * **partition**: packets from or to the addresses of hosts on the other
//!   side are dropped.
//!
//! The whole table is replaced in one `nft -f` transaction on every change,
//! so a host never runs with half a rule set.

use std::net::Ipv4Addr;

use super::netns::run;

/// The nftables table the harness owns inside a host namespace.
const TABLE: &str = "chatty_faults";

/// What is wrong with one host's network.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Faults {
    /// Percentage of packets lost in each direction (0–100).
    pub loss: u8,
    /// Percentage of sent packets duplicated (0–100).
    pub dup: u8,
    /// Addresses this host cannot reach or hear (a partition).
    pub blocked: Vec<Ipv4Addr>,
}

impl Faults {
    /// The nft script that replaces the table with these rules.
    pub fn script(&self) -> String {
        let mut input = Vec::new();
        let mut output = Vec::new();
        // One rule on each hook of the LAN interface: `inbound` matches what
        // comes in, `outbound` what goes out.
        let mut both = |inbound: &str, outbound: &str| {
            input.push(format!("iifname \"eth0\" {inbound} counter drop"));
            output.push(format!("oifname \"eth0\" {outbound} counter drop"));
        };
        if !self.blocked.is_empty() {
            let set = self
                .blocked
                .iter()
                .map(Ipv4Addr::to_string)
                .collect::<Vec<_>>()
                .join(", ");
            both(
                &format!("ip saddr {{ {set} }}"),
                &format!("ip daddr {{ {set} }}"),
            );
        }
        if self.loss > 0 {
            let random = format!("numgen random mod 100 < {}", self.loss.min(100));
            both(&random, &random);
        }
        if self.dup > 0 {
            let n = self.dup.min(100);
            // The copy goes through the output hook again (and may be lost
            // like any packet); the kernel never duplicates a duplicate.
            output.push(format!(
                "oifname \"eth0\" numgen random mod 100 < {n} counter dup to ip daddr device \"eth0\""
            ));
        }
        let chain = |name: &str, rules: &[String]| {
            let mut text = format!(
                "  chain {name} {{\n    type filter hook {name} priority 0; policy accept;\n"
            );
            for rule in rules {
                text.push_str(&format!("    {rule}\n"));
            }
            text.push_str("  }\n");
            text
        };
        // Declaring the table first makes the delete valid when it is absent.
        format!(
            "table ip {TABLE} {{}}\ndelete table ip {TABLE}\ntable ip {TABLE} {{\n{}{}}}\n",
            chain("input", &input),
            chain("output", &output)
        )
    }

    /// Installs these rules in namespace `ns`, replacing earlier ones.
    pub fn apply(&self, ns: &str) -> anyhow::Result<()> {
        run(
            "ip",
            &["netns", "exec", ns, "nft", "-f", "-"],
            Some(&self.script()),
        )
    }
}

/// The table's rules with their packet counters, as `nft` lists them.
pub fn list(ns: &str) -> anyhow::Result<String> {
    let out = std::process::Command::new("ip")
        .args(["netns", "exec", ns, "nft", "list", "table", "ip", TABLE])
        .output()?;
    anyhow::ensure!(
        out.status.success(),
        "nft list: {}",
        String::from_utf8_lossy(&out.stderr).trim()
    );
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// Packets the fault rules of one host acted on.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counters {
    /// Dropped by the random-loss rules.
    pub lost: u64,
    /// Sent a second time.
    pub duplicated: u64,
    /// Dropped by partition rules.
    pub partitioned: u64,
}

/// Reads the counters from an `nft list` of the table ([`list`]).
pub fn counters(listing: &str) -> Counters {
    let mut counters = Counters::default();
    for line in listing.lines() {
        let Some(at) = line.find("counter packets ") else {
            continue;
        };
        let packets: u64 = line[at + "counter packets ".len()..]
            .split_whitespace()
            .next()
            .and_then(|n| n.parse().ok())
            .unwrap_or(0);
        if line.contains("dup to") {
            counters.duplicated += packets;
        } else if line.contains("numgen") {
            counters.lost += packets;
        } else if line.contains("saddr") || line.contains("daddr") {
            counters.partitioned += packets;
        }
    }
    counters
}
