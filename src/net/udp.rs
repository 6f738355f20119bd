//! UDP sockets for server-to-server datagrams.
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
//! Multicast leaves with TTL 1 (never routed off the LAN) and loops back, so
//! servers on one host hear each other.

use std::io;
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4, UdpSocket as StdUdpSocket};

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
    /// Interface address to send and join on; `0.0.0.0` lets the system choose.
    pub iface: Ipv4Addr,
    /// Unicast port (0 = ephemeral).
    pub udp_port: u16,
    /// The multicast group and port.
    pub group: SocketAddrV4,
    /// Whether to use multicast at all.
    pub multicast: bool,
}

/// The real UDP transport.
#[derive(Debug)]
pub struct UdpTransport {
    unicast: UdpSocket,
    group_rx: Option<UdpSocket>,
    group: SocketAddrV4,
    advertised: SocketAddr,
}

impl UdpTransport {
    /// Opens the sockets. Must be called inside a tokio runtime.
    pub fn bind(config: &TransportConfig) -> io::Result<UdpTransport> {
        let unicast = Socket::new(Domain::IPV4, Type::DGRAM, Some(Protocol::UDP))?;
        unicast.bind(&SocketAddrV4::new(config.iface, config.udp_port).into())?;
        if config.multicast {
            if !config.iface.is_unspecified() {
                unicast.set_multicast_if_v4(&config.iface)?;
            }
            unicast.set_multicast_ttl_v4(1)?;
            unicast.set_multicast_loop_v4(true)?;
        }
        grow_receive_buffer(&unicast);
        unicast.set_nonblocking(true)?;
        let unicast: StdUdpSocket = unicast.into();
        let port = unicast.local_addr()?.port();
        let ip = if config.iface.is_unspecified() {
            outbound_ip(config.group)?
        } else {
            config.iface
        };
        let group_rx = if config.multicast {
            Some(UdpSocket::from_std(join_group(
                config.group,
                config.iface,
            )?)?)
        } else {
            None
        };
        Ok(UdpTransport {
            unicast: UdpSocket::from_std(unicast)?,
            group_rx,
            group: config.group,
            advertised: SocketAddr::V4(SocketAddrV4::new(ip, port)),
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
            Destination::Group => SocketAddr::V4(self.group),
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

/// A receive-only socket on the group port, joined to the group on `iface`.
fn join_group(group: SocketAddrV4, iface: Ipv4Addr) -> io::Result<StdUdpSocket> {
    let socket = Socket::new(Domain::IPV4, Type::DGRAM, Some(Protocol::UDP))?;
    socket.set_reuse_address(true)?;
    // Binding to the group address (not 0.0.0.0) keeps unicast traffic to
    // this port out of the socket.
    socket.bind(&SocketAddrV4::new(*group.ip(), group.port()).into())?;
    socket.join_multicast_v4(group.ip(), &iface)?;
    grow_receive_buffer(&socket);
    socket.set_nonblocking(true)?;
    Ok(socket.into())
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
pub fn outbound_ip(group: SocketAddrV4) -> io::Result<Ipv4Addr> {
    let probe = StdUdpSocket::bind("0.0.0.0:0")?;
    probe.connect(group)?;
    match probe.local_addr()? {
        SocketAddr::V4(a) if !a.ip().is_unspecified() => Ok(*a.ip()),
        _ => Err(io::Error::new(
            io::ErrorKind::AddrNotAvailable,
            "no interface to reach the multicast group; pass --iface",
        )),
    }
}
