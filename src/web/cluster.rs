//! `/cluster`: the cluster as this server sees it, live. A task follows
//! the membership view and the chat's member list, keeps a bounded
//! timeline of membership changes (joined, suspect, alive again, removed,
//! restarted as a new incarnation), and publishes a JSON snapshot; each
//! viewer gets every new snapshot as a server-sent event.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::convert::Infallible;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use axum::extract::State;
use axum::http::header;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::IntoResponse;
use futures_util::Stream;
use serde::Serialize;
use tokio::sync::watch;

use super::Web;
use crate::membership::Health;
use crate::net::driver::ClusterView;
use crate::protocol::ServerId;
use crate::server::Sessions;

/// How often the snapshot is rebuilt without a membership change (member
/// counts and "last heard" ages move on their own).
const REFRESH: Duration = Duration::from_millis(250);
/// Timeline entries kept.
const TIMELINE: usize = 200;
/// Removed servers still shown.
const REMOVED: usize = 32;

/// Web addresses remembered for the Origin check (a page of a server
/// that has since died still fails over to this one).
const KNOWN_WEB: usize = 1024;

/// The latest snapshot, as JSON, for every handler; and every web address
/// the cluster has announced.
#[derive(Clone, Debug)]
pub struct Feed {
    latest: watch::Receiver<Arc<String>>,
    known_web: Arc<Mutex<BTreeSet<String>>>,
}

impl Feed {
    /// Starts following `sessions`' server until it stops.
    pub fn start(sessions: &Sessions) -> Feed {
        let mut tracker = Tracker::default();
        let view = sessions.cluster_view();
        let first = tracker.snapshot(sessions, view.as_ref().map(|v| v.borrow().clone()));
        let (tx, latest) = watch::channel(Arc::new(first));
        let feed = Feed {
            latest,
            known_web: Arc::default(),
        };
        if let Some(view) = &view {
            feed.learn(&view.borrow());
        }
        sessions.spawn(follow(sessions.clone(), view, tracker, tx, feed.clone()));
        feed
    }

    /// Remembers every web address in `view`, up to [`KNOWN_WEB`].
    fn learn(&self, view: &ClusterView) {
        let mut known = self.known_web.lock().unwrap_or_else(|e| e.into_inner());
        let announced = std::iter::once(&view.me)
            .chain(view.members.iter().map(|m| &m.info))
            .filter_map(|info| info.web_addr);
        for web in announced {
            if known.len() < KNOWN_WEB {
                known.insert(web.to_string());
            }
        }
    }

    /// Whether a server of the cluster has announced `authority` (`ip:port`)
    /// as its web address since this server started.
    pub fn knows_web(&self, authority: &str) -> bool {
        let known = self.known_web.lock().unwrap_or_else(|e| e.into_inner());
        known.contains(authority)
    }
}

async fn follow(
    sessions: Sessions,
    mut view: Option<watch::Receiver<ClusterView>>,
    mut tracker: Tracker,
    tx: watch::Sender<Arc<String>>,
    feed: Feed,
) {
    let stopping = sessions.stopping();
    tokio::pin!(stopping);
    loop {
        let changed = async {
            match view.as_mut() {
                Some(v) => v.changed().await.is_ok(),
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            _ = &mut stopping => return,
            _ = tokio::time::sleep(REFRESH) => {}
            still = changed => if !still { view = None },
        }
        let current = view.as_ref().map(|v| v.borrow().clone());
        if let Some(current) = &current {
            feed.learn(current);
        }
        let _ = tx.send(Arc::new(tracker.snapshot(&sessions, current)));
    }
}

/// One server as the page shows it.
#[derive(Debug, Clone, Serialize)]
struct ServerRow {
    id: String,
    short: String,
    addr: String,
    web: Option<String>,
    /// `alive`, `suspect`, `removed` or `restarted` (a newer incarnation
    /// took its address).
    state: &'static str,
    last_heard_ms: u64,
    clients: usize,
    /// Rooms with a member on this server.
    rooms: usize,
    me: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    replaced_by: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
struct Change {
    at: u64,
    server: String,
    addr: String,
    change: &'static str,
}

#[derive(Serialize)]
struct Snapshot<'a> {
    me: String,
    at: u64,
    servers: Vec<ServerRow>,
    rooms: Vec<RoomRow>,
    relay: BTreeMap<&'a str, u64>,
    timeline: &'a VecDeque<Change>,
}

#[derive(Serialize)]
struct RoomRow {
    room: String,
    members: u32,
    topic: String,
}

/// Membership as last seen, for telling what changed.
#[derive(Debug, Default)]
struct Tracker {
    live: BTreeMap<ServerId, (String, Health, Option<String>)>,
    removed: VecDeque<ServerRow>,
    timeline: VecDeque<Change>,
}

fn unix_ms() -> u64 {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

impl Tracker {
    fn note(&mut self, server: ServerId, addr: &str, change: &'static str) {
        if self.timeline.len() == TIMELINE {
            self.timeline.pop_front();
        }
        self.timeline.push_back(Change {
            at: unix_ms(),
            server: server.short(),
            addr: addr.to_string(),
            change,
        });
    }

    /// Compares `view` with what was seen last and returns the snapshot.
    fn snapshot(&mut self, sessions: &Sessions, view: Option<ClusterView>) -> String {
        let status = sessions.status();
        let mut clients: BTreeMap<ServerId, usize> = BTreeMap::new();
        for member in &status.members {
            *clients.entry(member.server).or_default() += 1;
        }
        let rooms_at = sessions.rooms_per_server();
        let rooms_of = |id: &ServerId| rooms_at.get(id).copied().unwrap_or(0);
        let me = sessions.server_id();
        let mut servers = vec![ServerRow {
            id: me.to_string(),
            short: me.short(),
            addr: status
                .servers
                .first()
                .map(|s| s.addr.clone())
                .unwrap_or_default(),
            web: view
                .as_ref()
                .and_then(|v| v.me.web_addr.map(|a| a.to_string())),
            state: "alive",
            last_heard_ms: 0,
            clients: clients.get(&me).copied().unwrap_or(0),
            rooms: rooms_of(&me),
            me: true,
            replaced_by: None,
        }];
        let mut relay = BTreeMap::new();
        if let Some(view) = &view {
            self.follow(view);
            for m in &view.members {
                servers.push(ServerRow {
                    id: m.info.id.to_string(),
                    short: m.info.id.short(),
                    addr: m.info.client_addr.to_string(),
                    web: m.info.web_addr.map(|a| a.to_string()),
                    state: m.health.as_str(),
                    last_heard_ms: m.last_heard.elapsed().as_millis() as u64,
                    clients: clients.get(&m.info.id).copied().unwrap_or(0),
                    rooms: rooms_of(&m.info.id),
                    me: false,
                    replaced_by: None,
                });
            }
            let r = view.relay;
            relay.extend([
                ("delivered", r.delivered),
                ("duplicates", r.duplicates),
                ("nacks_sent", r.nacks_sent),
                ("nacks_answered", r.nacks_answered),
                ("resent", r.retransmitted),
                ("resyncs", r.resyncs),
                ("lost", r.lost),
            ]);
        }
        servers.extend(self.removed.iter().rev().cloned());
        let rooms = status
            .rooms
            .iter()
            .map(|r| RoomRow {
                room: r.room.clone(),
                members: r.members,
                topic: r.topic.clone(),
            })
            .collect();
        let snapshot = Snapshot {
            me: me.to_string(),
            at: unix_ms(),
            servers,
            rooms,
            relay,
            timeline: &self.timeline,
        };
        serde_json::to_string(&snapshot).unwrap_or_else(|_| "{}".into())
    }

    /// Records what changed in membership since the last view.
    fn follow(&mut self, view: &ClusterView) {
        let mut now: BTreeMap<ServerId, (String, Health, Option<String>)> = BTreeMap::new();
        for m in &view.members {
            let web = m.info.web_addr.map(|a| a.to_string());
            now.insert(m.info.id, (m.info.client_addr.to_string(), m.health, web));
        }
        for (id, (addr, health, _)) in &now {
            match self.live.get(id) {
                None => {
                    let restart = self
                        .live
                        .iter()
                        .any(|(old, (a, ..))| old != id && a == addr)
                        || self
                            .removed
                            .iter()
                            .any(|r| r.addr == *addr && r.state == "removed");
                    let change = if restart { "restarted" } else { "joined" };
                    self.note(*id, addr, change);
                    for row in self.removed.iter_mut().filter(|r| r.addr == *addr) {
                        row.state = "restarted";
                        row.replaced_by = Some(id.short());
                    }
                }
                Some((_, was, _)) if was != health => {
                    let change = if *health == Health::Suspect {
                        "suspect"
                    } else {
                        "alive"
                    };
                    self.note(*id, addr, change);
                }
                Some(_) => {}
            }
        }
        let gone: Vec<(ServerId, String, Option<String>)> = self
            .live
            .iter()
            .filter(|(id, _)| !now.contains_key(id))
            .map(|(id, (addr, _, web))| (*id, addr.clone(), web.clone()))
            .collect();
        for (id, addr, web) in gone {
            let replaced = now
                .iter()
                .find(|(_, (a, ..))| *a == addr)
                .map(|(n, _)| n.short());
            self.note(id, &addr, "removed");
            if self.removed.len() == REMOVED {
                self.removed.pop_front();
            }
            self.removed.push_back(ServerRow {
                id: id.to_string(),
                short: id.short(),
                addr,
                web,
                state: if replaced.is_some() {
                    "restarted"
                } else {
                    "removed"
                },
                last_heard_ms: 0,
                clients: 0,
                rooms: 0,
                me: false,
                replaced_by: replaced,
            });
        }
        self.live = now;
    }
}

/// `GET /cluster/events`: the snapshot now and after every change.
pub async fn events(State(web): State<Web>) -> Sse<impl Stream<Item = Result<Event, Infallible>>> {
    let rx = web.cluster.latest.clone();
    let stream = futures_util::stream::unfold((rx, true), |(mut rx, first)| async move {
        // Ends when the follower stops (the server is shutting down).
        if !first && rx.changed().await.is_err() {
            return None;
        }
        let data = rx.borrow_and_update().clone();
        Some((Ok(Event::default().data(data.as_str())), (rx, false)))
    });
    Sse::new(stream).keep_alive(KeepAlive::default())
}

/// `GET /cluster.json`: the snapshot now, for scripts and tests.
pub async fn snapshot(State(web): State<Web>) -> impl IntoResponse {
    let data = web.cluster.latest.borrow().clone();
    (
        [(header::CONTENT_TYPE, "application/json")],
        data.as_str().to_owned(),
    )
}

#[cfg(test)]
mod tests {
    use std::net::SocketAddr;
    use std::time::Instant;

    use super::*;
    use crate::membership::{MemberInfo, MemberView};

    fn info(n: u8, port: u16) -> MemberInfo {
        MemberInfo {
            id: ServerId::from_bytes([n; 16]),
            client_addr: SocketAddr::from(([127, 0, 0, 1], port)),
            udp_addr: SocketAddr::from(([127, 0, 0, 1], port + 1)),
            web_addr: Some(SocketAddr::from(([127, 0, 0, 1], port + 2))),
        }
    }

    fn view(members: &[(MemberInfo, Health)]) -> ClusterView {
        ClusterView {
            me: info(1, 1000),
            members: members
                .iter()
                .map(|&(info, health)| MemberView {
                    info,
                    health,
                    last_heard: Instant::now(),
                })
                .collect(),
            drops: Default::default(),
            seal: Default::default(),
            relay: Default::default(),
        }
    }

    fn changes(tracker: &Tracker) -> Vec<(&str, &'static str)> {
        tracker
            .timeline
            .iter()
            .map(|c| (c.addr.as_str(), c.change))
            .collect()
    }

    #[test]
    fn the_timeline_tells_joins_suspicion_removal_and_a_new_incarnation() {
        let mut tracker = Tracker::default();
        let b = info(2, 2000);
        let b_again = info(3, 2000);
        tracker.follow(&view(&[(b, Health::Alive)]));
        tracker.follow(&view(&[(b, Health::Suspect)]));
        tracker.follow(&view(&[]));
        assert_eq!(tracker.removed[0].state, "removed");
        assert_eq!(tracker.removed[0].web.as_deref(), Some("127.0.0.1:2002"));
        tracker.follow(&view(&[(b_again, Health::Alive)]));
        assert_eq!(
            changes(&tracker),
            [
                ("127.0.0.1:2000", "joined"),
                ("127.0.0.1:2000", "suspect"),
                ("127.0.0.1:2000", "removed"),
                ("127.0.0.1:2000", "restarted"),
            ]
        );
        assert_eq!(tracker.removed[0].state, "restarted");
        assert_eq!(tracker.removed[0].replaced_by, Some(b_again.id.short()));
    }

    #[test]
    fn removed_servers_and_the_timeline_stay_bounded() {
        let mut tracker = Tracker::default();
        for n in 0..(REMOVED as u16 + 10) {
            let s = info((n % 200) as u8 + 2, 3000 + n * 3);
            tracker.follow(&view(&[(s, Health::Alive)]));
            tracker.follow(&view(&[]));
        }
        assert_eq!(tracker.removed.len(), REMOVED);
        for _ in 0..TIMELINE {
            tracker.follow(&view(&[(info(250, 9000), Health::Alive)]));
            tracker.follow(&view(&[(info(250, 9000), Health::Suspect)]));
        }
        assert_eq!(tracker.timeline.len(), TIMELINE);
    }
}
