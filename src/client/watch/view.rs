//! What `chatty watch` shows, as a pure function of what the server pushed
//! and the time: every server (id, address, state, last heard), the rooms
//! and their members, and a timeline of membership events.
//!
//! [`WatchView`] takes the `watching`, `watch_update` and `watch_event`
//! messages ([`WatchView::apply`]) and renders a screen
//! ([`WatchView::screen`]) or, for piped output, one line per event
//! ([`event_line`]). No I/O, no clock of its own: the caller passes `now`.

use std::collections::VecDeque;
use std::fmt::Write;
use std::time::{Duration, Instant};

use crate::client::clock::time_of_day;
use crate::client::render::clean;
use crate::protocol::{ClusterEvent, ServerMsg, StatusReport};

/// Timeline entries kept (the newest; older ones scroll away).
pub const TIMELINE: usize = 200;

/// The watched server's state as last pushed, and the timeline.
#[derive(Debug, Default)]
pub struct WatchView {
    report: Option<(StatusReport, Instant)>,
    timeline: VecDeque<ClusterEvent>,
}

impl WatchView {
    /// Takes one pushed message; returns the events it brought (for
    /// piped output), in order.
    pub fn apply(&mut self, msg: &ServerMsg, now: Instant) -> Vec<ClusterEvent> {
        match msg {
            ServerMsg::Watching { report, events } => {
                self.report = Some((report.clone(), now));
                events.iter().for_each(|e| self.push(e.clone()));
                events.clone()
            }
            ServerMsg::WatchUpdate { report } => {
                self.report = Some((report.clone(), now));
                Vec::new()
            }
            ServerMsg::WatchEvent { event } => {
                self.push(event.clone());
                vec![event.clone()]
            }
            _ => Vec::new(),
        }
    }

    fn push(&mut self, event: ClusterEvent) {
        if self.timeline.len() == TIMELINE {
            self.timeline.pop_front();
        }
        self.timeline.push_back(event);
    }

    /// The latest report, if any came.
    pub fn report(&self) -> Option<&StatusReport> {
        self.report.as_ref().map(|(r, _)| r)
    }

    /// The screen at `now`, at most `rows` lines (the timeline is cut to
    /// fit, newest kept). "Last heard" ages count on from the report.
    pub fn screen(&self, watched: &str, now: Instant, rows: usize) -> String {
        let mut out = String::new();
        let Some((report, at)) = &self.report else {
            let _ = writeln!(out, "watching {watched}: waiting for the server…");
            return out;
        };
        let since = now.saturating_duration_since(*at);
        let _ = writeln!(out, "watching {watched} (server {})", report.id.short());
        let _ = writeln!(out, "\nSERVERS ({})", report.servers.len());
        let width = report
            .servers
            .iter()
            .map(|s| s.addr.len())
            .max()
            .unwrap_or(0)
            .max(7);
        let _ = writeln!(
            out,
            "  {:<8}  {:<width$}  {:<7}  LAST HEARD",
            "ID", "ADDRESS", "STATE"
        );
        for s in &report.servers {
            let heard = if s.id == report.id {
                "(this server)".to_string()
            } else {
                age(Duration::from_millis(s.last_heard_ms) + since)
            };
            let _ = writeln!(
                out,
                "  {:<8}  {:<width$}  {:<7}  {heard}",
                s.id.short(),
                clean(&s.addr),
                clean(&s.state)
            );
        }
        let _ = writeln!(out, "\nROOMS ({})", report.rooms.len());
        for room in &report.rooms {
            let topic = if room.topic.is_empty() {
                String::new()
            } else {
                format!(" — {}", clean(&room.topic))
            };
            let _ = writeln!(out, "  {} ({}){topic}", clean(&room.room), room.members);
        }
        let _ = writeln!(out, "\nMEMBERS ({})", report.members.len());
        for m in &report.members {
            let _ = writeln!(out, "  {:<24}  on {}", clean(&m.name), m.server.short());
        }
        let used = out.lines().count() + 2;
        let room_for = rows.saturating_sub(used).max(3);
        let _ = writeln!(out, "\nTIMELINE ({} events)", self.timeline.len());
        let skip = self.timeline.len().saturating_sub(room_for);
        for event in self.timeline.iter().skip(skip) {
            let _ = writeln!(out, "  {}", event_line(event));
        }
        out
    }
}

/// One event as a line: `14:05:07.123  removed    1f3a9c2e  127.0.0.1:7001`.
pub fn event_line(event: &ClusterEvent) -> String {
    format!(
        "{}  {:<9}  {}  {}",
        time_of_day(event.at_ms),
        clean(&event.kind),
        event.server.short(),
        clean(&event.addr)
    )
}

/// `340 ms`, `2.4 s`, `3 min`.
fn age(d: Duration) -> String {
    match d.as_millis() {
        ms @ 0..1000 => format!("{ms} ms ago"),
        ms @ 1000..60_000 => format!("{:.1} s ago", ms as f64 / 1000.0),
        ms => format!("{} min ago", ms / 60_000),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::{Member, RoomInfo, ServerId, ServerInfo};

    fn report(me: ServerId, other: ServerId) -> StatusReport {
        StatusReport {
            id: me,
            servers: vec![
                ServerInfo {
                    id: me,
                    addr: "127.0.0.1:7001".into(),
                    state: "alive".into(),
                    last_heard_ms: 0,
                },
                ServerInfo {
                    id: other,
                    addr: "127.0.0.1:7002".into(),
                    state: "suspect".into(),
                    last_heard_ms: 300,
                },
            ],
            members: vec![Member {
                name: "Ann".into(),
                server: other,
            }],
            counters: Default::default(),
            rooms: vec![RoomInfo {
                room: "#lobby".into(),
                members: 1,
                topic: String::new(),
            }],
        }
    }

    fn event(kind: &str, server: ServerId, at_ms: u64) -> ClusterEvent {
        ClusterEvent {
            at_ms,
            kind: kind.into(),
            server,
            addr: "127.0.0.1:7002".into(),
        }
    }

    #[test]
    fn the_screen_shows_servers_rooms_members_and_the_timeline() {
        let (me, other) = (ServerId::random(), ServerId::random());
        let t0 = Instant::now();
        let mut view = WatchView::default();
        let got = view.apply(
            &ServerMsg::Watching {
                report: report(me, other),
                events: vec![event("joined", other, 1)],
            },
            t0,
        );
        assert_eq!(got.len(), 1);
        view.apply(
            &ServerMsg::WatchEvent {
                event: event("suspect", other, 2),
            },
            t0,
        );
        let screen = view.screen("127.0.0.1:7001", t0 + Duration::from_millis(1500), 40);
        assert!(
            screen.contains(&other.short()) && screen.contains("suspect"),
            "{screen}"
        );
        assert!(screen.contains("1.8 s ago"), "ages count on: {screen}");
        assert!(screen.contains("(this server)"));
        assert!(
            screen.contains("#lobby (1)") && screen.contains("Ann"),
            "{screen}"
        );
        let timeline = &screen[screen.find("TIMELINE").unwrap()..];
        assert!(
            timeline.find("joined") < timeline.find("suspect"),
            "oldest first: {timeline}"
        );
    }

    #[test]
    fn the_timeline_is_cut_to_the_screen_and_bounded() {
        let (me, other) = (ServerId::random(), ServerId::random());
        let t0 = Instant::now();
        let mut view = WatchView::default();
        view.apply(
            &ServerMsg::WatchUpdate {
                report: report(me, other),
            },
            t0,
        );
        for i in 0..(TIMELINE as u64 + 10) {
            view.apply(
                &ServerMsg::WatchEvent {
                    event: event("joined", other, i),
                },
                t0,
            );
        }
        assert_eq!(view.timeline.len(), TIMELINE);
        let screen = view.screen("x", t0, 24);
        assert!(screen.lines().count() <= 24, "{screen}");
        assert!(
            screen.lines().count() >= 20,
            "uses the room it has: {screen}"
        );
        assert!(WatchView::default().screen("x", t0, 24).contains("waiting"));
    }
}
