//! The thin async task that runs a server's [`Node`] over one [`Transport`].
//!
//! It selects over the socket, the node's next deadline, local chat events
//! to relay, and a leave request; feeds each to the node with the time read
//! once; then sends what the node queued, hands relay deliveries to the
//! server, and publishes the member list on a `watch` channel for `status`,
//! with the latest membership changes for watchers ([`ClusterView::events`]).
//! All decisions live in the node; this file only moves bytes, time and
//! events.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use tokio::sync::{mpsc, oneshot, watch};
use tokio::task::JoinHandle;
use tracing::{debug, warn};

use super::transport::{Transport, RECV_BUFFER};
use crate::membership::{DownReason, Event, MemberInfo, MemberView};
use crate::node::{DropStats, Node, Now};
use crate::protocol::{ClusterEvent, ServerId};
use crate::relay::{ChatEvent, Delivery, RelayStats};
use crate::seal::{unix_ms, SealStats};

/// Republish the view at least this often so "last heard" ages stay fresh.
const VIEW_REFRESH: Duration = Duration::from_millis(100);
/// Never sleep less than this between ticks, even if a deadline is overdue.
const MIN_SLEEP: Duration = Duration::from_millis(1);
/// Membership changes the view keeps for watchers (the newest).
pub const RECENT_EVENTS: usize = 64;
/// How long a leave may take before the task stops anyway.
const LEAVE_TIMEOUT: Duration = Duration::from_millis(500);

/// The time from the system's clocks: the one place the cluster reads them.
pub fn now() -> Now {
    Now {
        mono: Instant::now(),
        unix_ms: unix_ms(SystemTime::now()),
    }
}

/// What the rest of the server can see of the cluster.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClusterView {
    /// This server.
    pub me: MemberInfo,
    /// The other live members.
    pub members: Vec<MemberView>,
    /// Datagrams dropped, by cause.
    pub drops: DropStats,
    /// Datagrams refused by the seal layer, by cause.
    pub seal: SealStats,
    /// The relay's counters.
    pub relay: RelayStats,
    /// The latest membership changes, oldest first (at most [`RECENT_EVENTS`]).
    pub events: Vec<ClusterEvent>,
    /// Membership changes since start: a watcher that saw `n` of them
    /// sends the last `events_total - n` of [`ClusterView::events`].
    pub events_total: u64,
}

impl ClusterView {
    /// The view of `node` as it is now.
    pub fn of(node: &Node) -> ClusterView {
        ClusterView {
            me: node.me(),
            members: node.members(),
            drops: node.drops(),
            seal: node.seal_stats(),
            relay: node.relay_stats(),
            events: Vec::new(),
            events_total: 0,
        }
    }

    /// The changes after the first `seen` (of [`ClusterView::events_total`]),
    /// and how many of them are no longer kept.
    pub fn events_after(&self, seen: u64) -> (&[ClusterEvent], u64) {
        let new = self.events_total.saturating_sub(seen);
        let kept = (new as usize).min(self.events.len());
        (&self.events[self.events.len() - kept..], new - kept as u64)
    }
}

/// The membership changes as watchers see them.
#[derive(Debug, Default)]
struct Timeline {
    recent: VecDeque<ClusterEvent>,
    total: u64,
}

impl Timeline {
    /// Records `event`, as `node` knows it at `unix_ms`.
    fn record(&mut self, node: &Node, event: &Event, unix_ms: u64) {
        let addr_of = |id: &ServerId| {
            node.members()
                .iter()
                .find(|m| m.info.id == *id)
                .map(|m| m.info.client_addr.to_string())
                .unwrap_or_default()
        };
        let (kind, server, addr) = match event {
            Event::Up(info) => ("joined", info.id, info.client_addr.to_string()),
            Event::Suspect(id) => ("suspect", *id, addr_of(id)),
            Event::Recovered(id) => ("recovered", *id, addr_of(id)),
            Event::Down(info, reason) => {
                let kind = match reason {
                    DownReason::Dead => "removed",
                    DownReason::Left => "left",
                    DownReason::Replaced => "replaced",
                };
                (kind, info.id, info.client_addr.to_string())
            }
        };
        if self.recent.len() == RECENT_EVENTS {
            self.recent.pop_front();
        }
        self.recent.push_back(ClusterEvent {
            at_ms: unix_ms,
            kind: kind.into(),
            server,
            addr,
        });
        self.total += 1;
    }
}

/// A running cluster task.
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

/// The channels between the cluster task and the rest of the server.
#[derive(Debug)]
pub struct Wiring {
    /// Where the cluster view is published.
    pub view_tx: watch::Sender<ClusterView>,
    /// Local chat events to relay, with their sequence numbers, in order.
    pub local: mpsc::UnboundedReceiver<(u64, ChatEvent)>,
    /// Relay deliveries (remote events, syncs, losses, lost servers), in order.
    pub deliveries: mpsc::UnboundedSender<Delivery>,
}

/// Starts the task.
pub fn spawn<T: Transport>(node: Node, transport: Arc<T>, wiring: Wiring) -> ClusterHandle {
    let view = wiring.view_tx.subscribe();
    let (leave, leave_rx) = oneshot::channel();
    if !node.is_keyed() {
        warn!(
            "no cluster key (--key-file): anyone on this network can join the cluster, \
             read all server-to-server traffic and inject messages as any user"
        );
    }
    let task = tokio::spawn(run(node, transport, wiring, leave_rx));
    ClusterHandle {
        view,
        leave: Some(leave),
        task,
    }
}

async fn run<T: Transport>(
    mut node: Node,
    transport: Arc<T>,
    mut wiring: Wiring,
    mut leave_rx: oneshot::Receiver<()>,
) {
    let mut buf = vec![0u8; RECV_BUFFER];
    let mut leaving = false;
    let mut local_open = true;
    let mut published = Instant::now();
    let mut timeline = Timeline::default();
    loop {
        let t = now();
        // Due work runs inline, so relaying a local event costs no sleep.
        if node.next_deadline() <= t.mono {
            node.handle_tick(t);
        }
        flush(&mut node, &*transport, &wiring, &mut timeline).await;
        publish(&node, &wiring.view_tx, &mut published, &timeline);
        if leaving && node.leave_done() {
            debug!("leave announced");
            return;
        }
        let wake = node.next_deadline().max(Instant::now() + MIN_SLEEP);
        tokio::select! {
            received = transport.recv(&mut buf) => match received {
                Ok((n, from, via)) => node.handle_datagram(from, via, &buf[..n], now()),
                Err(err) => {
                    // e.g. ICMP port unreachable surfacing on Linux: not fatal.
                    debug!(cause = %err, "udp receive error");
                    tokio::time::sleep(MIN_SLEEP).await;
                }
            },
            local = wiring.local.recv(), if local_open => match local {
                Some((seq, event)) => {
                    let t = now();
                    node.submit(seq, event, t);
                    // Take whatever else is already queued: one flush packs them.
                    while let Ok((seq, event)) = wiring.local.try_recv() {
                        node.submit(seq, event, t);
                    }
                }
                None => local_open = false,
            },
            _ = tokio::time::sleep_until(wake.into()) => {}
            _ = &mut leave_rx, if !leaving => {
                leaving = true;
                node.leave(now());
            }
        }
    }
}

/// Sends what the node queued and hands its deliveries to the server.
async fn flush<T: Transport>(
    node: &mut Node,
    transport: &T,
    wiring: &Wiring,
    timeline: &mut Timeline,
) {
    while let Some(tx) = node.poll_transmit() {
        if let Err(err) = transport.send(tx.to, &tx.bytes).await {
            debug!(to = ?tx.to, cause = %err, "udp send failed");
        }
    }
    while let Some(delivery) = node.poll_delivery() {
        if wiring.deliveries.send(delivery).is_err() {
            warn!("relay delivery receiver gone");
        }
    }
    // Membership changes are logged by the node and shown through the view.
    if let Some(first) = node.poll_event() {
        let unix_ms = now().unix_ms;
        timeline.record(node, &first, unix_ms);
        while let Some(event) = node.poll_event() {
            timeline.record(node, &event, unix_ms);
        }
    }
}

fn publish(
    node: &Node,
    view_tx: &watch::Sender<ClusterView>,
    published: &mut Instant,
    timeline: &Timeline,
) {
    let stale = published.elapsed() >= VIEW_REFRESH;
    view_tx.send_if_modified(|view| {
        let members = node.members();
        let changed = view.members.len() != members.len()
            || view
                .members
                .iter()
                .zip(&members)
                .any(|(a, b)| a.info != b.info || a.health != b.health);
        if changed || stale || view.events_total != timeline.total {
            *view = ClusterView::of(node);
            view.events = timeline.recent.iter().cloned().collect();
            view.events_total = timeline.total;
            *published = Instant::now();
            true
        } else {
            false
        }
    });
}
