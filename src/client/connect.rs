//! Getting into the chat: the first join (asking a person for another name
//! while one is refused) and, after losing a server, finding another live
//! one and rejoining there under the same name.
//!
//! The failover loop runs as a task of its own, so the terminal stays live
//! while it retries: keys echo, lines typed meanwhile wait in the outbox.

use std::time::Duration;

use tokio::time::Instant;

use super::console::{Console, Input, PROMPT};
use super::render::clean;
use super::survivors;
use super::{Client, ClientError, Connector, Welcome};
use crate::protocol::{ErrorCode, MessageId};

/// Why the first join did not happen (the reason has been printed).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NotJoined {
    /// The server could not be reached, or the connection broke.
    Connection,
    /// The name was refused and no other could be asked for.
    NameRefused,
    /// The server is shutting down.
    ShuttingDown,
}

/// How soon to retry a server that answered but still holds our name.
const NAME_RETRY: Duration = Duration::from_millis(100);

/// One connection attempt during failover may take this long.
const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(2);

/// Where the servers are: what survives a move from one to another.
#[derive(Debug, Clone)]
pub struct Servers {
    /// The server connected to now (or last).
    pub addr: String,
    /// Live servers as last announced (that one first).
    pub announced: Vec<String>,
    /// The addresses given on the command line.
    pub given: Vec<String>,
    /// How servers are reached (plain or TLS), the same for every candidate.
    pub connector: Connector,
    /// Where this client's failovers start among the survivors
    /// ([`survivors::draw_turn`]), so a dead server's clients spread.
    pub turn: u64,
}

impl Servers {
    /// Where to try next: announced servers from this client's turn on,
    /// then the given addresses, and the lost server last (it may come
    /// back).
    pub fn candidates(&self) -> Vec<String> {
        survivors::order(&self.addr, &self.announced, &self.given, self.turn)
    }

    /// Takes a server's new list of live servers (ignored if empty).
    pub fn announce(&mut self, servers: &[String]) {
        if !servers.is_empty() {
            self.announced = servers.to_vec();
        }
    }
}

/// A successful rejoin: the connection, its welcome, and the server list.
#[derive(Debug)]
pub struct Rejoined {
    /// The new connection, joined.
    pub client: Client,
    /// The answer to the rejoin.
    pub welcome: Welcome,
    /// The servers, `addr` now the new one.
    pub servers: Servers,
}

/// What a rejoin asks for: the name, the rooms besides `#lobby`, and
/// what came after `last_seen` in them.
#[derive(Debug, Clone)]
pub struct Comeback {
    /// The name held (after any `/nick`).
    pub me: String,
    /// Every room the member was in, `#lobby` aside.
    pub rooms: Vec<String>,
    /// The newest id shown per origin.
    pub last_seen: Vec<MessageId>,
}

/// Why [`rejoin_somewhere`] found no server in time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GaveUp {
    /// No server could be reached (or none answered).
    Unreachable,
    /// The last round reached a server, which answered `name_taken`: the
    /// name stayed held (by a live rival, or by our old connection to a
    /// server still running).
    NameBusy,
}

/// Finds another live server and rejoins there as `back` says, asking for
/// what came after its `last_seen` in each of its rooms, with exponential
/// backoff and jitter, until `deadline`. The name is refused until the
/// cluster has declared the lost server dead (under a second), so
/// `name_taken` is retried soon.
pub async fn rejoin_somewhere(
    mut servers: Servers,
    back: Comeback,
    deadline: Instant,
) -> Result<Rejoined, GaveUp> {
    let mut backoff = Duration::from_millis(100);
    let mut name_busy = false;
    let gave_up = |name_busy| match name_busy {
        true => GaveUp::NameBusy,
        false => GaveUp::Unreachable,
    };
    loop {
        let mut busy_now = false;
        for candidate in servers.candidates() {
            if Instant::now() >= deadline {
                return Err(gave_up(name_busy || busy_now));
            }
            let attempt = async {
                let mut client = Client::connect_via(&candidate, &servers.connector).await?;
                let welcome = client
                    .rejoin_in(&back.me, back.last_seen.clone(), back.rooms.clone())
                    .await?;
                Ok::<_, ClientError>((client, welcome))
            };
            match tokio::time::timeout(ATTEMPT_TIMEOUT, attempt).await {
                Ok(Ok((client, welcome))) => {
                    servers.addr = candidate;
                    servers.announce(&welcome.servers);
                    return Ok(Rejoined {
                        client,
                        welcome,
                        servers,
                    });
                }
                Ok(Err(ClientError::Refused { code, .. })) if code == ErrorCode::NAME_TAKEN => {
                    busy_now = true;
                }
                _ => {}
            }
        }
        name_busy = busy_now;
        let wait = if name_busy { NAME_RETRY } else { backoff };
        let nap = wait
            .mul_f64(0.75 + fastrand::f64() * 0.5)
            .min(deadline.saturating_duration_since(Instant::now()));
        if nap.is_zero() {
            return Err(gave_up(name_busy));
        }
        tokio::time::sleep(nap).await;
        if !name_busy {
            backoff = (backoff * 2).min(Duration::from_secs(2));
        }
    }
}

/// Connects to the first reachable of `addrs`; prints why if none is.
pub async fn connect_first(
    addrs: &[String],
    connector: &Connector,
    console: &mut Console,
) -> Option<(Client, String)> {
    let mut last_err = None;
    for addr in addrs {
        match Client::connect_via(addr, connector).await {
            Ok(client) => return Some((client, addr.clone())),
            Err(err) => last_err = Some(err),
        }
    }
    if let Some(err) = last_err {
        console.print(&format!("[ERROR] {err}"));
    }
    None
}

/// Joins as `name`; on a terminal, asks for another name while it is refused.
/// A person choosing a name may take longer than the server's join
/// deadline: then the connection to `addr` is made again.
pub async fn join(
    client: &mut Client,
    name: &str,
    addr: &str,
    connector: &Connector,
    console: &mut Console,
) -> Result<Welcome, NotJoined> {
    let mut name = name.trim().to_string();
    let mut asked = false;
    loop {
        match client.join(&name).await {
            Ok(welcome) => return Ok(welcome),
            // The deadline passed while the person typed: the server sent
            // join_timeout and closed (the join may even fail to send).
            Err(
                ClientError::Refused {
                    code: ErrorCode::JOIN_TIMEOUT,
                    ..
                }
                | ClientError::Io(_)
                | ClientError::Closed,
            ) if asked => {
                asked = false; // reconnect once per name typed
                match Client::connect_via(addr, connector).await {
                    Ok(fresh) => *client = fresh,
                    Err(err) => {
                        console.print(&format!("[ERROR] {err}"));
                        return Err(NotJoined::Connection);
                    }
                }
            }
            Err(ClientError::Refused {
                code, text, fatal, ..
            }) if !fatal && (code == ErrorCode::NAME_TAKEN || code == ErrorCode::NAME_INVALID) => {
                console.print(&format!("[ERROR] {}", clean(&text)));
                if !console.is_interactive() {
                    return Err(NotJoined::NameRefused);
                }
                console.set_prompt("choose another name: ");
                match console.read_line().await {
                    Input::Line(line) => name = line.trim().to_string(),
                    Input::End | Input::Interrupt => return Err(NotJoined::NameRefused),
                }
                asked = true;
                console.set_prompt(PROMPT);
            }
            Err(ClientError::ShuttingDown(reason)) => {
                console.print(&format!("[SERVER] {}", clean(&reason)));
                return Err(NotJoined::ShuttingDown);
            }
            Err(ClientError::Refused {
                code, fatal: false, ..
            }) if code == ErrorCode::RATE_LIMITED => {
                // Only a script retrying very fast gets here; wait and retry.
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
            Err(err) => {
                console.print(&format!("[ERROR] {err}"));
                return Err(NotJoined::Connection);
            }
        }
    }
}

/// Opens a TCP connection to `addr`, within [`super::CONNECT_TIMEOUT`].
pub(super) async fn dial(addr: &str) -> Result<tokio::net::TcpStream, ClientError> {
    tokio::time::timeout(super::CONNECT_TIMEOUT, tokio::net::TcpStream::connect(addr))
        .await
        .map_err(|_| ClientError::Connect {
            addr: addr.to_string(),
            source: std::io::ErrorKind::TimedOut.into(),
        })?
        .map_err(|source| ClientError::Connect {
            addr: addr.to_string(),
            source,
        })
}
