//! What membership sends: heartbeats to the group and to unicast targets,
//! gossip digests for servers multicast does not reach, and leaves.

use std::collections::HashSet;
use std::net::SocketAddr;
use std::time::Instant;

use super::messages::{Gossip, GossipEntry, Heartbeat, Leave};
use super::{Health, Member, Membership};
use crate::protocol::ServerId;
use crate::wire::{envelope, Destination, Kind, Transmit, MAX_DATAGRAM};

impl Membership {
    /// Servers that need unicast: static peers, and members not heard on
    /// the multicast group lately (they may be beyond its reach).
    pub(super) fn unicast_targets(&self, now: Instant) -> Vec<SocketAddr> {
        let mut seen = HashSet::new();
        let mut out = Vec::new();
        let mut members: Vec<&Member> = self.members.values().collect();
        members.sort_by_key(|m| m.info.id);
        let member_addrs = members
            .into_iter()
            .filter_map(|m| (!self.heard_on_group(m, now)).then_some(m.info.udp_addr));
        for addr in self.peers.iter().copied().chain(member_addrs) {
            if addr != self.me.udp_addr && seen.insert(addr) {
                out.push(addr);
            }
        }
        out
    }

    /// Whether `m` was heard on the multicast group within `suspect_after`:
    /// then the group reaches it, and it needs no unicast (unless it is a
    /// static peer).
    pub(super) fn heard_on_group(&self, m: &Member, now: Instant) -> bool {
        self.multicast
            && m.last_multicast
                .is_some_and(|t| now.saturating_duration_since(t) < self.config.suspect_after)
    }

    /// The members the multicast group reaches (heard on it within
    /// `suspect_after`), in id order: the relay announces to them with one
    /// datagram to the group.
    pub fn group_members(&self, now: Instant) -> Vec<ServerId> {
        let mut out: Vec<ServerId> = self
            .members
            .values()
            .filter(|m| self.heard_on_group(m, now))
            .map(|m| m.info.id)
            .collect();
        out.sort();
        out
    }

    pub(super) fn send_heartbeat(&mut self, now: Instant) {
        self.heartbeat += 1;
        let body = Heartbeat {
            id: self.me.id,
            client_addr: self.me.client_addr.to_string(),
            udp_addr: self.me.udp_addr.to_string(),
            heartbeat: self.heartbeat,
            web_addr: self.me.web_addr.map(|a| a.to_string()),
        };
        if let Ok(bytes) = envelope::seal(Kind::Heartbeat, &self.cluster, &body) {
            self.fan_out(bytes, now);
        }
    }

    pub(super) fn send_gossip(&mut self, now: Instant) {
        let targets = self.unicast_targets(now);
        if targets.is_empty() {
            return;
        }
        let mut candidates: Vec<GossipEntry> = self
            .members
            .values()
            .filter(|m| m.health == Health::Alive)
            .map(|m| GossipEntry {
                id: m.info.id,
                client_addr: m.info.client_addr.to_string(),
                udp_addr: m.info.udp_addr.to_string(),
                heartbeat: m.heartbeat,
                age_ms: now
                    .saturating_duration_since(m.last_change)
                    .as_millis()
                    .min(u128::from(u32::MAX)) as u32,
                web_addr: m.info.web_addr.map(|a| a.to_string()),
            })
            .collect();
        candidates.sort_by_key(|e| e.id);
        self.rng.shuffle(&mut candidates);
        let mut entries = vec![GossipEntry {
            id: self.me.id,
            client_addr: self.me.client_addr.to_string(),
            udp_addr: self.me.udp_addr.to_string(),
            heartbeat: self.heartbeat,
            age_ms: 0,
            web_addr: self.me.web_addr.map(|a| a.to_string()),
        }];
        // Envelope + struct/array headers leave this much for entries.
        let mut budget = MAX_DATAGRAM - envelope::overhead(&self.cluster) - 32;
        budget = budget.saturating_sub(entry_size(&entries[0]));
        for entry in candidates {
            let size = entry_size(&entry);
            if size > budget {
                break;
            }
            budget -= size;
            entries.push(entry);
        }
        let gossip = Gossip {
            from: self.me.id,
            entries,
        };
        if let Ok(bytes) = envelope::seal(Kind::Gossip, &self.cluster, &gossip) {
            for addr in targets {
                self.transmits.push_back(Transmit {
                    to: Destination::Unicast(addr),
                    bytes: bytes.clone(),
                });
            }
        }
    }

    pub(super) fn send_leave(&mut self, now: Instant) {
        let body = Leave {
            id: self.me.id,
            heartbeat: self.heartbeat,
        };
        if let Ok(bytes) = envelope::seal(Kind::Leave, &self.cluster, &body) {
            self.fan_out(bytes, now);
        }
    }

    /// Sends to the group (if multicast is on) and every unicast target.
    pub(super) fn fan_out(&mut self, bytes: Vec<u8>, now: Instant) {
        for addr in self.unicast_targets(now) {
            self.transmits.push_back(Transmit {
                to: Destination::Unicast(addr),
                bytes: bytes.clone(),
            });
        }
        if self.multicast {
            self.transmits.push_back(Transmit {
                to: Destination::Group,
                bytes,
            });
        }
    }
}

fn entry_size(entry: &GossipEntry) -> usize {
    rmp_serde::to_vec(entry).map_or(usize::MAX, |v| v.len())
}
