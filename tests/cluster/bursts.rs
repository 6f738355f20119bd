//! Pasted bursts on every server at once, relayed to the others, with a
//! member leaving in the middle: what the relay delivers together is
//! applied together (`Room::apply_all`), and nobody may see a line twice,
//! miss one, or see another order than the other clients of its server.

use std::collections::HashSet;

use crate::common;

use chatty::client::ClientReader;
use chatty::protocol::{encode_frame, ClientMsg, MessageId, ServerMsg};
use chatty::server::ServerConfig;
use common::{
    clustered, free_udp_port, joined, loopback_cluster, wait_members_named, TestServer, DEADLINE,
};

const SERVERS: usize = 3;
const CLIENTS: usize = 12;
const SENDERS: usize = 3;
const PER_SENDER: usize = 40;
/// The senders' lines and the leaver's.
const TOTAL: usize = (SERVERS * SENDERS + 1) * PER_SENDER;

/// What a client saw: a line, or the leaver's `left`.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Seen {
    Line(MessageId, String, String),
    Left(MessageId),
}

/// `PER_SENDER` lines of `name`, encoded back to back for one write.
fn paste(name: &str) -> Vec<u8> {
    (0..PER_SENDER)
        .flat_map(|n| {
            encode_frame(&ClientMsg::Send {
                text: format!("{name}-{n}"),
                room: None,
                action: false,
                cid: None,
            })
        })
        .collect()
}

/// Reads until every line and the leaver's `left` have arrived.
async fn collect(mut reader: ClientReader) -> Vec<Seen> {
    let mut seen = Vec::new();
    let (mut lines, mut left) = (0, false);
    while lines < TOTAL || !left {
        match reader.recv().await {
            Ok(Some(ServerMsg::Message { id, from, text, .. })) => {
                lines += 1;
                seen.push(Seen::Line(id, from, text));
            }
            Ok(Some(ServerMsg::Left { id, name, .. })) if name == "leaver" => {
                assert!(!left, "the leaver left twice");
                left = true;
                seen.push(Seen::Left(id));
            }
            Ok(Some(_)) => {}
            other => panic!("reader ended early: {other:?}"),
        }
    }
    seen
}

#[tokio::test]
async fn pasted_bursts_on_every_server_reach_everyone_once_in_their_server_s_one_order() {
    let port = free_udp_port();
    let mut servers = Vec::new();
    for _ in 0..SERVERS {
        let config = ServerConfig {
            max_per_ip: 0,
            ..clustered(loopback_cluster("bursts", port))
        };
        servers.push(TestServer::start(config).await);
    }
    for s in &servers {
        s.wait_members("membership", |m| m.len() == SERVERS - 1)
            .await;
    }
    let mut names = Vec::new();
    let mut readers = Vec::new(); // (server, reader)
    let mut writers = Vec::new(); // (server, index, writer)
    for (s, server) in servers.iter().enumerate() {
        for i in 0..CLIENTS {
            let name = format!("u{s}x{i}");
            let (reader, writer) = joined(server, &name).await.split();
            readers.push((s, reader));
            writers.push((s, i, writer));
            names.push(name);
        }
    }
    let leaver = joined(&servers[SERVERS - 1], "leaver").await;
    names.push("leaver".into());
    let names: Vec<&str> = names.iter().map(String::as_str).collect();
    for server in &servers {
        wait_members_named(server, &names).await;
    }
    let collectors: Vec<_> = readers
        .into_iter()
        .map(|(s, reader)| (s, tokio::spawn(collect(reader))))
        .collect();

    // Every server's senders paste at the same moment. The leaver pastes
    // its lines and its leave in one write: its server numbers them in one
    // go, so the others get its `left` relayed right behind its lines.
    let pastes: Vec<_> = writers
        .into_iter()
        .map(|(s, i, mut writer)| {
            tokio::spawn(async move {
                if i < SENDERS {
                    writer.send_raw(&paste(&format!("u{s}x{i}"))).await.unwrap();
                }
                // Dropping a write half would half-close the connection.
                writer
            })
        })
        .collect();
    let (mut leaver_reader, mut leaver) = leaver.split();
    let mut last_words = paste("leaver");
    last_words.extend(encode_frame(&ClientMsg::Leave { text: None }));
    leaver.send_raw(&last_words).await.unwrap();
    tokio::spawn(async move { while let Ok(Some(_)) = leaver_reader.recv().await {} });
    let mut keep = vec![leaver];
    for paste in pastes {
        keep.push(paste.await.unwrap());
    }

    let mut order: Vec<Option<Vec<Seen>>> = vec![None; SERVERS];
    for (s, collector) in collectors {
        let seen = tokio::time::timeout(DEADLINE * 3, collector)
            .await
            .expect("every line and the leave delivered")
            .unwrap();
        let ids: HashSet<MessageId> = seen
            .iter()
            .filter_map(|x| match x {
                Seen::Line(id, ..) => Some(*id),
                Seen::Left(_) => None,
            })
            .collect();
        assert_eq!(ids.len(), TOTAL, "each line once");
        let senders = (0..SERVERS).flat_map(|s| (0..SENDERS).map(move |i| format!("u{s}x{i}")));
        for sender in senders.chain(["leaver".to_string()]) {
            let got: Vec<&str> = seen
                .iter()
                .filter_map(|x| match x {
                    Seen::Line(_, from, text) if *from == sender => Some(text.as_str()),
                    _ => None,
                })
                .collect();
            let want: Vec<String> = (0..PER_SENDER).map(|n| format!("{sender}-{n}")).collect();
            assert_eq!(got, want, "{sender}'s lines complete and in its order");
        }
        // Each server's events (its lines and, for the last, the leave)
        // in the order it numbered them: the leave is not moved before
        // lines said before it, nor after lines said after it.
        for origin in &servers {
            let seqs: Vec<u64> = seen
                .iter()
                .map(|x| match x {
                    Seen::Line(id, ..) | Seen::Left(id) => *id,
                })
                .filter(|id| id.origin == origin.id)
                .map(|id| id.seq)
                .collect();
            assert!(
                seqs.windows(2).all(|w| w[0] < w[1]),
                "server {}'s events out of order for a client of server {s}: {seqs:?}",
                origin.id.short()
            );
        }
        match &order[s] {
            None => order[s] = Some(seen),
            Some(first) => assert_eq!(&seen, first, "one order for server {s}'s clients"),
        }
    }
    drop(keep);
}
