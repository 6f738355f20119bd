//! Rooms with the real binary: three `chatty server` processes clustered on
//! loopback (their own multicast group port), a terminal client on each,
//! through pipes, typing the commands of issue 15. Rooms isolate, a private
//! message reaches only its target, a nick change reaches everyone who
//! shares a room, a topic reaches the room, and a look-alike of a held name
//! is refused — and what each person sees is the documented lines exactly.
//! Every "never sees" check is made after a later line from the same
//! sender has arrived: each origin's events arrive in order, so a line that
//! was going to be shown would have been shown first.

use crate::common;

use common::free_udp_port;
use common::proc::{loopback_server, person, sees, spawn, Process};

async fn says(p: &mut Process, line: &str) {
    p.write(&format!("{line}\n")).await.expect("typed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rooms_private_messages_nicks_and_topics_across_three_real_servers() {
    let group = free_udp_port();
    let s1 = loopback_server(group, &[]).await;
    let s2 = loopback_server(group, &[]).await;
    let s3 = loopback_server(group, &[]).await;
    let (a1, a2, a3) = (
        s1.addr().to_string(),
        s2.addr().to_string(),
        s3.addr().to_string(),
    );
    let (mut ann_seen, mut bob_seen, mut cy_seen) = (Vec::new(), Vec::new(), Vec::new());

    let mut ann = person(&a1, "Ann").await;
    let mut bob = person(&a2, "Bob").await;
    // Ann's server hears of Bob through the cluster: they are clustered.
    sees(&mut ann, &mut ann_seen, "[JOIN] Bob joined the chat").await;
    let mut cy = person(&a3, "Cy").await;
    sees(&mut ann, &mut ann_seen, "[JOIN] Cy joined the chat").await;
    sees(&mut bob, &mut bob_seen, "[JOIN] Cy joined the chat").await;

    // Rooms isolate: Ann and Bob in #dev, Cy only in the lobby.
    says(&mut ann, "/join #dev").await;
    sees(&mut ann, &mut ann_seen, "[#dev] [JOIN] Ann joined").await;
    says(&mut bob, "/join #dev").await;
    sees(&mut bob, &mut bob_seen, "[#dev] [JOIN] Bob joined").await;
    sees(&mut ann, &mut ann_seen, "[#dev] [JOIN] Bob joined").await;
    says(&mut ann, "dev only").await;
    sees(&mut bob, &mut bob_seen, "[#dev] [Ann] dev only").await;

    // A topic reaches the room.
    says(&mut ann, "/topic #dev releases on friday").await;
    sees(
        &mut bob,
        &mut bob_seen,
        "[TOPIC] #dev: releases on friday (set by Ann)",
    )
    .await;

    // A private message, from #dev's active room to a lobby member elsewhere.
    says(&mut ann, "/msg Cy psst").await;
    sees(&mut ann, &mut ann_seen, "[PM to Cy] psst").await;
    sees(&mut cy, &mut cy_seen, "[PM from Ann] psst").await;

    // An action and a line in the lobby: everyone.
    says(&mut ann, "/switch #lobby").await;
    says(&mut ann, "/me waves").await;
    says(&mut ann, "everyone").await;
    for (p, seen) in [(&mut bob, &mut bob_seen), (&mut cy, &mut cy_seen)] {
        sees(p, seen, "* Ann waves").await;
        sees(p, seen, "[Ann] everyone").await;
    }

    // A look-alike of a held name is refused, to Cy only; a real change
    // reaches everyone who shares a room.
    says(&mut cy, "/nick \u{ff21}nn").await;
    let refused = cy
        .until_match("an error", |l| l.starts_with("[ERROR]"))
        .await
        .expect("refused");
    assert!(
        refused.last().unwrap().contains("taken"),
        "says why: {refused:?}"
    );
    cy_seen.extend(refused);
    says(&mut bob, "/nick Robert").await;
    for (p, seen) in [
        (&mut ann, &mut ann_seen),
        (&mut bob, &mut bob_seen),
        (&mut cy, &mut cy_seen),
    ] {
        sees(p, seen, "[NICK] Bob is now Robert").await;
    }
    // Last lines from each sender, so the checks below are final.
    says(&mut cy, "from cy").await;
    sees(&mut ann, &mut ann_seen, "[Cy] from cy").await;
    sees(&mut bob, &mut bob_seen, "[Cy] from cy").await;
    // Bob's active room is #dev, the one he entered last.
    says(&mut bob, "/switch #lobby").await;
    says(&mut bob, "from robert").await;
    sees(&mut ann, &mut ann_seen, "[Robert] from robert").await;
    sees(&mut cy, &mut cy_seen, "[Robert] from robert").await;

    assert!(
        !cy_seen
            .iter()
            .any(|l| l.contains("dev only") || l.contains("#dev")),
        "Cy is not in #dev: {cy_seen:?}"
    );
    assert!(
        !bob_seen.iter().any(|l| l.contains("psst")),
        "the PM reached only Cy: {bob_seen:?}"
    );
    assert!(
        !ann_seen
            .iter()
            .chain(&bob_seen)
            .any(|l| l.contains('\u{ff21}')),
        "nobody else heard of the refused nick"
    );
    assert!(
        ann_seen.iter().all(|l| !l.contains("[ERROR]")),
        "{ann_seen:?}"
    );
    for (mut p, seen) in [(ann, ann_seen), (bob, bob_seen), (cy, cy_seen)] {
        says(&mut p, "/quit").await;
        p.rest().await.expect("exits");
        let _ = seen;
    }
}

/// The commands typed on a pseudo-terminal against the real server: each
/// answer shows, the prompt names the active room.
#[cfg(target_os = "linux")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_commands_on_a_terminal_against_the_real_server() {
    use common::pty::Terminal;

    let server = loopback_server(free_udp_port(), &[]).await;
    let addr = server.addr().to_string();
    let mut ann = person(&addr, "Ann").await;
    // The terminal is blocking: it runs on its own thread.
    let leo = tokio::task::spawn_blocking(move || {
        let mut term = Terminal::spawn(&[&addr, "--name", "Leo"]);
        term.wait_for("as Leo; 2 online: Ann, Leo");
        term.wait_for("#lobby> ");
        for (typed, shown) in [
            ("/join #dev", "[#dev] [JOIN] Leo joined"),
            ("/topic #dev ship it", "[TOPIC] #dev: ship it (set by Leo)"),
            ("/who #dev", "[WHO] #dev: Leo on "),
            ("/rooms", "[ROOMS] #dev: 1 member, topic: ship it"),
            ("/topic -delete", "[TOPIC] #dev: cleared by Leo"),
            ("/topic", "[TOPIC] #dev has no topic"),
            ("/whois Ann", "[WHOIS] Ann on "),
            ("/msg Ann hi there", "[PM to Ann] hi there"),
            ("/frobnicate", "[ERROR] unknown command /frobnicate"),
            ("/join #ops", "#ops> "),
            ("/switch #lobby", "#lobby> "),
            ("/nick Leonardo", "[NICK] Leo is now Leonardo"),
            ("last one", "[Leonardo] last one"),
        ] {
            // Only what this command brings counts.
            term.screen.clear();
            term.type_keys(typed);
            term.type_keys("\r");
            term.wait_for(shown);
        }
        term.type_keys("/quit\r");
        assert_eq!(term.exit_code(), 0);
    });
    let mut seen = Vec::new();
    sees(&mut ann, &mut seen, "[PM from Leo] hi there").await;
    sees(&mut ann, &mut seen, "[NICK] Leo is now Leonardo").await;
    sees(&mut ann, &mut seen, "[Leonardo] last one").await;
    leo.await.expect("the terminal scenario");
    assert!(
        !seen
            .iter()
            .any(|l| l.contains("frobnicate") || l.contains("#dev")),
        "local commands and #dev stay away from Ann: {seen:?}"
    );
}

/// Typing through a failover: the client's server is killed while it is in
/// four rooms with #lobby active (the rooms it re-enters come back after
/// the welcome, one by one); on the next server it is in all of them
/// again, #lobby still active, and what it types goes to #lobby.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_active_room_survives_a_failover() {
    let group = free_udp_port();
    let s1 = loopback_server(group, &[]).await;
    let s2 = loopback_server(group, &[]).await;
    let (a1, a2) = (s1.addr().to_string(), s2.addr().to_string());
    let mut ann_seen = Vec::new();
    let mut ann = person(&a2, "Ann").await;

    let mut leo = spawn(&["client", &a1, &a2, "--name", "Leo"]);
    let mut leo_seen = Vec::new();
    sees(&mut leo, &mut leo_seen, "[JOIN] Leo joined the chat").await;
    for room in ["#ops", "#dev", "#qa"] {
        says(&mut leo, &format!("/join {room}")).await;
        sees(
            &mut leo,
            &mut leo_seen,
            &format!("[{room}] [JOIN] Leo joined"),
        )
        .await;
    }
    says(&mut leo, "/switch #lobby").await;
    says(&mut leo, "before").await;
    sees(&mut ann, &mut ann_seen, "[Leo] before").await;

    s1.signal(common::proc::Signal::Kill).expect("kill -9");
    // Typed at once, while the client notices and moves.
    says(&mut leo, "after").await;
    sees(&mut ann, &mut ann_seen, "[Leo] after").await;
    // Once it is back in every room, a plain line still goes to #lobby.
    let back = leo
        .until_match("the reconnection", |l| {
            l.starts_with("[SERVER] reconnected to")
        })
        .await
        .expect("reconnects");
    leo_seen.extend(back);
    says(&mut leo, "/who #qa").await;
    sees(&mut leo, &mut leo_seen, "[WHO] #qa has 1 member").await;
    says(&mut leo, "later").await;
    sees(&mut ann, &mut ann_seen, "[Leo] later").await;
    says(&mut leo, "/quit").await;
    leo.rest().await.expect("exits");
    assert_eq!(
        ann_seen.iter().filter(|l| l.contains("[Leo]")).count(),
        3,
        "each line once: {ann_seen:?}"
    );
}
