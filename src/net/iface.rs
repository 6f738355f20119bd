//! Which network interface a server uses for cluster traffic: `--iface`
//! as an interface name (`eth0`) or one of its addresses, checked against
//! the interfaces this host really has before any socket is opened.
//!
//! The choice itself ([`choose`]) is a pure function of the flag, the
//! multicast group's address family and the interface list, so every case
//! is unit-tested; [`host_interfaces`] is the one call that asks the
//! operating system.

use std::fmt;
use std::net::{IpAddr, SocketAddr};

/// One address of one interface of this host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Interface {
    /// The interface's name, e.g. `eth0`.
    pub name: String,
    /// One of its addresses.
    pub addr: IpAddr,
    /// Its index (IPv6 multicast is joined and sent by index); 0 if unknown.
    pub index: u32,
}

impl fmt::Display for Interface {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({})", self.name, self.addr)
    }
}

/// Why `--iface` names nothing usable. Each message names the flag and
/// says what would work.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IfaceError {
    /// An address no interface of this host has.
    #[error(
        "--iface {addr}: this host has no interface with that address \
         (it has {have}); give one of those addresses or an interface name"
    )]
    NoSuchAddress {
        /// What was asked for.
        addr: IpAddr,
        /// The host's interfaces and addresses, for the message.
        have: String,
    },
    /// A name no interface has.
    #[error("--iface {name}: this host has no interface of that name (it has {have})")]
    NoSuchName {
        /// What was asked for.
        name: String,
        /// The host's interface names.
        have: String,
    },
    /// The interface has no address of the group's family.
    #[error(
        "--iface {name}: the interface has no {family} address, and --group {group} is {family}; \
         give it one, or pick a group of the other family"
    )]
    NoAddressOfFamily {
        /// The interface.
        name: String,
        /// "IPv4" or "IPv6".
        family: &'static str,
        /// The group, for the message.
        group: SocketAddr,
    },
    /// An address of the other family than the group's.
    #[error(
        "--iface {addr} is {iface_family} but --group {group} is {group_family}: \
         both must be of one family (an IPv6 group is written like [ff12::7877]:7877)"
    )]
    FamilyMismatch {
        /// The address given.
        addr: IpAddr,
        /// Its family.
        iface_family: &'static str,
        /// The group.
        group: SocketAddr,
        /// The group's family.
        group_family: &'static str,
    },
    /// The interface list could not be read.
    #[error("--iface: cannot list this host's interfaces: {0}")]
    List(String),
}

/// "IPv4" or "IPv6".
pub fn family(ip: IpAddr) -> &'static str {
    if ip.is_ipv4() {
        "IPv4"
    } else {
        "IPv6"
    }
}

/// Every address of every interface of this host.
pub fn host_interfaces() -> Result<Vec<Interface>, IfaceError> {
    let found = if_addrs::get_if_addrs().map_err(|e| IfaceError::List(e.to_string()))?;
    Ok(found
        .into_iter()
        .map(|i| Interface {
            addr: i.ip(),
            index: i.index.unwrap_or(0),
            name: i.name,
        })
        .collect())
}

/// The interface `flag` (a name or an address) means, for traffic to
/// `group`, among `all`. A name with several addresses of the group's
/// family gives the first that other hosts can reach without a scope
/// (for IPv6: not link-local), else the first.
pub fn choose(flag: &str, group: SocketAddr, all: &[Interface]) -> Result<Interface, IfaceError> {
    let want_v6 = group.is_ipv6();
    if let Ok(addr) = flag.trim_matches(['[', ']']).parse::<IpAddr>() {
        if addr.is_ipv6() != want_v6 {
            return Err(IfaceError::FamilyMismatch {
                addr,
                iface_family: family(addr),
                group,
                group_family: family(group.ip()),
            });
        }
        return all.iter().find(|i| i.addr == addr).cloned().ok_or_else(|| {
            IfaceError::NoSuchAddress {
                addr,
                have: describe(all),
            }
        });
    }
    let named: Vec<&Interface> = all.iter().filter(|i| i.name == flag).collect();
    if named.is_empty() {
        let mut names: Vec<&str> = Vec::new();
        for i in all {
            if !names.contains(&i.name.as_str()) {
                names.push(&i.name);
            }
        }
        return Err(IfaceError::NoSuchName {
            name: flag.to_string(),
            have: list_or_none(names.iter().map(|n| n.to_string())),
        });
    }
    let of_family = || named.iter().filter(|i| i.addr.is_ipv6() == want_v6);
    of_family()
        .find(|i| !is_link_local(i.addr))
        .or_else(|| of_family().next())
        .map(|i| (*i).clone())
        .ok_or_else(|| IfaceError::NoAddressOfFamily {
            name: flag.to_string(),
            family: if want_v6 { "IPv6" } else { "IPv4" },
            group,
        })
}

/// The interface that holds `addr`, if any (to log which one the system
/// chose when no `--iface` was given).
pub fn holding(addr: IpAddr, all: &[Interface]) -> Option<&Interface> {
    all.iter().find(|i| i.addr == addr)
}

/// An IPv6 link-local address (fe80::/10): usable only with a scope, so
/// not one to announce to other hosts.
pub fn is_link_local(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V6(v6) => (v6.segments()[0] & 0xffc0) == 0xfe80,
        IpAddr::V4(_) => false,
    }
}

fn describe(all: &[Interface]) -> String {
    list_or_none(all.iter().map(|i| format!("{} {}", i.name, i.addr)))
}

fn list_or_none(items: impl Iterator<Item = String>) -> String {
    let items: Vec<String> = items.collect();
    if items.is_empty() {
        "none".into()
    } else {
        items.join(", ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn host() -> Vec<Interface> {
        let i = |name: &str, addr: &str, index| Interface {
            name: name.into(),
            addr: addr.parse().unwrap(),
            index,
        };
        vec![
            i("lo", "127.0.0.1", 1),
            i("lo", "::1", 1),
            i("eth0", "10.1.2.3", 2),
            i("eth0", "fe80::1", 2),
            i("eth0", "fd00::3", 2),
            i("wlan0", "fe80::9", 3),
        ]
    }

    const V4: &str = "239.255.77.77:7877";
    const V6: &str = "[ff12::7877]:7877";

    #[test]
    fn a_name_gives_its_address_of_the_groups_family() {
        let eth0 = choose("eth0", V4.parse().unwrap(), &host()).unwrap();
        assert_eq!(eth0.addr, "10.1.2.3".parse::<IpAddr>().unwrap());
        let eth0 = choose("eth0", V6.parse().unwrap(), &host()).unwrap();
        assert_eq!(
            eth0.addr,
            "fd00::3".parse::<IpAddr>().unwrap(),
            "not link-local"
        );
        assert_eq!(eth0.index, 2);
        let wlan = choose("wlan0", V6.parse().unwrap(), &host()).unwrap();
        assert_eq!(
            wlan.addr,
            "fe80::9".parse::<IpAddr>().unwrap(),
            "the only one"
        );
    }

    #[test]
    fn an_address_must_be_one_of_this_hosts() {
        let lo = choose("127.0.0.1", V4.parse().unwrap(), &host()).unwrap();
        assert_eq!((lo.name.as_str(), lo.index), ("lo", 1));
        let lo6 = choose("[::1]", V6.parse().unwrap(), &host()).unwrap();
        assert_eq!(lo6.name, "lo");
        let err = choose("192.0.2.9", V4.parse().unwrap(), &host()).unwrap_err();
        let text = err.to_string();
        assert!(
            text.starts_with("--iface 192.0.2.9: this host has no interface"),
            "{text}"
        );
        assert!(
            text.contains("eth0 10.1.2.3"),
            "lists what there is: {text}"
        );
    }

    #[test]
    fn unknown_names_and_wrong_families_are_explained() {
        let err = choose("eth9", V4.parse().unwrap(), &host()).unwrap_err();
        assert!(
            err.to_string().contains("(it has lo, eth0, wlan0)"),
            "{err}"
        );
        let err = choose("wlan0", V4.parse().unwrap(), &host()).unwrap_err();
        assert!(err.to_string().contains("no IPv4 address"), "{err}");
        let err = choose("10.1.2.3", V6.parse().unwrap(), &host()).unwrap_err();
        assert!(
            matches!(err, IfaceError::FamilyMismatch { .. }),
            "{err}: a v4 address with a v6 group"
        );
    }

    #[test]
    fn link_local_is_recognised() {
        assert!(is_link_local("fe80::1".parse().unwrap()));
        assert!(is_link_local("febf::1".parse().unwrap()));
        assert!(!is_link_local("fd00::1".parse().unwrap()));
        assert!(!is_link_local("10.0.0.1".parse().unwrap()));
    }
}
