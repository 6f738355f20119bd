//! Bad input affects only its sender: each case gets a clear error frame
//! (where the peer can still be told) and a close, and a bystander keeps
//! chatting on the same server throughout.

use crate::common;

use chatty::client::Client;
use chatty::protocol::{
    ClientMsg, ErrorCode, LeaveReason, ServerMsg, MIN_PROTOCOL_VERSION, PROTOCOL_VERSION,
};
use common::{joined, wait_for, wait_for_text, Raw, TestServer};

/// Checks the bystander still gets service after a bad client was dealt with.
async fn bystander_still_chats(bystander: &mut Client, tag: &str) {
    let text = format!("still here after {tag}");
    bystander.say(&text).await.unwrap();
    wait_for_text(bystander, &text).await;
}

async fn setup() -> (TestServer, Client) {
    let server = TestServer::unlimited().await;
    let bystander = joined(&server, "Bystander").await;
    (server, bystander)
}

#[tokio::test]
async fn garbage_bytes_get_frame_too_large() {
    let (server, mut bystander) = setup().await;
    let mut raw = Raw::connect(&server).await;
    // An HTTP request: "GET " read as a length is ~1.2 GB.
    raw.write(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n").await;
    let text = raw.expect_error(ErrorCode::FRAME_TOO_LARGE, true).await;
    assert!(text.contains("exceeds"), "{text}");
    raw.expect_closed().await;
    bystander_still_chats(&mut bystander, "garbage").await;
}

#[tokio::test]
async fn huge_length_prefix_is_refused_without_reading_the_body() {
    let (server, mut bystander) = setup().await;
    let mut raw = Raw::greeted(&server).await;
    raw.write(&[0xff, 0xff, 0xff, 0xff]).await;
    raw.expect_error(ErrorCode::FRAME_TOO_LARGE, true).await;
    raw.expect_closed().await;
    // Just over the limit is refused too.
    let mut raw = Raw::greeted(&server).await;
    raw.write(&(64 * 1024 + 1u32).to_be_bytes()).await;
    raw.expect_error(ErrorCode::FRAME_TOO_LARGE, true).await;
    raw.expect_closed().await;
    bystander_still_chats(&mut bystander, "huge prefix").await;
}

#[tokio::test]
async fn a_frame_at_the_limit_is_read_and_judged_on_its_content() {
    let (server, mut bystander) = setup().await;
    let mut raw = Raw::greeted(&server).await;
    // 64 KiB of zero bytes: a valid frame size, but not one MessagePack value.
    raw.write_body(&vec![0u8; 64 * 1024]).await;
    let text = raw.expect_error(ErrorCode::BAD_FRAME, true).await;
    assert!(text.contains("MessagePack"), "{text}");
    raw.expect_closed().await;
    bystander_still_chats(&mut bystander, "64 KiB frame").await;
}

#[tokio::test]
async fn malformed_bodies_get_bad_frame() {
    let (server, mut bystander) = setup().await;
    let cases: [(&str, &[u8]); 5] = [
        ("not msgpack", b"\xc1\xc1"),
        ("not a map", b"\x93\x01\x02\x03"),
        ("no type", b"\x81\xa4name\xa3Leo"),
        ("unknown type", b"\x81\xa4type\xa7explode"),
        ("deep nesting", &[0x91; 5000]),
    ];
    for (what, body) in cases {
        let mut raw = Raw::greeted(&server).await;
        raw.write_body(body).await;
        let text = raw.expect_error(ErrorCode::BAD_FRAME, true).await;
        assert!(!text.is_empty(), "{what}: error text explains");
        raw.expect_closed().await;
    }
    let mut raw = Raw::greeted(&server).await;
    raw.write(&[0, 0, 0, 0]).await;
    raw.expect_error(ErrorCode::BAD_FRAME, true).await;
    raw.expect_closed().await;
    bystander_still_chats(&mut bystander, "malformed bodies").await;
}

#[tokio::test]
async fn invalid_utf8_gets_its_own_error() {
    let (server, mut bystander) = setup().await;
    let mut raw = Raw::greeted(&server).await;
    raw.send(&ClientMsg::Join { name: "Bad".into() }).await;
    raw.write_body(b"\x82\xa4type\xa4send\xa4text\xa3a\xff\xfe")
        .await;
    let text = raw.expect_error(ErrorCode::INVALID_UTF8, true).await;
    assert!(text.contains("UTF-8"), "{text}");
    raw.expect_closed().await;
    let left = wait_for(
        &mut bystander,
        "Bad leaves",
        |m| matches!(m, ServerMsg::Left { name, .. } if name == "Bad"),
    )
    .await;
    assert!(matches!(
        left,
        ServerMsg::Left {
            reason: LeaveReason::ProtocolError,
            ..
        }
    ));
    bystander_still_chats(&mut bystander, "invalid UTF-8").await;
}

#[tokio::test]
async fn wrong_version_is_told_the_supported_ones() {
    let (server, mut bystander) = setup().await;
    let mut raw = Raw::connect(&server).await;
    raw.send(&ClientMsg::Hello {
        version: 0,
        agent: "ancient".into(),
        features: Vec::new(),
    })
    .await;
    let text = raw.expect_error(ErrorCode::UNSUPPORTED_VERSION, true).await;
    assert!(
        text.contains(&format!(
            "versions {MIN_PROTOCOL_VERSION} to {PROTOCOL_VERSION}"
        )),
        "{text}"
    );
    raw.expect_closed().await;
    bystander_still_chats(&mut bystander, "wrong version").await;
}

#[tokio::test]
async fn anything_before_hello_is_refused() {
    let (server, mut bystander) = setup().await;
    let mut raw = Raw::connect(&server).await;
    raw.send(&ClientMsg::Join {
        name: "Eager".into(),
    })
    .await;
    raw.expect_error(ErrorCode::HANDSHAKE_REQUIRED, true).await;
    raw.expect_closed().await;
    let mut raw = Raw::greeted(&server).await;
    raw.send(&ClientMsg::Hello {
        version: PROTOCOL_VERSION,
        agent: String::new(),
        features: Vec::new(),
    })
    .await;
    raw.expect_error(ErrorCode::HANDSHAKE_REQUIRED, true).await;
    raw.expect_closed().await;
    bystander_still_chats(&mut bystander, "no hello").await;
}

#[tokio::test]
async fn send_before_join_is_refused() {
    let (server, mut bystander) = setup().await;
    let mut raw = Raw::greeted(&server).await;
    raw.send(&ClientMsg::Send {
        text: "sneaky".into(),
        cid: None,
        action: false,
        room: None,
    })
    .await;
    raw.expect_error(ErrorCode::NOT_JOINED, true).await;
    raw.expect_closed().await;
    bystander_still_chats(&mut bystander, "send before join").await;
}

#[tokio::test]
async fn a_truncated_frame_then_eof_closes_only_that_client() {
    let (server, mut bystander) = setup().await;
    let mut raw = Raw::greeted(&server).await;
    raw.send(&ClientMsg::Join { name: "Cut".into() }).await;
    wait_for(
        &mut bystander,
        "Cut joins",
        |m| matches!(m, ServerMsg::Joined { name, .. } if name == "Cut"),
    )
    .await;
    raw.write(&[0, 0, 0, 50, 0x82, 0xa4]).await;
    raw.stream.shutdown_write().await;
    raw.expect_closed().await;
    let left = wait_for(
        &mut bystander,
        "Cut leaves",
        |m| matches!(m, ServerMsg::Left { name, .. } if name == "Cut"),
    )
    .await;
    assert!(matches!(
        left,
        ServerMsg::Left {
            reason: LeaveReason::Disconnected,
            ..
        }
    ));
    bystander_still_chats(&mut bystander, "truncated frame").await;
}

/// Input sent before a bad frame is not lost: a valid message pipelined in
/// the same write as garbage is still delivered to everyone.
#[tokio::test]
async fn accepted_messages_survive_a_later_bad_frame() {
    let (server, mut bystander) = setup().await;
    let mut raw = Raw::greeted(&server).await;
    let mut bytes = chatty::protocol::encode_frame(&ClientMsg::Join {
        name: "Mixed".into(),
    })
    .to_vec();
    bytes.extend_from_slice(&chatty::protocol::encode_frame(&ClientMsg::Send {
        text: "before the junk".into(),
        cid: None,
        action: false,
        room: None,
    }));
    bytes.extend_from_slice(&[0xff; 8]);
    raw.write(&bytes).await;
    raw.expect_error(ErrorCode::FRAME_TOO_LARGE, true).await;
    raw.expect_closed().await;
    assert_eq!(
        wait_for_text(&mut bystander, "before the junk").await,
        "Mixed"
    );
}

trait ShutdownWrite {
    async fn shutdown_write(&mut self);
}

impl ShutdownWrite for tokio::net::TcpStream {
    async fn shutdown_write(&mut self) {
        use tokio::io::AsyncWriteExt;
        self.shutdown().await.unwrap();
    }
}

#[tokio::test]
async fn a_newer_client_is_answered_with_the_version_both_speak() {
    let (server, mut bystander) = setup().await;
    let mut raw = Raw::connect(&server).await;
    raw.send(&ClientMsg::Hello {
        version: PROTOCOL_VERSION + 1,
        agent: "future".into(),
        features: Vec::new(),
    })
    .await;
    match raw.next().await.expect("an answer") {
        // The highest both speak: the client speaks more than this server.
        ServerMsg::Hello { version, .. } => assert_eq!(version, PROTOCOL_VERSION),
        other => panic!("expected hello, got {other:?}"),
    }
    bystander_still_chats(&mut bystander, "newer client").await;
}
