//! One server's part in the cluster, sans-IO: membership, the relay and the
//! seal, composed.
//!
//! A [`Node`] is what a server runs over its UDP sockets, and exactly what
//! the simulator and the fuzzers run over theirs. It opens no socket and
//! reads no clock: the caller passes the time ([`Now`]) into every input and
//! drains the outputs.
//!
//! * Inputs: [`Node::handle_datagram`] (bytes from the network),
//!   [`Node::handle_tick`] (time passed, at [`Node::next_deadline`]),
//!   [`Node::submit`] (a local chat event, numbered by the room),
//!   [`Node::leave`] (a graceful shutdown).
//! * Outputs: [`Node::poll_transmit`] (sealed datagrams to send),
//!   [`Node::poll_delivery`] (other servers' events, in order, for the
//!   room), [`Node::poll_event`] (membership changes, for logs and views).
//!
//! Each datagram is opened once here: the seal's gate (when the cluster has
//! a key), then the envelope and its cluster name, then the one state
//! machine its kind belongs to. Membership's Up/Down decide the relay's
//! peers, here and nowhere else, so the sync point of a new peer is the
//! same in production, in the simulator and under the fuzzer.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use tracing::{debug, info, warn};

pub mod peers;
mod report;
#[cfg(test)]
mod tests;

use crate::membership::{DownReason, Event, MemberInfo, MemberView, Membership, MembershipConfig};
use crate::relay::{ChatEvent, Delivery, Footprint, Relay, RelayConfig, RelayStats};
use crate::seal::{Gate, SealConfig, SealStats};
use crate::wire::{envelope, Transmit, Via};

/// The time as the caller read it: a monotonic instant for timers, and the
/// wall clock (Unix milliseconds) for the seal's freshness checks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Now {
    /// For deadlines and ages.
    pub mono: Instant,
    /// Milliseconds since the Unix epoch.
    pub unix_ms: u64,
}

/// How often expired replay state is dropped.
const EXPIRE_EVERY: Duration = Duration::from_secs(1);

/// Everything a node is configured with.
#[derive(Debug, Clone)]
pub struct NodeConfig {
    /// Cluster name: datagrams of other clusters are dropped.
    pub cluster: String,
    /// Whether this server announces itself on the multicast group.
    pub multicast: bool,
    /// Static peers' UDP addresses, for networks without multicast.
    pub peers: Vec<SocketAddr>,
    /// Heartbeat and failure-detector timings.
    pub membership: MembershipConfig,
    /// Relay buffer sizes and repair timings.
    pub relay: RelayConfig,
    /// The cluster key, if any.
    pub seal: Option<SealConfig>,
}

/// Datagrams dropped before or while a state machine read them, by cause.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DropStats {
    /// Failed envelope or body checks.
    pub malformed: u64,
    /// From another cluster.
    pub foreign: u64,
    /// Stale news about a tombstoned member.
    pub stale: u64,
}

/// One server's membership, relay and seal.
#[derive(Debug)]
pub struct Node {
    cluster: String,
    membership: Membership,
    relay: Relay,
    gate: Gate,
    malformed: u64,
    foreign: u64,
    transmits: VecDeque<Transmit>,
    events: VecDeque<Event>,
    next_expire: Instant,
    reports: report::Refusals,
    peers: peers::PeerWatch,
}

/// Most membership events kept for [`Node::poll_event`] when nobody drains
/// them; the oldest go first.
const MAX_EVENTS: usize = 1024;

impl Node {
    /// A new node for server `me`; `seed` drives membership's randomness.
    pub fn new(config: &NodeConfig, me: MemberInfo, seed: u64, now: Now) -> Node {
        let membership = Membership::new(
            config.membership.clone(),
            &config.cluster,
            me,
            config.multicast,
            config.peers.clone(),
            seed,
            now.mono,
        );
        let relay = Relay::new(
            me.id,
            me.udp_addr,
            &config.cluster,
            config.relay.clone(),
            now.mono,
        );
        let gate = Gate::new(config.seal.as_ref(), &config.cluster, now.unix_ms);
        match &gate {
            Gate::Unkeyed(_) => debug!("cluster traffic is not sealed (no key)"),
            Gate::Keyed(sealer) => {
                let ids: Vec<String> = sealer.key_ids().iter().map(|id| id.to_string()).collect();
                info!(keys = %ids.join(","), "cluster traffic is sealed (the first key seals)");
            }
        }
        Node {
            cluster: config.cluster.clone(),
            membership,
            relay,
            gate,
            malformed: 0,
            foreign: 0,
            transmits: VecDeque::new(),
            events: VecDeque::new(),
            next_expire: now.mono + EXPIRE_EVERY,
            reports: report::Refusals::new(now.mono),
            peers: peers::PeerWatch::new(&config.peers, now.mono),
        }
    }

    /// True if the cluster traffic is sealed with a key.
    pub fn is_keyed(&self) -> bool {
        matches!(self.gate, Gate::Keyed(_))
    }

    /// This server.
    pub fn me(&self) -> MemberInfo {
        self.membership.me()
    }

    /// The other live members.
    pub fn members(&self) -> Vec<MemberView> {
        self.membership.members()
    }

    /// The membership state machine, for inspection.
    pub fn membership(&self) -> &Membership {
        &self.membership
    }

    /// The relay state machine, for inspection.
    pub fn relay(&self) -> &Relay {
        &self.relay
    }

    /// Datagrams dropped, by cause.
    pub fn drops(&self) -> DropStats {
        DropStats {
            malformed: self.malformed,
            foreign: self.foreign,
            stale: self.membership.stale_dropped(),
        }
    }

    /// Datagrams refused by the seal layer, by cause.
    pub fn seal_stats(&self) -> SealStats {
        self.gate.stats()
    }

    /// The relay's counters.
    pub fn relay_stats(&self) -> RelayStats {
        self.relay.stats()
    }

    /// The relay's buffer sizes.
    pub fn footprint(&self) -> Footprint {
        self.relay.footprint()
    }

    /// A datagram arrived from `from`.
    pub fn handle_datagram(&mut self, from: SocketAddr, via: Via, datagram: &[u8], now: Now) {
        let plain = match self.gate.incoming(datagram, now.unix_ms) {
            Ok(plain) => plain,
            Err(refusal) => {
                debug!(%from, cause = %refusal, "refused cluster datagram");
                return;
            }
        };
        let result = envelope::open(&plain).and_then(|env| {
            if env.cluster != self.cluster {
                self.foreign += 1;
                return Ok(());
            }
            if let Some(notice) = self.peers.heard(from, now.mono) {
                log_peer(notice);
            }
            if env.kind.is_relay() {
                self.relay.handle(from, &env, now.mono)
            } else {
                self.membership.handle(via, &env, now.mono)
            }
        });
        if let Err(err) = result {
            self.malformed += 1;
            debug!(%from, cause = %err, "dropped cluster datagram");
        }
        self.settle(now);
    }

    /// Time passed: heartbeats, failure detection, relay repair, seal
    /// housekeeping, whatever is due.
    pub fn handle_tick(&mut self, now: Now) {
        if self.membership.next_deadline() <= now.mono {
            self.membership.handle_tick(now.mono);
        }
        self.route_membership_events(now.mono);
        if self.relay.next_deadline() <= now.mono {
            // Who hears the group decides how the relay's statuses go.
            self.relay
                .set_group_peers(self.membership.group_members(now.mono));
            self.relay.handle_tick(now.mono);
        }
        if let Gate::Keyed(sealer) = &mut self.gate {
            if let Some(ids) = sealer.poll_updates() {
                let ids: Vec<String> = ids.iter().map(|id| id.to_string()).collect();
                info!(keys = %ids.join(","), "cluster keyring replaced (the first key seals)");
            }
        }
        if now.mono >= self.next_expire {
            self.gate.expire(now.unix_ms);
            self.next_expire = now.mono + EXPIRE_EVERY;
        }
        self.reports.check(self.gate.stats(), now.mono);
        for notice in self.peers.check(now.mono) {
            log_peer(notice);
        }
        self.settle(now);
    }

    /// Relays a local chat event, numbered by the room.
    pub fn submit(&mut self, seq: u64, event: ChatEvent, now: Now) {
        self.relay.submit(seq, event);
        self.settle(now);
    }

    /// Starts a graceful leave (see [`Node::leave_done`]).
    pub fn leave(&mut self, now: Now) {
        self.membership.leave(now.mono);
        self.settle(now);
    }

    /// True once every leave announcement has gone out.
    pub fn leave_done(&self) -> bool {
        self.membership.leave_done()
    }

    /// When [`Node::handle_tick`] next has something to do.
    pub fn next_deadline(&self) -> Instant {
        self.membership
            .next_deadline()
            .min(self.relay.next_deadline())
            .min(self.next_expire)
            .min(self.reports.next())
            .min(self.peers.next_deadline().unwrap_or(self.next_expire))
    }

    /// The next datagram to send, sealed if the cluster has a key.
    pub fn poll_transmit(&mut self) -> Option<Transmit> {
        self.transmits.pop_front()
    }

    /// The next delivery from another server, in its origin's order.
    pub fn poll_delivery(&mut self) -> Option<Delivery> {
        self.relay.poll_delivery()
    }

    /// The next membership change.
    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    /// After every input: membership changes reach the relay, and what the
    /// machines queued is sealed into the outbox.
    fn settle(&mut self, now: Now) {
        self.route_membership_events(now.mono);
        while let Some(tx) = self
            .membership
            .poll_transmit()
            .or_else(|| self.relay.poll_transmit())
        {
            match self.gate.outgoing(tx.bytes, now.unix_ms) {
                Some(bytes) => self.transmits.push_back(Transmit { to: tx.to, bytes }),
                None => debug!(to = ?tx.to, "datagram not sealed: too large"),
            }
        }
    }

    /// Membership Up/Down become relay peers coming and going: the one
    /// place the two machines meet.
    fn route_membership_events(&mut self, now: Instant) {
        while let Some(event) = self.membership.poll_event() {
            match &event {
                // Membership logs joins and removals itself.
                Event::Up(info) => self.relay.peer_up(info.id, info.udp_addr, now),
                Event::Down(info, reason) => {
                    self.relay.peer_down(info.id, *reason == DownReason::Left)
                }
                Event::Suspect(id) => info!(server = %id, "server suspect"),
                Event::Recovered(id) => info!(server = %id, "server recovered"),
            }
            if self.events.len() == MAX_EVENTS {
                self.events.pop_front();
            }
            self.events.push_back(event);
        }
    }
}

fn log_peer(notice: peers::PeerNotice) {
    match notice {
        peers::PeerNotice::Silent(peer, silent) => warn!(
            %peer,
            silent_s = silent.as_secs(),
            "--peer {peer}: nothing heard from it; is a chatty server running there with \
             --udp-port {}, the same --cluster and key file, and does a firewall let UDP \
             through? (repeated every {} minutes while it stays silent)",
            peer.port(),
            peers::REWARN_EVERY.as_secs() / 60
        ),
        peers::PeerNotice::Answered(peer) => info!(%peer, "--peer {peer} answered"),
    }
}
