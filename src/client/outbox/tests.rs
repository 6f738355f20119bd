//! The outbox's promises: order, cids, resends after failover, requests in
//! their place, lines with their room or addressee.

use super::*;

fn lobby() -> Target {
    Target::Room("#lobby".into())
}

/// Adds a line to `#lobby`.
fn say(outbox: &mut Outbox, text: &str) -> u64 {
    outbox.push(lobby(), false, text.into())
}

/// What goes out, as text (requests by their type).
fn texts(outbox: &mut Outbox, acks: bool) -> Vec<String> {
    std::iter::from_fn(|| outbox.send_next(acks))
        .map(|msg| match msg {
            ClientMsg::Send { text, .. } | ClientMsg::Private { text, .. } => text,
            other => format!("{other:?}"),
        })
        .collect()
}

#[test]
fn cids_count_up_from_the_start_and_skip_zero() {
    let mut outbox = Outbox::starting_at(0);
    assert_eq!(say(&mut outbox, "a"), 1);
    assert_eq!(say(&mut outbox, "b"), 2);
    let random = Outbox::random();
    assert!(random.next_cid >= 1 && random.next_cid < 1 << 63);
}

#[test]
fn lines_go_out_in_order_and_leave_once_safe() {
    let t0 = Instant::now();
    let mut outbox = Outbox::starting_at(10);
    for text in ["a", "b", "c"] {
        say(&mut outbox, text);
    }
    let sent = |text: &str, cid| ClientMsg::Send {
        text: text.into(),
        room: None,
        action: false,
        cid: Some(cid),
    };
    assert_eq!(outbox.send_next(true), Some(sent("a", 10)));
    assert_eq!(outbox.send_next(true), Some(sent("b", 11)));
    assert!(outbox.has_unsent() && outbox.awaiting_ack());
    assert_eq!(outbox.first_in_flight().unwrap().cid, 10);
    assert_eq!(outbox.unconfirmed_since(), None);
    outbox.acked(10, t0).unwrap();
    outbox.acked(11, t0 + Duration::from_millis(5)).unwrap();
    assert_eq!(outbox.unconfirmed_since(), Some(t0));
    assert_eq!(outbox.undelivered(), 1);
    // Heard from just before the grace ends: "a" stays, in case the
    // server dies before its relay sends it.
    outbox.confirm(t0 + RELAY_GRACE - Duration::from_millis(1));
    assert!(outbox.get_mut(10).is_some());
    outbox.confirm(t0 + RELAY_GRACE);
    assert!(outbox.get_mut(10).is_none());
    assert_eq!(
        outbox.unconfirmed_since(),
        Some(t0 + Duration::from_millis(5))
    );
    assert_eq!(texts(&mut outbox, true), ["c"]);
}

#[test]
fn after_failover_everything_held_goes_again_before_new_lines() {
    let t0 = Instant::now();
    let mut outbox = Outbox::starting_at(1);
    for text in ["a", "b", "c"] {
        say(&mut outbox, text);
    }
    texts(&mut outbox, true);
    outbox.acked(1, t0).unwrap().shown = true;
    // The server is lost; "d" is typed while reconnecting.
    outbox.resend_all();
    say(&mut outbox, "d");
    // "a" is on screen already; "b", "c" (never echoed) and "d" are pending.
    let pending: Vec<String> = outbox.newly_pending().into_iter().map(|l| l.text).collect();
    assert_eq!(pending, ["b", "c", "d"]);
    assert!(outbox.newly_pending().is_empty(), "shown as pending once");
    assert_eq!(texts(&mut outbox, true), ["a", "b", "c", "d"]);
}

#[test]
fn refused_lines_leave_and_rate_limited_ones_go_again() {
    let mut outbox = Outbox::starting_at(1);
    say(&mut outbox, "bad");
    say(&mut outbox, "later");
    texts(&mut outbox, true);
    assert_eq!(outbox.refused(1).unwrap().text, "bad");
    outbox.retry(2);
    assert_eq!(texts(&mut outbox, true), ["later"]);
    assert!(outbox.refused(99).is_none() && outbox.acked(99, Instant::now()).is_none());
}

#[test]
fn without_acks_a_sent_line_is_gone() {
    let mut outbox = Outbox::starting_at(1);
    say(&mut outbox, "a");
    assert_eq!(texts(&mut outbox, false), ["a"]);
    assert_eq!(outbox.undelivered(), 0);
    outbox.resend_all();
    assert!(!outbox.has_unsent());
}

#[test]
fn lines_carry_their_room_or_addressee() {
    let mut outbox = Outbox::starting_at(1);
    outbox.push(Target::Room("#dev".into()), false, "hi dev".into());
    outbox.push(Target::Room("#dev".into()), true, "waves".into());
    outbox.push(Target::Member("Ann".into()), false, "psst".into());
    outbox.push(Target::Room("#Lobby".into()), false, "hi all".into());
    let frames: Vec<ClientMsg> = std::iter::from_fn(|| outbox.send_next(true)).collect();
    assert_eq!(
        frames,
        [
            ClientMsg::Send {
                text: "hi dev".into(),
                room: Some("#dev".into()),
                action: false,
                cid: Some(1)
            },
            ClientMsg::Send {
                text: "waves".into(),
                room: Some("#dev".into()),
                action: true,
                cid: Some(2)
            },
            ClientMsg::Private {
                to: "Ann".into(),
                text: "psst".into(),
                cid: Some(3),
                action: false
            },
            // The default room is not named: a version-1 server gets
            // exactly the send it knows.
            ClientMsg::Send {
                text: "hi all".into(),
                room: None,
                action: false,
                cid: Some(4)
            },
        ]
    );
    let line = outbox.get_mut(3).unwrap();
    assert_eq!(line.echo("Leo"), "[PM to Ann] psst");
    assert_eq!(line.pending("Leo"), "[PENDING] [PM to Ann] psst");
    assert_eq!(line.scope(), Scope::private());
    let line = outbox.get_mut(2).unwrap();
    assert_eq!(line.echo("Leo"), "[#dev] * Leo waves");
    assert_eq!(line.scope(), Scope::room("#DEV"));
}

#[test]
fn requests_keep_their_place_and_go_once() {
    let mut outbox = Outbox::starting_at(1);
    outbox.request(ClientMsg::Enter {
        room: "#dev".into(),
    });
    outbox.push(Target::Room("#dev".into()), false, "hello".into());
    outbox.request(ClientMsg::Rooms);
    assert_eq!(outbox.undelivered(), 3);
    assert!(
        outbox.newly_pending().len() == 1,
        "only lines show as pending"
    );
    assert_eq!(
        outbox.send_next(true),
        Some(ClientMsg::Enter {
            room: "#dev".into()
        })
    );
    assert_eq!(texts(&mut outbox, true), ["hello", "Rooms"]);
    assert_eq!(outbox.undelivered(), 1, "the line awaits its ack");
    // Sent requests are not sent again after a failover; lines are.
    outbox.resend_all();
    assert_eq!(texts(&mut outbox, true), ["hello"]);
}
