//! Sessions for connections that reach the server another way than its
//! client port: the IRC gateway and WebSockets. Each gets the very session
//! a TCP client gets — the same protocol (PROTOCOL.md), admission caps, rate
//! limit, queue and slow-reader eviction — over an in-process pipe: the
//! gateway writes length-prefixed frames into its end and reads the
//! server's frames from it, exactly as a TCP client would.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;

use tokio::sync::watch;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::admission::{Admission, Refusal};
use super::pipe::{pipe, Pipe};
use super::room::Room;
use super::{session, ServerConfig};
use crate::net::driver::ClusterView;
use crate::protocol::{ServerId, StatusReport};

/// Most bytes buffered in each direction of a pipe. A gateway that stops
/// reading its end backs up into the session's queue, which evicts it as a
/// slow reader (error 240), as it would a TCP client. Only a burst holds
/// them: a drained pipe gives its buffer back (`pipe.rs`).
const PIPE_BYTES: usize = 64 * 1024;

/// A handle to open sessions on a server, for gateways. Cheap to clone.
#[derive(Clone, Debug)]
pub struct Sessions {
    pub(super) room: Arc<Room>,
    pub(super) config: Arc<ServerConfig>,
    pub(super) admission: Arc<Admission>,
    pub(super) stop: CancellationToken,
    pub(super) tasks: TaskTracker,
    pub(super) view: Option<watch::Receiver<ClusterView>>,
}

impl Sessions {
    /// Opens a session for a connection from `peer`, counted under the
    /// server's connection caps like any client. The returned pipe is the
    /// client's end: write frames, read frames.
    pub fn open(&self, peer: SocketAddr) -> Result<Pipe, Refusal> {
        let permit = self.admission.admit(peer.ip())?;
        let (ours, theirs) = pipe(PIPE_BYTES);
        self.tasks.spawn(session::serve_pipe(
            theirs,
            peer,
            permit,
            self.room.clone(),
            self.config.clone(),
        ));
        Ok(ours)
    }

    /// Runs a gateway's task (a listener, a connection) under the server's
    /// shutdown: the server waits for it, within its grace period, before
    /// it exits. The task should end soon after [`Sessions::stopping`].
    pub fn spawn<F>(&self, task: F)
    where
        F: Future<Output = ()> + Send + 'static,
    {
        self.tasks.spawn(task);
    }

    /// Completes when the server begins shutting down. By then every
    /// session has been sent its shutdown notice.
    pub fn stopping(&self) -> impl Future<Output = ()> + Send + 'static {
        self.stop.clone().cancelled_owned()
    }

    /// This server's incarnation id.
    pub fn server_id(&self) -> ServerId {
        self.room.id()
    }

    /// The server's configuration (limits, TLS).
    pub fn config(&self) -> &ServerConfig {
        &self.config
    }

    /// A live view of the cluster's members, if clustered.
    pub fn cluster_view(&self) -> Option<watch::Receiver<ClusterView>> {
        self.view.clone()
    }

    /// What `status` answers now: servers, members, rooms, counters.
    pub fn status(&self) -> StatusReport {
        self.room.status()
    }

    /// For each server with members, how many rooms have a member there.
    pub fn rooms_per_server(&self) -> std::collections::BTreeMap<ServerId, usize> {
        self.room.rooms_per_server()
    }

    /// Whether the server has begun shutting down.
    pub fn is_stopping(&self) -> bool {
        self.stop.is_cancelled()
    }

    /// Client connections open now, bridged ones included.
    pub fn connections(&self) -> usize {
        self.admission.open()
    }
}
