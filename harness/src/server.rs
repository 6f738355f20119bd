//! A `chatty server` process that has said where it listens.

use std::net::SocketAddr;
use std::ops::{Deref, DerefMut};

use crate::listen::Listeners;
use crate::process::Process;

/// A started `chatty server`: a [`Process`] (which it derefs to, for signals,
/// exit status and stderr) whose client listener is up.
#[derive(Debug)]
pub struct Server {
    process: Process,
    listeners: Listeners,
}

impl Server {
    /// Reads `process`'s stdout until its `listening on ADDR` line, keeping
    /// any `<label> listening on ADDR` before it. Fails (and kills the
    /// process) at the deadline, at end of output, or on any other line.
    pub(crate) async fn start(mut process: Process) -> anyhow::Result<Server> {
        let mut listeners = Listeners::default();
        loop {
            let Some(line) = process.next_line().await? else {
                return Err(process.failure("exited before printing `listening on ADDR`"));
            };
            match listeners.read(&line) {
                Ok(true) => return Ok(Server { process, listeners }),
                Ok(false) => {}
                Err(err) => return Err(process.failure(&format!("{err:#}"))),
            }
        }
    }

    /// Where clients connect.
    pub fn addr(&self) -> SocketAddr {
        self.listeners
            .client
            .expect("a started server has printed its client address")
    }

    /// The listener printed as `<label> listening on ADDR`, if it has been
    /// read.
    pub fn listener(&self, label: &str) -> Option<SocketAddr> {
        self.listeners.labeled.get(label).copied()
    }

    /// Waits for the `<label> listening on ADDR` line, reading further
    /// stdout if it did not come before the client listener's.
    pub async fn wait_listener(&mut self, label: &str) -> anyhow::Result<SocketAddr> {
        loop {
            if let Some(addr) = self.listener(label) {
                return Ok(addr);
            }
            let Some(line) = self.process.next_line().await? else {
                let what = format!("output ended before `{label} listening on ADDR`");
                return Err(self.process.failure(&what));
            };
            if let Err(err) = self.listeners.read(&line) {
                return Err(self.process.failure(&format!("{err:#}")));
            }
        }
    }
}

impl Deref for Server {
    type Target = Process;

    fn deref(&self) -> &Process {
        &self.process
    }
}

impl DerefMut for Server {
    fn deref_mut(&mut self) -> &mut Process {
        &mut self.process
    }
}
