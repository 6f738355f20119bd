//! The thin async task that runs a [`Membership`] over a [`Transport`].
//!
//! It selects over the socket, the state machine's next deadline and a leave
//! request; after each input it sends what the state machine queued and
//! publishes the member list on a `watch` channel for `status`. All
//! decisions live in the state machine; this file only moves bytes and time.

use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::{mpsc, oneshot, watch};
use tokio::task::JoinHandle;
use tracing::{debug, warn};

use super::membership::{DropStats, Event, MemberView, Membership};
use super::messages::MemberInfo;
use super::transport::{Transport, RECV_BUFFER};

/// Republish the view at least this often so "last heard" ages stay fresh.
const VIEW_REFRESH: Duration = Duration::from_millis(100);
/// Never sleep less than this between ticks, even if a deadline is overdue.
const MIN_SLEEP: Duration = Duration::from_millis(1);
/// How long a leave may take before the task stops anyway.
const LEAVE_TIMEOUT: Duration = Duration::from_millis(500);

/// What the rest of the server can see of membership.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClusterView {
    /// This server.
    pub me: MemberInfo,
    /// The other live members.
    pub members: Vec<MemberView>,
    /// Datagrams dropped, by cause.
    pub drops: DropStats,
}

/// A running membership task.
#[derive(Debug)]
pub struct ClusterHandle {
    view: watch::Receiver<ClusterView>,
    leave: Option<oneshot::Sender<()>>,
    task: JoinHandle<()>,
}

impl ClusterHandle {
    /// The latest view.
    pub fn view(&self) -> watch::Receiver<ClusterView> {
        self.view.clone()
    }

    /// Announces a graceful leave and waits (bounded) until it has gone out.
    pub async fn leave(mut self) {
        if let Some(tx) = self.leave.take() {
            let _ = tx.send(());
        }
        let _ = tokio::time::timeout(LEAVE_TIMEOUT, &mut self.task).await;
    }

    /// Stops at once, without a leave: what a crash looks like to the others.
    pub fn abort(self) {
        self.task.abort();
    }
}

impl Drop for ClusterHandle {
    /// The task never outlives its server: dropping the handle (say, when
    /// the server's task is aborted) stops it without a leave.
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// A view channel seeded with `membership`'s current state.
pub fn view_channel(
    membership: &Membership,
) -> (watch::Sender<ClusterView>, watch::Receiver<ClusterView>) {
    watch::channel(ClusterView {
        me: membership.me(),
        members: membership.members(),
        drops: membership.drops(),
    })
}

/// Starts the task, publishing on `view_tx`. `events` receives every
/// membership event.
pub fn spawn<T: Transport>(
    membership: Membership,
    transport: Arc<T>,
    view_tx: watch::Sender<ClusterView>,
    events: mpsc::UnboundedSender<Event>,
) -> ClusterHandle {
    let view = view_tx.subscribe();
    let (leave, leave_rx) = oneshot::channel();
    let task = tokio::spawn(run(membership, transport, view_tx, events, leave_rx));
    ClusterHandle {
        view,
        leave: Some(leave),
        task,
    }
}

async fn run<T: Transport>(
    mut m: Membership,
    transport: Arc<T>,
    view_tx: watch::Sender<ClusterView>,
    events: mpsc::UnboundedSender<Event>,
    mut leave_rx: oneshot::Receiver<()>,
) {
    let mut buf = vec![0u8; RECV_BUFFER];
    let mut leaving = false;
    let mut published = Instant::now();
    m.handle_tick(Instant::now());
    loop {
        flush(&mut m, &*transport, &events).await;
        publish(&m, &view_tx, &mut published);
        if leaving && m.leave_done() {
            debug!("leave announced");
            return;
        }
        let now = Instant::now();
        let wake = m.next_deadline().max(now + MIN_SLEEP);
        tokio::select! {
            received = transport.recv(&mut buf) => match received {
                Ok((n, from, via)) => m.handle_datagram(from, via, &buf[..n], Instant::now()),
                Err(err) => {
                    // e.g. ICMP port unreachable surfacing on Linux: not fatal.
                    debug!(cause = %err, "udp receive error");
                    tokio::time::sleep(MIN_SLEEP).await;
                }
            },
            _ = tokio::time::sleep_until(wake.into()) => m.handle_tick(Instant::now()),
            _ = &mut leave_rx, if !leaving => {
                leaving = true;
                m.leave(Instant::now());
            }
        }
    }
}

async fn flush<T: Transport>(
    m: &mut Membership,
    transport: &T,
    events: &mpsc::UnboundedSender<Event>,
) {
    while let Some(tx) = m.poll_transmit() {
        if let Err(err) = transport.send(tx.to, &tx.bytes).await {
            debug!(to = ?tx.to, cause = %err, "udp send failed");
        }
    }
    while let Some(event) = m.poll_event() {
        if events.send(event).is_err() {
            warn!("membership event receiver gone");
        }
    }
}

fn publish(m: &Membership, view_tx: &watch::Sender<ClusterView>, published: &mut Instant) {
    let members = m.members();
    let drops = m.drops();
    let stale = published.elapsed() >= VIEW_REFRESH;
    view_tx.send_if_modified(|view| {
        let changed = view.members.len() != members.len()
            || view
                .members
                .iter()
                .zip(&members)
                .any(|(a, b)| a.info != b.info || a.health != b.health);
        if changed || stale {
            view.members = members;
            view.drops = drops;
            *published = Instant::now();
            true
        } else {
            false
        }
    });
}
