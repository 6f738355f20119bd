//! HexChat, replayed: exactly what HexChat 2.16 sends on connecting and on
//! joining, over a raw socket to one server's gateway, with a Chatty client
//! on the other server of the cluster, and the replies checked the way
//! HexChat reads them. (HexChat needs a display; this needs none.)
//!
//! What HexChat sends, read from its source (src/common/ of the HexChat
//! tree of the 2.14–2.16 releases, as kept in the forks jacob1/hexchat and
//! delthas/hexchat; later HexChat-derived clients ask for more capabilities,
//! e.g. batch, message-tags, echo-message, which this gateway also offers):
//! * `proto-irc.c`, `irc_login`: `CAP LS 302`, then `NICK nick` and
//!   `USER user 0 * :realname` (PASS only with a server password).
//! * `inbound.c`, `inbound_cap_ls`: from the `CAP LS` reply it asks in one
//!   `CAP REQ` for those offered that it knows (`supported_caps`: identify-msg,
//!   multi-prefix, away-notify, account-notify, extended-join, server-time,
//!   userhost-in-names, cap-notify, chghost, znc.in/server-time-iso,
//!   znc.in/server-time, twitch.tv/membership; sasl only with a password),
//!   in the server's order, and sends `CAP END` straight after the `CAP REQ`,
//!   without waiting for the `ACK`, unless the LS reply was one of several
//!   (`CAP * LS * :…`).
//! * `inbound.c`, `inbound_login_end` (on 376 or 422): the autojoin `JOIN`.
//! * `inbound.c`, `inbound_ujoin` (on a JOIN whose source is itself, asked
//!   for or not): `MODE #c` (`irc_join_info`), then `WHO #c` (`irc_user_list`;
//!   `WHO #c %chtsunfra,152` only where ISUPPORT has WHOX, which this
//!   gateway does not).
//! * `server.c`, `lag_check`: `PING LAG<time>` (through `irc_ping` with no
//!   target), read back from the PONG's last parameter; and with away
//!   tracking on (the default), `WHO #c` now and then (`away_check`).
//!
//! And how it reads the replies (`proto-irc.c`, `process_numeric`): 001's
//! first parameter is its nick; 005 tokens; 353 `= #c :names` (channel third);
//! 366, 324 and 315 with the channel second; 352 as channel, user, host,
//! server, nick, flags (`G` = away), then `hopcount realname` in the last.

use crate::common;

use chatty::irc::message::Message;
use chatty::protocol::ServerMsg;
use common::irc::{nick_of, pair, Irc};
use common::rooms::{enter, heard, member, say};
use common::{free_udp_port, wait_for};

/// HexChat 2.16's `supported_caps` (see the top of this file).
const HEXCHAT_CAPS: &[&str] = &[
    "identify-msg",
    "multi-prefix",
    "away-notify",
    "account-notify",
    "extended-join",
    "server-time",
    "userhost-in-names",
    "cap-notify",
    "chghost",
    "znc.in/server-time-iso",
    "znc.in/server-time",
    "twitch.tv/membership",
];

/// Reads on as HexChat would, answering every JOIN of its own with
/// `MODE #c` and `WHO #c`, until `done` holds for a line; returns every
/// line read.
async fn as_hexchat(
    irc: &mut Irc,
    me: &str,
    what: &str,
    mut done: impl FnMut(&Message) -> bool,
) -> Vec<Message> {
    let mut got = Vec::new();
    loop {
        let msg = irc.until(what, |_| true).await;
        if msg.command == "JOIN" && nick_of(&msg) == me {
            let channel = msg.params[0].clone();
            irc.send(&format!("MODE {channel}")).await;
            irc.send(&format!("WHO {channel}")).await;
        }
        let stop = done(&msg);
        got.push(msg);
        if stop {
            return got;
        }
    }
}

fn numeric<'a>(lines: &'a [Message], code: &str, channel: &str) -> Vec<&'a Message> {
    lines
        .iter()
        .filter(|m| m.command == code && m.params.iter().any(|p| p == channel))
        .collect()
}

/// An IRCv3 `time` tag as HexChat parses it: `YYYY-MM-DDThh:mm:ss.sssZ`.
fn is_server_time(value: &str) -> bool {
    let b = value.as_bytes();
    b.len() == 24
        && value.ends_with('Z')
        && [4, 7].iter().all(|&i| b[i] == b'-')
        && b[10] == b'T'
        && [13, 16].iter().all(|&i| b[i] == b':')
        && b[19] == b'.'
}

#[tokio::test]
async fn what_hexchat_sends_is_answered_as_hexchat_reads_it() {
    let (a, b) = pair(free_udp_port(), |c| c).await;
    let mut cleo = member(&b.server, "Cleo").await;
    let mut hex = Irc::connect(a.irc).await;

    // Registration: CAP LS 302, NICK, USER; then CAP REQ and CAP END at once.
    hex.send("CAP LS 302").await;
    hex.send("NICK Hexa").await;
    hex.send("USER hexa 0 * :Hexa Chat").await;
    let ls = hex
        .until("CAP LS", |m| m.command == "CAP" && m.param(1) == Some("LS"))
        .await;
    assert_eq!(ls.params.len(), 3, "one LS line, not several: {ls:?}");
    let offered: Vec<&str> = ls.params[2]
        .split(' ')
        .map(|c| c.split('=').next().unwrap())
        .collect();
    let wanted: Vec<&str> = offered
        .iter()
        .copied()
        .filter(|c| HEXCHAT_CAPS.contains(c))
        .collect();
    assert_eq!(wanted, ["away-notify", "multi-prefix", "server-time"]);
    hex.send(&format!("CAP REQ :{}", wanted.join(" "))).await;
    hex.send("CAP END").await;
    let ack = hex.until("CAP ACK", |m| m.command == "CAP").await;
    assert_eq!(ack.params[1..], ["ACK".to_string(), wanted.join(" ")]);

    let login = hex
        .collect("422", |m| m.command == "422" || m.command == "376")
        .await;
    assert_eq!(
        login[0].command, "001",
        "registration starts with 001: {login:?}"
    );
    assert_eq!(login[0].params[0], "Hexa");
    let tokens: Vec<&str> = numeric(&login, "005", "Hexa")
        .iter()
        .flat_map(|m| m.params[1..m.params.len() - 1].iter().map(String::as_str))
        .collect();
    for token in [
        "CHANTYPES=#",
        "PREFIX=(ov)@+",
        "NETWORK=Chatty",
        "CASEMAPPING=ascii",
    ] {
        assert!(tokens.contains(&token), "005 lacks {token}: {tokens:?}");
    }
    assert!(
        !tokens.iter().any(|t| t.starts_with("WHOX")),
        "no WHOX: plain WHO"
    );

    // inbound_login_end: the autojoin. The gateway's own #lobby JOIN and
    // ours of #dev each get HexChat's MODE and WHO.
    hex.send("JOIN #dev").await;
    let mut joins = 0;
    let burst = as_hexchat(&mut hex, "Hexa", "both channels' WHO", |m| {
        joins += usize::from(m.command == "315");
        joins == 2
    })
    .await;
    for channel in ["#lobby", "#dev"] {
        let names = numeric(&burst, "353", channel);
        assert!(
            names
                .iter()
                .any(|m| m.params[1] == "=" && m.params[3].split(' ').any(|n| n == "Hexa")),
            "353 for {channel} as `= {channel} :names`: {names:?}"
        );
        assert_eq!(numeric(&burst, "366", channel)[0].params[1], channel);
        let mode = numeric(&burst, "324", channel);
        assert_eq!(mode[0].params[1..], [channel.to_string(), "+n".to_string()]);
        let who = numeric(&burst, "352", channel);
        assert!(!who.is_empty(), "WHO {channel} lists its members");
        for row in who {
            assert_eq!(row.params.len(), 8, "352 as HexChat reads it: {row:?}");
            assert!(row.params[6].starts_with('H') || row.params[6].starts_with('G'));
            let (hops, real) = row.params[7].split_once(' ').expect("hopcount realname");
            assert!(hops.parse::<u32>().is_ok() && !real.is_empty(), "{row:?}");
        }
        assert_eq!(numeric(&burst, "315", channel)[0].params[1], channel);
    }
    let lobby_who = numeric(&burst, "352", "#lobby");
    let cleo_row = lobby_who
        .iter()
        .find(|m| m.params[5] == "Cleo")
        .expect("Cleo in WHO #lobby");
    assert_eq!(
        cleo_row.params[4],
        format!("{}.chatty", b.server.id.short())
    );

    // The Chatty client joins and speaks: JOIN, then a PRIVMSG whose
    // server time HexChat can read.
    enter(&mut cleo, "#dev").await;
    hex.until("Cleo's JOIN", |m| {
        m.command == "JOIN" && nick_of(m) == "Cleo"
    })
    .await;
    say(&mut cleo, "#dev", "hello hexchat").await;
    let msg = hex.heard("hello hexchat").await;
    assert_eq!((nick_of(&msg), msg.params[0].as_str()), ("Cleo", "#dev"));
    let time = msg
        .tags
        .iter()
        .find(|(k, _)| k == "time")
        .map(|(_, v)| v.as_str());
    assert!(time.is_some_and(is_server_time), "time tag {time:?}");

    // The lag meter, then a line and a quit the other way.
    hex.send("PING LAG1796126400123").await;
    let pong = hex.until("PONG", |m| m.command == "PONG").await;
    assert_eq!(pong.params, ["a.test", "LAG1796126400123"]);
    hex.send("PRIVMSG #dev :hello chatty").await;
    assert!(
        matches!(heard(&mut cleo, "hello chatty").await, ServerMsg::Message { from, room, .. } if from == "Hexa" && room == "#dev")
    );
    hex.send("QUIT :Leaving").await;
    let error = hex.closed().await.expect("an ERROR before the close");
    assert!(error.contains("Leaving"), "{error}");
    wait_for(
        &mut cleo,
        "Hexa's quit",
        |m| matches!(m, ServerMsg::Left { name, text, .. } if name == "Hexa" && text.as_deref() == Some("Leaving")),
    )
    .await;
}
