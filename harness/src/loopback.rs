//! Keeping a server on loopback, in a multicast group of its own.
//!
//! `chatty server` always takes part in discovery. With `--iface 127.0.0.1`
//! its multicast stays on the loopback interface, and a group port nobody
//! else uses keeps parallel tests and benchmark runs from hearing each
//! other.

use std::io;
use std::net::{Ipv4Addr, SocketAddrV4, UdpSocket};

/// The administratively scoped group address every test and benchmark uses;
/// the port tells runs apart.
pub const GROUP_IP: Ipv4Addr = Ipv4Addr::new(239, 255, 77, 77);

/// A UDP port nobody on loopback is using right now.
pub fn free_udp_port() -> io::Result<u16> {
    Ok(UdpSocket::bind((Ipv4Addr::LOCALHOST, 0))?
        .local_addr()?
        .port())
}

/// A multicast group of this run's own.
pub fn private_group() -> io::Result<SocketAddrV4> {
    Ok(SocketAddrV4::new(GROUP_IP, free_udp_port()?))
}

/// `chatty server` flags for a server on a free loopback port, with its
/// multicast on loopback in `group`.
pub fn server_flags(group: SocketAddrV4) -> Vec<String> {
    ["--listen", "127.0.0.1:0", "--iface", "127.0.0.1", "--group"]
        .into_iter()
        .map(String::from)
        .chain([group.to_string()])
        .collect()
}
