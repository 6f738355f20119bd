//! Ending a connection so the client reads the last frame instead of a
//! reset: a half-close, then a short linger that reads and discards.
//!
//! Used for connections turned away before any session exists (over a
//! connection cap, a plain client on a TLS port) and after a session's
//! fatal error.

use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::protocol::{encode_frame, ErrorCode, ServerMsg};

/// After a fatal error, how long to keep reading (and discarding) so the
/// client receives the error frame instead of a reset.
const LINGER: Duration = Duration::from_millis(500);
/// ...and at most how much to discard while lingering.
const LINGER_BYTES: usize = 256 * 1024;

/// Turns away a connection that never entered a session (over a
/// connection cap, plain client on a TLS port): one fatal error frame, a
/// half-close, and a short linger so the frame is read rather than reset.
pub async fn refuse(mut stream: TcpStream, code: ErrorCode, text: String) {
    let frame = encode_frame(&ServerMsg::Error {
        code,
        text,
        fatal: true,
        cid: None,
    });
    let sent = tokio::time::timeout(LINGER, async {
        stream.write_all(&frame).await?;
        stream.shutdown().await
    })
    .await;
    if matches!(sent, Ok(Ok(()))) {
        linger(stream).await;
    }
}

/// Reads and discards until EOF or a limit, so that closing the socket with
/// unread input does not reset the connection and destroy the error frame
/// the client has not read yet.
pub async fn linger(mut read_half: impl AsyncRead + Unpin) {
    // On the heap: a buffer in the future itself would cost every
    // connection 4 KiB for its whole life, not just while lingering.
    let mut buf = vec![0u8; 4096];
    let mut discarded = 0;
    let _ = tokio::time::timeout(LINGER, async {
        while discarded < LINGER_BYTES {
            match read_half.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => discarded += n,
            }
        }
    })
    .await;
}
