//! Four servers' rooms wired together through queues that stand for the
//! relay: every local event goes to every other server, each origin's in
//! order, the origins interleaved at random. Members on two servers take
//! and change names at the same moment (by `join`, by `nick`, and by a
//! `rejoin` whose `last_seen` claims to have seen everything), enter and
//! part rooms, set topics and leave; the servers react to what they hear
//! (a lost claim turns a nick back or ends a membership, and that is
//! relayed too). Once every queue is empty, all four show the same thing:
//! each room's members with their servers, and each room's topic.
//!
//! Nothing but each origin's order is kept — all the relay promises: a
//! name taken again right after it was freed may reach a third server
//! before the earlier claim and its release, and a claim that lost may be
//! live at its origin (`shadows`).

use std::collections::VecDeque;

use proptest::collection::vec;
use proptest::prelude::*;
use tokio::sync::mpsc;

use super::*;
use crate::protocol::validate::name_key;
use crate::relay::{ChatEvent, Delivery};

const NAMES: &[&str] = &["Leo", "leo", "L\u{435}o", "Ann", "Bob"];
const ROOMS: &[&str] = &["#lobby", "#dev", "#DEV", "#ops"];

/// One server: its room, its members' connections, what it relayed.
struct Server {
    room: Room,
    regs: Vec<Registration>,
    out: mpsc::UnboundedReceiver<(u64, ChatEvent)>,
}

#[derive(Debug, Clone)]
enum Step {
    /// Server, member (0..3), what, a name, a room, a number.
    Act(usize, usize, u8, usize, usize, u64),
    /// Hand the next event from one server to another.
    Deliver(usize, usize),
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        3 => (0..4usize, 0..3usize, 0..7u8, 0..NAMES.len(), 0..ROOMS.len(), 0..3u64)
            .prop_map(|(s, m, w, n, r, x)| Step::Act(s, m, w, n, r, x)),
        4 => (0..4usize, 0..4usize).prop_map(|(from, to)| Step::Deliver(from, to)),
    ]
}

/// What a server shows: each room (by key) with its members and their
/// servers, and each room's topic.
type Shown = (
    Vec<(String, Vec<(String, ServerId)>)>,
    Vec<(String, String)>,
);

fn shown(room: &Room) -> Shown {
    let state = room.lock();
    let mut rooms: Vec<_> = state
        .rooms
        .all()
        .map(|(k, c)| {
            let members = c.members.iter().map(|(n, s)| (n.clone(), *s)).collect();
            (k.clone(), members)
        })
        .collect();
    rooms.sort();
    let mut topics: Vec<(String, String)> = ROOMS
        .iter()
        .filter_map(|r| {
            state
                .rooms
                .topic(&name_key(r))
                .map(|t| (name_key(r), t.text))
        })
        .collect();
    topics.dedup();
    (rooms, topics)
}

fn act(server: &Server, member: usize, what: u8, name: usize, room: usize, x: u64) {
    let (r, conn) = (&server.room, server.regs[member].id);
    let (name, room) = (NAMES[name], ROOMS[room]);
    let _ = match what {
        0 => r.join(conn, name).map(|_| ()).map_err(|_| ()),
        1 => r.nick(conn, name).map(|_| ()).map_err(|_| ()),
        2 => r.enter(conn, room).map_err(|_| ()),
        3 => r.part(conn, room, None).map_err(|_| ()),
        4 => r.set_topic(conn, room, &format!("t{x}"), x).map_err(|_| ()),
        // A rejoin whose `last_seen` claims all of one server's events (x
        // picks which): the client's own word, which must not change who
        // wins a name.
        5 => r
            .rejoin(
                conn,
                name,
                &[MessageId {
                    origin: id([2u8, 9, 5][x as usize]),
                    seq: u64::MAX,
                }],
            )
            .map_err(|_| ()),
        _ => r.leave(conn, LeaveReason::Leave, None).map_err(|_| ()),
    };
}

/// The relay between the four servers: queues[from][to] holds the events
/// of `from` not yet delivered to `to`, in order.
#[derive(Default)]
struct Net {
    queues: [[VecDeque<(u64, ChatEvent)>; 4]; 4],
}

impl Net {
    /// Queues what each server relayed since the last call.
    fn collect(&mut self, servers: &mut [Server]) {
        for (from, s) in servers.iter_mut().enumerate() {
            while let Ok(event) = s.out.try_recv() {
                for to in (0..4).filter(|&t| t != from) {
                    self.queues[from][to].push_back(event.clone());
                }
            }
        }
    }

    /// The (from, to) pairs with an event waiting.
    fn ready(&self) -> Vec<(usize, usize)> {
        (0..4)
            .flat_map(|f| (0..4).map(move |t| (f, t)))
            .filter(|&(f, t)| !self.queues[f][t].is_empty())
            .collect()
    }

    fn deliver(&mut self, servers: &[Server], from: usize, to: usize) {
        if let Some((seq, event)) = self.queues[from][to].pop_front() {
            let origin = servers[from].room.id();
            servers[to]
                .room
                .apply(Delivery::Event { origin, seq, event });
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn every_server_shows_the_same_once_the_relay_is_quiet(steps in vec(step(), 1..160), seed in any::<u64>()) {
        let mut servers: Vec<Server> = [2u8, 9, 5, 7]
            .iter()
            .map(|&n| {
                let (tx, out) = mpsc::unbounded_channel();
                let room = Room::new(id(n), "127.0.0.1:1".into(), 1 << 16).with_relay(tx);
                let regs = (0..3).map(|_| room.register()).collect();
                Server { room, regs, out }
            })
            .collect();
        let mut net = Net::default();
        let mut rng = fastrand::Rng::with_seed(seed);
        for step in steps {
            match step {
                Step::Act(s, m, w, n, r, x) => act(&servers[s], m, w, n, r, x),
                Step::Deliver(from, to) => net.deliver(&servers, from, to),
            }
            net.collect(&mut servers);
        }
        // Drain in a random interleaving until the relay is quiet.
        loop {
            let ready = net.ready();
            if ready.is_empty() {
                break;
            }
            let (from, to) = ready[rng.usize(..ready.len())];
            net.deliver(&servers, from, to);
            net.collect(&mut servers);
        }
        let first = shown(&servers[0].room);
        for s in &servers[1..] {
            prop_assert_eq!(&shown(&s.room), &first, "server {}", s.room.id());
        }
    }
}
