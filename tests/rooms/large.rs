//! Large rooms with the real binary: two `chatty server` processes with
//! `--large-room 4`, clustered on loopback (their own multicast group port),
//! a terminal client (through pipes) and library clients. The room turns
//! large and the terminal says so; a join storm of 300 clients on both
//! servers while the terminal types costs each joiner one `joined` (its
//! own), evicts nobody, and loses no typed line; `/who` pages list
//! everyone; when the room shrinks, joins are shown again. And a member of
//! a large room is told its count live, about once a second.

use crate::common;

use std::time::Duration;

use chatty::client::Client;
use chatty::protocol::ServerMsg;
use chatty::server::room::COUNT_EVERY;
use common::proc::{loopback_server, person, sees, Server, Signal, DEADLINE};
use common::{free_udp_port, names_in, status_until};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

const STORM: usize = 300;

async fn member(addr: &str, name: &str) -> Client {
    let mut c = Client::connect(addr).await.expect("connect");
    c.join(name).await.expect("join");
    c
}

/// What one storm client saw until told to stop.
#[derive(Debug, Default)]
struct Seen {
    joined: Vec<String>,
    left: usize,
    refreshes: usize,
    ended: Option<String>,
}

/// Joins `name` on `addr` and reads everything until `stop`.
fn storm_client(addr: String, name: String, stop: CancellationToken) -> JoinHandle<Seen> {
    tokio::spawn(async move {
        let mut seen = Seen::default();
        let mut client = match Client::connect(&addr).await {
            Ok(c) => c,
            Err(e) => {
                seen.ended = Some(format!("connect: {e}"));
                return seen;
            }
        };
        if let Err(e) = client.join(&name).await {
            seen.ended = Some(format!("join: {e}"));
            return seen;
        }
        loop {
            let msg = tokio::select! {
                _ = stop.cancelled() => break,
                msg = client.recv() => msg,
            };
            match msg {
                Ok(Some(ServerMsg::Joined { name, .. })) => seen.joined.push(name),
                Ok(Some(ServerMsg::Left { .. })) => seen.left += 1,
                Ok(Some(ServerMsg::RoomState(_))) => seen.refreshes += 1,
                Ok(Some(ServerMsg::Error { code, text, .. })) => {
                    seen.ended = Some(format!("error {code:?}: {text}"));
                    break;
                }
                Ok(Some(_)) => {}
                Ok(None) => {
                    seen.ended = Some("EOF".into());
                    break;
                }
                Err(e) => {
                    seen.ended = Some(format!("{e}"));
                    break;
                }
            }
        }
        seen
    })
}

/// Polls `who #lobby` on `addr` until it lists `n` members.
async fn lobby_reaches(addr: &str, n: usize) {
    let mut asker = Client::connect(addr).await.expect("connect");
    let deadline = tokio::time::Instant::now() + DEADLINE;
    loop {
        let names = asker.who("#lobby").await.expect("who");
        if names.len() == n {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{addr} lists {} of {n} members",
            names.len()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Two clustered servers (their own group port) where a room of more
/// than 4 is large, without the per-address cap or the flood limit.
async fn two_servers() -> (Server, Server) {
    let group = free_udp_port();
    let flags = [
        "--large-room",
        "4",
        "--max-per-ip",
        "0",
        "--rate-limit",
        "0",
    ];
    let s1 = loopback_server(group, &flags).await;
    (s1, loopback_server(group, &flags).await)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_large_room_hides_joins_survives_a_storm_and_shrinks_back() {
    let (s1, s2) = two_servers().await;
    let (a1, a2) = (s1.addr().to_string(), s2.addr().to_string());
    let mut seen = Vec::new();

    let mut ann = person(&a1, "Ann").await;
    let mut bob = member(&a2, "Bob").await;
    sees(&mut ann, &mut seen, "[JOIN] Bob joined the chat").await;
    let cy = member(&a1, "Cy").await;
    sees(&mut ann, &mut seen, "[JOIN] Cy joined the chat").await;
    let dee = member(&a2, "Dee").await;
    sees(&mut ann, &mut seen, "[JOIN] Dee joined the chat").await;

    // The fifth member makes #lobby large (5 > 4): Ann is told, and Eve's
    // join is not shown — checked once a later line of Eve's has arrived.
    let mut eve = member(&a2, "Eve").await;
    sees(
        &mut ann,
        &mut seen,
        "[ROOM] #lobby now has 5 members: joins and leaves are no longer shown (/who lists them)",
    )
    .await;
    eve.say("hi from Eve").await.expect("say");
    sees(&mut ann, &mut seen, "[Eve] hi from Eve").await;
    assert!(
        !seen.iter().any(|l| l.contains("Eve joined")),
        "Eve's join shown in a large room: {seen:?}"
    );

    // A join storm on both servers while Ann types.
    let stop = CancellationToken::new();
    let storm: Vec<JoinHandle<Seen>> = (0..STORM)
        .map(|i| {
            let addr = if i % 2 == 0 { &a1 } else { &a2 };
            storm_client(addr.clone(), format!("storm{i:03}"), stop.clone())
        })
        .collect();
    for n in 0..20 {
        ann.write(&format!("typing during the storm {n}\n"))
            .await
            .expect("typed");
    }
    let mut got = Vec::new();
    while got.len() < 20 {
        let text = match common::wait_for(
            &mut bob,
            "Ann's lines",
            |m| matches!(m, ServerMsg::Message { from, .. } if from == "Ann"),
        )
        .await
        {
            ServerMsg::Message { text, .. } => text,
            _ => unreachable!(),
        };
        got.push(text);
    }
    let expected: Vec<String> = (0..20)
        .map(|n| format!("typing during the storm {n}"))
        .collect();
    assert_eq!(got, expected, "every typed line once, in order");

    // Everyone is in, on both servers; Ann's /who says so.
    let total = STORM + 5;
    lobby_reaches(&a1, total).await;
    lobby_reaches(&a2, total).await;
    ann.write("/who\n").await.expect("typed");
    sees(
        &mut ann,
        &mut seen,
        &format!("[WHO] #lobby has {total} members"),
    )
    .await;

    stop.cancel();
    for task in storm {
        let s = task.await.expect("storm client");
        assert_eq!(s.ended, None, "a storm client was cut off: {s:?}");
        assert_eq!(s.joined.len(), 1, "a joiner hears only its own join: {s:?}");
        assert_eq!(s.left, 0, "{s:?}");
        assert!(s.refreshes <= 1, "{s:?}");
    }

    // Everyone but Ann and Bob goes: at 2 (half the limit) #lobby is small
    // again, and the next join is shown.
    drop((cy, dee, eve));
    lobby_reaches(&a1, 2).await;
    sees(
        &mut ann,
        &mut seen,
        "[ROOM] #lobby has 2 members again: joins and leaves are shown again",
    )
    .await;
    let _fay = member(&a2, "Fay").await;
    sees(&mut ann, &mut seen, "[JOIN] Fay joined the chat").await;
    drop(s1);
    drop(s2);
}

/// A large room's live count (PROTOCOL.md 17.11) on one real server: 40
/// joins cost a member no frame each, and within about a second it is
/// told the count once for all of them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_large_room_tells_its_members_the_count_about_once_a_second() {
    let flags = [
        "--large-room",
        "2",
        "--max-per-ip",
        "0",
        "--rate-limit",
        "0",
    ];
    let server = loopback_server(free_udp_port(), &flags).await;
    let addr = server.addr().to_string();
    let mut ann = member(&addr, "Ann").await;
    let start = tokio::time::Instant::now();
    let mut others = Vec::new();
    for i in 0..40 {
        others.push(member(&addr, &format!("n{i:02}")).await);
    }
    let deadline = tokio::time::Instant::now() + DEADLINE;
    let (mut counts, mut joins) = (Vec::new(), 0);
    while counts.last() != Some(&41) {
        let msg = tokio::time::timeout_at(deadline, ann.recv())
            .await
            .unwrap_or_else(|_| panic!("no count of 41 in time; counts {counts:?}"))
            .expect("read")
            .expect("open");
        match msg {
            ServerMsg::RoomCount { room, count } => {
                assert_eq!(room, "#lobby");
                counts.push(count);
            }
            ServerMsg::Joined { .. } => joins += 1,
            _ => {}
        }
    }
    // Ann's own join and n00's, before the room was large; none after. At
    // most one count a second (plus the tick in progress).
    assert_eq!(joins, 2, "joined frames");
    let ticks = start.elapsed().as_secs_f64() / COUNT_EVERY.as_secs_f64();
    assert!(
        counts.len() as f64 <= ticks + 1.0,
        "{ticks:.1} ticks: {counts:?}"
    );
    assert!(counts.windows(2).all(|w| w[0] <= w[1]), "{counts:?}");
    drop(others);
}

/// SIGSTOP in the middle of a join storm into a large room: the frozen
/// server's peer declares it dead while clients keep joining both, then
/// the frozen one goes on (SIGCONT) with its half of the storm queued in
/// its accept backlog. In the end both servers list every client exactly
/// once, nobody was cut off, and the members of the large room were not
/// flooded with the frozen server's leaves and returns.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_frozen_mid_storm_comes_back_and_both_list_everyone_once() {
    const FROZEN_STORM: usize = 200;
    let (s1, s2) = two_servers().await;
    let (a1, a2) = (s1.addr().to_string(), s2.addr().to_string());
    let id1 = status_until(&a1, "an answer", |_| true).await.id;
    let id2 = status_until(&a2, "an answer", |_| true).await.id;
    // What the frozen server itself thinks of its peer, throughout.
    let mut watcher = Client::connect(&a1).await.expect("connect");
    watcher
        .send_msg(&chatty::protocol::ClientMsg::Watch)
        .await
        .expect("watch");
    let watching = CancellationToken::new();
    let removals = tokio::spawn({
        let watching = watching.clone();
        async move {
            let mut removals = Vec::new();
            loop {
                let msg = tokio::select! {
                    _ = watching.cancelled() => return removals,
                    msg = watcher.recv() => msg,
                };
                match msg {
                    Ok(Some(ServerMsg::WatchEvent { event })) if event.server == id2 => {
                        if event.kind != "joined"
                            && event.kind != "recovered"
                            && event.kind != "suspect"
                        {
                            removals.push(event.kind);
                        }
                    }
                    Ok(Some(_)) => {}
                    other => panic!("the watcher ended: {other:?}"),
                }
            }
        }
    });
    status_until(&a2, "the servers see each other", |r| {
        r.servers.iter().filter(|s| s.state == "alive").count() == 2
    })
    .await;

    // Five members make #lobby large before the storm.
    let mut early = Vec::new();
    for i in 0..5 {
        early.push(member(&a2, &format!("early{i}")).await);
    }
    status_until(&a1, "the first server lists them", |r| r.members.len() == 5).await;
    let stop = CancellationToken::new();
    let storm: Vec<JoinHandle<Seen>> = (0..FROZEN_STORM)
        .map(|i| {
            let addr = if i % 2 == 0 { &a1 } else { &a2 };
            storm_client(addr.clone(), format!("frozen{i:03}"), stop.clone())
        })
        .collect();
    // Mid-storm: as soon as the second server lists a few of it.
    status_until(&a2, "the storm under way", |r| r.members.len() >= 20).await;
    s1.signal(Signal::Stop).expect("SIGSTOP");
    status_until(&a2, "the frozen server declared dead", |r| {
        !r.servers
            .iter()
            .any(|s| s.id == id1 && (s.state == "alive" || s.state == "suspect"))
    })
    .await;
    s1.signal(Signal::Cont).expect("SIGCONT");

    let mut expected: Vec<String> = (0..FROZEN_STORM).map(|i| format!("frozen{i:03}")).collect();
    expected.extend((0..5).map(|i| format!("early{i}")));
    expected.sort();
    for (addr, which) in [(&a1, "the frozen server"), (&a2, "its peer")] {
        let report = status_until(addr, &format!("{which} lists everyone once"), |r| {
            names_in(r) == expected
        })
        .await;
        assert_eq!(names_in(&report), expected);
    }
    watching.cancel();
    let removals = removals.await.expect("watcher");
    assert!(
        removals.is_empty(),
        "the frozen server dropped its peer on resuming (its own pause counted as the peer's silence): {removals:?}"
    );
    stop.cancel();
    for task in storm {
        let s = task.await.expect("storm client");
        assert_eq!(s.ended, None, "a storm client was cut off: {s:?}");
        assert_eq!(s.joined.len(), 1, "a joiner hears only its own join: {s:?}");
        assert_eq!(s.left, 0, "a large room's member heard a leave: {s:?}");
    }
    drop(early);
}
