//! Fault injection for any transport: drop and duplicate outgoing
//! datagrams at random (`chatty server --inject-loss`, tests, benchmarks).

use std::io;
use std::net::SocketAddr;
use std::sync::Mutex;

use super::transport::Transport;
use crate::wire::{Destination, Via};

/// Drops and duplicates a transport's outgoing datagrams at random.
#[derive(Debug)]
pub struct Lossy<T> {
    inner: T,
    loss: f64,
    duplicate: f64,
    rng: Mutex<fastrand::Rng>,
}

impl<T> Lossy<T> {
    /// Wraps `inner`, losing `loss` and duplicating `duplicate` of what it sends.
    pub fn new(inner: T, loss: f64, duplicate: f64, seed: u64) -> Lossy<T> {
        Lossy {
            inner,
            loss,
            duplicate,
            rng: Mutex::new(fastrand::Rng::with_seed(seed)),
        }
    }

    /// The wrapped transport.
    pub fn inner(&self) -> &T {
        &self.inner
    }
}

impl<T: Transport> Transport for Lossy<T> {
    async fn send(&self, to: Destination, bytes: &[u8]) -> io::Result<()> {
        let (lose, twice) = {
            let mut rng = self.rng.lock().unwrap_or_else(|p| p.into_inner());
            (rng.f64() < self.loss, rng.f64() < self.duplicate)
        };
        if lose {
            return Ok(());
        }
        self.inner.send(to, bytes).await?;
        if twice {
            self.inner.send(to, bytes).await?;
        }
        Ok(())
    }

    async fn recv(&self, buf: &mut [u8]) -> io::Result<(usize, SocketAddr, Via)> {
        self.inner.recv(buf).await
    }

    fn local_addr(&self) -> SocketAddr {
        self.inner.local_addr()
    }

    fn multicast(&self) -> bool {
        self.inner.multicast()
    }
}
