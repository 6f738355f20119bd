//! IRC test helpers: servers with the gateway on loopback, and a raw IRC
//! line client whose every wait has a deadline.

use std::net::SocketAddr;

use chatty::irc::message::Message;
use chatty::irc::IrcOptions;
use chatty::server::{Server, ServerConfig};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::{TcpListener, TcpStream};

use super::{clustered, loopback_cluster, TestServer, DEADLINE};

/// A server with an IRC gateway, both on 127.0.0.1.
pub struct Gatewayed {
    pub server: TestServer,
    pub irc: SocketAddr,
}

/// Starts a server with `config` and the gateway named `name`.
pub async fn start(config: ServerConfig, name: &str) -> Gatewayed {
    start_with(config, name, false).await
}

/// As [`start`]; with `tls`, the IRC port speaks TLS with the server's certificate.
pub async fn start_with(config: ServerConfig, name: &str, tls: bool) -> Gatewayed {
    let server = Server::bind("127.0.0.1:0", config).await.expect("bind");
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind irc");
    let options = IrcOptions {
        server_name: name.into(),
        motd: vec![],
        lobby: true,
        tls,
    };
    let irc = chatty::irc::start(listener, server.sessions(), options).expect("gateway");
    Gatewayed {
        server: TestServer::run(server),
        irc,
    }
}

/// Two clustered servers with gateways (`a.test`, `b.test`) on the
/// multicast group port `port`, once they list each other.
pub async fn pair(
    port: u16,
    config: impl Fn(ServerConfig) -> ServerConfig,
) -> (Gatewayed, Gatewayed) {
    let a = start(config(clustered(loopback_cluster("irc", port))), "a.test").await;
    let b = start(config(clustered(loopback_cluster("irc", port))), "b.test").await;
    a.server
        .wait_members("a sees b", |m| m.contains(&b.server.id))
        .await;
    b.server
        .wait_members("b sees a", |m| m.contains(&a.server.id))
        .await;
    (a, b)
}

/// A raw IRC connection.
pub struct Irc {
    reader: BufReader<OwnedReadHalf>,
    writer: OwnedWriteHalf,
    /// Every line read, for failure messages.
    pub seen: Vec<String>,
}

impl Irc {
    pub async fn connect(addr: SocketAddr) -> Irc {
        Irc::from_stream(TcpStream::connect(addr).await.expect("connect irc"))
    }

    /// Wraps a connected stream (e.g. one with a small receive buffer).
    pub fn from_stream(stream: TcpStream) -> Irc {
        let (r, w) = stream.into_split();
        Irc {
            reader: BufReader::new(r),
            writer: w,
            seen: Vec::new(),
        }
    }

    /// Registers as `nick` with `caps`, past the end of the burst (`#lobby`'s 366).
    pub async fn register(addr: SocketAddr, nick: &str, caps: &str) -> Irc {
        let mut irc = Irc::connect(addr).await;
        irc.registered(nick, caps).await;
        irc
    }

    /// Registers this connection as `nick` with `caps`.
    pub async fn registered(&mut self, nick: &str, caps: &str) {
        let irc = self;
        irc.send("CAP LS 302").await;
        irc.send(&format!("NICK {nick}")).await;
        irc.send(&format!("USER {nick} 0 * :{nick} real")).await;
        if !caps.is_empty() {
            irc.send(&format!("CAP REQ :{caps}")).await;
            irc.until("CAP ACK", |m| {
                m.command == "CAP" && m.param(1) == Some("ACK")
            })
            .await;
        }
        irc.send("CAP END").await;
        irc.until("001", |m| m.command == "001").await;
        irc.until("#lobby names", |m| {
            m.command == "366" && m.param(1) == Some("#lobby")
        })
        .await;
    }

    pub async fn send(&mut self, line: &str) {
        self.writer
            .write_all(format!("{line}\r\n").as_bytes())
            .await
            .expect("write irc");
    }

    pub async fn send_raw(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        self.writer.write_all(bytes).await
    }

    /// The next line, `None` at EOF. Panics at the deadline.
    pub async fn next(&mut self) -> Option<String> {
        let mut line = String::new();
        let read = tokio::time::timeout(DEADLINE, self.reader.read_line(&mut line)).await;
        match read {
            Err(_) => panic!(
                "no line within the deadline; seen:\n{}",
                self.seen.join("\n")
            ),
            Ok(Ok(0)) | Ok(Err(_)) => None,
            Ok(Ok(_)) => {
                assert!(line.ends_with("\r\n"), "line without CR LF: {line:?}");
                let line = line.trim_end_matches(['\r', '\n']).to_string();
                let rest = if line.starts_with('@') {
                    line.split_once(' ').map_or("", |x| x.1)
                } else {
                    &line
                };
                assert!(rest.len() + 2 <= 512, "line over 512 bytes: {line}");
                self.seen.push(line.clone());
                Some(line)
            }
        }
    }

    /// Lines until one matches `pred`; returns it.
    pub async fn until(&mut self, what: &str, pred: impl Fn(&Message) -> bool) -> Message {
        loop {
            match self.next().await {
                Some(line) => {
                    let msg = Message::parse(&line).expect("the gateway writes valid lines");
                    if pred(&msg) {
                        return msg;
                    }
                }
                None => panic!("closed before {what}; seen:\n{}", self.seen.join("\n")),
            }
        }
    }

    /// Every line up to and including the first that matches `pred`.
    pub async fn collect(&mut self, what: &str, pred: impl Fn(&Message) -> bool) -> Vec<Message> {
        let mut got = Vec::new();
        loop {
            match self.next().await {
                Some(line) => {
                    let msg = Message::parse(&line).expect("valid line");
                    let done = pred(&msg);
                    got.push(msg);
                    if done {
                        return got;
                    }
                }
                None => panic!("closed before {what}; seen:\n{}", self.seen.join("\n")),
            }
        }
    }

    /// A PRIVMSG (or NOTICE) with this text in its last param.
    pub async fn heard(&mut self, text: &str) -> Message {
        self.until(text, |m| {
            (m.command == "PRIVMSG" || m.command == "NOTICE")
                && m.params.last().is_some_and(|p| p == text)
        })
        .await
    }

    /// Reads until the connection closes; returns the `ERROR` text if one came.
    pub async fn closed(&mut self) -> Option<String> {
        let mut error = None;
        while let Some(line) = self.next().await {
            if let Ok(msg) = Message::parse(&line) {
                if msg.command == "ERROR" {
                    error = msg.params.last().cloned();
                }
            }
        }
        error
    }
}

/// The source's nick (`nick!user@host` → `nick`).
pub fn nick_of(msg: &Message) -> &str {
    msg.source
        .as_deref()
        .and_then(|s| s.split('!').next())
        .unwrap_or("")
}
