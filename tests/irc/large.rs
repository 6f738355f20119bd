//! Large rooms through the IRC gateway, on a real server started with a
//! tiny `--large-room` limit (3): the JOIN of a large channel, NAMES and
//! WHO of one a page at a time, messages from nicks the client never saw
//! join, and a channel that turns small again. All on loopback.

use crate::common;

use chatty::server::ServerConfig;
use common::irc::{nick_of, start, Irc};
use common::{clustered, free_udp_port, loopback_cluster};

fn config() -> ServerConfig {
    ServerConfig {
        large_room: 3,
        ..clustered(loopback_cluster("irc-large", free_udp_port()))
    }
}

/// `irc` joins `#big` and reads its JOIN burst to the end of NAMES.
async fn join_big(irc: &mut Irc) -> Vec<chatty::irc::message::Message> {
    irc.send("JOIN #big").await;
    irc.collect("names of #big", |m| m.command == "366").await
}

#[tokio::test]
async fn a_large_channel_on_irc() {
    let gw = start(config(), "large.test").await;
    let mut ann = Irc::register(gw.irc, "Ann", "").await;
    join_big(&mut ann).await;
    let mut others = Vec::new();
    for nick in ["Bo", "Cy", "Di"] {
        let mut irc = Irc::register(gw.irc, nick, "").await;
        join_big(&mut irc).await;
        others.push(irc);
    }
    // Di made it four, over the limit of 3: Ann is told.
    let notice = ann
        .until("the large-channel notice", |m| {
            m.command == "NOTICE" && m.params[0] == "#big"
        })
        .await;
    assert!(
        notice.params[1].contains("is a large channel"),
        "{:?}",
        notice.params
    );

    // A newcomer sees the JOIN, NAMES with itself, and the notice.
    let mut eve = Irc::register(gw.irc, "Eve", "").await;
    let burst = join_big(&mut eve).await;
    assert!(
        burst
            .iter()
            .any(|m| m.command == "JOIN" && m.params[0] == "#big"),
        "{burst:?}"
    );
    let names: Vec<&str> = burst
        .iter()
        .filter(|m| m.command == "353" && m.params[2] == "#big")
        .flat_map(|m| m.params[3].split(' '))
        .collect();
    assert_eq!(names, vec!["Eve"]);
    let notice = eve
        .until("the notice", |m| {
            m.command == "NOTICE" && m.params[0] == "#big"
        })
        .await;
    assert!(
        notice.params[1].contains("(5 members)"),
        "{:?}",
        notice.params
    );

    // NAMES and WHO ask for a page: all five fit in one.
    eve.send("NAMES #big").await;
    let names = eve.collect("NAMES", |m| m.command == "366").await;
    let mut listed: Vec<&str> = names
        .iter()
        .filter(|m| m.command == "353" && m.params[2] == "#big")
        .flat_map(|m| m.params[3].split(' '))
        .collect();
    listed.sort_unstable();
    assert_eq!(listed, vec!["Ann", "Bo", "Cy", "Di", "Eve"]);
    eve.send("WHO #big").await;
    let who = eve.collect("WHO", |m| m.command == "315").await;
    assert_eq!(who.iter().filter(|m| m.command == "352").count(), 5);

    // Someone Eve never saw join speaks: shown all the same.
    others[0].send("PRIVMSG #big :hello big room").await;
    let heard = eve.heard("hello big room").await;
    assert_eq!(nick_of(&heard), "Bo");

    // Down to one member (half the limit or less): small again, and Ann,
    // the last one, gets a fresh NAMES with just herself.
    eve.send("PART #big").await;
    for irc in &mut others {
        irc.send("PART #big").await;
    }
    eve.until("Eve's PART", |m| m.command == "PART").await;
    let fresh = ann
        .collect("a fresh NAMES", |m| {
            m.command == "366" && m.params[1] == "#big"
        })
        .await;
    let names: Vec<&str> = fresh
        .iter()
        .filter(|m| m.command == "353" && m.params[2] == "#big")
        .flat_map(|m| m.params[3].split(' '))
        .collect();
    assert_eq!(names, vec!["Ann"]);
    // Small: joins are shown again.
    let mut fay = Irc::register(gw.irc, "Fay", "").await;
    join_big(&mut fay).await;
    let join = ann
        .until("Fay's JOIN", |m| m.command == "JOIN" && nick_of(m) == "Fay")
        .await;
    assert_eq!(join.params, vec!["#big"]);
}
