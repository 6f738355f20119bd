//! The IRC port under abuse, each case hurting only its sender: floods
//! (the session's rate limit, then the gateway's own guard), a client that
//! stops reading (closed when its send queue is full, as IRC servers do;
//! never its session evicted), over-long lines and garbage. Plus IRC over
//! TLS. All on loopback.

use crate::common;

use std::sync::Arc;

use chatty::protocol::{LeaveReason, ServerMsg};
use chatty::server::{RateLimit, ServerConfig, ServerTls};
use common::irc::{start, start_with, Irc};
use common::rooms::{heard, member, say};
use common::{clustered, free_udp_port, loopback_cluster};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer, ServerName};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpSocket, TcpStream};

/// The server's default flood limit, set explicitly.
const TEN_PER_SECOND: RateLimit = RateLimit {
    per_sec: 10.0,
    burst: 20,
};

fn config(rate: RateLimit) -> ServerConfig {
    ServerConfig {
        rate_limit: rate,
        ..clustered(loopback_cluster("irc-hostile", free_udp_port()))
    }
}

#[tokio::test]
async fn a_flood_is_rate_limited_like_on_the_chatty_port() {
    let gw = start(config(TEN_PER_SECOND), "h.test").await;
    let mut cleo = member(&gw.server, "Cleo").await;
    let mut irc = Irc::register(gw.irc, "Flood", "").await;
    let mut burst = String::new();
    for n in 0..40 {
        burst.push_str(&format!("PRIVMSG #lobby :line {n}\r\n"));
    }
    irc.send_raw(burst.as_bytes()).await.unwrap();
    irc.until("263", |m| m.command == "263").await;
    irc.send("PING :alive").await;
    irc.until("PONG", |m| m.command == "PONG").await;
    // The first lines went through; the connection is still up.
    heard(&mut cleo, "line 0").await;
    say(&mut cleo, "#lobby", "still here").await;
    irc.heard("still here").await;
}

#[tokio::test]
async fn a_line_flood_past_the_gateway_guard_disconnects() {
    let gw = start(config(TEN_PER_SECOND), "h.test").await;
    let mut irc = Irc::register(gw.irc, "Pinger", "").await;
    let burst = "PING :x\r\n".repeat(500);
    let _ = irc.send_raw(burst.as_bytes()).await;
    let error = irc.closed().await.expect("ERROR");
    assert!(error.contains("Excess Flood"), "{error}");
    // Others are unaffected.
    Irc::register(gw.irc, "Next", "").await;
}

#[tokio::test]
async fn a_client_that_stops_reading_is_closed_when_its_send_queue_fills() {
    let gw = start(
        ServerConfig {
            // A short session queue: had the gateway stopped reading its
            // session, it would be evicted at once.
            client_queue: 64,
            ..config(RateLimit::OFF)
        },
        "h.test",
    )
    .await;
    let cleo = member(&gw.server, "Cleo").await;
    let socket = TcpSocket::new_v4().unwrap();
    socket.set_recv_buffer_size(4096).unwrap();
    let stream = socket.connect(gw.irc).await.unwrap();
    let mut slow = Irc::from_stream(stream);
    slow.registered("Slow", "").await;
    // Slow now reads nothing while Cleo fills the room (and reads it all).
    let (mut reader, mut writer) = cleo.split();
    let watch = tokio::spawn(async move {
        loop {
            match reader.recv().await {
                Ok(Some(ServerMsg::Left { name, reason, .. })) if name == "Slow" => return reason,
                Ok(Some(_)) => {}
                other => panic!("Cleo's connection ended: {other:?}"),
            }
        }
    });
    let text = "x".repeat(900);
    for _ in 0..20_000 {
        if watch.is_finished() {
            break;
        }
        writer.say(&text).await.expect("Cleo sends");
        tokio::task::yield_now().await;
    }
    let reason = tokio::time::timeout(common::DEADLINE, watch)
        .await
        .expect("Slow evicted in time")
        .unwrap();
    // The gateway read its session all along and closed the IRC client:
    // the session was never evicted as too slow.
    assert_eq!(reason, LeaveReason::Disconnected);
    let _ = slow;
    let mut cleo2 = member(&gw.server, "Cleo2").await;
    // Everyone else carries on.
    let mut fresh = Irc::register(gw.irc, "Fresh", "").await;
    say(&mut cleo2, "#lobby", "after").await;
    fresh.heard("after").await;
}

#[tokio::test]
async fn garbage_and_over_long_lines_never_break_the_gateway() {
    let gw = start(config(RateLimit::OFF), "h.test").await;
    let mut seed = 0x9E3779B97F4A7C15u64;
    for round in 0..20 {
        let mut irc = Irc::connect(gw.irc).await;
        let mut bytes = Vec::new();
        for _ in 0..2000 {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            let b = (seed & 0xff) as u8;
            bytes.push(if b.is_multiple_of(17) { b'\n' } else { b });
        }
        if round % 2 == 0 {
            bytes.extend_from_slice(b"\r\nNICK G");
            bytes.extend_from_slice(round.to_string().as_bytes());
            bytes.extend_from_slice(b"\r\nUSER g 0 * :g\r\n");
        }
        bytes.extend_from_slice(&vec![b'y'; 20_000]);
        bytes.extend_from_slice(b"\r\nPING :end\r\n");
        let _ = irc.send_raw(&bytes).await;
        let got = irc
            .until("PONG or close", |m| {
                m.command == "PONG" && m.params[1] == "end" || m.command == "ERROR"
            })
            .await;
        assert_eq!(got.command, "PONG", "{got:?}");
    }
    Irc::register(gw.irc, "Fine", "").await;
}

#[tokio::test]
async fn irc_over_tls_with_the_servers_certificate() {
    let key = rcgen::KeyPair::generate().unwrap();
    let cert = rcgen::CertificateParams::new(vec!["127.0.0.1".to_string()])
        .unwrap()
        .self_signed(&key)
        .unwrap();
    let der: CertificateDer<'static> = cert.der().clone();
    let tls = ServerTls::from_der(
        vec![der.clone()],
        PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der())),
    )
    .unwrap();
    let gw = start_with(
        ServerConfig {
            tls: Some(tls),
            ..config(RateLimit::OFF)
        },
        "tls.test",
        true,
    )
    .await;

    let mut roots = rustls::RootCertStore::empty();
    roots.add(der).unwrap();
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let client = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    let connector = tokio_rustls::TlsConnector::from(Arc::new(client));
    let tcp = TcpStream::connect(gw.irc).await.unwrap();
    let mut stream = connector
        .connect(ServerName::try_from("127.0.0.1").unwrap(), tcp)
        .await
        .unwrap();
    stream
        .write_all(b"NICK Secure\r\nUSER s 0 * :s\r\n")
        .await
        .unwrap();
    let mut lines = BufReader::new(stream).lines();
    let welcome = tokio::time::timeout(common::DEADLINE, async {
        while let Some(line) = lines.next_line().await.unwrap() {
            if line.contains(" 001 ") {
                return line;
            }
        }
        panic!("closed before 001");
    })
    .await
    .unwrap();
    assert!(welcome.starts_with(":tls.test 001 Secure "), "{welcome}");

    // A plain IRC client is told, in IRC, and closed.
    let mut plain = Irc::connect(gw.irc).await;
    plain.send("NICK Plain").await;
    let error = plain.closed().await.expect("ERROR");
    assert!(error.contains("TLS"), "{error}");
}
