//! Issue 14, from the speaker's side: every client that the speaker's
//! server listed as a member when the speaker spoke gets the message, or
//! an explicit loss notice.
//!
//! Modelled on real nodes: when an origin submits an event, the servers
//! whose members it lists are those it has delivered a `Synced` for (and
//! no `OriginGone` since); each of them must deliver that event or report
//! a loss covering it ([`Cluster::assert_promises_kept`]). Under these
//! scenarios nothing needs to be lost at all, so the checks also demand no
//! loss between running servers, streams exactly from each sync point
//! ([`Cluster::assert_exact`]), and complete, agreeing member lists.
//!
//! Every scenario runs 50 seeds at 30 % loss (sync requests and snapshots
//! included), with every server talking on every step while servers come
//! up, join late, or restart on either side of a stream.

use crate::sim_support;

use std::time::Duration;

use chatty::protocol::LeaveReason;
use chatty::relay::ChatEvent;
use chatty::sim::NetConfig;

use sim_support::seeds::for_seeds;
use sim_support::{lossy, Cluster};

/// Loss during the talking, from the first heartbeat on.
const LOSS: f64 = 0.3;
/// How long the servers talk, restarting and joining in the first 2.5 s.
const TALK: Duration = Duration::from_secs(3);
/// How long servers that start together talk: the syncs are over by then.
const TALK_AT_START: Duration = Duration::from_millis(1500);
/// A healthy network afterwards, for repair to finish.
const QUIET: Duration = Duration::from_secs(2);

/// A world at 30 % loss for `seed`, and the scenario's own RNG.
fn world(seed: u64) -> (Cluster, fastrand::Rng) {
    let c = Cluster::new(seed, lossy(LOSS, 0.02, 5));
    (c, fastrand::Rng::with_seed(seed))
}

/// A server's room, roughly: its users join, leave and talk.
fn chatter(c: &mut Cluster, rng: &mut fastrand::Rng, slot: usize) {
    let name = format!("u{slot}-{}", rng.u8(..4));
    let present = c
        .truth
        .members
        .get(&c.id(slot))
        .is_some_and(|m| m.contains(&name));
    let event = match rng.u8(..10) {
        0 if present => ChatEvent::Left {
            name,
            reason: LeaveReason::Leave,
            text: None,
        },
        0 | 1 if !present => ChatEvent::Joined { name },
        _ => ChatEvent::Message {
            from: name,
            text: format!("at {:?}", c.sim.elapsed()),
            room: "#lobby".into(),
            cid: 0,
            action: false,
        },
    };
    c.submit(slot, event);
}

/// One step of the talking: a short, random pause, then every server in
/// `talkers` that is running says something.
fn step(c: &mut Cluster, rng: &mut fastrand::Rng, talkers: &[usize]) {
    c.run(Duration::from_millis(rng.u64(1..=5)));
    for &slot in talkers {
        if c.sim.node(slot).is_some() {
            chatter(c, rng, slot);
        }
    }
}

/// The network heals, repair finishes, and every promise is checked.
fn settle_and_check(c: &mut Cluster) {
    c.sim.set_net(NetConfig::default());
    c.run(QUIET);
    let promised = c.assert_promises_kept();
    assert!(promised > 0, "seed {}: nothing was promised", c.seed);
    assert_eq!(
        c.lost_between_running(),
        0,
        "seed {}: a loss that repair could have avoided",
        c.seed
    );
    c.assert_exact();
    c.assert_complete();
    c.assert_relay_follows_membership();
}

/// Three to five servers start together at 30 % loss and talk from the
/// first instant: events are submitted while every sync is in flight.
fn started_together(seed: u64) {
    let (mut c, mut rng) = world(seed);
    let slots = c.spawn(rng.usize(3..=5));
    while c.sim.elapsed() < TALK_AT_START {
        step(&mut c, &mut rng, &slots);
    }
    settle_and_check(&mut c);
    let n = slots.len();
    assert_eq!(
        c.assert_exact(),
        n * (n - 1),
        "seed {seed}: every pair exact"
    );
}

#[test]
fn servers_that_start_together_under_loss_keep_every_promise() {
    for_seeds(0..50, started_together);
}

/// Two servers talk; one to three more start at random moments, and talk
/// as soon as they run.
fn late_joiners(seed: u64) {
    let (mut c, mut rng) = world(seed);
    let mut slots = c.spawn(2);
    let mut joins: Vec<Duration> = (0..rng.usize(1..=3))
        .map(|_| Duration::from_millis(rng.u64(100..2500)))
        .collect();
    joins.sort();
    while c.sim.elapsed() < TALK {
        if joins.first().is_some_and(|at| c.sim.elapsed() >= *at) {
            joins.remove(0);
            slots.extend(c.spawn(1));
        }
        step(&mut c, &mut rng, &slots);
    }
    settle_and_check(&mut c);
}

#[test]
fn servers_that_join_mid_conversation_keep_every_promise() {
    for_seeds(0..50, late_joiners);
}

/// One server talks to three or four others; one to three times a
/// receiver restarts (a new incarnation at the same address), at once or
/// after a pause.
fn receiver_restarts(seed: u64) {
    let (mut c, mut rng) = world(seed);
    let slots = c.spawn(rng.usize(4..=5));
    restarts(&mut c, &mut rng, &[0], &slots[1..]);
    settle_and_check(&mut c);
}

#[test]
fn a_receiver_that_restarts_mid_stream_gets_every_promise() {
    for_seeds(0..50, receiver_restarts);
}

/// The talking server itself restarts, one to three times; each new
/// incarnation talks from its first instant.
fn origin_restarts(seed: u64) {
    let (mut c, mut rng) = world(seed);
    let slots = c.spawn(rng.usize(3..=4));
    let olds = restarts(&mut c, &mut rng, &[0], &[0]);
    settle_and_check(&mut c);
    // Each earlier incarnation's stream ended, as a crash, wherever it
    // had begun (a short-lived one may never have been heard of).
    for old in olds {
        for &r in &slots[1..] {
            let stream = c.stream(r, old);
            assert!(
                stream.epochs.iter().all(|e| e.gone == Some(false)),
                "seed {seed}: {old} not ended at {r}: {stream:?}"
            );
        }
    }
}

#[test]
fn an_origin_that_restarts_mid_stream_keeps_every_promise() {
    for_seeds(0..50, origin_restarts);
}

/// Talks for [`TALK`] while one to three of `victims` restart at random
/// moments; returns the incarnations replaced.
fn restarts(
    c: &mut Cluster,
    rng: &mut fastrand::Rng,
    talkers: &[usize],
    victims: &[usize],
) -> Vec<chatty::protocol::ServerId> {
    // Restarts by 1.8 s, back by 2.5 s: the last incarnation talks for
    // half a second at least.
    let mut at: Vec<Duration> = (0..rng.usize(1..=3))
        .map(|_| Duration::from_millis(rng.u64(200..1800)))
        .collect();
    at.sort();
    let mut replaced = Vec::new();
    // A crashed victim and when it comes back.
    let mut down: Option<(usize, Duration)> = None;
    while c.sim.elapsed() < TALK {
        let now = c.sim.elapsed();
        if let Some((slot, back)) = down {
            if now >= back {
                c.restart(slot);
                down = None;
            }
        } else if at.first().is_some_and(|t| now >= *t) {
            at.remove(0);
            let slot = victims[rng.usize(..victims.len())];
            replaced.push(c.id(slot));
            if rng.bool() {
                c.restart(slot);
            } else {
                c.sim.crash(slot);
                down = Some((slot, now + Duration::from_millis(rng.u64(100..700))));
            }
        }
        step(c, rng, talkers);
    }
    if let Some((slot, _)) = down {
        c.restart(slot);
    }
    replaced
}
