//! Opening TCP connections from inside a host namespace.
//!
//! A socket belongs to the network namespace its creator was in when it was
//! created, for its whole life, and `setns(CLONE_NEWNET)` moves only the
//! calling thread. So a short-lived thread enters the host's namespace,
//! connects, and hands the socket back; the caller (in any namespace) then
//! uses it like any other, and the thread's namespace dies with the thread.

use std::fs::File;
use std::io;
use std::net::{SocketAddr, TcpStream};
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::api::{Client, ClientError};

/// How long a connection attempt may take.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// Connects to `addr` from the namespace at `ns_path` (blocking).
pub fn connect_in(ns_path: &Path, addr: SocketAddr) -> io::Result<TcpStream> {
    let ns = File::open(ns_path)?;
    std::thread::spawn(move || {
        // SAFETY: setns(2) on a file descriptor we own; it only changes this
        // thread's network namespace, and the thread ends right after.
        if unsafe { libc::setns(ns.as_raw_fd(), libc::CLONE_NEWNET) } != 0 {
            return Err(io::Error::last_os_error());
        }
        TcpStream::connect_timeout(&addr, CONNECT_TIMEOUT)
    })
    .join()
    .map_err(|_| io::Error::other("connect thread panicked"))?
}

/// Connects from the namespace at `ns_path` and completes the handshake.
pub async fn client_in(ns_path: PathBuf, addr: SocketAddr) -> Result<Client, ClientError> {
    let stream = tokio::task::spawn_blocking(move || connect_in(&ns_path, addr))
        .await
        .map_err(|_| io::Error::other("connect task failed"))?
        .map_err(|source| ClientError::Connect {
            addr: addr.to_string(),
            source,
        })?;
    stream.set_nonblocking(true)?;
    Client::handshake(tokio::net::TcpStream::from_std(stream)?).await
}
