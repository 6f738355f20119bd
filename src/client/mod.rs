//! Client side of the protocol.
//!
//! [`Client`] is a connection that has completed the handshake. It is what
//! the terminal client ([`terminal`]), `chatty status` ([`status`]), the
//! integration tests and the benchmarks use; [`render`] turns server events
//! into the chat's text lines.
//!
//! The requests of protocol version 2 (rooms, private messages, nick
//! changes, topics, `who`/`rooms`/`whois`) are `Client` methods too, in
//! `requests`.
//!
//! The terminal client is built from parts with one job each: `console`
//! (the line editor or plain pipes, with the time on a terminal),
//! `command` (what a typed line asks for), `rooms` (the rooms the user is
//! in and the active one), `names` (the name held while nick changes are
//! on their way), `connect` (the first join and the failover to another
//! server, starting at a survivor of the client's own: [`survivors`]),
//! `outbox` (typed lines and commands until the server has them), `seen`
//! (which messages were shown) and `echo` (the user's own lines, on
//! screen once); `link` is the connection or the search for one, `chat`
//! the loop that ties them together, [`render`] and `replies` the line
//! formats (through `sanitize`, so no stranger's text can drive the
//! terminal), and [`terminal`] the command's entry point.

mod chat;
mod clock;
mod command;
mod connect;
use connect::dial;
mod console;
mod echo;
mod exit;
mod halves;
mod interrupt;
mod link;
mod names;
mod outbox;
pub mod render;
mod replies;
mod requests;
mod rooms;
mod sanitize;
mod seen;
pub mod status;
pub mod survivors;
pub mod terminal;
pub mod tls;
pub mod watch;

use std::fmt;
use std::io;
use std::net::SocketAddr;
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_util::codec::FramedRead;

pub use tls::{ClientTls, ClientTlsError, Connector};

/// The read half of a connection, plain or TLS.
type ReadHalf = Box<dyn AsyncRead + Send + Unpin>;
/// The write half of a connection, plain or TLS.
type WriteHalf = Box<dyn AsyncWrite + Send + Unpin>;

use crate::protocol::{
    encode_frame, ClientMsg, DecodeError, ErrorCode, FrameDecoder, FrameError, Member, MessageId,
    RateLimit, RoomState, ServerId, ServerMsg, StatusReport, AGENT, FEATURES, FEATURE_ACK,
    MAX_SERVER_FRAME, MIN_PROTOCOL_VERSION, PROTOCOL_VERSION,
};

use halves::{lobby_line, read_msg, write_frame};
pub use halves::{ClientReader, ClientWriter};
pub use requests::Whois;

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
    #[error("TLS with {addr} failed: {source}{hint}", hint = tls::hint(source))]
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
    /// A version-2 request (rooms, private messages, nick changes,
    /// topics) to a server that agreed on an older protocol version. Nothing
    /// was sent.
    #[error(
        "the server does not support rooms, private messages or nick changes \
         (it speaks protocol version {0})"
    )]
    NoRooms(u16),
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
    /// Version 2: the rooms the member is in now (`#lobby`, and after a
    /// rejoin every listed room it could enter again), with topic and
    /// members; empty from a version-1 server.
    pub rooms: Vec<RoomState>,
}

/// A connection to a chat server that has completed the handshake.
pub struct Client {
    frames: FramedRead<ReadHalf, FrameDecoder>,
    writer: WriteHalf,
    server: ServerId,
    /// The protocol version the server agreed on.
    version: u16,
    keepalive: Duration,
    peer: SocketAddr,
    /// The name held, once joined: the requests that are answered by a
    /// frame about oneself (`part`, `private`, `nick`) look for it.
    name: Option<String>,
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
    ///
    /// A server from before protocol version 2 refuses the version-2
    /// `hello` (102) and closes; the client then connects again and speaks
    /// version 1 with it (the lobby only; see [`Client::has_rooms`]).
    pub async fn connect_via(addr: &str, connector: &Connector) -> Result<Client, ClientError> {
        let first = Client::handshake_via(dial(addr).await?, addr, connector, PROTOCOL_VERSION);
        match first.await {
            Err(ClientError::Refused { code, .. }) if code == ErrorCode::UNSUPPORTED_VERSION => {
                let stream = dial(addr).await?;
                Client::handshake_via(stream, addr, connector, MIN_PROTOCOL_VERSION).await
            }
            other => other,
        }
    }

    /// Performs the plain-TCP `hello` handshake on a connection opened
    /// elsewhere, for callers that must create the socket themselves (the
    /// namespace test harness opens it inside another network namespace).
    pub async fn handshake(stream: TcpStream) -> Result<Client, ClientError> {
        let addr = stream.peer_addr()?.to_string();
        Client::handshake_via(stream, &addr, &Connector::Plain, PROTOCOL_VERSION).await
    }

    /// Sets up TLS if `connector` asks for it (`addr` names the server for
    /// certificate checks and errors), then performs the `hello` handshake.
    async fn handshake_via(
        stream: TcpStream,
        addr: &str,
        connector: &Connector,
        version: u16,
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
            version,
            keepalive: Duration::ZERO,
            peer,
            name: None,
            features: Vec::new(),
            rate: None,
        };
        client
            .send_msg(&ClientMsg::Hello {
                version,
                agent: AGENT.into(),
                features: FEATURES.iter().map(|f| f.to_string()).collect(),
            })
            .await?;
        let reply = tokio::time::timeout(CONNECT_TIMEOUT, client.next_reply())
            .await
            .map_err(|_| ClientError::Timeout(CONNECT_TIMEOUT))??;
        match reply {
            ServerMsg::Hello {
                version,
                server,
                keepalive_ms,
                features,
                rate,
                ..
            } => {
                // A server never agrees on more than was asked for.
                client.version = version.min(client.version);
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

    /// The protocol version the server agreed on: 1 from a server that
    /// predates rooms, whose version-2 requests return
    /// [`ClientError::NoRooms`].
    pub fn version(&self) -> u16 {
        self.version
    }

    /// Whether the server speaks version 2: rooms, private messages, nick
    /// changes and topics.
    pub fn has_rooms(&self) -> bool {
        self.version >= 2
    }

    /// The name held, once joined (it follows [`Client::nick`]).
    pub fn name(&self) -> Option<&str> {
        self.name.as_deref()
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

    /// The server's flood limit on every request but `hello`, `leave`,
    /// `ping` and `pong`, to pace sends by; `None` if it has none (or did
    /// not say).
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
        last_seen: Vec<MessageId>,
    ) -> Result<Welcome, ClientError> {
        self.rejoin_in(name, last_seen, Vec::new()).await
    }

    /// Like [`Client::rejoin`], and enters `rooms` again besides `#lobby`
    /// (version 2; a version-1 server is not sent them), each with its
    /// messages newer than `last_seen`. Rooms that cannot be entered are
    /// skipped: [`Welcome::rooms`] says which the member is in.
    pub async fn rejoin_in(
        &mut self,
        name: &str,
        last_seen: Vec<MessageId>,
        rooms: Vec<String>,
    ) -> Result<Welcome, ClientError> {
        let rooms = if self.has_rooms() { rooms } else { Vec::new() };
        self.send_msg(&ClientMsg::Rejoin {
            name: name.to_string(),
            last_seen,
            rooms,
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
                rooms,
                ..
            } => {
                self.name = Some(name.clone());
                Ok(Welcome {
                    server,
                    name,
                    members,
                    servers,
                    seen,
                    rooms,
                })
            }
            other => Err(ClientError::Unexpected(format!("{other:?}"))),
        }
    }

    /// The next answer to a request: like [`Client::next_reply`], but
    /// passing by what the server sends on its own initiative
    /// ([`ServerMsg::is_unsolicited`]), which can arrive first when already joined.
    async fn next_answer(&mut self) -> Result<ServerMsg, ClientError> {
        self.answer_where(|_| false).await
    }

    /// The next frame that is the answer to a request: the first for which
    /// `answers` holds (some answers are frames others get unasked too,
    /// such as one's own `left` after `part`), or the first that is not
    /// unsolicited. Other unsolicited traffic is passed by.
    async fn answer_where(
        &mut self,
        answers: impl Fn(&ServerMsg) -> bool,
    ) -> Result<ServerMsg, ClientError> {
        loop {
            let msg = self.next_reply().await?;
            if answers(&msg) || !msg.is_unsolicited() {
                return Ok(msg);
            }
        }
    }

    /// Sends a chat message to `#lobby`. The server echoes it back to the
    /// sender too.
    pub async fn say(&mut self, text: &str) -> Result<(), ClientError> {
        self.send_msg(&lobby_line(text)).await
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
    /// connection cleanly. Cancel-safe: usable as a `select!` branch. The
    /// name held follows a `nick` frame about it, however it was asked for.
    pub async fn recv(&mut self) -> Result<Option<ServerMsg>, ClientError> {
        let msg = read_msg(&mut self.frames).await?;
        match &msg {
            Some(ServerMsg::Nick { old, new, .. }) if self.name.as_ref() == Some(old) => {
                self.name = Some(new.clone())
            }
            _ => {}
        }
        Ok(msg)
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
    pub async fn leave(self) -> Result<(), ClientError> {
        self.leave_saying(None).await
    }

    /// As [`Client::leave`], saying why (the others' `left` shows `text`).
    pub async fn leave_saying(mut self, text: Option<&str>) -> Result<(), ClientError> {
        let text = text.map(str::to_string);
        self.send_msg(&ClientMsg::Leave { text }).await?;
        let _ = self.writer.shutdown().await;
        let wait = async { while let Ok(Some(_)) = self.recv().await {} };
        let _ = tokio::time::timeout(CONNECT_TIMEOUT, wait).await;
        Ok(())
    }
}
