//! The cluster settings built from the flags: which interface (`--iface`
//! as a name or an address, checked against this host's interfaces), the
//! group, the peers, the key. Every refusal names its flag and the fix,
//! and nothing here opens a socket that sends.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::Duration;

use tracing::{info, warn};

use super::args::ServerArgs;
use super::keys::reload_on_sighup;
use crate::membership::MembershipConfig;
use crate::net::iface::{self, Interface};
use crate::net::{ClusterConfig, TransportConfig};
use crate::seal::{Keyring, SealConfig};

/// Builds the cluster settings from the flags, resolving `--iface` and
/// `--peer` names.
pub(super) async fn cluster_config(args: &ServerArgs) -> Result<ClusterConfig, String> {
    let net = &args.network;
    let group = net.group;
    if !group.ip().is_multicast() {
        return Err(crate::net::udp::BindError::NotMulticast(group).to_string());
    }
    let (iface, iface_index) = interface(net.iface.as_deref(), group)?;
    let seal = match &args.cluster.key_file {
        None => None,
        Some(path) => {
            let (keyring, warning) =
                Keyring::load(path).map_err(|e| format!("--key-file {}: {e}", path.display()))?;
            if let Some(warning) = warning {
                warn!("{warning}");
            }
            Some(SealConfig {
                max_clock_skew: args.cluster.max_clock_skew.0,
                updates: reload_on_sighup(path.clone(), &keyring),
                ..SealConfig::new(keyring)
            })
        }
    };
    let mut peers = Vec::new();
    for peer in &net.peers {
        peers.push(resolve_peer(peer, group).await?);
    }
    let c = &args.cluster;
    let membership = MembershipConfig {
        heartbeat_interval: Duration::from_millis(c.heartbeat_ms),
        suspect_after: Duration::from_millis(c.suspect_ms),
        dead_after: Duration::from_millis(c.dead_ms),
        ..MembershipConfig::default()
    };
    Ok(ClusterConfig {
        seal,
        name: c.cluster.clone(),
        transport: TransportConfig {
            iface,
            iface_index,
            udp_port: net.udp_port,
            group,
            multicast: !net.no_multicast,
        },
        peers,
        membership,
        ..ClusterConfig::default()
    })
}

/// The interface address and index for `flag` (a name or an address), or
/// with no flag the system's choice, logged.
fn interface(flag: Option<&str>, group: SocketAddr) -> Result<(IpAddr, u32), String> {
    let all = iface::host_interfaces().map_err(|e| e.to_string())?;
    if let Some(flag) = flag.filter(|f| !f.is_empty()) {
        let chosen = iface::choose(flag, group, &all).map_err(|e| e.to_string())?;
        if iface::is_link_local(chosen.addr) {
            warn!(iface = %chosen, "the interface has only a link-local IPv6 address; \
                   other hosts reach this server only if it has a unique local or global one");
        }
        info!(iface = %chosen, index = chosen.index, "cluster interface");
        return Ok((chosen.addr, chosen.index));
    }
    match default_interface(group, &all) {
        Some(chosen) => {
            info!(iface = %chosen, "no --iface: using the interface the system routes \
                  the multicast group through; pass --iface to choose another");
            Ok(if group.is_ipv4() {
                // Keep listening on every address; the group is joined there.
                (Ipv4Addr::UNSPECIFIED.into(), chosen.index)
            } else {
                (chosen.addr, chosen.index)
            })
        }
        None if group.is_ipv4() => Ok((Ipv4Addr::UNSPECIFIED.into(), 0)),
        None => Err(format!(
            "--group {group} is IPv6, and this host has no interface with an IPv6 address \
             other than loopback; pass --iface NAME"
        )),
    }
}

/// With no `--iface`: the interface holding the address the system would
/// send group traffic from (IPv4), or the first non-loopback interface
/// with a routable IPv6 address (IPv6, where a link-local group has no
/// route to ask about).
fn default_interface(group: SocketAddr, all: &[Interface]) -> Option<Interface> {
    if group.is_ipv4() {
        let ip = crate::net::udp::outbound_ip(group).ok()?;
        return iface::holding(ip, all).cloned();
    }
    let candidates = || {
        all.iter()
            .filter(|i| i.addr.is_ipv6() && !i.addr.is_loopback() && i.index != 0)
    };
    candidates()
        .find(|i| !iface::is_link_local(i.addr))
        .or_else(|| candidates().next())
        .cloned()
}

/// A `--peer` as a socket address of the group's family.
async fn resolve_peer(peer: &str, group: SocketAddr) -> Result<SocketAddr, String> {
    let hint = "write HOST:PORT with the other server's --udp-port, e.g. 10.0.0.1:7879 \
                or [fd00::1]:7879";
    let found: Vec<SocketAddr> = tokio::net::lookup_host(peer)
        .await
        .map_err(|e| format!("--peer {peer}: {e}; {hint}"))?
        .collect();
    let family = iface::family(group.ip());
    found
        .iter()
        .copied()
        .find(|a| a.is_ipv4() == group.is_ipv4())
        .ok_or_else(|| {
            format!(
                "--peer {peer}: no {family} address, and the cluster runs on {family} \
                 (--group {group}); name the peer by a {family} address"
            )
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn iface(name: &str, addr: &str, index: u32) -> Interface {
        Interface {
            name: name.into(),
            addr: addr.parse().unwrap(),
            index,
        }
    }

    #[test]
    fn without_iface_ipv6_picks_a_routable_non_loopback_address() {
        let group: SocketAddr = "[ff12::7877]:7877".parse().unwrap();
        let all = [
            iface("lo", "::1", 1),
            iface("eth0", "10.0.0.5", 2),
            iface("eth0", "fe80::5", 2),
            iface("eth1", "fd00::5", 3),
        ];
        let chosen = default_interface(group, &all).unwrap();
        assert_eq!((chosen.name.as_str(), chosen.index), ("eth1", 3));
        let only_link_local = [iface("lo", "::1", 1), iface("eth0", "fe80::5", 2)];
        assert_eq!(
            default_interface(group, &only_link_local).unwrap().name,
            "eth0"
        );
        assert!(default_interface(group, &[iface("lo", "::1", 1)]).is_none());
    }
}
