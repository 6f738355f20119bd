//! Room membership across servers in the simulator: four servers, each a
//! real [`Room`] (what a server keeps: rooms, members, names, topics) on a
//! real `Node` (membership, relay), wired as `chatty server` wires them
//! (`sim_support::rooms`).
//! Members join, take and change names (look-alikes included), enter and
//! part rooms, set topics, talk and leave on every server at once, over a
//! lossy, duplicating, reordering network, through a partition that lasts
//! long enough for each side to remove the other, its heal, and a server
//! killed and restarted as a new incarnation. Once the network is quiet,
//! every server shows the same rooms, each with the same members on the
//! same servers and the same topic, and nobody is listed on a server that
//! does not hold them (no ghosts).

use crate::sim_support;

use std::collections::BTreeMap;

use chatty::protocol::{LeaveReason, ServerId, ServerMsg};
use chatty::server::room::Room;
use chatty::sim::NetConfig;

use sim_support::rooms::World;
use sim_support::seeds::for_seeds;
use sim_support::{lossy, MS};

const SERVERS: usize = 4;
const MEMBERS: usize = 3;
const NAMES: &[&str] = &["Leo", "leo", "L\u{435}o", "Ann", "Bob", "Cy", "Dee"];
const ROOMS: &[&str] = &["#lobby", "#dev", "#DEV", "#ops", "#q"];

/// A random member does a random thing on a random server. Errors (name
/// taken, not in the room, too many rooms…) are part of the game.
fn act(w: &mut World) {
    let rng = w.sim.rng();
    let (s, m, what) = (rng.usize(..SERVERS), rng.usize(..MEMBERS), rng.u8(..20));
    let (name, room) = (
        NAMES[rng.usize(..NAMES.len())],
        ROOMS[rng.usize(..ROOMS.len())],
    );
    let at = w.sim.elapsed().as_millis() as u64;
    let server = &w.servers[s];
    let (r, conn) = (&server.room, server.regs[m].id);
    match what {
        0..=5 => drop(r.join(conn, name)),
        6 | 7 => drop(r.nick(conn, name)),
        8..=11 => drop(r.enter(conn, room)),
        12 => drop(r.part(conn, room, Some("bye"))),
        13 => drop(r.set_topic(conn, room, &format!("t{at}"), at)),
        14 => drop(r.leave(conn, LeaveReason::Leave, Some("gone".into()))),
        _ => drop(r.say(conn, format!("at {at}"))),
    }
}

/// Some activity, `rounds` times 5 ms.
fn busy(w: &mut World, rounds: usize) {
    for _ in 0..rounds {
        if w.sim.rng().bool() {
            act(w);
        }
        w.run(5 * MS);
    }
}

/// What a server shows: each room (by its lower-cased name) with its
/// members and their servers, and its topic.
type Shown = BTreeMap<String, (Vec<(String, ServerId)>, String)>;

fn shown(room: &Room) -> Shown {
    let ServerMsg::RoomsReply { rooms } = room.rooms() else {
        panic!("rooms answers with rooms_reply");
    };
    rooms
        .into_iter()
        .map(|info| {
            let ServerMsg::WhoReply { members, .. } = room.who(&info.room).expect("listed room")
            else {
                panic!("who answers with who_reply");
            };
            let mut members: Vec<(String, ServerId)> =
                members.into_iter().map(|m| (m.name, m.server)).collect();
            members.sort();
            (info.room.to_lowercase(), (members, info.topic))
        })
        .collect()
}

/// Every server shows the same, and each member listed is held on its
/// server by a local member of that name.
fn assert_converged(w: &World, seed: u64) {
    let first = shown(&w.servers[0].room);
    for (slot, server) in w.servers.iter().enumerate().skip(1) {
        assert_eq!(
            shown(&server.room),
            first,
            "server {slot} disagrees with server 0 (seed {seed})"
        );
    }
    let ids: Vec<ServerId> = w.servers.iter().map(|s| s.room.id()).collect();
    for (room, (members, _)) in &first {
        for (name, server) in members {
            assert!(
                ids.contains(server),
                "{name} in {room} is listed on {server}, which is not running (seed {seed})"
            );
            let home = &w.servers[ids.iter().position(|i| i == server).unwrap()];
            let at_home = &shown(&home.room)[room].0;
            assert!(
                at_home.contains(&(name.clone(), *server)),
                "{name} in {room} is not held by its own server (seed {seed})"
            );
        }
    }
}

/// Quiet: no loss, long enough for every repair and snapshot.
fn settle(w: &mut World) {
    w.sim.set_net(NetConfig::default());
    for _ in 0..400 {
        w.run(5 * MS);
    }
}

#[test]
fn rooms_converge_through_loss_a_partition_its_heal_and_a_restart() {
    for_seeds(0..40, |seed| {
        let mut w = World::new(seed, lossy(0.05, 0.02, 5), SERVERS, MEMBERS);
        busy(&mut w, 200);
        // Long enough for each side to remove the other.
        w.sim.partition(&[0, 1], &[2, 3]);
        // Each side has a chat of its own meanwhile, rooms beyond #lobby
        // included (sampled: the random walk also empties rooms).
        let mut rooms_seen = [false; SERVERS];
        for _ in 0..30 {
            busy(&mut w, 10);
            for (slot, seen) in rooms_seen.iter_mut().enumerate() {
                *seen |= shown(&w.servers[slot].room).len() > 1;
            }
        }
        assert!(
            rooms_seen.iter().all(|s| *s),
            "rooms on every server (seed {seed})"
        );
        w.sim.heal();
        busy(&mut w, 200);
        settle(&mut w);
        assert_converged(&w, seed);

        // A server dies in the middle of activity and comes back new.
        busy(&mut w, 50);
        w.restart(2);
        busy(&mut w, 200);
        settle(&mut w);
        assert_converged(&w, seed);
    });
}

#[test]
fn rooms_converge_under_heavy_loss() {
    for_seeds(100..120, |seed| {
        let mut w = World::new(seed, lossy(0.25, 0.05, 20), SERVERS, MEMBERS);
        busy(&mut w, 400);
        settle(&mut w);
        assert_converged(&w, seed);
    });
}
