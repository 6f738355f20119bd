//! One client connection, read the cheap way: frames are told apart by
//! their `type` (the first key of every map) and only those the benchmark
//! acts on are decoded. Three thousand members each receive every `joined`
//! and `left` of a mass failover, and decoding all of them with serde would
//! make the load generator, not the server, the slow reader.

use std::time::Duration;

use anyhow::{bail, Context};
use bytes::{Buf, BytesMut};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::TcpStream;

use chatty_bench::api::{
    decode, encode_frame, ClientMsg, MessageId, ServerMsg, MAX_SERVER_FRAME, PROTOCOL_VERSION,
};

/// What `welcome` says that the benchmark needs.
pub struct Welcome {
    pub servers: Vec<String>,
    pub seen: Vec<MessageId>,
}

/// Why opening a connection did not end in a `welcome`.
#[derive(Debug)]
pub enum OpenError {
    /// Error 211: the name is still held (by our own old membership).
    NameTaken,
    /// Anything else: unreachable, refused, closed, too slow.
    Failed(String),
}

/// A connected, joined client.
pub struct Wire {
    read: OwnedReadHalf,
    write: OwnedWriteHalf,
    buf: BytesMut,
}

/// The `type` of a message body: the map's first value, a short string.
fn kind(body: &[u8]) -> &[u8] {
    // fixmap, fixstr "type", fixstr value
    if body.len() > 6 && &body[1..6] == b"\xa4type" && body[6] & 0xe0 == 0xa0 {
        let len = usize::from(body[6] & 0x1f);
        return body.get(7..7 + len).unwrap_or_default();
    }
    b""
}

impl Wire {
    /// Connects, says `hello` (version 2, with `ack`) and `first` (a `join`
    /// or `rejoin`), and reads until the `welcome`, all within `deadline`.
    pub async fn open(
        addr: &str,
        first: &ClientMsg,
        deadline: Duration,
    ) -> Result<(Wire, Welcome), OpenError> {
        let attempt = async {
            let stream = TcpStream::connect(addr)
                .await
                .map_err(|e| OpenError::Failed(format!("connecting to {addr}: {e}")))?;
            let _ = stream.set_nodelay(true);
            let (read, mut write) = stream.into_split();
            let mut out = encode_frame(&ClientMsg::Hello {
                version: PROTOCOL_VERSION,
                agent: "massfail".into(),
                features: vec!["ack".into()],
            })
            .to_vec();
            out.extend_from_slice(&encode_frame(first));
            write
                .write_all(&out)
                .await
                .map_err(|e| OpenError::Failed(format!("writing to {addr}: {e}")))?;
            let mut wire = Wire {
                read,
                write,
                buf: BytesMut::with_capacity(16 * 1024),
            };
            loop {
                let frame = wire
                    .next()
                    .await
                    .map_err(|e| OpenError::Failed(format!("{e:#}")))?;
                match frame {
                    Frame::Welcome(welcome) => return Ok((wire, welcome)),
                    Frame::Error { code: 211, .. } => return Err(OpenError::NameTaken),
                    Frame::Error { code, text, .. } => {
                        return Err(OpenError::Failed(format!("error {code}: {text}")))
                    }
                    Frame::Closed(why) => return Err(OpenError::Failed(why)),
                    Frame::Ping(nonce) => wire
                        .send(&ClientMsg::Pong { nonce })
                        .await
                        .map_err(|e| OpenError::Failed(format!("{e:#}")))?,
                    _ => {}
                }
            }
        };
        match tokio::time::timeout(deadline, attempt).await {
            Ok(result) => result,
            Err(_) => Err(OpenError::Failed(format!(
                "{addr}: no welcome within {deadline:?}"
            ))),
        }
    }

    /// Sends one message.
    pub async fn send(&mut self, msg: &ClientMsg) -> anyhow::Result<()> {
        self.write.write_all(&encode_frame(msg)).await?;
        Ok(())
    }

    /// The next frame the benchmark cares about. Cancel-safe: bytes read
    /// stay in the buffer, and nothing is written (the caller answers
    /// [`Frame::Ping`], so that no cancelled write leaves half a frame).
    pub async fn next(&mut self) -> anyhow::Result<Frame> {
        loop {
            if let Some(frame) = self.parse()? {
                return Ok(frame);
            }
            if self.buf.capacity() - self.buf.len() < 4096 {
                self.buf.reserve(64 * 1024);
            }
            let n = match self.read.read_buf(&mut self.buf).await {
                Ok(n) => n,
                Err(e) => return Ok(Frame::Closed(format!("read: {e}"))),
            };
            if n == 0 {
                return Ok(Frame::Closed("the server closed the connection".into()));
            }
        }
    }

    /// One frame off the front of the buffer, if a whole one is there.
    fn parse(&mut self) -> anyhow::Result<Option<Frame>> {
        loop {
            if self.buf.len() < 4 {
                return Ok(None);
            }
            let len =
                u32::from_be_bytes([self.buf[0], self.buf[1], self.buf[2], self.buf[3]]) as usize;
            if len == 0 || len > MAX_SERVER_FRAME {
                bail!("bad frame length {len}");
            }
            if self.buf.len() < 4 + len {
                self.buf.reserve(4 + len - self.buf.len());
                return Ok(None);
            }
            let body = &self.buf[4..4 + len];
            let frame = match kind(body) {
                // The bulk of a mass failover: not decoded.
                b"joined" | b"left" | b"history" | b"notice" => None,
                b"message" | b"private" | b"ack" | b"ping" | b"error" | b"servers" | b"welcome"
                | b"shutdown" => {
                    let msg = decode::<ServerMsg>(body).context("decoding a frame")?;
                    Frame::of(msg)
                }
                _ => None,
            };
            self.buf.advance(4 + len);
            if frame.is_some() {
                return Ok(frame);
            }
        }
    }
}

/// A frame the benchmark acts on.
pub enum Frame {
    Welcome(Welcome),
    /// A lobby line: its id, sender, text and the sender's cid.
    Message {
        id: MessageId,
        from: String,
        text: String,
        cid: Option<u64>,
    },
    /// A private message's text.
    Private {
        text: String,
    },
    Ack {
        cid: u64,
    },
    Servers(Vec<String>),
    Ping(u64),
    Error {
        code: u16,
        text: String,
        fatal: bool,
        cid: Option<u64>,
    },
    /// EOF, a reset, or `shutdown`: the connection is over.
    Closed(String),
}

impl Frame {
    fn of(msg: ServerMsg) -> Option<Frame> {
        Some(match msg {
            ServerMsg::Welcome { servers, seen, .. } => Frame::Welcome(Welcome { servers, seen }),
            ServerMsg::Message {
                id,
                from,
                text,
                cid,
                ..
            } => Frame::Message {
                id,
                from,
                text,
                cid,
            },
            ServerMsg::Private { text, .. } => Frame::Private { text },
            ServerMsg::Ack { cid, .. } => Frame::Ack { cid },
            ServerMsg::Servers { servers, .. } => Frame::Servers(servers),
            ServerMsg::Ping { nonce } => Frame::Ping(nonce),
            ServerMsg::Error {
                code,
                text,
                fatal,
                cid,
            } => Frame::Error {
                code: code.0,
                text,
                fatal,
                cid,
            },
            ServerMsg::Shutdown { reason, .. } => Frame::Closed(format!("shutdown: {reason}")),
            _ => return None,
        })
    }
}
