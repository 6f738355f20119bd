//! UDP sockets for server-to-server datagrams, over IPv4 or IPv6 (the
//! multicast group's family decides).
//!
//! Two sockets:
//! * a **unicast** socket on the interface address (fixed port with
//!   `--udp-port`, so others can name it with `--peer`; ephemeral otherwise).
//!   Everything is *sent* from it, group traffic included, so a datagram's
//!   source is always the sender's own unique address;
//! * a **group** socket bound to the multicast group and port, joined on the
//!   chosen interface, that only *receives*. `SO_REUSEADDR` lets every server
//!   on a host bind it, and each gets its own copy of every group datagram.
//!
//! Multicast leaves with TTL (hop limit) 1, never routed off the LAN, and
//! loops back, so servers on one host hear each other. IPv6 multicast is
//! joined and sent by interface index, which a link-local group (ff12::/16)
//! needs.
//!
//! A failure says which socket, and so which flag, was at fault
//! ([`BindError`]).

use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, UdpSocket as StdUdpSocket};

use socket2::{Domain, Protocol, Socket, Type};
use tokio::net::UdpSocket;

use super::transport::{Transport, RECV_BUFFER};
use crate::wire::{Destination, Via};

/// Default multicast group and port: administratively scoped (239.255/16,
/// "IPv4 local scope"), so routers never forward it beyond the site.
pub const DEFAULT_GROUP: SocketAddrV4 = SocketAddrV4::new(Ipv4Addr::new(239, 255, 77, 77), 7877);

/// Where and how to open the sockets.
#[derive(Debug, Clone)]
pub struct TransportConfig {
    /// Interface address to send and join on; unspecified (`0.0.0.0`,
    /// `::`) lets the system choose. Of the group's family.
    pub iface: IpAddr,
    /// The interface's index, for IPv6 multicast (0 lets the system choose).
    pub iface_index: u32,
    /// Unicast port (0 = ephemeral).
    pub udp_port: u16,
    /// The multicast group and port, IPv4 or IPv6.
    pub group: SocketAddr,
    /// Whether to use multicast at all.
    pub multicast: bool,
}

/// Which socket could not be opened, naming the flag that chose it and
/// what to do.
#[derive(Debug, thiserror::Error)]
pub enum BindError {
    /// `--group` is not a multicast address (checked before any socket).
    #[error(
        "--group {0}: not a multicast address; use one in 239.255.0.0/16 (the default is \
         239.255.77.77:7877) or, for IPv6, ff12::/16 like [ff12::7877]:7877"
    )]
    NotMulticast(SocketAddr),
    /// `--iface` and `--group` are of different families.
    #[error("--iface {iface} and --group {group} must both be IPv4 or both IPv6")]
    FamilyMismatch {
        /// The interface address.
        iface: IpAddr,
        /// The group.
        group: SocketAddr,
    },
    /// The fixed `--udp-port` is taken.
    #[error(
        "--udp-port {port}: UDP port {port} is already in use on {iface} (another chatty \
         server on this host?); choose another port, or 0 for any free one"
    )]
    PortInUse {
        /// The port.
        port: u16,
        /// The address it was bound on.
        iface: IpAddr,
    },
    /// The interface address is not this host's.
    #[error(
        "--iface {0}: this host has no interface with that address; give one of its \
         addresses or an interface name (`ip addr` lists them)"
    )]
    NotLocal(IpAddr),
    /// The unicast socket failed otherwise.
    #[error("cannot open the cluster's UDP socket on {addr} (--iface, --udp-port): {source}")]
    Unicast {
        /// What it was bound on.
        addr: SocketAddr,
        /// Why not.
        source: io::Error,
    },
    /// The group could not be joined (or multicast not sent) on the interface.
    #[error(
        "--group {group}: cannot use multicast on {iface}: {source}; check that the \
         interface (--iface) supports multicast, or use --no-multicast with --peer"
    )]
    Multicast {
        /// The group.
        group: SocketAddr,
        /// The interface, for the message.
        iface: String,
        /// Why not.
        source: io::Error,
    },
    /// Anything else, e.g. no route to the group with no `--iface`.
    #[error("cluster sockets: {0}")]
    Io(#[from] io::Error),
}

/// The real UDP transport.
#[derive(Debug)]
pub struct UdpTransport {
    unicast: UdpSocket,
    group_rx: Option<UdpSocket>,
    group: SocketAddr,
    advertised: SocketAddr,
}

impl UdpTransport {
    /// Opens the sockets. Must be called inside a tokio runtime.
    pub fn bind(config: &TransportConfig) -> Result<UdpTransport, BindError> {
        let group = config.group;
        if !group.ip().is_multicast() {
            return Err(BindError::NotMulticast(group));
        }
        if config.iface.is_ipv4() != group.is_ipv4() {
            return Err(BindError::FamilyMismatch {
                iface: config.iface,
                group,
            });
        }
        let unicast = bind_unicast(config)?;
        if config.multicast {
            set_multicast_out(&unicast, config).map_err(|source| BindError::Multicast {
                group,
                iface: iface_name(config),
                source,
            })?;
        }
        grow_receive_buffer(&unicast);
        unicast.set_nonblocking(true)?;
        let unicast: StdUdpSocket = unicast.into();
        let port = unicast.local_addr()?.port();
        let ip = if config.iface.is_unspecified() {
            outbound_ip(group)?
        } else {
            config.iface
        };
        let group_rx = if config.multicast {
            let joined = join_group(config).map_err(|source| BindError::Multicast {
                group,
                iface: iface_name(config),
                source,
            })?;
            Some(UdpSocket::from_std(joined)?)
        } else {
            None
        };
        Ok(UdpTransport {
            unicast: UdpSocket::from_std(unicast)?,
            group_rx,
            group,
            advertised: SocketAddr::new(ip, port),
        })
    }

    /// The unicast address other servers should send to.
    pub fn advertised_addr(&self) -> SocketAddr {
        self.advertised
    }
}

impl Transport for UdpTransport {
    async fn send(&self, to: Destination, bytes: &[u8]) -> io::Result<()> {
        let addr = match to {
            Destination::Group => self.group,
            Destination::Unicast(addr) => addr,
        };
        self.unicast.send_to(bytes, addr).await.map(|_| ())
    }

    async fn recv(&self, buf: &mut [u8]) -> io::Result<(usize, SocketAddr, Via)> {
        match &self.group_rx {
            Some(group) => {
                // Each branch needs its own buffer; group datagrams are copied over.
                let mut group_buf = [0u8; RECV_BUFFER];
                tokio::select! {
                    r = self.unicast.recv_from(buf) => r.map(|(n, from)| (n, from, Via::Unicast)),
                    r = group.recv_from(&mut group_buf) => r.map(|(n, from)| {
                        let n = n.min(buf.len());
                        buf[..n].copy_from_slice(&group_buf[..n]);
                        (n, from, Via::Multicast)
                    }),
                }
            }
            None => {
                let (n, from) = self.unicast.recv_from(buf).await?;
                Ok((n, from, Via::Unicast))
            }
        }
    }

    fn local_addr(&self) -> SocketAddr {
        self.advertised
    }

    fn multicast(&self) -> bool {
        self.group_rx.is_some()
    }
}

fn domain(ip: IpAddr) -> Domain {
    if ip.is_ipv4() {
        Domain::IPV4
    } else {
        Domain::IPV6
    }
}

/// The unicast socket, its failures told apart by flag.
fn bind_unicast(config: &TransportConfig) -> Result<Socket, BindError> {
    let addr = match config.iface {
        // A link-local address needs its interface to bind to.
        IpAddr::V6(ip) => SocketAddr::V6(std::net::SocketAddrV6::new(
            ip,
            config.udp_port,
            0,
            if super::iface::is_link_local(config.iface) {
                config.iface_index
            } else {
                0
            },
        )),
        IpAddr::V4(ip) => SocketAddr::new(IpAddr::V4(ip), config.udp_port),
    };
    let socket = Socket::new(domain(config.iface), Type::DGRAM, Some(Protocol::UDP))?;
    if config.iface.is_ipv6() {
        // One family per cluster: no IPv4-mapped traffic on this socket.
        socket.set_only_v6(true)?;
    }
    socket
        .bind(&addr.into())
        .map_err(|source| match source.kind() {
            io::ErrorKind::AddrInUse if config.udp_port != 0 => BindError::PortInUse {
                port: config.udp_port,
                iface: config.iface,
            },
            io::ErrorKind::AddrNotAvailable => BindError::NotLocal(config.iface),
            _ => BindError::Unicast { addr, source },
        })?;
    Ok(socket)
}

/// Multicast leaves through the chosen interface, one hop, looped back.
fn set_multicast_out(socket: &Socket, config: &TransportConfig) -> io::Result<()> {
    match config.iface {
        IpAddr::V4(ip) => {
            if !ip.is_unspecified() {
                socket.set_multicast_if_v4(&ip)?;
            }
            socket.set_multicast_ttl_v4(1)?;
            socket.set_multicast_loop_v4(true)
        }
        IpAddr::V6(_) => {
            if config.iface_index != 0 {
                socket.set_multicast_if_v6(config.iface_index)?;
            }
            socket.set_multicast_hops_v6(1)?;
            socket.set_multicast_loop_v6(true)
        }
    }
}

/// A receive-only socket on the group port, joined to the group on the
/// configured interface.
fn join_group(config: &TransportConfig) -> io::Result<StdUdpSocket> {
    let group = config.group;
    let socket = Socket::new(domain(group.ip()), Type::DGRAM, Some(Protocol::UDP))?;
    socket.set_reuse_address(true)?;
    // Binding to the group address (not the wildcard) keeps unicast traffic
    // to this port out of the socket.
    match group.ip() {
        IpAddr::V4(ip) => {
            socket.bind(&group.into())?;
            let iface = match config.iface {
                IpAddr::V4(iface) => iface,
                IpAddr::V6(_) => Ipv4Addr::UNSPECIFIED,
            };
            socket.join_multicast_v4(&ip, &iface)?;
        }
        IpAddr::V6(ip) => {
            socket.set_only_v6(true)?;
            let scoped = std::net::SocketAddrV6::new(ip, group.port(), 0, config.iface_index);
            socket.bind(&SocketAddr::V6(scoped).into())?;
            socket.join_multicast_v6(&ip, config.iface_index)?;
        }
    }
    grow_receive_buffer(&socket);
    socket.set_nonblocking(true)?;
    Ok(socket.into())
}

fn iface_name(config: &TransportConfig) -> String {
    if config.iface.is_unspecified() {
        "the system's default interface".into()
    } else if config.iface_index != 0 {
        format!("{} (interface index {})", config.iface, config.iface_index)
    } else {
        config.iface.to_string()
    }
}

/// Bursts of relay traffic overflow the default receive buffer (about
/// 200 KB on Linux): ask for 4 MiB. The kernel caps the request at
/// `net.core.rmem_max`, so this is best effort; raise that sysctl on busy
/// servers. Loss from a full buffer is repaired, only slower.
const RECEIVE_BUFFER: usize = 4 * 1024 * 1024;

fn grow_receive_buffer(socket: &Socket) {
    let _ = socket.set_recv_buffer_size(RECEIVE_BUFFER);
    if let Ok(size) = socket.recv_buffer_size() {
        tracing::debug!(size, "udp receive buffer");
    }
}

/// The local address the system would send `group` traffic from. A UDP
/// `connect` only consults the routing table; nothing is sent.
pub fn outbound_ip(group: SocketAddr) -> io::Result<IpAddr> {
    let any: SocketAddr = match group {
        SocketAddr::V4(_) => (Ipv4Addr::UNSPECIFIED, 0).into(),
        SocketAddr::V6(_) => (Ipv6Addr::UNSPECIFIED, 0).into(),
    };
    let probe = StdUdpSocket::bind(any)?;
    probe.connect(group)?;
    let ip = probe.local_addr()?.ip();
    if ip.is_unspecified() {
        return Err(io::Error::new(
            io::ErrorKind::AddrNotAvailable,
            "no interface to reach the multicast group; pass --iface",
        ));
    }
    Ok(ip)
}
