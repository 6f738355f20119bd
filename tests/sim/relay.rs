//! The relay on real nodes in the deterministic simulator, membership
//! deciding who is up: loss, reordering, duplication, tail loss, overrun,
//! mid-stream joins, origin restarts, peer death during repair, and 10
//! servers × 10,000 messages at 20 % loss. Every stream must arrive
//! complete, in order, exactly once, or with its losses reported exactly.
//! A failing run prints its seed; `CHATTY_SIM_SEED=N` replays it.

use crate::sim_support;

use std::net::SocketAddr;
use std::time::Duration;

use chatty::protocol::LeaveReason;
use chatty::relay::messages::{Data, Nack, Status, WireEvent};
use chatty::relay::ChatEvent;
use chatty::sim::NetConfig;
use chatty::wire::envelope::{seal, Kind};
use chatty::wire::Via;

use sim_support::seeds::with_seed;
use sim_support::{lossy, udp_addr, Cluster, CLUSTER, MS};

/// Runs until the node in `slot` has seen the end of `origin`'s stream.
fn run_until_gone(c: &mut Cluster, slot: usize, origin: chatty::protocol::ServerId) {
    let start = c.sim.elapsed();
    while c
        .stream(slot, origin)
        .current()
        .and_then(|e| e.gone)
        .is_none()
    {
        assert!(
            c.sim.elapsed() - start < Duration::from_secs(2),
            "seed {}: {origin} never declared gone",
            c.seed
        );
        c.run(10 * MS);
    }
}

/// Hands `datagram` to the node in `slot` as if `from` had sent it.
fn inject(c: &mut Cluster, slot: usize, from: SocketAddr, datagram: &[u8]) {
    let now = c.sim.clock();
    c.node_mut(slot)
        .handle_datagram(from, Via::Unicast, datagram, now);
}

#[test]
fn loss_reordering_and_duplication_are_repaired_exactly() {
    with_seed(1, |seed| {
        let mut c = Cluster::new(seed, lossy(0.2, 0.05, 5));
        c.spawn(3);
        c.run_until_synced(Duration::from_secs(2));
        for n in 0..3000 {
            c.say(n % 3, format!("m{n}"));
            c.run(Duration::from_micros(500));
        }
        c.run(Duration::from_secs(3));
        c.assert_complete();
        // Every stream starts at 1: the servers synced before anyone spoke.
        for r in 0..3 {
            for o in (0..3).filter(|o| *o != r) {
                let seqs = c.stream(r, c.id(o)).seqs();
                assert_eq!(seqs.len(), 1000);
                assert_eq!(seqs[0], 1);
            }
        }
        assert_eq!(c.assert_exact(), 6);
        let stats = c.node(0).relay_stats();
        assert!(stats.duplicates > 0 && stats.nacks_sent > 0, "{stats:?}");
        assert!(stats.nacks_answered > 0, "{stats:?}");
    });
}

#[test]
fn loss_at_the_tail_is_noticed_by_status_and_repaired() {
    with_seed(2, |seed| {
        let mut c = Cluster::new(seed, NetConfig::default());
        c.spawn(2);
        c.run_until_synced(Duration::from_secs(1));
        c.sim.partition(&[0], &[1]);
        for n in 0..5 {
            c.say(0, format!("tail{n}"));
        }
        c.run(10 * MS); // the data datagrams are lost on the cut link
        c.sim.heal();
        assert!(c.stream(1, c.id(0)).seqs().is_empty());
        c.run(300 * MS); // nothing new is sent; the next status reveals the gap
        c.assert_complete();
        assert_eq!(c.stream(1, c.id(0)).seqs().len(), 5);
    });
}

#[test]
fn an_overrun_resyncs_and_reports_exactly_what_was_lost() {
    with_seed(3, |seed| {
        let mut c = Cluster::new(seed, NetConfig::default());
        c.config.relay.retransmit_capacity = 16;
        c.spawn(2);
        c.run_until_synced(Duration::from_secs(1));
        c.submit(0, ChatEvent::Joined { name: "ann".into() });
        c.submit(0, ChatEvent::Joined { name: "bob".into() });
        c.run(300 * MS);
        assert_eq!(c.stream(1, c.id(0)).seqs().len(), 2);
        // Shorter than suspicion: membership keeps both up throughout.
        c.sim.partition(&[0], &[1]);
        for n in 0..100 {
            c.say(0, format!("lost{n}"));
        }
        c.submit(0, ChatEvent::Joined { name: "cat".into() });
        c.submit(
            0,
            ChatEvent::Left {
                name: "ann".into(),
                reason: LeaveReason::Leave,
                text: Some("bye".into()),
            },
        );
        c.run(50 * MS);
        c.sim.heal();
        c.run(500 * MS);
        let epoch = c.stream(1, c.id(0)).current().unwrap().clone();
        assert_eq!(
            epoch.lost,
            vec![102],
            "100 messages and 2 membership changes never arrived"
        );
        assert_eq!(epoch.resyncs, vec![vec!["bob".to_string(), "cat".into()]]);
        c.assert_members_agree(1, 0);
        // Afterwards the stream carries on normally.
        c.say(0, "after".into());
        c.run(100 * MS);
        assert_eq!(c.stream(1, c.id(0)).seqs().last(), Some(&105));
        assert_eq!(c.node(1).relay_stats().lost, 102);
        assert_eq!(c.node(1).relay_stats().resyncs, 1);
    });
}

#[test]
fn a_server_joining_mid_stream_starts_at_the_current_sequence() {
    with_seed(4, |seed| {
        let mut c = Cluster::new(seed, lossy(0.1, 0.0, 5));
        c.spawn(2);
        c.submit(0, ChatEvent::Joined { name: "ann".into() });
        for n in 0..200 {
            c.say(0, format!("early{n}"));
            c.run(MS);
        }
        let late = c.spawn(1)[0];
        c.run_until_synced(Duration::from_secs(2));
        let epoch = c.stream(late, c.id(0)).current().unwrap().clone();
        assert_eq!(epoch.lost_total(), 0, "no bogus gap");
        assert!(epoch.seqs.is_empty(), "no replay of the past");
        assert!(epoch.resyncs.is_empty());
        assert_eq!(
            epoch.members,
            ["ann".to_string()].into_iter().collect(),
            "state sync carries the members"
        );
        for n in 0..50 {
            c.say(0, format!("late{n}"));
            c.run(MS);
        }
        c.run(500 * MS);
        let seqs = c.stream(late, c.id(0)).seqs();
        assert_eq!(seqs.len(), 50);
        assert_eq!(seqs[0], 202);
        c.assert_complete();
        assert_eq!(c.assert_exact(), 6);
    });
}

#[test]
fn a_restarted_origin_starts_a_new_sequence_space() {
    with_seed(5, |seed| {
        let mut c = Cluster::new(seed, lossy(0.1, 0.01, 5));
        c.spawn(2);
        c.run_until_synced(Duration::from_secs(2));
        c.submit(0, ChatEvent::Joined { name: "ann".into() });
        for n in 0..10 {
            c.say(0, format!("old{n}"));
        }
        c.run(300 * MS);
        let old = c.id(0);
        c.sim.crash(0);
        run_until_gone(&mut c, 1, old);
        let epoch = c.stream(1, old).current().unwrap().clone();
        assert_eq!(epoch.gone, Some(false), "crashed, not left");
        assert_eq!(epoch.seqs.len(), 11);
        let new = c.restart(0).id;
        c.run_until_synced(Duration::from_secs(2));
        for n in 0..10 {
            c.say(0, format!("new{n}"));
            c.run(MS);
        }
        c.run(500 * MS);
        assert_eq!(c.stream(1, new).seqs(), (1..=10).collect::<Vec<_>>());
        c.assert_complete();
    });
}

#[test]
fn a_peer_that_dies_during_repair_is_no_longer_chased() {
    with_seed(6, |seed| {
        let mut c = Cluster::new(seed, NetConfig::default());
        c.spawn(2);
        c.run_until_synced(Duration::from_secs(1));
        let dead = c.id(0);
        c.sim.crash(0);
        // A status from before the crash says events 1..=10 exist.
        let status = Status {
            origin: dead,
            highest: 10,
            oldest: 1,
        };
        let bytes = seal(Kind::RelayStatus, CLUSTER, &status).unwrap();
        inject(&mut c, 1, udp_addr(0), &bytes);
        c.run(200 * MS);
        let chasing = c.node(1).relay_stats().nacks_sent;
        assert!(
            chasing >= 3,
            "NACKs repeat while the origin is believed alive ({chasing})"
        );
        run_until_gone(&mut c, 1, dead);
        let chased = c.node(1).relay_stats().nacks_sent;
        c.run(Duration::from_secs(1));
        assert_eq!(
            c.node(1).relay_stats().nacks_sent,
            chased,
            "no NACKs after membership declared it dead"
        );
        let epoch = c.stream(1, dead).current().unwrap().clone();
        assert_eq!(epoch.lost, vec![10], "the ten it knew of are reported");
    });
}

#[test]
fn ten_servers_ten_thousand_messages_each_at_twenty_percent_loss() {
    with_seed(7, |seed| {
        let mut c = Cluster::new(seed, lossy(0.2, 0.01, 5));
        c.spawn(10);
        c.run_until_synced(Duration::from_secs(3));
        // Bursts of 5 per origin every 5 ms: 10 × 10,000 messages in 10 s.
        for round in 0..2000 {
            for origin in 0..10 {
                for k in 0..5 {
                    c.say(origin, format!("{origin}-{round}-{k}"));
                }
            }
            c.run(5 * MS);
        }
        c.run(Duration::from_secs(3));
        c.assert_complete();
        for r in 0..10 {
            for o in (0..10).filter(|o| *o != r) {
                assert_eq!(c.stream(r, c.id(o)).seqs().len(), 10_000);
            }
        }
        assert_eq!(c.assert_promises_kept(), 90 * 10_000);
    });
}

#[test]
fn junk_relay_datagrams_never_panic() {
    with_seed(8, |seed| {
        let mut c = Cluster::new(seed, NetConfig::default());
        c.spawn(2);
        c.run_until_synced(Duration::from_secs(1));
        let good = seal(
            Kind::RelayNack,
            CLUSTER,
            &Nack {
                origin: c.id(1),
                ranges: vec![(1, u64::MAX)],
            },
        )
        .unwrap();
        inject(&mut c, 1, udp_addr(0), &good); // a huge range is clamped, not a crash
        let mut rng = fastrand::Rng::with_seed(seed);
        for _ in 0..5000 {
            let mut d = good.clone();
            for _ in 0..rng.usize(1..4) {
                let i = rng.usize(..d.len());
                d[i] = rng.u8(..);
            }
            inject(&mut c, 1, udp_addr(0), &d);
        }
        assert!(c.node(1).drops().malformed > 0);
        // The node is none the worse: streams carry on.
        c.say(0, "still here".into());
        c.say(1, "me too".into());
        c.run(200 * MS);
        c.assert_complete();
    });
}

#[test]
fn a_server_that_dies_with_a_gap_unrepaired_reports_the_loss() {
    with_seed(9, |seed| {
        let mut c = Cluster::new(seed, NetConfig::default());
        c.spawn(2);
        c.run_until_synced(Duration::from_secs(1));
        let origin = c.id(0);
        // Events 1..=6 are said but lost on the way; 1..=3 and 6 turn up
        // late, 4..=5 never do, and the origin dies before it can resend.
        c.sim.partition(&[0], &[1]);
        for n in 1..=6 {
            c.say(0, format!("m{n}"));
        }
        c.run(10 * MS);
        c.sim.crash(0);
        c.sim.heal();
        let events = [1, 2, 3, 6]
            .into_iter()
            .map(|seq| WireEvent::new(seq, c.truth.event(origin, seq).unwrap()))
            .collect();
        let data = Data { origin, events };
        let bytes = seal(Kind::RelayData, CLUSTER, &data).unwrap();
        inject(&mut c, 1, udp_addr(0), &bytes);
        run_until_gone(&mut c, 1, origin);
        let epoch = c.stream(1, origin).current().unwrap().clone();
        assert_eq!(
            epoch.seqs,
            [1, 2, 3, 6],
            "what arrived is delivered, in order"
        );
        assert_eq!(
            epoch.lost,
            vec![2],
            "the two missing events are reported, not silently dropped"
        );
        assert_eq!(epoch.gone, Some(false));
    });
}

#[test]
fn an_event_kind_from_a_newer_server_keeps_its_place() {
    with_seed(10, |seed| {
        let mut c = Cluster::new(seed, NetConfig::default());
        c.spawn(2);
        c.run_until_synced(Duration::from_secs(1));
        c.submit(0, ChatEvent::Unknown { kind: 42 });
        c.say(0, "after the unknown kind".into());
        c.run(200 * MS);
        let seqs = c.stream(1, c.id(0)).seqs();
        assert_eq!(seqs, [1, 2], "no gap: the stream carries on");
        assert_eq!(c.node(1).relay_stats().nacks_sent, 0);
    });
}

#[test]
fn requests_from_strangers_are_not_answered() {
    with_seed(11, |seed| {
        let mut c = Cluster::new(seed, NetConfig::default());
        c.spawn(2);
        c.run_until_synced(Duration::from_secs(1));
        for n in 0..50 {
            c.say(0, format!("m{n}"));
        }
        c.run(100 * MS);
        let nack = seal(
            Kind::RelayNack,
            CLUSTER,
            &Nack {
                origin: c.id(0),
                ranges: vec![(1, 50)],
            },
        )
        .unwrap();
        let stranger: SocketAddr = "127.0.0.1:9".parse().unwrap();
        let before = c.node(0).relay_stats();
        inject(&mut c, 0, stranger, &nack);
        assert!(
            c.node_mut(0).poll_transmit().is_none(),
            "a forged source gets nothing back"
        );
        inject(&mut c, 0, udp_addr(1), &nack);
        assert!(
            c.node_mut(0).poll_transmit().is_some(),
            "a known peer is answered"
        );
        let after = c.node(0).relay_stats();
        assert_eq!(after.retransmitted - before.retransmitted, 50);
        assert_eq!(after.nacks_answered - before.nacks_answered, 1);
    });
}
