//! Client side of the protocol.
//!
//! [`Client`] is a connection that has completed the handshake. It is what
//! the terminal client ([`terminal`]), `chatty status` ([`status`]), the
//! integration tests and the benchmarks use; [`render`] turns server events
//! into the chat's text lines.
//!
//! The terminal client is built from parts with one job each: `console`
//! (the line editor or plain pipes), `connect` (the first join and the
//! failover to another server), `outbox` (typed lines until the server
//! acknowledges them), `seen` (which messages were shown) and `echo` (the
//! user's own lines, on screen once); `link` is the connection or the
//! search for one, `chat` the loop that ties them together, and
//! [`terminal`] the command's entry point.

mod chat;
mod connect;
mod console;
mod echo;
mod exit;
mod link;
mod outbox;
pub mod render;
mod seen;
pub mod status;
pub mod terminal;
pub mod tls;

use std::fmt;
use std::io;
use std::net::SocketAddr;
use std::time::Duration;

use futures_util::StreamExt;
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_util::codec::FramedRead;

pub use tls::{ClientTls, ClientTlsError, Connector};

/// The read half of a connection, plain or TLS.
type ReadHalf = Box<dyn AsyncRead + Send + Unpin>;
/// The write half of a connection, plain or TLS.
type WriteHalf = Box<dyn AsyncWrite + Send + Unpin>;

use crate::protocol::{
    decode, encode_frame, ClientMsg, DecodeError, ErrorCode, FrameDecoder, FrameError, Member,
    MessageId, RateLimit, ServerId, ServerMsg, StatusReport, AGENT, FEATURES, FEATURE_ACK,
    MAX_SERVER_FRAME, PROTOCOL_VERSION,
};

/// How long connecting and the handshake may take.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// What can go wrong talking to a server.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// No TCP connection could be made.
    #[error("cannot connect to {addr}: {source}")]
    Connect {
        /// The address tried.
        addr: String,
        /// Why it failed.
        source: io::Error,
    },
    /// The server answered with an `error` frame.
    #[error("{text} [{code}]")]
    Refused {
        /// The error code.
        code: ErrorCode,
        /// The server's explanation.
        text: String,
        /// Whether the server is closing the connection.
        fatal: bool,
    },
    /// The TLS handshake failed (bad certificate, or no TLS server there).
    #[error("TLS with {addr} failed: {source}{hint}", hint = if tls::not_tls(source) {
        " (the server does not seem to use TLS; try without --tls)"
    } else { "" })]
    Tls {
        /// The address tried.
        addr: String,
        /// Why it failed; wraps a `rustls::Error` where rustls saw the cause.
        source: io::Error,
    },
    /// The server closed the connection.
    #[error("the server closed the connection")]
    Closed,
    /// The server said it is shutting down.
    #[error("the server is shutting down: {0}")]
    ShuttingDown(String),
    /// The server sent something that makes no sense at this point.
    #[error("unexpected message from the server: {0}")]
    Unexpected(String),
    /// The byte stream from the server is not valid framing.
    #[error("bad framing from the server: {0}")]
    Frame(#[from] FrameError),
    /// A frame from the server is not a valid message.
    #[error("bad message from the server: {0}")]
    Decode(#[from] DecodeError),
    /// The server did not answer in time.
    #[error("the server did not answer within {0:?}")]
    Timeout(Duration),
    /// The socket failed.
    #[error("connection error: {0}")]
    Io(#[from] io::Error),
}

/// The answer to a successful join.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Welcome {
    /// The server joined.
    pub server: ServerId,
    /// The name held.
    pub name: String,
    /// Everyone present, the new member included.
    pub members: Vec<Member>,
    /// Client addresses of every live server, the joined one first.
    pub servers: Vec<String>,
    /// The newest message id per origin the server had at the moment of
    /// joining: the `last_seen` to rejoin with if nothing arrives after.
    pub seen: Vec<MessageId>,
}

/// A connection to a chat server that has completed the handshake.
pub struct Client {
    frames: FramedRead<ReadHalf, FrameDecoder>,
    writer: WriteHalf,
    server: ServerId,
    keepalive: Duration,
    peer: SocketAddr,
    /// The features the server accepted.
    features: Vec<String>,
    /// The server's flood limit, if it has one.
    rate: Option<RateLimit>,
}

impl fmt::Debug for Client {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Client")
            .field("server", &self.server)
            .field("peer", &self.peer)
            .finish_non_exhaustive()
    }
}

impl Client {
    /// Connects over plain TCP and performs the `hello` handshake.
    pub async fn connect(addr: &str) -> Result<Client, ClientError> {
        Client::connect_via(addr, &Connector::Plain).await
    }

    /// Connects the way `connector` says (plain or TLS) and performs the
    /// `hello` handshake, asking for every feature this build knows
    /// ([`FEATURES`]). Connecting, TLS and `hello` each get
    /// [`CONNECT_TIMEOUT`].
    pub async fn connect_via(addr: &str, connector: &Connector) -> Result<Client, ClientError> {
        let stream = tokio::time::timeout(CONNECT_TIMEOUT, TcpStream::connect(addr))
            .await
            .map_err(|_| ClientError::Connect {
                addr: addr.to_string(),
                source: io::ErrorKind::TimedOut.into(),
            })?
            .map_err(|source| ClientError::Connect {
                addr: addr.to_string(),
                source,
            })?;
        Client::handshake_via(stream, addr, connector).await
    }

    /// Performs the plain-TCP `hello` handshake on a connection opened
    /// elsewhere, for callers that must create the socket themselves (the
    /// namespace test harness opens it inside another network namespace).
    pub async fn handshake(stream: TcpStream) -> Result<Client, ClientError> {
        let addr = stream.peer_addr()?.to_string();
        Client::handshake_via(stream, &addr, &Connector::Plain).await
    }

    /// Sets up TLS if `connector` asks for it (`addr` names the server for
    /// certificate checks and errors), then performs the `hello` handshake.
    async fn handshake_via(
        stream: TcpStream,
        addr: &str,
        connector: &Connector,
    ) -> Result<Client, ClientError> {
        let _ = stream.set_nodelay(true);
        let peer = stream.peer_addr()?;
        let (read_half, writer): (ReadHalf, WriteHalf) = match connector {
            Connector::Plain => {
                let (r, w) = stream.into_split();
                (Box::new(r), Box::new(w))
            }
            Connector::Tls(tls) => {
                let tls_err = |source| ClientError::Tls {
                    addr: addr.to_string(),
                    source,
                };
                let stream = tokio::time::timeout(CONNECT_TIMEOUT, tls.handshake(stream, addr))
                    .await
                    .map_err(|_| tls_err(io::ErrorKind::TimedOut.into()))?
                    .map_err(tls_err)?;
                let (r, w) = tokio::io::split(stream);
                (Box::new(r), Box::new(w))
            }
        };
        let frames = FramedRead::new(read_half, FrameDecoder::new(MAX_SERVER_FRAME));
        let mut client = Client {
            frames,
            writer,
            server: ServerId::from_bytes([0; 16]),
            keepalive: Duration::ZERO,
            peer,
            features: Vec::new(),
            rate: None,
        };
        client
            .send_msg(&ClientMsg::Hello {
                version: PROTOCOL_VERSION,
                agent: AGENT.into(),
                features: FEATURES.iter().map(|f| f.to_string()).collect(),
            })
            .await?;
        let reply = tokio::time::timeout(CONNECT_TIMEOUT, client.next_reply())
            .await
            .map_err(|_| ClientError::Timeout(CONNECT_TIMEOUT))??;
        match reply {
            ServerMsg::Hello {
                server,
                keepalive_ms,
                features,
                rate,
                ..
            } => {
                client.server = server;
                client.keepalive = Duration::from_millis(keepalive_ms);
                client.features = features;
                client.rate = rate.filter(RateLimit::is_on);
                Ok(client)
            }
            other => Err(ClientError::Unexpected(format!("{other:?}"))),
        }
    }

    /// The server's incarnation id, from the handshake.
    pub fn server_id(&self) -> ServerId {
        self.server
    }

    /// The server's keepalive interval: it pings after this much silence.
    pub fn keepalive(&self) -> Duration {
        self.keepalive
    }

    /// The server's address.
    pub fn peer_addr(&self) -> SocketAddr {
        self.peer
    }

    /// Whether the server accepted `ack`: it answers every `send` that
    /// carries a cid with `ack` once the line is numbered.
    pub fn acks(&self) -> bool {
        self.features.iter().any(|f| f == FEATURE_ACK)
    }

    /// The server's flood limit on `join`, `send` and `status`, to pace
    /// sends by; `None` if it has none (or did not say).
    pub fn rate(&self) -> Option<RateLimit> {
        self.rate
    }

    /// Takes `name` and enters the chat. A refused name leaves the connection
    /// open for another try ([`ClientError::Refused`] with `fatal == false`).
    /// Unsolicited traffic arriving before the answer (only possible when
    /// already joined) is skipped.
    pub async fn join(&mut self, name: &str) -> Result<Welcome, ClientError> {
        self.send_msg(&ClientMsg::Join {
            name: name.to_string(),
        })
        .await?;
        self.await_welcome().await
    }

    /// Joins after losing another server: the server then sends, as
    /// ordinary `message`s, every recent message newer than `last_seen`
    /// (the newest id seen from each origin) instead of history.
    pub async fn rejoin(
        &mut self,
        name: &str,
        last_seen: Vec<crate::protocol::MessageId>,
    ) -> Result<Welcome, ClientError> {
        self.send_msg(&ClientMsg::Rejoin {
            name: name.to_string(),
            last_seen,
            rooms: Vec::new(),
        })
        .await?;
        self.await_welcome().await
    }

    async fn await_welcome(&mut self) -> Result<Welcome, ClientError> {
        match self.next_answer().await? {
            ServerMsg::Welcome {
                server,
                name,
                members,
                servers,
                seen,
                ..
            } => Ok(Welcome {
                server,
                name,
                members,
                servers,
                seen,
            }),
            other => Err(ClientError::Unexpected(format!("{other:?}"))),
        }
    }

    /// The next answer to a request: like [`Client::next_reply`], but
    /// passing by what the server sends on its own initiative
    /// ([`ServerMsg::is_unsolicited`]), which can arrive first when already joined.
    async fn next_answer(&mut self) -> Result<ServerMsg, ClientError> {
        loop {
            let msg = self.next_reply().await?;
            if !msg.is_unsolicited() {
                return Ok(msg);
            }
        }
    }

    /// Sends a chat message. The server echoes it back to the sender too.
    pub async fn say(&mut self, text: &str) -> Result<(), ClientError> {
        self.send_msg(&ClientMsg::Send {
            text: text.to_string(),
            cid: None,
            room: None,
            action: false,
        })
        .await
    }

    /// Asks for the server's status report. Chat traffic arriving before
    /// the answer is skipped.
    pub async fn status(&mut self) -> Result<StatusReport, ClientError> {
        self.send_msg(&ClientMsg::Status).await?;
        match self.next_answer().await? {
            ServerMsg::StatusReply(report) => Ok(report),
            other => Err(ClientError::Unexpected(format!("{other:?}"))),
        }
    }

    /// Sends one protocol message.
    pub async fn send_msg(&mut self, msg: &ClientMsg) -> Result<(), ClientError> {
        write_frame(&mut self.writer, &encode_frame(msg)).await
    }

    /// The next message from the server, or `None` once it has closed the
    /// connection cleanly. Cancel-safe: usable as a `select!` branch.
    pub async fn recv(&mut self) -> Result<Option<ServerMsg>, ClientError> {
        read_msg(&mut self.frames).await
    }

    /// The next message that is not a keepalive, answering pings on the way.
    /// `error` frames become [`ClientError::Refused`], `shutdown` becomes
    /// [`ClientError::ShuttingDown`], EOF becomes [`ClientError::Closed`].
    /// Not cancel-safe (it may be writing a pong).
    pub async fn next_reply(&mut self) -> Result<ServerMsg, ClientError> {
        loop {
            match self.recv().await?.ok_or(ClientError::Closed)? {
                ServerMsg::Ping { nonce } => self.send_msg(&ClientMsg::Pong { nonce }).await?,
                ServerMsg::Pong { .. } => {}
                ServerMsg::Error {
                    code, text, fatal, ..
                } => return Err(ClientError::Refused { code, text, fatal }),
                ServerMsg::Shutdown { reason, .. } => {
                    return Err(ClientError::ShuttingDown(reason))
                }
                msg => return Ok(msg),
            }
        }
    }

    /// Splits the connection so one task can read while another writes.
    /// [`ClientReader::recv`] returns keepalive pings like any other message;
    /// whoever holds the writer must answer them with `pong`.
    pub fn split(self) -> (ClientReader, ClientWriter) {
        (
            ClientReader {
                frames: self.frames,
            },
            ClientWriter {
                writer: self.writer,
            },
        )
    }

    /// Leaves the chat and waits (bounded) for the server's confirmation.
    pub async fn leave(mut self) -> Result<(), ClientError> {
        self.send_msg(&ClientMsg::Leave).await?;
        let _ = self.writer.shutdown().await;
        let wait = async { while let Ok(Some(_)) = self.recv().await {} };
        let _ = tokio::time::timeout(CONNECT_TIMEOUT, wait).await;
        Ok(())
    }
}

/// The receiving half of a [`Client::split`] connection.
pub struct ClientReader {
    frames: FramedRead<ReadHalf, FrameDecoder>,
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

/// The sending half of a [`Client::split`] connection.
pub struct ClientWriter {
    writer: WriteHalf,
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

    /// Sends a chat message.
    pub async fn say(&mut self, text: &str) -> Result<(), ClientError> {
        self.send_msg(&ClientMsg::Send {
            text: text.to_string(),
            cid: None,
            room: None,
            action: false,
        })
        .await
    }

    /// Sends pre-encoded bytes as they are (benchmarks, tests).
    pub async fn send_raw(&mut self, bytes: &[u8]) -> Result<(), ClientError> {
        write_frame(&mut self.writer, bytes).await
    }
}

/// Writes and flushes: TLS holds written bytes until flushed (on plain TCP
/// the flush is a no-op).
async fn write_frame(writer: &mut WriteHalf, bytes: &[u8]) -> Result<(), ClientError> {
    writer.write_all(bytes).await?;
    writer.flush().await?;
    Ok(())
}

/// Reads and decodes the next frame; `None` at a clean end of stream.
/// Messages of types this build does not know (from a newer server) are
/// skipped, as PROTOCOL.md asks of every client.
async fn read_msg(
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
