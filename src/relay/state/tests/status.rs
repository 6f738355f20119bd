//! When the relay announces its range (`status.rs`): soon and a few times
//! after news, then only a slow keepalive; one datagram to the group for
//! the peers it reaches, unicast for the rest; and a lost tail is still
//! repaired promptly.

use super::*;

const MS: Duration = Duration::from_millis(1);

/// Server 1 with servers 2 and 3 up; its first (idle) status drained.
fn origin(now: Instant) -> Relay {
    let mut a = relay(1, RelayConfig::default(), now);
    a.peer_up(id(2), addr(2), now);
    a.peer_up(id(3), addr(3), now);
    a.handle_tick(now);
    while a.poll_transmit().is_some() {}
    a
}

/// Ticks `a` every 10 ms from `from` for `span`; the times of the statuses
/// it sent, as offsets from `from`, with where each went.
fn statuses(a: &mut Relay, from: Instant, span: Duration) -> Vec<(Duration, Destination)> {
    let mut out = Vec::new();
    let mut t = Duration::ZERO;
    while t <= span {
        a.handle_tick(from + t);
        for (to, _) in sent::<Status>(a, Kind::RelayStatus) {
            out.push((t, to));
        }
        t += 10 * MS;
    }
    out
}

#[test]
fn an_idle_origin_only_sends_a_keepalive() {
    let t0 = Instant::now();
    let mut a = origin(t0);
    let got = statuses(&mut a, t0, Duration::from_millis(9_990));
    // One per keepalive (1 s) and peer: 9 rounds of 2 within the span.
    assert_eq!(got.len(), 18, "{got:?}");
    assert_eq!(a.next_deadline(), t0 + Duration::from_secs(10));
}

#[test]
fn news_is_announced_soon_and_repeated_then_the_keepalive_resumes() {
    let t0 = Instant::now();
    let mut a = origin(t0);
    let t1 = t0 + 300 * MS;
    a.submit(1, message(1));
    a.handle_tick(t1);
    let data = sent::<Data>(&mut a, Kind::RelayData);
    assert_eq!(data.len(), 2, "the event to both peers");
    let got = statuses(&mut a, t1, Duration::from_millis(2_000));
    let times: Vec<Duration> = got
        .iter()
        .filter(|(_, to)| *to == Destination::Unicast(addr(2)))
        .map(|(t, _)| *t)
        .collect();
    // Five announcements 100 ms apart, then back to the keepalive.
    let repeats: Vec<Duration> = (1..=5).map(|k| k * 100 * MS).collect();
    assert_eq!(times[..5], repeats[..], "{times:?}");
    assert_eq!(times[5..], [1_500 * MS], "{times:?}");
}

#[test]
fn peers_the_group_reaches_get_one_group_datagram() {
    let t0 = Instant::now();
    let mut a = origin(t0);
    a.set_group_peers([id(2), id(3)]);
    let got = statuses(&mut a, t0, Duration::from_secs(1));
    assert_eq!(got, [(1_000 * MS, Destination::Group)]);
    // Server 3 is no longer heard on the group: it gets unicast, server 2
    // still the group datagram. Ids the relay has no peer for change nothing.
    a.set_group_peers([id(2), id(9)]);
    let got = statuses(&mut a, t0 + 1_010 * MS, Duration::from_secs(1));
    let to: Vec<Destination> = got.into_iter().map(|(_, to)| to).collect();
    assert_eq!(to, [Destination::Unicast(addr(3)), Destination::Group]);
    // No peer on the group at all: unicast only, never to the group.
    a.set_group_peers([id(9)]);
    let got = statuses(&mut a, t0 + 2_010 * MS, Duration::from_secs(1));
    assert!(
        got.iter().all(|(_, to)| *to != Destination::Group),
        "{got:?}"
    );
    assert_eq!(got.len(), 2);
}

#[test]
fn a_lone_origin_announces_nothing() {
    let t0 = Instant::now();
    let mut a = relay(1, RelayConfig::default(), t0);
    a.submit(1, message(1));
    assert!(statuses(&mut a, t0, Duration::from_secs(3)).is_empty());
}

/// Lets `b` hear what `a` sends it, dropping the first `drop` statuses.
fn carry_dropping(a: &mut Relay, b: &mut Relay, now: Instant, drop: &mut u32) {
    while let Some(tx) = a.poll_transmit() {
        if tx.to != Destination::Unicast(b.addr()) {
            continue;
        }
        let env = envelope::open(&tx.bytes).unwrap();
        if env.kind == Kind::RelayStatus && *drop > 0 {
            *drop -= 1;
            continue;
        }
        b.handle(a.addr(), &env, now).unwrap();
    }
}

#[test]
fn a_lost_tail_is_repaired_promptly_even_when_statuses_are_lost() {
    for lost_statuses in [0, 2, 4] {
        let t0 = Instant::now();
        let mut a = relay(1, RelayConfig::default(), t0);
        let mut b = relay(2, RelayConfig::default(), t0);
        a.peer_up(id(2), addr(2), t0);
        b.peer_up(id(1), addr(1), t0);
        let mut now = pump(&mut a, &mut b, t0, 8);
        assert!(matches!(deliveries(&mut b)[..], [Delivery::Synced { .. }]));
        // A burst of three; the data of the last one is lost.
        for seq in 1..=3 {
            a.submit(seq, message(seq));
            a.handle_tick(now);
            if seq < 3 {
                carry(&mut a, &mut b, now);
            } else {
                while a.poll_transmit().is_some() {}
            }
        }
        let sent_at = now;
        let mut drop = lost_statuses;
        while b.stats().delivered < 3 {
            assert!(
                now - sent_at < 1_000 * MS,
                "{lost_statuses} statuses lost: not repaired within 1 s"
            );
            now += 10 * MS;
            a.handle_tick(now);
            b.handle_tick(now);
            carry_dropping(&mut a, &mut b, now, &mut drop);
            carry(&mut b, &mut a, now);
        }
        // Each lost status costs one interval more, no more.
        let bound = (lost_statuses + 1) * 100 * MS + 30 * MS;
        assert!(
            now - sent_at <= bound,
            "{lost_statuses} statuses lost: repaired after {:?}",
            now - sent_at
        );
    }
}
