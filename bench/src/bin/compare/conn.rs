//! One TCP connection to a system under test, and the dispatch from a
//! [`System`] to its protocol module.
//!
//! Every protocol module offers the same three things: the bytes that open
//! a connection (handshake plus subscribe/join), a publish frame around a
//! payload, and a parser that turns received bytes into [`Event`]s and
//! queues any required replies (PONG). The workloads only see this.

use std::time::Duration;

use anyhow::{bail, Context};
use bytes::BytesMut;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::TcpStream;

use crate::{chatty, irc, nats, redis};

/// The systems the generator can drive.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum System {
    Chatty,
    Nats,
    Redis,
    Irc,
}

/// What a parser found in the received bytes.
#[derive(Debug)]
pub enum Event<'a> {
    /// A published message's payload (exactly the message size).
    Payload(&'a [u8]),
    /// The handshake or subscription was confirmed.
    Ready,
    /// The server refused something or closed the session.
    Error(String),
}

impl System {
    pub fn parse_name(name: &str) -> anyhow::Result<System> {
        Ok(match name {
            "chatty" => System::Chatty,
            "nats" => System::Nats,
            "redis" => System::Redis,
            "irc" | "ngircd" => System::Irc,
            other => bail!("unknown system {other:?} (chatty, nats, redis, irc)"),
        })
    }

    pub fn label(self) -> &'static str {
        match self {
            System::Chatty => "chatty",
            System::Nats => "nats-server",
            System::Redis => "redis-server",
            System::Irc => "ngircd",
        }
    }

    /// Whether a publisher receives its own messages on its subscription.
    /// (IRC never echoes a PRIVMSG to its sender; Redis publishes on a
    /// separate connection that also subscribes, so it hears itself.)
    pub fn self_echo(self) -> bool {
        !matches!(self, System::Irc)
    }

    /// Whether a fan-out publisher receives its own messages (a Chatty
    /// publisher is a member and hears everything). Its echo then bounds the
    /// publisher's window like a subscriber, or its own queue would overflow.
    pub fn publisher_hears_itself(self) -> bool {
        matches!(self, System::Chatty)
    }

    /// Whether a connection can publish and receive at once (Redis: a
    /// subscribed connection may not PUBLISH).
    pub fn pubsub_on_one_connection(self) -> bool {
        !matches!(self, System::Redis)
    }

    /// Largest payload the protocol carries in one message, if limited.
    pub fn max_payload(self) -> Option<usize> {
        match self {
            // RFC 1459/2812: a line is at most 512 bytes with CR LF, and the
            // relayed line carries the sender's prefix too.
            System::Irc => Some(irc::MAX_PAYLOAD),
            _ => None,
        }
    }

    /// The bytes that open a connection. `subscribe`: also receive messages.
    pub fn opening(self, name: &str, subscribe: bool) -> Vec<u8> {
        match self {
            System::Chatty => chatty::opening(name),
            System::Nats => nats::opening(name, subscribe),
            System::Redis => redis::opening(subscribe),
            System::Irc => irc::opening(name),
        }
    }

    /// A publish frame around a payload of `size` bytes, and where in the
    /// frame the payload starts.
    pub fn publish_template(self, payload: &[u8]) -> (Vec<u8>, usize) {
        match self {
            System::Chatty => chatty::publish_template(payload),
            System::Nats => nats::publish_template(payload),
            System::Redis => redis::publish_template(payload),
            System::Irc => irc::publish_template(payload),
        }
    }

    /// Consumes every complete item at the front of `buf`.
    pub fn parse(
        self,
        buf: &mut BytesMut,
        size: usize,
        on: &mut dyn FnMut(Event<'_>),
        reply: &mut Vec<u8>,
    ) -> Result<(), String> {
        match self {
            System::Chatty => chatty::parse(buf, size, on, reply),
            System::Nats => nats::parse(buf, size, on, reply),
            System::Redis => redis::parse(buf, size, on, reply),
            System::Irc => irc::parse(buf, size, on, reply),
        }
    }
}

/// A connection with its read buffer.
pub struct Conn {
    pub system: System,
    pub read: OwnedReadHalf,
    pub write: OwnedWriteHalf,
    pub buf: BytesMut,
}

impl Conn {
    /// Connects, sends the opening and waits until the server confirms it.
    /// Anything that arrives after the confirmation stays in `buf`.
    pub async fn open(
        system: System,
        addr: &str,
        name: &str,
        subscribe: bool,
        buffer: usize,
        deadline: Duration,
    ) -> anyhow::Result<Conn> {
        tokio::time::timeout(deadline, async {
            let stream = TcpStream::connect(addr)
                .await
                .with_context(|| format!("connecting to {addr}"))?;
            stream.set_nodelay(true)?;
            let (read, mut write) = stream.into_split();
            write.write_all(&system.opening(name, subscribe)).await?;
            let mut conn = Conn {
                system,
                read,
                write,
                buf: BytesMut::with_capacity(buffer),
            };
            conn.wait_ready().await?;
            Ok(conn)
        })
        .await
        .with_context(|| format!("{name}: no confirmation within {deadline:?}"))?
    }

    async fn wait_ready(&mut self) -> anyhow::Result<()> {
        let mut reply = Vec::new();
        loop {
            let mut ready = false;
            let mut error = None;
            self.system
                .parse(
                    &mut self.buf,
                    0,
                    &mut |event| match event {
                        Event::Ready => ready = true,
                        Event::Error(e) => error = Some(e),
                        Event::Payload(_) => {}
                    },
                    &mut reply,
                )
                .map_err(anyhow::Error::msg)?;
            if let Some(e) = error {
                bail!("{e}");
            }
            if !reply.is_empty() {
                self.write.write_all(&reply).await?;
                reply.clear();
            }
            if ready {
                return Ok(());
            }
            self.fill().await?;
        }
    }

    /// Reads more bytes into the buffer; the end of the stream is an error.
    pub async fn fill(&mut self) -> anyhow::Result<usize> {
        if self.buf.capacity() - self.buf.len() < 1024 {
            self.buf.reserve(self.buf.capacity().max(4096));
        }
        let n = self.read.read_buf(&mut self.buf).await?;
        if n == 0 {
            bail!("the server closed the connection");
        }
        Ok(n)
    }
}
