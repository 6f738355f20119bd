//! Private lines through a crash, in the simulator: three servers (real
//! rooms on real nodes, `sim_support::rooms`) over a lossy, duplicating,
//! reordering network. Leo, on server 0, sends private lines in turn to Bob
//! on server 1 and to Cat on server 2, each with a `cid`; server 0 crashes
//! right after one of them, before it has handed the last lines to its
//! relay. Leo does what PROTOCOL.md 12.5 asks of a client: he rejoins on
//! server 1 and sends again, in order and under the same cids, every line
//! acknowledged less than RELAY_GRACE (1 s) before the crash, then goes on.
//! Once the network is quiet, Bob and Cat have each of their lines exactly
//! once, each carrying its cid, whatever the crash cut off: the survivor
//! Leo moved to numbers anew what it never had and relays once more what it
//! had, and the other drops what it was relayed already.

use crate::sim_support;

use std::time::Duration;

use chatty::protocol::ServerMsg;
use chatty::server::room::{ClientId, Wakes};
use chatty::sim::NetConfig;

use sim_support::rooms::World;
use sim_support::seeds::for_seeds;
use sim_support::{lossy, MS};

const LINES: u64 = 40;
/// How long after its ack a line is kept, and sent again after a failover.
const RELAY_GRACE: Duration = Duration::from_secs(1);

/// Whom line `n` goes to: Bob on server 1, Cat on server 2.
fn to(n: u64) -> &'static str {
    if n % 2 == 1 {
        "Bob"
    } else {
        "Cat"
    }
}

/// Runs the world in 5 ms steps until `done` holds; panics after `limit`.
fn run_until(w: &mut World, what: &str, limit: Duration, done: impl Fn(&World) -> bool) {
    let mut waited = Duration::ZERO;
    while !done(w) {
        assert!(waited < limit, "{what}: not within {limit:?}");
        w.run(5 * MS);
        waited += 5 * MS;
    }
}

/// Sends line `n` privately from connection `reg` of server `slot`;
/// returns whether it was numbered (acknowledged).
fn send(w: &World, slot: usize, reg: usize, n: u64) -> bool {
    let server = &w.servers[slot];
    let cid = Some(ClientId { cid: n, ack: true });
    let text = format!("pm {n}");
    let conn = server.regs[reg].id;
    let mut wakes = Wakes::default();
    let sent = server
        .room
        .private_then_wake(conn, to(n), text, false, cid, &mut wakes);
    sent.is_ok()
}

/// The private lines from Leo that connection 0 of server `slot` got, as
/// (cid, text), sorted.
fn got(w: &World, slot: usize) -> Vec<(Option<u64>, String)> {
    let mut lines: Vec<(Option<u64>, String)> = w.servers[slot].heard[0]
        .iter()
        .filter_map(|m| match m {
            ServerMsg::Private {
                from, text, cid, ..
            } if from == "Leo" => Some((*cid, text.clone())),
            _ => None,
        })
        .collect();
    lines.sort();
    lines
}

#[test]
fn private_lines_through_a_crash_arrive_exactly_once() {
    for_seeds(0..30, |seed| {
        let mut w = World::new(seed, lossy(0.05, 0.02, 5), 3, 2);
        w.keep_frames = true;
        for (slot, name) in [(0, "Leo"), (1, "Bob"), (2, "Cat")] {
            let conn = w.servers[slot].regs[0].id;
            w.servers[slot].room.join(conn, name).expect("a free name");
        }
        // Every server knows every member before the first line.
        run_until(&mut w, "the members known", Duration::from_secs(5), |w| {
            w.servers.iter().all(|s| {
                ["Leo", "Bob", "Cat"]
                    .iter()
                    .all(|name| s.room.whois(name).is_ok())
            })
        });
        let crash_after = w.sim.rng().u64(5..LINES - 5);
        let mut acked_at = Vec::new();
        for n in 1..=crash_after {
            assert!(send(&w, 0, 0, n), "line {n} (seed {seed})");
            acked_at.push((n, w.sim.elapsed()));
            // Lines 20 to 40 ms apart; the crash comes at once after the
            // last, before server 0 has run again to relay it.
            if n < crash_after {
                let gap = w.sim.rng().u64(4..8);
                for _ in 0..gap {
                    w.run(5 * MS);
                }
            }
        }
        w.sim.crash(0);
        let crashed_at = w.sim.elapsed();
        // Leo's name is free on server 1 once server 0 is declared dead.
        let leo = w.servers[1].regs[1].id;
        run_until(&mut w, "Leo back in", Duration::from_secs(5), |w| {
            w.servers[1].room.rejoin(leo, "Leo", &[]).is_ok()
        });
        let unsafe_lines = acked_at
            .iter()
            .filter(|(_, at)| crashed_at < *at + RELAY_GRACE)
            .map(|(n, _)| *n);
        for n in unsafe_lines.chain(crash_after + 1..=LINES) {
            assert!(send(&w, 1, 1, n), "line {n} again (seed {seed})");
            w.run(5 * MS);
        }
        w.sim.set_net(NetConfig::default());
        for _ in 0..400 {
            w.run(5 * MS);
        }
        for (slot, who) in [(1, "Bob"), (2, "Cat")] {
            let mut want: Vec<(Option<u64>, String)> = (1..=LINES)
                .filter(|n| to(*n) == who)
                .map(|n| (Some(n), format!("pm {n}")))
                .collect();
            want.sort();
            assert_eq!(got(&w, slot), want, "{who}'s lines (seed {seed})");
        }
    });
}
