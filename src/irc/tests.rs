//! What one idle IRC connection costs the gateway.

use std::sync::Arc;

use tokio::net::{TcpListener, TcpStream};

use super::{connection, Board, Gateway, GatewayInfo};
use crate::server::{Server, ServerConfig};

/// A connection's task future as the accept loop spawns it, and its size.
async fn task_size() -> usize {
    let server = Server::bind("127.0.0.1:0", ServerConfig::default())
        .await
        .unwrap();
    let info = GatewayInfo {
        server_name: "irc.test".into(),
        network: "Chatty".into(),
        server_id: server.sessions().server_id(),
        created: String::new(),
        motd: Vec::new(),
        keepalive_ms: 30_000,
        idle_timeout_ms: 90_000,
        lines_per_sec: 0.0,
        lines_burst: 1,
        lobby: true,
    };
    let gw = Arc::new(Gateway {
        sessions: server.sessions(),
        info: Arc::new(info),
        board: Board::default(),
    });
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let _client = TcpStream::connect(listener.local_addr().unwrap())
        .await
        .unwrap();
    let (stream, peer) = listener.accept().await.unwrap();
    let task = connection(stream, peer, gw, None);
    std::mem::size_of_val(&task)
}

#[tokio::test]
async fn a_plain_connections_task_is_small() {
    // Every idle IRC client's task holds this much for its whole life:
    // 10 KiB in a debug build when the TLS path and a 4 KiB read-out
    // array were inline, 2 KiB without them.
    let size = task_size().await;
    assert!(size <= 3 * 1024, "{size} bytes");
}

#[test]
fn the_translator_keeps_rare_state_out_of_line() {
    // The translator sits in every connection's task. With the welcome's
    // lobby state and a held echo inline it was 992 bytes, and the task
    // cell (release) a full 2,048-byte allocation; boxed, 712.
    let size = std::mem::size_of::<super::Translator>();
    assert!(size <= 768, "{size} bytes");
}
