//! What a host sends on its LAN interface: the link's own counters, and
//! nftables counters per datagram kind and per destination (group or
//! unicast), for cost measurements such as the heartbeat cost of idle
//! servers (`bench/src/bin/vlan.rs --cost`).
//!
//! The counting table (`chatty_meter`) hooks output at a priority before the
//! fault rules, so it counts what the server sent, lost or not. A cluster
//! datagram's kind is the byte at offset 5 of its UDP payload (CLUSTER.md,
//! the envelope); sealed datagrams count under "sealed" instead.

use std::collections::BTreeMap;

use super::netns::run;

/// The nftables table the meter owns inside a host namespace.
const TABLE: &str = "chatty_meter";

/// Envelope kinds and their names (src/wire/envelope.rs).
pub const KINDS: [(u8, &str); 8] = [
    (1, "heartbeat"),
    (2, "gossip"),
    (3, "leave"),
    (16, "relay-data"),
    (17, "relay-status"),
    (18, "relay-nack"),
    (19, "relay-sync-request"),
    (20, "relay-snapshot"),
];

/// Packets and bytes (IP length) counted by one rule.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Count {
    /// Packets.
    pub packets: u64,
    /// Bytes of the IP packets (no link header).
    pub bytes: u64,
}

impl std::ops::Sub for Count {
    type Output = Count;
    fn sub(self, earlier: Count) -> Count {
        Count {
            packets: self.packets.saturating_sub(earlier.packets),
            bytes: self.bytes.saturating_sub(earlier.bytes),
        }
    }
}

/// One reading of a host's send counters.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Reading {
    /// The interface's tx counters (`/sys/class/net/eth0/statistics`):
    /// everything, ARP and IGMP included, bytes with the Ethernet header.
    pub link: Count,
    /// UDP sent, by (`"group"` or `"unicast"`, kind name).
    pub by_kind: BTreeMap<(String, String), Count>,
}

impl Reading {
    /// What was sent between `earlier` and this reading.
    pub fn since(&self, earlier: &Reading) -> Reading {
        let by_kind = self
            .by_kind
            .iter()
            .map(|(k, c)| {
                let before = earlier.by_kind.get(k).copied().unwrap_or_default();
                (k.clone(), *c - before)
            })
            .collect();
        Reading {
            link: self.link - earlier.link,
            by_kind,
        }
    }
}

/// The nft script that (re)creates the counting table.
pub fn script() -> String {
    let mut rules = Vec::new();
    for (dest, matcher) in [
        ("group", "ip daddr 224.0.0.0/4"),
        ("unicast", "ip daddr != 224.0.0.0/4"),
    ] {
        for (kind, name) in KINDS {
            rules.push(format!(
                "oifname \"eth0\" {matcher} meta l4proto udp @th,64,32 0x43485459 @th,104,8 {kind} \
                 counter comment \"{dest} {name}\""
            ));
        }
        rules.push(format!(
            "oifname \"eth0\" {matcher} meta l4proto udp @th,64,32 != 0x43485459 counter \
             comment \"{dest} sealed\""
        ));
    }
    let body: String = rules.iter().map(|r| format!("    {r}\n")).collect();
    format!(
        "table ip {TABLE} {{}}\ndelete table ip {TABLE}\ntable ip {TABLE} {{\n  chain output {{\n    \
         type filter hook output priority -10; policy accept;\n{body}  }}\n}}\n"
    )
}

/// Installs (or resets) the counting table in namespace `ns`.
pub fn install(ns: &str) -> anyhow::Result<()> {
    run(
        "ip",
        &["netns", "exec", ns, "nft", "-f", "-"],
        Some(&script()),
    )
}

/// Reads namespace `ns`'s counters now.
pub fn read(ns: &str) -> anyhow::Result<Reading> {
    let out = std::process::Command::new("ip")
        .args(["netns", "exec", ns, "nft", "list", "table", "ip", TABLE])
        .output()?;
    anyhow::ensure!(
        out.status.success(),
        "nft list: {}",
        String::from_utf8_lossy(&out.stderr).trim()
    );
    let by_kind = parse(&String::from_utf8_lossy(&out.stdout));
    let stat = |name: &str| -> anyhow::Result<u64> {
        let path = format!("/sys/class/net/eth0/statistics/{name}");
        let out = std::process::Command::new("ip")
            .args(["netns", "exec", ns, "cat", &path])
            .output()?;
        anyhow::ensure!(out.status.success(), "cannot read {path} in {ns}");
        Ok(String::from_utf8_lossy(&out.stdout).trim().parse()?)
    };
    Ok(Reading {
        link: Count {
            packets: stat("tx_packets")?,
            bytes: stat("tx_bytes")?,
        },
        by_kind,
    })
}

/// The counters of a listing of the table, by their comments.
pub fn parse(listing: &str) -> BTreeMap<(String, String), Count> {
    let mut out = BTreeMap::new();
    for line in listing.lines() {
        let (Some(at), Some(c)) = (line.find("counter packets "), line.find("comment \"")) else {
            continue;
        };
        let mut words = line[at + "counter packets ".len()..].split_whitespace();
        let packets = words.next().and_then(|n| n.parse().ok()).unwrap_or(0);
        let bytes = match (words.next(), words.next()) {
            (Some("bytes"), Some(n)) => n.parse().unwrap_or(0),
            _ => 0,
        };
        let comment = line[c + "comment \"".len()..].trim_end_matches('"');
        if let Some((dest, kind)) = comment.split_once(' ') {
            out.insert(
                (dest.to_string(), kind.to_string()),
                Count { packets, bytes },
            );
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counters_are_read_by_their_comments() {
        let listing = "table ip chatty_meter {\n chain output {\n  oifname \"eth0\" ip daddr \
                       224.0.0.0/4 meta l4proto udp @th,64,32 0x43485459 @th,104,8 0x1 counter \
                       packets 12 bytes 1500 comment \"group heartbeat\"\n }\n}\n";
        let got = parse(listing);
        assert_eq!(
            got.get(&("group".into(), "heartbeat".into())),
            Some(&Count {
                packets: 12,
                bytes: 1500
            })
        );
        assert!(script().contains("comment \"unicast relay-status\""));
    }
}
