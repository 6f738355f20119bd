//! The two halves of a [`Client::split`](super::Client::split) connection, and the frame
//! reading and writing they share with [`Client`](super::Client).

use std::fmt;

use futures_util::StreamExt;
use tokio::io::AsyncWriteExt;
use tokio_util::codec::FramedRead;

use super::{ClientError, ReadHalf, WriteHalf};
use crate::protocol::{decode, encode_frame, ClientMsg, DecodeError, FrameDecoder, ServerMsg};

/// The receiving half of a [`Client::split`](super::Client::split) connection.
pub struct ClientReader {
    pub(super) frames: FramedRead<ReadHalf, FrameDecoder>,
}

impl fmt::Debug for ClientReader {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ClientReader")
    }
}

impl ClientReader {
    /// The next message, or `None` once the server closed cleanly. Cancel-safe.
    pub async fn recv(&mut self) -> Result<Option<ServerMsg>, ClientError> {
        read_msg(&mut self.frames).await
    }
}

/// The sending half of a [`Client::split`](super::Client::split) connection.
pub struct ClientWriter {
    pub(super) writer: WriteHalf,
}

impl fmt::Debug for ClientWriter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ClientWriter")
    }
}

impl ClientWriter {
    /// Sends one protocol message.
    pub async fn send_msg(&mut self, msg: &ClientMsg) -> Result<(), ClientError> {
        write_frame(&mut self.writer, &encode_frame(msg)).await
    }

    /// Sends a chat message to `#lobby`.
    pub async fn say(&mut self, text: &str) -> Result<(), ClientError> {
        self.send_msg(&lobby_line(text)).await
    }

    /// Sends pre-encoded bytes as they are (benchmarks, tests).
    pub async fn send_raw(&mut self, bytes: &[u8]) -> Result<(), ClientError> {
        write_frame(&mut self.writer, bytes).await
    }
}

/// A chat line for `#lobby`, as every protocol version knows it: no room
/// named, no cid.
pub(super) fn lobby_line(text: &str) -> ClientMsg {
    ClientMsg::Send {
        text: text.to_string(),
        cid: None,
        room: None,
        action: false,
    }
}

/// Writes and flushes: TLS holds written bytes until flushed (on plain TCP
/// the flush is a no-op).
pub(super) async fn write_frame(writer: &mut WriteHalf, bytes: &[u8]) -> Result<(), ClientError> {
    writer.write_all(bytes).await?;
    writer.flush().await?;
    Ok(())
}

/// Reads and decodes the next frame; `None` at a clean end of stream.
/// Messages of types this build does not know (from a newer server) are
/// skipped, as PROTOCOL.md asks of every client.
pub(super) async fn read_msg(
    frames: &mut FramedRead<ReadHalf, FrameDecoder>,
) -> Result<Option<ServerMsg>, ClientError> {
    loop {
        match frames.next().await {
            None => return Ok(None),
            Some(Err(err)) => return Err(err.into()),
            Some(Ok(body)) => match decode(&body) {
                Ok(msg) => return Ok(Some(msg)),
                Err(DecodeError::BadMessage { kind, .. })
                    if !ServerMsg::TYPES.contains(&kind.as_str()) =>
                {
                    tracing::debug!(%kind, "skipping a message type this client does not know");
                }
                Err(err) => return Err(err.into()),
            },
        }
    }
}
