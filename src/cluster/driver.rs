//! The thin async task that runs a server's [`Membership`] and [`Relay`]
//! over one [`Transport`].
//!
//! It selects over the socket, the state machines' next deadlines, local
//! chat events to relay, and a leave request. Each datagram goes to the
//! machine its kind belongs to. Membership changes are passed to the relay
//! (`peer_up`/`peer_down`). After each input it sends what the machines
//! queued, hands relay deliveries to the server, and publishes the member
//! list on a `watch` channel for `status`. All decisions live in the state
//! machines; this file only moves bytes, time and events.
//!
//! Every datagram passes the seal [`Gate`] on its way in and out: with a
//! cluster key it is sealed and opened there, and what fails is counted
//! (published in [`ClusterView::seal`]) and summarised in a warning at most
//! every [`REFUSAL_REPORT`], so a flood cannot flood the log.

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use tokio::sync::{mpsc, oneshot, watch};
use tokio::task::JoinHandle;
use tracing::{debug, info, warn};

use super::envelope;
use super::membership::{DownReason, DropStats, Event, MemberView, Membership};
use super::messages::MemberInfo;
use super::seal::{unix_ms, Gate, SealStats};
use super::transport::{Transport, RECV_BUFFER};
use crate::relay::{ChatEvent, Delivery, Relay};

/// Republish the view at least this often so "last heard" ages stay fresh.
const VIEW_REFRESH: Duration = Duration::from_millis(100);
/// Never sleep less than this between ticks, even if a deadline is overdue.
const MIN_SLEEP: Duration = Duration::from_millis(1);
/// How long a leave may take before the task stops anyway.
const LEAVE_TIMEOUT: Duration = Duration::from_millis(500);
/// Refused datagrams are summarised in one warning at most this often.
pub const REFUSAL_REPORT: Duration = Duration::from_secs(10);
/// How often expired replay state is dropped.
const EXPIRE_EVERY: Duration = Duration::from_secs(1);

/// What the rest of the server can see of membership.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClusterView {
    /// This server.
    pub me: MemberInfo,
    /// The other live members.
    pub members: Vec<MemberView>,
    /// Datagrams dropped by membership, by cause.
    pub drops: DropStats,
    /// Datagrams refused by the seal layer, by cause.
    pub seal: SealStats,
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
        seal: SealStats::default(),
    })
}

/// The channels between the cluster task and the rest of the server.
#[derive(Debug)]
pub struct Wiring {
    /// Where the member list is published.
    pub view_tx: watch::Sender<ClusterView>,
    /// Local chat events to relay, with their sequence numbers, in order.
    pub local: mpsc::UnboundedReceiver<(u64, ChatEvent)>,
    /// Relay deliveries (remote events, syncs, lost servers), in order.
    pub deliveries: mpsc::UnboundedSender<Delivery>,
    /// Sealing and opening (keyed), or pass-through (unkeyed).
    pub gate: Gate,
}

/// Starts the task.
pub fn spawn<T: Transport>(
    membership: Membership,
    relay: Relay,
    transport: Arc<T>,
    wiring: Wiring,
) -> ClusterHandle {
    let view = wiring.view_tx.subscribe();
    let (leave, leave_rx) = oneshot::channel();
    match &wiring.gate {
        Gate::Unkeyed(_) => warn!(
            "no cluster key (--key-file): anyone on this network can join the cluster, \
             read all server-to-server traffic and inject messages as any user"
        ),
        Gate::Keyed(sealer) => {
            let ids: Vec<String> = sealer.key_ids().iter().map(|id| id.to_string()).collect();
            info!(keys = %ids.join(","), "cluster traffic is sealed (the first key seals)");
        }
    }
    let now = Instant::now();
    let node = Node {
        membership,
        relay,
        wiring,
        next_expire: now + EXPIRE_EVERY,
        reported: SealStats::default(),
        next_report: now + REFUSAL_REPORT,
    };
    let task = tokio::spawn(node.run(transport, leave_rx));
    ClusterHandle {
        view,
        leave: Some(leave),
        task,
    }
}

struct Node {
    membership: Membership,
    relay: Relay,
    wiring: Wiring,
    next_expire: Instant,
    /// Seal stats as of the last refusal report.
    reported: SealStats,
    next_report: Instant,
}

impl Node {
    async fn run<T: Transport>(mut self, transport: Arc<T>, mut leave_rx: oneshot::Receiver<()>) {
        let mut buf = vec![0u8; RECV_BUFFER];
        let mut leaving = false;
        let mut local_open = true;
        let mut published = Instant::now();
        loop {
            let now = Instant::now();
            // Due work runs inline, so relaying a local event costs no sleep.
            if self.membership.next_deadline() <= now {
                self.membership.handle_tick(now);
            }
            self.route_membership_events();
            if self.relay.next_deadline() <= now {
                self.relay.handle_tick(now);
            }
            self.housekeep(now);
            self.flush(&*transport).await;
            publish(
                &self.membership,
                self.wiring.gate.stats(),
                &self.wiring.view_tx,
                &mut published,
            );
            if leaving && self.membership.leave_done() {
                debug!("leave announced");
                return;
            }
            let deadline = self
                .membership
                .next_deadline()
                .min(self.relay.next_deadline())
                .min(self.next_expire);
            let wake = deadline.max(Instant::now() + MIN_SLEEP);
            tokio::select! {
                received = transport.recv(&mut buf) => match received {
                    Ok((n, from, via)) => self.dispatch(from, via, &buf[..n]),
                    Err(err) => {
                        // e.g. ICMP port unreachable surfacing on Linux: not fatal.
                        debug!(cause = %err, "udp receive error");
                        tokio::time::sleep(MIN_SLEEP).await;
                    }
                },
                local = self.wiring.local.recv(), if local_open => match local {
                    Some((seq, event)) => {
                        self.relay.submit(seq, event);
                        // Take whatever else is already queued: one flush packs them.
                        while let Ok((seq, event)) = self.wiring.local.try_recv() {
                            self.relay.submit(seq, event);
                        }
                    }
                    None => local_open = false,
                },
                _ = tokio::time::sleep_until(wake.into()) => {}
                _ = &mut leave_rx, if !leaving => {
                    leaving = true;
                    self.membership.leave(Instant::now());
                }
            }
        }
    }

    /// Opens a datagram at the gate and hands what passes to the state
    /// machine its kind belongs to.
    fn dispatch(&mut self, from: std::net::SocketAddr, via: super::Via, datagram: &[u8]) {
        let plain = match self
            .wiring
            .gate
            .incoming(datagram, unix_ms(SystemTime::now()))
        {
            Ok(plain) => plain,
            Err(refusal) => {
                debug!(%from, cause = %refusal, "refused cluster datagram");
                return;
            }
        };
        let datagram: &[u8] = &plain;
        let now = Instant::now();
        let relay_kind = envelope::open(datagram).is_ok_and(|e| e.kind.is_relay());
        if relay_kind {
            self.relay.handle_datagram(from, datagram, now);
        } else {
            self.membership.handle_datagram(from, via, datagram, now);
        }
    }

    /// Membership changes become relay peers coming and going.
    fn route_membership_events(&mut self) {
        while let Some(event) = self.membership.poll_event() {
            match event {
                Event::Up(info) => self.relay.peer_up(info.id, info.udp_addr),
                Event::Down(info, reason) => {
                    self.relay.peer_down(info.id, reason == DownReason::Left)
                }
                Event::Suspect(_) | Event::Recovered(_) => {}
            }
        }
    }

    /// Takes up a new keyring, expires replay state, and reports refusals
    /// (rate-limited).
    fn housekeep(&mut self, now: Instant) {
        if let Gate::Keyed(sealer) = &mut self.wiring.gate {
            if let Some(ids) = sealer.poll_updates() {
                let ids: Vec<String> = ids.iter().map(|id| id.to_string()).collect();
                info!(keys = %ids.join(","), "cluster keyring replaced (the first key seals)");
            }
        }
        if now >= self.next_expire {
            self.wiring.gate.expire(unix_ms(SystemTime::now()));
            self.next_expire = now + EXPIRE_EVERY;
        }
        if now >= self.next_report {
            let stats = self.wiring.gate.stats();
            if stats.rejected() > self.reported.rejected() {
                report_refusals(&self.reported, &stats);
            }
            self.reported = stats;
            self.next_report = now + REFUSAL_REPORT;
        }
    }

    async fn flush<T: Transport>(&mut self, transport: &T) {
        while let Some(tx) = self
            .membership
            .poll_transmit()
            .or_else(|| self.relay.poll_transmit())
        {
            let Some(bytes) = self
                .wiring
                .gate
                .outgoing(tx.bytes, unix_ms(SystemTime::now()))
            else {
                debug!(to = ?tx.to, "datagram not sealed: too large");
                continue;
            };
            if let Err(err) = transport.send(tx.to, &bytes).await {
                debug!(to = ?tx.to, cause = %err, "udp send failed");
            }
        }
        while let Some(delivery) = self.relay.poll_delivery() {
            if self.wiring.deliveries.send(delivery).is_err() {
                warn!("relay delivery receiver gone");
            }
        }
    }
}

/// One warning for the refusals since the last report, with a hint at the
/// usual cause.
fn report_refusals(before: &SealStats, now: &SealStats) {
    let d = |a: u64, b: u64| a.saturating_sub(b);
    let hint = if now.stale > before.stale {
        "; stale ones mean clocks disagree by more than the tolerance: check NTP"
    } else if now.unknown_key > before.unknown_key
        || now.unsealed > before.unsealed
        || now.sealed_without_key > before.sealed_without_key
    {
        "; a server with another key, or none, may share the group"
    } else {
        ""
    };
    warn!(
        period_s = REFUSAL_REPORT.as_secs(),
        malformed = d(now.malformed, before.malformed),
        unsealed = d(now.unsealed, before.unsealed),
        sealed_without_key = d(now.sealed_without_key, before.sealed_without_key),
        unknown_key = d(now.unknown_key, before.unknown_key),
        bad_tag = d(now.bad_tag, before.bad_tag),
        stale = d(now.stale, before.stale),
        replayed = d(now.replayed, before.replayed),
        table_full = d(now.table_full, before.table_full),
        foreign = d(now.foreign, before.foreign),
        "refused cluster datagrams{hint}"
    );
}

fn publish(
    m: &Membership,
    seal: SealStats,
    view_tx: &watch::Sender<ClusterView>,
    published: &mut Instant,
) {
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
            view.seal = seal;
            *published = Instant::now();
            true
        } else {
            false
        }
    });
}
