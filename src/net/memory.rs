//! An in-memory network, a [`Transport`] for tests (the `sim` feature).
//!
//! [`MemoryNetwork`] connects servers in one process without sockets. It
//! still carries every datagram as encoded bytes, refuses datagrams over the
//! size limit, and can lose, duplicate and reorder them (by random delay)
//! from a seeded RNG. The same test suite runs servers over it and over real
//! UDP (`tests/cluster/transports.rs`).

use std::collections::HashMap;
use std::io;
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::mpsc;

use super::transport::Transport;
use crate::wire::{Destination, Via, MAX_DATAGRAM};

/// How an in-memory network misbehaves.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Impairment {
    /// Probability a datagram is lost.
    pub loss: f64,
    /// Probability a datagram is delivered twice.
    pub duplicate: f64,
    /// Longest random extra delay; a spread reorders datagrams.
    pub max_delay: Duration,
}

impl Impairment {
    /// A perfect network.
    pub const NONE: Impairment = Impairment {
        loss: 0.0,
        duplicate: 0.0,
        max_delay: Duration::ZERO,
    };
}

type Inbox = mpsc::UnboundedSender<(Vec<u8>, SocketAddr, Via)>;

#[derive(Debug)]
struct Hub {
    inboxes: HashMap<SocketAddr, (Inbox, bool)>,
    next_port: u16,
    rng: fastrand::Rng,
    impairment: Impairment,
}

/// A network of in-memory transports. Clone it to share it.
#[derive(Debug, Clone)]
pub struct MemoryNetwork {
    hub: Arc<Mutex<Hub>>,
}

impl MemoryNetwork {
    /// A new, empty network with its own seeded RNG.
    pub fn new(seed: u64, impairment: Impairment) -> MemoryNetwork {
        MemoryNetwork {
            hub: Arc::new(Mutex::new(Hub {
                inboxes: HashMap::new(),
                next_port: 1,
                rng: fastrand::Rng::with_seed(seed),
                impairment,
            })),
        }
    }

    /// Changes how the network misbehaves from now on.
    pub fn set_impairment(&self, impairment: Impairment) {
        self.lock().impairment = impairment;
    }

    /// Attaches a new endpoint; `on_group` says whether it hears the group.
    /// Its address is a label on the in-memory network (in 127.88.0.0/16,
    /// loopback, so even a mistake could not reach another host); no
    /// socket ever sends to it.
    pub fn attach(&self, on_group: bool) -> MemoryTransport {
        let (tx, rx) = mpsc::unbounded_channel();
        let mut hub = self.lock();
        let port = hub.next_port;
        hub.next_port += 1;
        let addr = SocketAddr::V4(SocketAddrV4::new(Ipv4Addr::new(127, 88, 0, 1), port));
        hub.inboxes.insert(addr, (tx, on_group));
        MemoryTransport {
            network: self.clone(),
            addr,
            on_group,
            inbox: tokio::sync::Mutex::new(rx),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Hub> {
        self.hub.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// One endpoint of a [`MemoryNetwork`].
#[derive(Debug)]
pub struct MemoryTransport {
    network: MemoryNetwork,
    on_group: bool,
    addr: SocketAddr,
    inbox: tokio::sync::Mutex<mpsc::UnboundedReceiver<(Vec<u8>, SocketAddr, Via)>>,
}

impl MemoryTransport {
    /// This endpoint's address on the in-memory network.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }
}

impl Drop for MemoryTransport {
    fn drop(&mut self) {
        self.network.lock().inboxes.remove(&self.addr);
    }
}

impl Transport for MemoryTransport {
    async fn send(&self, to: Destination, bytes: &[u8]) -> io::Result<()> {
        if bytes.len() > MAX_DATAGRAM {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "datagram too large",
            ));
        }
        let mut hub = self.network.lock();
        let targets: Vec<(Inbox, Via)> = match to {
            Destination::Group => hub
                .inboxes
                .iter()
                .filter(|(addr, (_, on_group))| **addr != self.addr && *on_group)
                .map(|(_, (tx, _))| (tx.clone(), Via::Multicast))
                .collect(),
            Destination::Unicast(addr) => hub
                .inboxes
                .get(&addr)
                .map(|(tx, _)| (tx.clone(), Via::Unicast))
                .into_iter()
                .collect(),
        };
        let impairment = hub.impairment;
        for (inbox, via) in targets {
            if hub.rng.f64() < impairment.loss {
                continue;
            }
            let copies = if hub.rng.f64() < impairment.duplicate {
                2
            } else {
                1
            };
            for _ in 0..copies {
                let delay = impairment.max_delay.mul_f64(hub.rng.f64());
                let datagram = (bytes.to_vec(), self.addr, via);
                if delay.is_zero() {
                    let _ = inbox.send(datagram);
                } else {
                    let inbox = inbox.clone();
                    tokio::spawn(async move {
                        tokio::time::sleep(delay).await;
                        let _ = inbox.send(datagram);
                    });
                }
            }
        }
        Ok(())
    }

    async fn recv(&self, buf: &mut [u8]) -> io::Result<(usize, SocketAddr, Via)> {
        let mut inbox = self.inbox.lock().await;
        match inbox.recv().await {
            Some((bytes, from, via)) => {
                let n = bytes.len().min(buf.len());
                buf[..n].copy_from_slice(&bytes[..n]);
                Ok((n, from, via))
            }
            None => std::future::pending().await,
        }
    }

    fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    fn multicast(&self) -> bool {
        self.on_group
    }
}
