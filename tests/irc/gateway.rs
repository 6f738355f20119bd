//! The IRC gateway end to end over loopback: IRC clients (raw sockets)
//! and Chatty clients on two clustered servers, in one chat. Every command
//! the gateway serves, seen from both sides.

use crate::common;

use chatty::protocol::{ClientMsg, ServerMsg};
use common::irc::{nick_of, pair, start, Irc};
use common::rooms::{enter, heard, member, say, send};
use common::{clustered, free_udp_port, loopback_cluster, wait_for};

#[tokio::test]
async fn irc_and_chatty_users_chat_across_two_servers() {
    let (a, b) = pair(free_udp_port(), |c| c).await;
    let mut cleo = member(&b.server, "Cleo").await;
    let mut ian = Irc::register(a.irc, "Ian", "echo-message server-time message-tags").await;
    wait_for(
        &mut cleo,
        "Ian joins #lobby",
        |m| matches!(m, ServerMsg::Joined { name, room, .. } if name == "Ian" && room == "#lobby"),
    )
    .await;

    // JOIN: echoed, names with the joiner; the Chatty member's entry seen.
    ian.send("JOIN #dev").await;
    let burst = ian.collect("names of #dev", |m| m.command == "366").await;
    assert_eq!(burst[0].command, "JOIN");
    assert_eq!(nick_of(&burst[0]), "Ian");
    assert!(
        !burst.iter().any(|m| m.command == "332"),
        "no topic, no 332"
    );
    assert!(burst
        .iter()
        .any(|m| m.command == "353" && m.params[3].split(' ').any(|n| n == "Ian")));
    enter(&mut cleo, "#dev").await;
    let join = ian
        .until("Cleo joins", |m| {
            m.command == "JOIN" && nick_of(m) == "Cleo"
        })
        .await;
    assert_eq!(join.params, vec!["#dev"]);

    // What irssi sends after joining.
    ian.send("MODE #dev").await;
    ian.send("WHO #dev").await;
    ian.send("MODE #dev b").await;
    let got = ian.collect("368", |m| m.command == "368").await;
    let codes: Vec<&str> = got.iter().map(|m| m.command.as_str()).collect();
    assert_eq!(codes, vec!["324", "352", "352", "315", "368"]);
    let cleo_who = got
        .iter()
        .find(|m| m.command == "352" && m.params[5] == "Cleo")
        .unwrap();
    assert_eq!(
        cleo_who.params[4],
        format!("{}.chatty", b.server.id.short())
    );

    // Messages both ways, with echo, tags and actions.
    ian.send("PRIVMSG #dev :hello from irc").await;
    let echo = ian.heard("hello from irc").await;
    assert!(
        echo.tags.iter().any(|(k, _)| k == "time") && echo.tags.iter().any(|(k, _)| k == "msgid")
    );
    assert!(
        matches!(heard(&mut cleo, "hello from irc").await, ServerMsg::Message { from, room, .. } if from == "Ian" && room == "#dev")
    );
    say(&mut cleo, "#dev", "hello from chatty").await;
    let msg = ian.heard("hello from chatty").await;
    assert_eq!((nick_of(&msg), msg.params[0].as_str()), ("Cleo", "#dev"));
    ian.send("PRIVMSG #dev :\u{1}ACTION waves\u{1}").await;
    wait_for(
        &mut cleo,
        "action",
        |m| matches!(m, ServerMsg::Message { text, action: true, .. } if text == "waves"),
    )
    .await;
    send(
        &mut cleo,
        ClientMsg::Send {
            text: "bows".into(),
            room: Some("#dev".into()),
            action: true,
            cid: None,
        },
    )
    .await;
    ian.heard("\u{1}ACTION bows\u{1}").await;

    // Private messages both ways.
    ian.send("PRIVMSG Cleo :psst").await;
    wait_for(
        &mut cleo,
        "private",
        |m| matches!(m, ServerMsg::Private { from, text, .. } if from == "Ian" && text == "psst"),
    )
    .await;
    send(
        &mut cleo,
        ClientMsg::Private {
            to: "Ian".into(),
            text: "psst back".into(),
            cid: None,
            action: false,
        },
    )
    .await;
    let pm = ian.heard("psst back").await;
    assert_eq!((nick_of(&pm), pm.params[0].as_str()), ("Cleo", "Ian"));

    // Topics both ways.
    ian.send("TOPIC #dev :release friday").await;
    ian.until("our TOPIC", |m| {
        m.command == "TOPIC" && m.params[1] == "release friday"
    })
    .await;
    wait_for(&mut cleo, "topic", |m| matches!(m, ServerMsg::Topic { text, by, .. } if text == "release friday" && by == "Ian")).await;
    send(
        &mut cleo,
        ClientMsg::Topic {
            room: "#dev".into(),
            text: Some("monday now".into()),
        },
    )
    .await;
    let topic = ian
        .until("Cleo's TOPIC", |m| {
            m.command == "TOPIC" && m.params[1] == "monday now"
        })
        .await;
    assert_eq!(nick_of(&topic), "Cleo");
    ian.send("TOPIC #dev").await;
    let t = ian.collect("333", |m| m.command == "333").await;
    assert_eq!(t[t.len() - 2].params[2], "monday now");
    assert_eq!(t[t.len() - 1].params[2], "Cleo");

    // Nick changes both ways.
    send(
        &mut cleo,
        ClientMsg::Nick {
            name: "Cleo2".into(),
        },
    )
    .await;
    let nick = ian.until("NICK", |m| m.command == "NICK").await;
    assert_eq!((nick_of(&nick), nick.params[0].as_str()), ("Cleo", "Cleo2"));
    ian.send("NICK Ian2").await;
    ian.until("our NICK", |m| m.command == "NICK" && nick_of(m) == "Ian")
        .await;
    wait_for(
        &mut cleo,
        "nick",
        |m| matches!(m, ServerMsg::Nick { old, new, .. } if old == "Ian" && new == "Ian2"),
    )
    .await;

    // A second IRC user on the other server.
    let mut ivy = Irc::register(b.irc, "Ivy", "").await;
    ivy.send("JOIN #dev").await;
    ivy.until("names", |m| m.command == "366").await;
    ian.until("Ivy joins", |m| {
        m.command == "JOIN" && nick_of(m) == "Ivy" && m.params[0] == "#dev"
    })
    .await;
    ivy.send("PRIVMSG #dev :irc to irc").await;
    assert_eq!(nick_of(&ian.heard("irc to irc").await), "Ivy");

    // WHOIS, LIST, NAMES, LUSERS.
    ian.send("WHOIS Ivy").await;
    let whois = ian.collect("318", |m| m.command == "318").await;
    let codes: Vec<&str> = whois.iter().map(|m| m.command.as_str()).collect();
    assert_eq!(codes, vec!["311", "319", "312", "318"]);
    assert!(whois[1].params[2].contains("#dev") && whois[1].params[2].contains("#lobby"));
    ian.send("LIST").await;
    let list = ian.collect("323", |m| m.command == "323").await;
    assert!(
        list.iter().any(|m| m.command == "322"
            && m.params[1] == "#dev"
            && m.params[2] == "3"
            && m.params[3] == "monday now"),
        "{list:?}"
    );
    ian.send("NAMES #dev").await;
    let names = ian.collect("366", |m| m.command == "366").await;
    let mut all: Vec<&str> = names
        .iter()
        .filter(|m| m.command == "353")
        .flat_map(|m| m.params[3].split(' '))
        .collect();
    all.sort();
    assert_eq!(all, vec!["Cleo2", "Ian2", "Ivy"]);
    ian.send("LUSERS").await;
    let lusers = ian.until("251", |m| m.command == "251").await;
    assert!(
        lusers.params[1].contains("3 users") && lusers.params[1].contains("2 servers"),
        "{lusers:?}"
    );

    // PART and QUIT, seen from both sides.
    ivy.send("PART #dev :bye").await;
    ivy.until("own PART", |m| {
        m.command == "PART" && m.params == ["#dev", "bye"]
    })
    .await;
    ian.until("Ivy parts, saying why", |m| {
        m.command == "PART" && nick_of(m) == "Ivy" && m.params == ["#dev", "bye"]
    })
    .await;
    wait_for(&mut cleo, "Ivy left #dev, saying why", |m| {
        matches!(m, ServerMsg::Left { name, room, text: Some(text), quit: false, .. }
            if name == "Ivy" && room == "#dev" && text == "bye")
    })
    .await;
    ivy.send("QUIT :done").await;
    assert!(ivy.closed().await.is_some_and(|e| e.contains("Quit: done")));
    // A QUIT, not a PART per channel: Chatty tells a leave from a part.
    ian.until("Ivy quits, saying why", |m| {
        m.command == "QUIT" && nick_of(m) == "Ivy" && m.params == ["done"]
    })
    .await;
    wait_for(&mut cleo, "Ivy left the chat, saying why", |m| {
        matches!(m, ServerMsg::Left { name, text: Some(text), quit: true, .. }
            if name == "Ivy" && text == "done")
    })
    .await;
    // A library client's part, saying why, as IRC shows it.
    tokio::time::timeout(common::DEADLINE, cleo.part_saying("#dev", Some("later")))
        .await
        .expect("part_saying answered in time")
        .expect("part");
    ian.until("Cleo parts, saying why", |m| {
        m.command == "PART" && nick_of(m) == "Cleo2" && m.params == ["#dev", "later"]
    })
    .await;
    drop(cleo);
    let quit = ian.until("Cleo quits", |m| m.command == "QUIT").await;
    assert_eq!(nick_of(&quit), "Cleo2");
    assert!(quit.params[0].contains("connection lost"));
}

#[tokio::test]
async fn errors_are_the_documented_numerics() {
    let (a, b) = pair(free_udp_port(), |c| c).await;
    let _cleo = member(&b.server, "Cleo").await;
    // A name held on the other server: 433, then another works.
    let mut irc = Irc::connect(a.irc).await;
    irc.send("NICK Cleo").await;
    irc.send("USER x 0 * :x").await;
    let taken = irc.until("433", |m| m.command == "433").await;
    assert_eq!(taken.params[..2], ["*", "Cleo"]);
    irc.send("NICK 1bad").await;
    irc.until("432", |m| m.command == "432").await;
    irc.send("NICK Zed").await;
    irc.until("001", |m| m.command == "001").await;
    irc.until("lobby", |m| m.command == "366").await;
    let cases: &[(&str, &str)] = &[
        ("PRIVMSG nobody :hi", "401"),
        ("JOIN nochannel", "403"),
        ("PRIVMSG #nowhere :hi", "403"),
        ("PRIVMSG", "411"),
        ("PRIVMSG #lobby", "412"),
        ("FROB", "421"),
        ("JOIN", "461"),
        ("PART #dev", "442"),
        ("NICK", "431"),
        ("NICK a!b", "432"),
        ("NICK cleo", "433"),
        ("MODE #lobby +o Cleo", "482"),
        ("MODE Zed", "221"),
    ];
    for (line, code) in cases {
        irc.send(line).await;
        let got = irc
            .until(code, |m| {
                m.command.len() == 3 && m.command.chars().all(|c| c.is_ascii_digit())
            })
            .await;
        assert_eq!(got.command, *code, "{line}: {got:?}");
    }
    // A room that exists but we are not in: 404.
    let mut other = Irc::register(b.irc, "Other", "").await;
    other.send("JOIN #exists").await;
    other.until("names", |m| m.command == "366").await;
    irc.send("PRIVMSG #exists :hi").await;
    irc.until("404", |m| m.command == "404").await;
    // NOTICE never answers with an error; the PING after it is answered first.
    irc.send("NOTICE nobody :hi").await;
    irc.send("PING :after").await;
    let next = irc.until("anything", |_| true).await;
    assert_eq!(next.command, "PONG");
    // An over-long line: 417, and the connection goes on.
    irc.send(&format!("PRIVMSG #lobby :{}", "x".repeat(9000)))
        .await;
    irc.until("417", |m| m.command == "417").await;
    irc.send("PING :still").await;
    irc.until("PONG", |m| m.command == "PONG" && m.params[1] == "still")
        .await;
}

#[tokio::test]
async fn long_lines_are_split_and_odd_names_mapped() {
    let (a, b) = pair(free_udp_port(), |c| c).await;
    let mut ian = Irc::register(a.irc, "Ian", "").await;
    let mut ann = member(&b.server, "Ann Lee").await;
    ian.until("Ann joins", |m| {
        m.command == "JOIN" && nick_of(m) == "Ann^20^Lee"
    })
    .await;
    let text: String = (0..200)
        .map(|n| format!("w{n:03}"))
        .collect::<Vec<_>>()
        .join(" ");
    assert!(text.len() <= 1000);
    say(&mut ann, "#lobby", &text).await;
    let mut got = String::new();
    while got.len() < text.len() {
        let msg = ian.until("a piece", |m| m.command == "PRIVMSG").await;
        assert_eq!(nick_of(&msg), "Ann^20^Lee");
        got.push_str(&msg.params[1]);
    }
    assert_eq!(got, text);
    ian.send("PRIVMSG Ann^20^Lee :hi Ann").await;
    wait_for(
        &mut ann,
        "pm",
        |m| matches!(m, ServerMsg::Private { text, .. } if text == "hi Ann"),
    )
    .await;
    send(
        &mut ann,
        ClientMsg::Send {
            text: "é".repeat(500),
            room: Some("#lobby".into()),
            action: false,
            cid: None,
        },
    )
    .await;
    let mut got = String::new();
    while got.len() < 1000 {
        got.push_str(
            &ian.until("a piece", |m| m.command == "PRIVMSG")
                .await
                .params[1],
        );
    }
    assert_eq!(got, "é".repeat(500));
}

#[tokio::test]
async fn history_away_and_shutdown_on_one_server() {
    let (gw, mut cleo) = one_server("irc-one").await;
    for n in 0..3 {
        say(&mut cleo, "#lobby", &format!("before {n}")).await;
        heard(&mut cleo, &format!("before {n}")).await;
    }
    // Without chathistory the join replays history as messages.
    let mut plain = Irc::connect(gw.irc).await;
    plain.send("NICK Plain").await;
    plain.send("USER p 0 * :p").await;
    plain.heard("before 2").await;
    // With it, the client asks.
    let mut ian = Irc::register(
        gw.irc,
        "Ian",
        "draft/chathistory batch server-time message-tags away-notify",
    )
    .await;
    ian.send("CHATHISTORY LATEST #lobby * 2").await;
    let batch = ian
        .collect("batch end", |m| {
            m.command == "BATCH" && m.params[0].starts_with('-')
        })
        .await;
    let texts: Vec<&str> = batch
        .iter()
        .filter(|m| m.command == "PRIVMSG")
        .map(|m| m.params[1].as_str())
        .collect();
    assert_eq!(texts, vec!["before 1", "before 2"]);
    say(&mut cleo, "#lobby", "live").await;
    let live = ian.heard("live").await;
    let msgid = live
        .tags
        .iter()
        .find(|(k, _)| k == "msgid")
        .unwrap()
        .1
        .clone();
    ian.send(&format!("CHATHISTORY BEFORE #lobby msgid={msgid} 10"))
        .await;
    let batch = ian
        .collect("batch end", |m| {
            m.command == "BATCH" && m.params[0].starts_with('-')
        })
        .await;
    assert_eq!(batch.iter().filter(|m| m.command == "PRIVMSG").count(), 3);

    // AWAY between two IRC users of this gateway.
    plain.send("AWAY :lunch").await;
    plain.until("306", |m| m.command == "306").await;
    let away = ian.until("away-notify", |m| m.command == "AWAY").await;
    assert_eq!(
        (nick_of(&away), away.params[0].as_str()),
        ("Plain", "lunch")
    );
    ian.send("PRIVMSG Plain :are you there").await;
    let rpl = ian.until("301", |m| m.command == "301").await;
    assert_eq!(rpl.params[1..], ["Plain", "lunch"]);
    ian.send("WHOIS Plain").await;
    let whois = ian.collect("318", |m| m.command == "318").await;
    assert!(whois.iter().any(|m| m.command == "301"));
    plain.send("AWAY").await;
    plain.until("305", |m| m.command == "305").await;
    let back = ian.until("back", |m| m.command == "AWAY").await;
    assert!(back.params.is_empty());

    // The server stops: every IRC client gets ERROR and EOF.
    gw.server.shutdown().await.expect("clean stop");
    let error = ian.closed().await.expect("an ERROR line");
    assert!(error.contains("shut"), "{error}");
}

#[tokio::test]
async fn a_rejoin_replays_only_what_the_connection_has_not_seen() {
    let (gw, mut cleo) = one_server("irc-replay").await;
    enter(&mut cleo, "#dev").await;
    for text in ["one", "two"] {
        say(&mut cleo, "#dev", text).await;
        heard(&mut cleo, text).await;
    }
    let mut ian = Irc::register(gw.irc, "Ian", "").await;
    // The PRIVMSG texts Ian is shown in #dev up to (and with) `last`.
    async fn shown_until(irc: &mut Irc, last: &str) -> Vec<String> {
        let lines = irc
            .collect(last, |m| m.command == "PRIVMSG" && m.params[1] == last)
            .await;
        lines
            .into_iter()
            .filter(|m| m.command == "PRIVMSG" && m.params[0] == "#dev")
            .map(|m| m.params[1].clone())
            .collect()
    }
    // A first join (a fresh connection) shows the room's history.
    ian.send("JOIN #dev").await;
    say(&mut cleo, "#dev", "three").await;
    assert_eq!(
        shown_until(&mut ian, "three").await,
        ["one", "two", "three"]
    );
    ian.send("PART #dev").await;
    ian.until("our PART", |m| m.command == "PART").await;
    say(&mut cleo, "#dev", "four").await;
    heard(&mut cleo, "four").await;
    // Joining again: only what came while away, then the live lines.
    ian.send("JOIN #dev").await;
    ian.until("the JOIN", |m| m.command == "JOIN" && nick_of(m) == "Ian")
        .await;
    say(&mut cleo, "#dev", "five").await;
    assert_eq!(shown_until(&mut ian, "five").await, ["four", "five"]);

    // chatty/no-replay: no history at all, not even on a first join.
    let mut quiet = Irc::register(gw.irc, "Quiet", "chatty/no-replay").await;
    quiet.send("JOIN #dev").await;
    quiet
        .until("the JOIN", |m| m.command == "JOIN" && nick_of(m) == "Quiet")
        .await;
    say(&mut cleo, "#dev", "six").await;
    assert_eq!(shown_until(&mut quiet, "six").await, ["six"]);
}

/// One server with its gateway (`one.test`) in a cluster of its own, and
/// Cleo, a Chatty member, on it.
async fn one_server(cluster: &str) -> (common::irc::Gatewayed, chatty::client::Client) {
    let gw = start(
        clustered(loopback_cluster(cluster, free_udp_port())),
        "one.test",
    )
    .await;
    let cleo = member(&gw.server, "Cleo").await;
    (gw, cleo)
}
