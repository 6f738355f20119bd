//! The one interface the cluster loop needs from a network: send a datagram,
//! receive one, and say which address others reach this server at.
//!
//! [`super::UdpTransport`] is the real one. A server is handed its
//! transport ([`crate::server::Server::with_transport`]), so tests and
//! fault injection wrap or replace it ([`super::Lossy`], and the in-memory
//! network behind the `sim` feature) without any flag in production config.

use std::future::Future;
use std::io;
use std::net::SocketAddr;

use crate::wire::{Destination, Via, MAX_DATAGRAM};

/// Receive buffer: one byte more than the largest valid datagram, so an
/// oversized one is recognised instead of silently truncated.
pub const RECV_BUFFER: usize = MAX_DATAGRAM + 1;

/// Moves datagrams between servers.
pub trait Transport: Send + Sync + 'static {
    /// Sends one datagram.
    fn send(&self, to: Destination, bytes: &[u8]) -> impl Future<Output = io::Result<()>> + Send;
    /// Receives one datagram into `buf`: its length, source, and how it came.
    fn recv(
        &self,
        buf: &mut [u8],
    ) -> impl Future<Output = io::Result<(usize, SocketAddr, Via)>> + Send;
    /// The unicast address other servers send to.
    fn local_addr(&self) -> SocketAddr;
    /// Whether this transport is on a multicast group.
    fn multicast(&self) -> bool;
}
