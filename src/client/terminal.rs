//! `chatty client`: the chat as a person (or a script) uses it.
//!
//! On a terminal it shows a `-> ` prompt with a line editor, and incoming
//! lines are printed above the line being typed so they never garble it.
//! When stdin or stdout is not a terminal it prints no prompt and reads plain
//! lines, so `printf 'hi\nexit\n' | chatty client …` works.

use std::collections::HashMap;
use std::io::{IsTerminal, Write};
use std::time::Duration;

use rustyline_async::{Readline, ReadlineEvent, SharedWriter};
use tokio::io::{AsyncBufReadExt, BufReader, Lines, Stdin};
use tokio::time::{sleep_until, Instant};

use super::render::{clean, render};
use super::{Client, ClientError, Connector, Welcome};
use crate::protocol::validate::validate_text;
use crate::protocol::{ClientMsg, ErrorCode, LeaveReason, MessageId, ServerId, ServerMsg};

/// Exit status: left cleanly.
pub const EXIT_OK: i32 = 0;
/// Exit status: the server could not be reached or the connection was lost.
pub const EXIT_CONNECTION: i32 = 1;
/// Exit status: the name was refused and no other could be asked for.
pub const EXIT_NAME_REFUSED: i32 = 3;
/// Exit status: the server shut down.
pub const EXIT_SERVER_SHUTDOWN: i32 = 4;

/// How long to wait for the server to confirm a leave.
const LEAVE_TIMEOUT: Duration = Duration::from_secs(3);

/// The prompt shown while chatting.
const PROMPT: &str = "-> ";

/// How long a client keeps trying to reach another server after losing
/// its own, unless `--failover-timeout` says otherwise.
pub const DEFAULT_FAILOVER_TIMEOUT: Duration = Duration::from_secs(30);

/// Runs the chat client: connects to the first reachable of `addrs` as
/// `name`, and fails over to another live server if that one is lost.
/// Every server, failover candidates included, is reached through
/// `connector` (plain TCP or TLS). Returns the exit status.
pub async fn run(
    addrs: &[String],
    name: &str,
    failover_timeout: Duration,
    connector: Connector,
) -> i32 {
    let interactive = std::io::stdin().is_terminal() && std::io::stdout().is_terminal();
    let mut console = match Console::new(interactive) {
        Ok(console) => console,
        Err(err) => {
            eprintln!("[ERROR] cannot set up the terminal: {err}");
            return EXIT_CONNECTION;
        }
    };
    let code = chat(addrs, name, failover_timeout, &connector, &mut console).await;
    console.finish();
    code
}

/// What survives a move from one server to another.
#[derive(Debug)]
struct Session {
    /// The name held.
    me: String,
    /// The server connected to now.
    addr: String,
    /// Live servers as last announced (this one first).
    servers: Vec<String>,
    /// The addresses given on the command line.
    given: Vec<String>,
    /// Newest message seq seen per origin: shown once, never twice.
    last_seen: HashMap<ServerId, u64>,
    /// How servers are reached (plain or TLS), the same for every candidate.
    connector: Connector,
}

impl Session {
    /// Whether a message with this id is new; records it if so. Each
    /// origin's messages arrive in order, so one watermark per origin is
    /// exact. Ids with seq 0 are notifications outside any stream.
    fn fresh(&mut self, id: MessageId) -> bool {
        if id.seq == 0 {
            return true;
        }
        let seen = self.last_seen.entry(id.origin).or_insert(0);
        if id.seq <= *seen {
            return false;
        }
        *seen = id.seq;
        true
    }

    fn last_seen_ids(&self) -> Vec<MessageId> {
        self.last_seen
            .iter()
            .map(|(origin, seq)| MessageId {
                origin: *origin,
                seq: *seq,
            })
            .collect()
    }

    /// Where to try next: announced servers, then the given addresses, and
    /// the lost server last (it may come back).
    fn candidates(&self) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        for addr in self.servers.iter().chain(&self.given) {
            if *addr != self.addr && !out.contains(addr) {
                out.push(addr.clone());
            }
        }
        out.push(self.addr.clone());
        out
    }
}

/// How the chat on one connection ended.
enum Outcome {
    /// The client is done; exit with this status.
    Exit(i32),
    /// The server was lost (reset, EOF without notice, silence).
    Lost,
    /// The server is shutting down and named alternatives.
    Moving,
}

async fn chat(
    addrs: &[String],
    name: &str,
    timeout: Duration,
    connector: &Connector,
    console: &mut Console,
) -> i32 {
    let mut last_err = None;
    let mut connected = None;
    for addr in addrs {
        match Client::connect_via(addr, connector).await {
            Ok(client) => {
                connected = Some((client, addr.clone()));
                break;
            }
            Err(err) => last_err = Some(err),
        }
    }
    let Some((mut client, addr)) = connected else {
        if let Some(err) = last_err {
            console.print(&format!("[ERROR] {err}"));
        }
        return EXIT_CONNECTION;
    };
    let welcome = match join(&mut client, name, &addr, connector, console).await {
        Ok(welcome) => welcome,
        Err(code) => return code,
    };
    let others: Vec<String> = welcome.members.iter().map(|m| clean(&m.name)).collect();
    console.print(&format!(
        "[SERVER] connected to {addr} as {}; {} online: {}",
        clean(&welcome.name),
        others.len(),
        others.join(", ")
    ));
    let mut session = Session {
        me: welcome.name.clone(),
        servers: if welcome.servers.is_empty() {
            addrs.to_vec()
        } else {
            welcome.servers.clone()
        },
        addr,
        given: addrs.to_vec(),
        last_seen: HashMap::new(),
        connector: connector.clone(),
    };
    loop {
        match converse(&mut client, &mut session, console).await {
            Outcome::Exit(code) => return code,
            Outcome::Lost => console.print(&format!(
                "[SERVER] lost connection to {}; reconnecting…",
                session.addr
            )),
            Outcome::Moving => console.print("[SERVER] moving to another server…"),
        }
        // Close the old connection first: if that server is still running
        // (only the connection broke), this frees our name there at once
        // instead of after its idle timeout.
        drop(client);
        match failover(&mut session, timeout).await {
            Some(next) => {
                client = next;
                console.print(&format!(
                    "[SERVER] reconnected to {} as {}",
                    session.addr,
                    clean(&session.me)
                ));
            }
            None => {
                console.print(&format!(
                    "[SERVER] no server could be reached for {} s; giving up",
                    timeout.as_secs()
                ));
                return EXIT_CONNECTION;
            }
        }
    }
}

/// Finds another live server and rejoins there under the same name, with
/// exponential backoff and jitter, until `timeout`. The name is refused
/// until the cluster has declared the lost server dead (under a second),
/// so `name_taken` is retried too.
async fn failover(session: &mut Session, timeout: Duration) -> Option<Client> {
    let deadline = Instant::now() + timeout;
    let mut backoff = Duration::from_millis(100);
    loop {
        // A server that answers but still holds our name frees it as soon
        // as the cluster declares the lost server dead (under a second):
        // retry soon. Unreachable servers get exponential backoff.
        let mut name_busy = false;
        for candidate in session.candidates() {
            if Instant::now() >= deadline {
                return None;
            }
            let last_seen = session.last_seen_ids();
            let me = session.me.clone();
            let attempt = async {
                let mut client = Client::connect_via(&candidate, &session.connector).await?;
                let welcome = client.rejoin(&me, last_seen).await?;
                Ok::<_, ClientError>((client, welcome))
            };
            match tokio::time::timeout(ATTEMPT_TIMEOUT, attempt).await {
                Ok(Ok((client, welcome))) => {
                    session.addr = candidate;
                    session.me = welcome.name;
                    if !welcome.servers.is_empty() {
                        session.servers = welcome.servers;
                    }
                    return Some(client);
                }
                Ok(Err(ClientError::Refused { code, .. })) if code == ErrorCode::NAME_TAKEN => {
                    name_busy = true;
                }
                _ => {}
            }
        }
        let wait = if name_busy { NAME_RETRY } else { backoff };
        let nap = wait
            .mul_f64(0.75 + fastrand::f64() * 0.5)
            .min(deadline.saturating_duration_since(Instant::now()));
        if nap.is_zero() {
            return None;
        }
        tokio::time::sleep(nap).await;
        if !name_busy {
            backoff = (backoff * 2).min(Duration::from_secs(2));
        }
    }
}

/// How soon to retry a server that answered but still holds our name.
const NAME_RETRY: Duration = Duration::from_millis(100);

/// One connection attempt during failover may take this long.
const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(2);

/// Joins as `name`; on a terminal, asks for another name while it is refused.
/// A person choosing a name may take longer than the server's join
/// deadline: then the connection to `addr` is made again.
async fn join(
    client: &mut Client,
    name: &str,
    addr: &str,
    connector: &Connector,
    console: &mut Console,
) -> Result<Welcome, i32> {
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
                        return Err(EXIT_CONNECTION);
                    }
                }
            }
            Err(ClientError::Refused {
                code, text, fatal, ..
            }) if !fatal && (code == ErrorCode::NAME_TAKEN || code == ErrorCode::NAME_INVALID) => {
                console.print(&format!("[ERROR] {}", clean(&text)));
                if !console.is_interactive() {
                    return Err(EXIT_NAME_REFUSED);
                }
                console.set_prompt("choose another name: ");
                match console.read_line().await {
                    Some(line) => name = line.trim().to_string(),
                    None => return Err(EXIT_NAME_REFUSED),
                }
                asked = true;
                console.set_prompt(PROMPT);
            }
            Err(ClientError::ShuttingDown(reason)) => {
                console.print(&format!("[SERVER] {}", clean(&reason)));
                return Err(EXIT_SERVER_SHUTDOWN);
            }
            Err(ClientError::Refused {
                code, fatal: false, ..
            }) if code == ErrorCode::RATE_LIMITED => {
                // Only a script retrying very fast gets here; wait and retry.
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
            Err(err) => {
                console.print(&format!("[ERROR] {err}"));
                return Err(EXIT_CONNECTION);
            }
        }
    }
}

/// The chat loop on one connection: server events out, typed lines in,
/// until the user leaves or the server is lost.
async fn converse(client: &mut Client, session: &mut Session, console: &mut Console) -> Outcome {
    // True after our name was taken back (a same-moment claim on another
    // server won): the next line typed is a new name, not a message.
    let mut renaming = false;
    // The server pings after `keepalive` of silence; three missed pings mean
    // it is gone even if TCP has not noticed.
    let silence_limit = match client.keepalive() {
        d if d.is_zero() => Duration::from_secs(60),
        d => d * 3,
    };
    let mut last_heard = Instant::now();
    let mut leave_deadline: Option<Instant> = None;
    let ctrl_c = tokio::signal::ctrl_c();
    tokio::pin!(ctrl_c);
    loop {
        let leaving = leave_deadline.is_some();
        tokio::select! {
            msg = client.recv() => {
                last_heard = Instant::now();
                let msg = match msg {
                    Ok(Some(msg)) => msg,
                    _ if leaving => return Outcome::Exit(EXIT_OK),
                    Ok(None) | Err(_) => return Outcome::Lost,
                };
                match &msg {
                    ServerMsg::Ping { nonce } => {
                        let _ = client.send_msg(&ClientMsg::Pong { nonce: *nonce }).await;
                    }
                    ServerMsg::Shutdown { reason, servers } => {
                        console.print(&format!("[SERVER] {} is shutting down: {}", session.addr, clean(reason)));
                        if servers.is_empty() {
                            return Outcome::Exit(EXIT_SERVER_SHUTDOWN);
                        }
                        session.servers = servers.clone();
                        return Outcome::Moving;
                    }
                    ServerMsg::Servers { servers } => session.servers = servers.clone(),
                    ServerMsg::Error { code, text, fatal: true, .. } => {
                        console.print(&format!("[ERROR] {}", clean(text)));
                        // Only being dropped for slowness or silence is worth
                        // a reconnect; any other fatal error would recur.
                        if *code == ErrorCode::TOO_SLOW || *code == ErrorCode::KEEPALIVE_TIMEOUT {
                            return Outcome::Lost;
                        }
                        return Outcome::Exit(EXIT_CONNECTION);
                    }
                    ServerMsg::Left { name, reason: LeaveReason::Leave, .. } if leaving && *name == session.me => {
                        console.print(&render(&msg).unwrap_or_default());
                        return Outcome::Exit(EXIT_OK);
                    }
                    ServerMsg::Error { code, text, fatal: false, .. }
                        if *code == ErrorCode::NAME_TAKEN || (renaming && *code == ErrorCode::NAME_INVALID) =>
                    {
                        console.print(&format!("[ERROR] {}", clean(text)));
                        if !console.is_interactive() {
                            return Outcome::Exit(EXIT_NAME_REFUSED);
                        }
                        renaming = true;
                        console.set_prompt("choose another name: ");
                    }
                    ServerMsg::Welcome { name, servers, .. } => {
                        session.me = name.clone();
                        if !servers.is_empty() {
                            session.servers = servers.clone();
                        }
                        renaming = false;
                        console.set_prompt(PROMPT);
                        console.print(&format!("[SERVER] you are back in the chat as {}", clean(name)));
                    }
                    ServerMsg::Message { id, .. } | ServerMsg::History { id, .. } => {
                        if session.fresh(*id) {
                            console.print(&render(&msg).unwrap_or_default());
                        }
                    }
                    _ => {
                        if let Some(line) = render(&msg) {
                            console.print(&line);
                        }
                    }
                }
            }
            line = console.read_line(), if !leaving => {
                let Some(line) = line else {
                    leave_deadline = Some(leave(client).await);
                    continue;
                };
                let text = line.trim_end_matches(['\r', '\n']);
                if renaming && text.trim() != "exit" {
                    let name = text.trim().to_string();
                    if client.send_msg(&ClientMsg::Join { name }).await.is_err() {
                        return Outcome::Lost;
                    }
                    continue;
                }
                if text.trim() == "exit" {
                    leave_deadline = Some(leave(client).await);
                } else if text.trim().is_empty() {
                    continue;
                } else if let Err(why) = validate_text(text) {
                    console.print(&format!("[ERROR] {why}"));
                } else if client.say(text).await.is_err() {
                    return Outcome::Lost;
                }
            }
            _ = &mut ctrl_c, if !leaving => {
                leave_deadline = Some(leave(client).await);
            }
            _ = sleep_until(last_heard + silence_limit) => return Outcome::Lost,
            _ = sleep_until(leave_deadline.unwrap_or_else(Instant::now)), if leaving => {
                return Outcome::Exit(EXIT_OK);
            }
        }
    }
}

/// Sends `leave` and returns how long to wait for the confirmation.
async fn leave(client: &mut Client) -> Instant {
    let _ = client.send_msg(&ClientMsg::Leave).await;
    Instant::now() + LEAVE_TIMEOUT
}

/// Where lines are read from and printed to.
enum Console {
    /// A terminal: line editor with a prompt; output goes above the edited line.
    Editor {
        editor: Box<Readline>,
        out: SharedWriter,
    },
    /// A pipe or file: plain lines, no prompt.
    Plain { lines: Lines<BufReader<Stdin>> },
}

impl Console {
    fn new(interactive: bool) -> Result<Console, rustyline_async::ReadlineError> {
        if interactive {
            let (mut editor, out) = Readline::new(PROMPT.to_string())?;
            // The server echoes our own messages; don't show them twice.
            editor.should_print_line_on(false, false);
            Ok(Console::Editor {
                editor: Box::new(editor),
                out,
            })
        } else {
            Ok(Console::Plain {
                lines: BufReader::new(tokio::io::stdin()).lines(),
            })
        }
    }

    fn is_interactive(&self) -> bool {
        matches!(self, Console::Editor { .. })
    }

    fn print(&mut self, line: &str) {
        match self {
            Console::Editor { out, .. } => {
                let _ = writeln!(out, "{line}");
            }
            Console::Plain { .. } => {
                let mut stdout = std::io::stdout().lock();
                let _ = writeln!(stdout, "{line}");
                let _ = stdout.flush();
            }
        }
    }

    fn set_prompt(&mut self, prompt: &str) {
        if let Console::Editor { editor, .. } = self {
            let _ = editor.update_prompt(prompt);
        }
    }

    /// The next line typed, or `None` at end of input (or Ctrl-C / Ctrl-D).
    /// Cancel-safe.
    async fn read_line(&mut self) -> Option<String> {
        match self {
            Console::Editor { editor, .. } => match editor.readline().await {
                Ok(ReadlineEvent::Line(line)) => {
                    if !line.trim().is_empty() {
                        editor.add_history_entry(line.clone());
                    }
                    Some(line)
                }
                Ok(ReadlineEvent::Eof | ReadlineEvent::Interrupted) | Err(_) => None,
            },
            Console::Plain { lines } => lines.next_line().await.ok().flatten(),
        }
    }

    /// Flushes pending output and gives the terminal back.
    fn finish(&mut self) {
        if let Console::Editor { editor, .. } = self {
            let _ = editor.flush();
        }
    }
}
