//! The membership state machine: who is in the cluster, and who has gone.
//!
//! Sans-IO: it opens no socket and reads no clock. The node feeds it
//! opened envelopes of its kinds ([`Membership::handle`]) and the time
//! ([`Membership::handle_tick`], at [`Membership::next_deadline`]), then drains
//! datagrams to send ([`Membership::poll_transmit`]) and events for the
//! application ([`Membership::poll_event`]). The same code runs in
//! production and in the deterministic simulator.
//!
//! Rules, in one place:
//! * Members are keyed by incarnation id, never by source address: a host
//!   that hears a server twice (two interfaces, multicast and unicast) sees
//!   one member.
//! * A member's heartbeat counter only moves forward. News of a higher
//!   counter, heard directly or by gossip (with its age), refreshes it.
//! * Silence for `suspect_after` makes it suspect; for `dead_after`, dead:
//!   it is removed and tombstoned.
//! * A tombstoned id comes back only with a higher counter than it died with.
//! * Two ids announcing the same address: the newer (larger v7 id) is the
//!   restarted server, and the older is removed at once.
//! * Gossip never introduces a member its sender has not heard from within
//!   `suspect_after`.

use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use tracing::info;

pub mod config;
pub mod messages;
mod outgoing;
#[cfg(test)]
mod tests;
pub mod tombstones;

pub use config::MembershipConfig;
pub use messages::MemberInfo;

use messages::{Gossip, Heartbeat, Leave};
use tombstones::Tombstones;

use crate::protocol::ServerId;
use crate::wire::{Envelope, EnvelopeError, Kind, Transmit, Via};

/// Why a member was removed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DownReason {
    /// Silent for `dead_after`: crashed or unreachable.
    Dead,
    /// It announced a graceful leave.
    Left,
    /// A newer incarnation announced the same address.
    Replaced,
}

/// What the application hears about membership changes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// A server joined (or came back after a partition).
    Up(MemberInfo),
    /// A server has been silent for `suspect_after`.
    Suspect(ServerId),
    /// A suspect server was heard from again.
    Recovered(ServerId),
    /// A server was removed.
    Down(MemberInfo, DownReason),
}

/// A member's state as shown to users.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Health {
    /// Heard from recently.
    Alive,
    /// Silent for a while; removed if the silence lasts.
    Suspect,
}

impl Health {
    /// The name used in status output.
    pub fn as_str(self) -> &'static str {
        match self {
            Health::Alive => "alive",
            Health::Suspect => "suspect",
        }
    }
}

/// One member as the application sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MemberView {
    /// Addresses and id.
    pub info: MemberInfo,
    /// Alive or suspect.
    pub health: Health,
    /// When news of it last arrived (for "last heard" ages).
    pub last_heard: Instant,
}

#[derive(Debug, Clone)]
struct Member {
    info: MemberInfo,
    heartbeat: u64,
    /// Local time at which its counter was last known to increase.
    last_change: Instant,
    health: Health,
    /// Last time we heard it directly on the multicast group.
    last_multicast: Option<Instant>,
}

/// The membership state of one server.
#[derive(Debug)]
pub struct Membership {
    config: MembershipConfig,
    cluster: String,
    me: MemberInfo,
    heartbeat: u64,
    multicast: bool,
    peers: Vec<SocketAddr>,
    members: HashMap<ServerId, Member>,
    tombstones: Tombstones,
    next_heartbeat: Instant,
    next_gossip: Instant,
    leaving: bool,
    leaves_left: u32,
    next_leave: Option<Instant>,
    rng: fastrand::Rng,
    transmits: VecDeque<Transmit>,
    events: VecDeque<Event>,
    /// Datagrams carrying stale news of a tombstoned member.
    stale: u64,
    /// The last [`Membership::handle_tick`]: a long gap since means this
    /// server was not running (see [`Membership::forgive_own_pause`]).
    last_tick: Instant,
}

impl Membership {
    /// A fresh member `me` of `cluster`. With `multicast` it announces itself
    /// on the group; it always announces itself to the static `peers`.
    /// `seed` drives gossip sampling (fixed in tests, random in production).
    pub fn new(
        config: MembershipConfig,
        cluster: &str,
        me: MemberInfo,
        multicast: bool,
        peers: Vec<SocketAddr>,
        seed: u64,
        now: Instant,
    ) -> Self {
        let tombstones = Tombstones::new(config.tombstone_ttl, config.max_tombstones);
        Membership {
            cluster: cluster.to_string(),
            me,
            heartbeat: 0,
            multicast,
            peers: peers.into_iter().filter(|p| *p != me.udp_addr).collect(),
            members: HashMap::new(),
            tombstones,
            next_heartbeat: now,
            next_gossip: now,
            leaving: false,
            leaves_left: 0,
            next_leave: None,
            rng: fastrand::Rng::with_seed(seed),
            transmits: VecDeque::new(),
            events: VecDeque::new(),
            stale: 0,
            last_tick: now,
            config,
        }
    }

    /// This server.
    pub fn me(&self) -> MemberInfo {
        self.me
    }

    /// The other live members (alive or suspect), in id order.
    pub fn members(&self) -> Vec<MemberView> {
        let mut out: Vec<MemberView> = self
            .members
            .values()
            .map(|m| MemberView {
                info: m.info,
                health: m.health,
                last_heard: m.last_change,
            })
            .collect();
        out.sort_by_key(|m| m.info.id);
        out
    }

    /// True if `id` is a live member (or this server).
    pub fn is_member(&self, id: &ServerId) -> bool {
        *id == self.me.id || self.members.contains_key(id)
    }

    /// Datagrams dropped as stale news of a tombstoned member.
    pub fn stale_dropped(&self) -> u64 {
        self.stale
    }

    /// How many tombstones are held.
    pub fn tombstone_count(&self) -> usize {
        self.tombstones.len()
    }

    /// The next datagram to send, if any.
    pub fn poll_transmit(&mut self) -> Option<Transmit> {
        self.transmits.pop_front()
    }

    /// The next membership event, if any.
    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    /// When [`Membership::handle_tick`] next has something to do.
    pub fn next_deadline(&self) -> Instant {
        if self.leaving {
            return self
                .next_leave
                .unwrap_or(self.next_heartbeat + Duration::from_secs(3600));
        }
        let mut next = self.next_heartbeat.min(self.next_gossip);
        for m in self.members.values() {
            let threshold = match m.health {
                Health::Alive => self.config.suspect_after,
                Health::Suspect => self.config.dead_after,
            };
            next = next.min(m.last_change + threshold);
        }
        next
    }

    /// True once a requested leave has been fully announced.
    pub fn leave_done(&self) -> bool {
        self.leaving && self.leaves_left == 0
    }

    /// Starts a graceful leave: the announcement goes out now and is
    /// repeated `leave_repeats` times in all. Heartbeats and gossip stop.
    pub fn leave(&mut self, now: Instant) {
        self.leaving = true;
        self.leaves_left = self.config.leave_repeats.max(1);
        self.next_leave = Some(now);
        self.handle_tick(now);
    }

    /// Advances timers: failure detection, heartbeats, gossip, leave repeats.
    pub fn handle_tick(&mut self, now: Instant) {
        self.forgive_own_pause(now);
        self.detect_failures(now);
        self.tombstones.expire(now);
        if self.leaving {
            // A leaving server no longer heartbeats; it only repeats its leave.
            if self.next_leave.is_some_and(|at| now >= at) {
                self.send_leave(now);
                self.leaves_left = self.leaves_left.saturating_sub(1);
                self.next_leave = (self.leaves_left > 0).then(|| now + self.config.leave_spacing);
            }
            return;
        }
        if now >= self.next_heartbeat {
            self.send_heartbeat(now);
            self.next_heartbeat = advance(self.next_heartbeat, self.config.heartbeat_interval, now);
        }
        if now >= self.next_gossip {
            self.send_gossip(now);
            self.next_gossip = advance(self.next_gossip, self.config.gossip_interval, now);
        }
    }

    /// Processes one envelope of a membership kind, already opened and
    /// checked to be of this cluster by the node. A body that does not
    /// parse is an error (the node counts it); relay kinds are ignored.
    pub fn handle(
        &mut self,
        via: Via,
        env: &Envelope<'_>,
        now: Instant,
    ) -> Result<(), EnvelopeError> {
        match env.kind {
            Kind::Heartbeat => {
                let hb: Heartbeat = env.body()?;
                let info = hb.member().ok_or_else(|| bad_addr(Kind::Heartbeat))?;
                self.observe(info, hb.heartbeat, Duration::ZERO, Some(via), now);
            }
            Kind::Gossip => {
                let gossip: Gossip = env.body()?;
                // All or nothing: a datagram with one bad entry is dropped whole.
                let entries = gossip
                    .entries
                    .iter()
                    .map(|e| e.member().map(|info| (info, e)))
                    .collect::<Option<Vec<_>>>()
                    .ok_or_else(|| bad_addr(Kind::Gossip))?;
                for (info, entry) in entries {
                    let age = Duration::from_millis(u64::from(entry.age_ms));
                    self.observe(info, entry.heartbeat, age, None, now);
                }
            }
            Kind::RelayData
            | Kind::RelayStatus
            | Kind::RelayNack
            | Kind::RelaySyncRequest
            | Kind::RelaySnapshot => {
                // The node hands relay kinds to the relay.
            }
            Kind::Leave => {
                let leave: Leave = env.body()?;
                if leave.id == self.me.id {
                    // our own multicast echo
                } else if self.members.contains_key(&leave.id) {
                    self.remove(leave.id, leave.heartbeat, DownReason::Left, now);
                } else {
                    // Unknown or already gone: remember it so late news of
                    // it cannot bring it back.
                    self.tombstones.bury(leave.id, leave.heartbeat, now);
                }
            }
        }
        Ok(())
    }

    /// Takes in news that `info` had counter `heartbeat` `age` ago.
    /// `direct` is how it arrived if the member itself sent it.
    fn observe(
        &mut self,
        info: MemberInfo,
        heartbeat: u64,
        age: Duration,
        direct: Option<Via>,
        now: Instant,
    ) {
        if info.id == self.me.id {
            return;
        }
        if let Some(t) = self.tombstones.get(&info.id) {
            if heartbeat <= t.heartbeat {
                self.stale += 1;
                return;
            }
            // A higher counter: alive after all. The tombstone goes only if
            // the checks below really admit it.
        }
        // News older than this process's clock can express is stale, not fresh.
        let Some(heard_at) = now.checked_sub(age) else {
            self.stale += 1;
            return;
        };
        if let Some(m) = self.members.get_mut(&info.id) {
            // First heard through an older server's gossip, which lacks it.
            if info.web_addr.is_some() {
                m.info.web_addr = info.web_addr;
            }
            if direct == Some(Via::Multicast) {
                m.last_multicast = Some(now);
            }
            if heartbeat > m.heartbeat {
                m.heartbeat = heartbeat;
                m.last_change = m.last_change.max(heard_at);
                if m.health == Health::Suspect
                    && now.saturating_duration_since(m.last_change) < self.config.suspect_after
                {
                    m.health = Health::Alive;
                    self.events.push_back(Event::Recovered(info.id));
                }
            }
            return;
        }
        // A new member. Gossip only introduces members heard recently.
        if direct.is_none() && age >= self.config.suspect_after {
            return;
        }
        if !self.resolve_address_clash(&info, heartbeat, now) {
            return;
        }
        if self.tombstones.get(&info.id).is_some() {
            info!(server = %info.id, "re-admitting a server that was removed");
            self.tombstones.remove(&info.id);
        }
        info!(server = %info.id, client = %info.client_addr, udp = %info.udp_addr, "server joined");
        self.members.insert(
            info.id,
            Member {
                info,
                heartbeat,
                last_change: heard_at,
                health: Health::Alive,
                last_multicast: (direct == Some(Via::Multicast)).then_some(now),
            },
        );
        self.events.push_back(Event::Up(info));
    }

    /// Two incarnations on one address: the newer id wins. Returns whether
    /// `info` should be admitted.
    fn resolve_address_clash(&mut self, info: &MemberInfo, heartbeat: u64, now: Instant) -> bool {
        let clashes = |a: &MemberInfo| {
            a.id != info.id && (a.client_addr == info.client_addr || a.udp_addr == info.udp_addr)
        };
        if clashes(&self.me) {
            // An earlier incarnation of this very server, still echoing in
            // someone's gossip (or a misconfiguration). Never admit it.
            if info.id < self.me.id {
                self.tombstones.bury(info.id, heartbeat, now);
            }
            return false;
        }
        let rivals: Vec<(ServerId, u64)> = self
            .members
            .values()
            .filter(|m| clashes(&m.info))
            .map(|m| (m.info.id, m.heartbeat))
            .collect();
        if rivals.iter().any(|(id, _)| *id > info.id) {
            self.tombstones.bury(info.id, heartbeat, now);
            return false;
        }
        for (id, hb) in rivals {
            info!(old = %id, new = %info.id, "server restarted: replacing its old incarnation");
            self.remove(id, hb, DownReason::Replaced, now);
        }
        true
    }

    fn remove(&mut self, id: ServerId, heartbeat: u64, reason: DownReason, now: Instant) {
        if let Some(m) = self.members.remove(&id) {
            info!(server = %id, ?reason, "server removed");
            self.tombstones.bury(id, heartbeat.max(m.heartbeat), now);
            self.events.push_back(Event::Down(m.info, reason));
        }
    }

    /// The driver ticks at least once per heartbeat interval; a gap longer
    /// than `suspect_after` means this server itself was not running
    /// (SIGSTOP, a paused VM, a stalled host). The others' silence over that
    /// gap is its own, and their heartbeats are likely still waiting unread
    /// in the socket: without this, a server would remove every peer the
    /// moment it resumes, and every room would lose and regain their
    /// members. The gap is forgiven: a peer that really died meanwhile is
    /// removed `dead_after` later than it would have been.
    fn forgive_own_pause(&mut self, now: Instant) {
        let gap = now.saturating_duration_since(self.last_tick);
        self.last_tick = now;
        if gap <= self.config.suspect_after {
            return;
        }
        let forgiven = gap.saturating_sub(self.config.heartbeat_interval);
        info!(
            paused_ms = gap.as_millis() as u64,
            "this server did not run for a while: peers' silence over it is not counted"
        );
        for m in self.members.values_mut() {
            m.last_change = (m.last_change + forgiven).min(now);
        }
    }

    fn detect_failures(&mut self, now: Instant) {
        let mut dead = Vec::new();
        for m in self.members.values_mut() {
            let silence = now.saturating_duration_since(m.last_change);
            if silence >= self.config.dead_after {
                dead.push((m.info.id, m.heartbeat));
            } else if silence >= self.config.suspect_after && m.health == Health::Alive {
                m.health = Health::Suspect;
                self.events.push_back(Event::Suspect(m.info.id));
            }
        }
        dead.sort(); // deterministic event order
        for (id, heartbeat) in dead {
            self.remove(id, heartbeat, DownReason::Dead, now);
        }
    }
}

fn bad_addr(kind: Kind) -> EnvelopeError {
    EnvelopeError::Fields {
        kind,
        detail: "unparseable address".into(),
    }
}

/// The next periodic deadline after `now`, skipping missed ones.
fn advance(deadline: Instant, period: Duration, now: Instant) -> Instant {
    let next = deadline + period;
    if next > now {
        next
    } else {
        now + period
    }
}
