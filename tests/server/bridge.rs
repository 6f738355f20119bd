//! Bridged sessions (`server::Sessions`), as the IRC gateway and WebSockets
//! use them: the same session as a TCP client, over an in-process pipe.

use crate::common;

use std::net::SocketAddr;
use std::time::Duration;

use bytes::BytesMut;
use chatty::client::Client;
use chatty::protocol::codec::FrameDecoder;
use chatty::protocol::{
    decode, encode_frame, ClientMsg, ServerMsg, MAX_SERVER_FRAME, PROTOCOL_VERSION,
};
use chatty::server::admission::Refusal;
use chatty::server::pipe::Pipe;
use chatty::server::{Server, ServerConfig};
use common::{wait_for_text, DEADLINE};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::oneshot;

/// A client speaking frames over a bridged pipe.
struct Piped {
    pipe: Pipe,
    buf: BytesMut,
    decoder: FrameDecoder,
}

impl Piped {
    /// A bridged session on `sessions`, greeted and joined as `name`.
    async fn joined(sessions: &chatty::server::Sessions, name: &str) -> Piped {
        let mut piped = Piped {
            pipe: sessions.open(peer()).expect("admitted"),
            buf: BytesMut::new(),
            decoder: FrameDecoder::new(MAX_SERVER_FRAME),
        };
        piped
            .send(&ClientMsg::Hello {
                version: PROTOCOL_VERSION,
                agent: "bridge-test".into(),
                features: vec![],
            })
            .await;
        piped.send(&ClientMsg::Join { name: name.into() }).await;
        piped
            .until("welcome", |m| matches!(m, ServerMsg::Welcome { .. }))
            .await;
        piped
    }

    async fn send(&mut self, msg: &ClientMsg) {
        self.pipe.write_all(&encode_frame(msg)).await.unwrap();
    }

    /// The next message, `None` at the end. Panics at the deadline.
    async fn next(&mut self) -> Option<ServerMsg> {
        let read = async {
            loop {
                if let Ok(Some(body)) =
                    tokio_util::codec::Decoder::decode(&mut self.decoder, &mut self.buf)
                {
                    return Some(decode::<ServerMsg>(&body).expect("valid frames"));
                }
                if self.pipe.read_buf(&mut self.buf).await.unwrap_or(0) == 0 {
                    return None;
                }
            }
        };
        tokio::time::timeout(DEADLINE, read)
            .await
            .expect("deadline")
    }

    /// Messages until one matches `pred`; panics at the end of the pipe.
    async fn until(&mut self, what: &str, pred: impl Fn(&ServerMsg) -> bool) -> ServerMsg {
        loop {
            match self.next().await {
                Some(msg) if pred(&msg) => return msg,
                Some(_) => {}
                None => panic!("pipe closed before {what}"),
            }
        }
    }
}

fn peer() -> SocketAddr {
    "127.0.0.1:40000".parse().unwrap()
}

#[tokio::test]
async fn a_bridged_client_chats_with_a_tcp_client_and_hears_shutdown() {
    let server = Server::bind("127.0.0.1:0", ServerConfig::default())
        .await
        .unwrap();
    let addr = server.local_addr();
    let sessions = server.sessions();
    let (stop, stopped) = oneshot::channel::<()>();
    let task = tokio::spawn(server.run(async {
        let _ = stopped.await;
    }));

    let mut piped = Piped::joined(&sessions, "Pipe").await;
    assert_eq!(sessions.connections(), 1);

    let mut ann = Client::connect(&addr.to_string()).await.unwrap();
    ann.join("Ann").await.unwrap();
    piped
        .send(&ClientMsg::Send {
            text: "through the pipe".into(),
            room: None,
            cid: None,
            action: false,
        })
        .await;
    wait_for_text(&mut ann, "through the pipe").await;
    ann.say("over tcp").await.unwrap();
    piped
        .until(
            "Ann's line",
            |m| matches!(m, ServerMsg::Message { text, .. } if text == "over tcp"),
        )
        .await;

    // Shutdown reaches the bridged session like any other.
    stop.send(()).unwrap();
    piped
        .until("the shutdown notice", |m| {
            matches!(m, ServerMsg::Shutdown { .. })
        })
        .await;
    tokio::time::timeout(Duration::from_secs(10), task)
        .await
        .expect("the server stops")
        .unwrap()
        .unwrap();
}

#[tokio::test]
async fn bridged_sessions_count_under_the_connection_caps() {
    let config = ServerConfig {
        max_per_ip: 2,
        ..ServerConfig::default()
    };
    let server = Server::bind("127.0.0.1:0", config).await.unwrap();
    let sessions = server.sessions();
    let _task = tokio::spawn(server.run(std::future::pending()));
    let first = sessions.open(peer()).expect("first");
    let _second = sessions.open(peer()).expect("second");
    assert!(matches!(
        sessions.open(peer()),
        Err(Refusal::PerAddress { limit: 2 })
    ));
    // Another address has its own allowance; a closed pipe frees its slot.
    let _other = sessions
        .open("127.0.0.2:1".parse().unwrap())
        .expect("other");
    drop(first);
    let deadline = tokio::time::Instant::now() + DEADLINE;
    while sessions.open(peer()).is_err() {
        assert!(tokio::time::Instant::now() < deadline, "slot never freed");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test]
async fn a_gateway_that_stops_reading_is_evicted_as_a_slow_reader() {
    // A small queue: the pipe's 64 KiB plus 16 frames, then eviction.
    let config = ServerConfig {
        client_queue: 16,
        rate_limit: chatty::server::RateLimit::OFF,
        ..ServerConfig::default()
    };
    let server = Server::bind("127.0.0.1:0", config).await.unwrap();
    let addr = server.local_addr();
    let sessions = server.sessions();
    let _task = tokio::spawn(server.run(std::future::pending()));
    let mut piped = Piped::joined(&sessions, "Stuck").await;

    // The piped client reads nothing more while Ann talks (reading her
    // own echoes): far more than the pipe and the queue hold.
    let mut ann = Client::connect(&addr.to_string()).await.unwrap();
    ann.join("Ann").await.unwrap();
    let (mut ann_rx, mut ann_tx) = ann.split();
    let _drain = tokio::spawn(async move { while let Ok(Some(_)) = ann_rx.recv().await {} });
    let line = "x".repeat(900);
    let mut sent = 0;
    let deadline = tokio::time::Instant::now() + DEADLINE;
    while sessions.connections() == 2 {
        assert!(tokio::time::Instant::now() < deadline, "never evicted");
        ann_tx.say(&line).await.unwrap();
        sent += 1;
        tokio::task::yield_now().await;
    }
    // The session ended on its own: the pipe gives what it held, at most
    // its bound, and then its end.
    let mut held = 0;
    while let Some(msg) = piped.next().await {
        if matches!(msg, ServerMsg::Message { .. }) {
            held += 1;
        }
    }
    assert!(
        held < sent,
        "{held} of {sent} lines: the rest were never queued"
    );
    assert!(
        held * 900 <= 70 * 1024,
        "{held} lines: more than the pipe's bound"
    );
}
