//! When an origin announces the range it holds (`RelayStatus`), and to whom.
//!
//! A status is what lets a receiver notice that the *last* event of a burst
//! was lost: nothing after it would show the gap. It is worth sending only
//! while there is such news, so:
//!
//! * **After new events** went out, a status follows every
//!   `status_interval`, `status_repeats` times after the last of them. A
//!   lost tail is noticed one interval after the burst, as it always was;
//!   the repeats cover lost statuses (all five lost: 0.19⁵ ≈ 2.5 × 10⁻⁴ at
//!   10 % loss on both hosts).
//! * **Idle**, only a keepalive every `status_keepalive`: the backstop if
//!   every repeat was lost, and the `oldest` a receiver needs to notice an
//!   overrun.
//! * **To whom:** one datagram to the group reaches every peer that
//!   membership hears on the group ([`Relay::set_group_peers`]); the others
//!   (static peers beyond multicast, or a peer whose group traffic stopped)
//!   get it by unicast. A status names its origin, so receivers do not care
//!   how it came. Idle cost per server: one datagram per keepalive, whatever
//!   the cluster's size, where multicast works.
//!
//! A status in answer to a NACK for events no longer held still goes at
//! once to the requester (`sender.rs`).

use super::*;

impl Relay {
    /// Membership's word on which peers hear the multicast group (those it
    /// heard there lately). Statuses go to them as one group datagram.
    pub fn set_group_peers(&mut self, ids: impl IntoIterator<Item = ServerId>) {
        self.on_group.clear();
        self.on_group.extend(ids);
    }

    /// New events went out at `now`: announce the range again soon, and a
    /// few times after.
    pub(super) fn news_sent(&mut self, now: Instant) {
        self.announcements_left = self.config.status_repeats.max(1);
        self.next_status = self.next_status.min(now + self.config.status_interval);
    }

    /// Sends the status if it is due, and schedules the next one.
    pub(super) fn announce_if_due(&mut self, now: Instant) {
        if now < self.next_status {
            return;
        }
        let status = Status {
            origin: self.me,
            highest: self.last_seq,
            oldest: self.oldest_retained(),
        };
        self.send_status(&status);
        self.announcements_left = self.announcements_left.saturating_sub(1);
        let wait = if self.announcements_left > 0 {
            self.config.status_interval
        } else {
            self.config.status_keepalive
        };
        self.next_status = now + wait;
    }

    /// One status to the group if it reaches any peer, and unicast to every
    /// peer it does not.
    fn send_status(&mut self, status: &Status) {
        if self.peers.is_empty() {
            return;
        }
        let Ok(bytes) = envelope::seal(Kind::RelayStatus, &self.cluster, status) else {
            return;
        };
        let mut to_group = false;
        let mut unicast = Vec::new();
        for (id, peer) in &self.peers {
            if self.on_group.contains(id) {
                to_group = true;
            } else {
                unicast.push(peer.addr);
            }
        }
        for addr in unicast {
            self.send(Destination::Unicast(addr), bytes.clone());
        }
        if to_group {
            self.send(Destination::Group, bytes);
        }
    }
}
