//! The size of an idle connection's task: its whole cost to the server
//! while the client is quiet (BENCHMARKS.md, "Scale").

use std::sync::Arc;

use tokio::net::{TcpListener, TcpStream};
use tokio_util::sync::CancellationToken;

use super::serve;
use crate::protocol::ServerId;
use crate::server::admission::Admission;
use crate::server::config::ServerConfig;
use crate::server::room::Room;

/// What `serve`'s future may take for a plain TCP connection. The task
/// tokio allocates for it adds 112 bytes (with the server's task tracker)
/// and rounds up to a multiple of 128, so 656 bytes make a 768-byte task:
/// one of jemalloc's size classes. Eight bytes more would make it 896.
const BUDGET: usize = 656;

#[tokio::test]
async fn a_plain_connection_s_future_fits_its_budget() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let _client = TcpStream::connect(listener.local_addr().unwrap())
        .await
        .unwrap();
    let (stream, peer) = listener.accept().await.unwrap();
    let room = Arc::new(Room::new(
        ServerId::from_bytes([1; 16]),
        "127.0.0.1:1".into(),
        64,
    ));
    let permit = Admission::new(0, 0).admit(peer.ip()).unwrap();
    let config = Arc::new(ServerConfig::default());
    let future = serve(stream, peer, permit, room, config, CancellationToken::new());
    let size = std::mem::size_of_val(&future);
    assert!(
        size <= BUDGET,
        "a plain connection's future is {size} bytes, over its budget of {BUDGET}: \
         every idle client would cost 128 bytes more (see the budget's note)"
    );
}
