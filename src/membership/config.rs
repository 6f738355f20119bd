//! Membership timings and limits.

use std::time::Duration;

/// Timings of heartbeats and the failure detector.
///
/// # Why these defaults
///
/// A server sends a heartbeat every 50 ms. An observer marks a member
/// *suspect* after 250 ms without news of it and *dead* after 800 ms.
///
/// **Detection bound.** A SIGKILLed server's last heartbeat reached each
/// survivor no later than the moment it died, so every survivor removes it at
/// most `dead_after` = 800 ms later (plus one-way delay, well under a
/// millisecond on a LAN). News relayed by gossip carries its age, so it can
/// never make a dead server look fresher than it is. Loss only makes the
/// last heard heartbeat older, and so detection earlier. The requirement is
/// removal within 1 s.
///
/// **False removals at 10 % loss.** A live member is removed only if no
/// heartbeat arrives for 800 ms. Heartbeats go out every 50 ms, and the 16th
/// after the last one heard is due exactly at the deadline, so jitter can
/// make it late. Count conservatively: **15 consecutive losses** are enough.
/// With independent 10 % loss that has probability 0.1¹⁵ = 10⁻¹⁵ per window.
/// A window starts with every heartbeat (72,000 per hour), so per observer and
/// member
///
/// > P(false removal per server-hour) ≈ 72,000 × 0.9 × 10⁻¹⁵ ≈ 6.5 × 10⁻¹¹
///
/// That is about one false removal in 10¹⁰ server-hours. At 10 % loss on
/// *each* host (sender and receiver, 19 % end to end) it is
/// 72,000 × 0.19¹⁵ ≈ 1 × 10⁻⁶ per server-hour. Where servers gossip (static
/// peers), each gossip digest is one more independent path and lowers it
/// further. A pure multicast cluster sends no gossip. Scheduling stalls,
/// not packet loss, are the realistic risk: a server would need to stop
/// sending for 800 ms.
///
/// The cost is 20 small datagrams per second per server, which is negligible
/// on a LAN.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MembershipConfig {
    /// How often a server announces itself.
    pub heartbeat_interval: Duration,
    /// Silence after which a member is shown as suspect.
    pub suspect_after: Duration,
    /// Silence after which a member is removed.
    pub dead_after: Duration,
    /// How often a gossip digest goes to servers not heard by multicast.
    pub gossip_interval: Duration,
    /// How long a removed member's tombstone is kept.
    pub tombstone_ttl: Duration,
    /// Most tombstones kept; the oldest go first.
    pub max_tombstones: usize,
    /// How many times a leave is announced (against loss).
    pub leave_repeats: u32,
    /// Spacing between the leave announcements.
    pub leave_spacing: Duration,
}

impl Default for MembershipConfig {
    fn default() -> Self {
        MembershipConfig {
            heartbeat_interval: Duration::from_millis(50),
            suspect_after: Duration::from_millis(250),
            dead_after: Duration::from_millis(800),
            gossip_interval: Duration::from_millis(200),
            tombstone_ttl: Duration::from_secs(60),
            max_tombstones: 1024,
            leave_repeats: 3,
            leave_spacing: Duration::from_millis(20),
        }
    }
}
