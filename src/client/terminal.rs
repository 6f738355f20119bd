//! `chatty client`: the chat as a person (or a script) uses it.
//!
//! On a terminal it shows a `-> ` prompt with a line editor, and incoming
//! lines are printed above the line being typed so they never garble it.
//! When stdin or stdout is not a terminal it prints no prompt and reads plain
//! lines, so `printf 'hi\nexit\n' | chatty client …` works.

use std::io::{IsTerminal, Write};
use std::time::Duration;

use rustyline_async::{Readline, ReadlineEvent, SharedWriter};
use tokio::io::{AsyncBufReadExt, BufReader, Lines, Stdin};
use tokio::time::{sleep_until, Instant};

use super::render::{clean, render};
use super::{Client, ClientError, Welcome};
use crate::protocol::validate::validate_text;
use crate::protocol::{ClientMsg, ErrorCode, LeaveReason, ServerMsg};

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

/// Runs the chat client against `addr` as `name`; returns the exit status.
pub async fn run(addr: &str, name: &str) -> i32 {
    let interactive = std::io::stdin().is_terminal() && std::io::stdout().is_terminal();
    let mut console = match Console::new(interactive) {
        Ok(console) => console,
        Err(err) => {
            eprintln!("[ERROR] cannot set up the terminal: {err}");
            return EXIT_CONNECTION;
        }
    };
    let code = chat(addr, name, &mut console).await;
    console.finish();
    code
}

async fn chat(addr: &str, name: &str, console: &mut Console) -> i32 {
    let mut client = match Client::connect(addr).await {
        Ok(client) => client,
        Err(err) => {
            console.print(&format!("[ERROR] {err}"));
            return EXIT_CONNECTION;
        }
    };
    let welcome = match join(&mut client, name, console).await {
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
    converse(&mut client, &welcome.name, addr, console).await
}

/// Joins as `name`; on a terminal, asks for another name while it is refused.
async fn join(client: &mut Client, name: &str, console: &mut Console) -> Result<Welcome, i32> {
    let mut name = name.trim().to_string();
    loop {
        match client.join(&name).await {
            Ok(welcome) => return Ok(welcome),
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

/// The chat loop: server events out, typed lines in, until someone ends it.
async fn converse(client: &mut Client, me: &str, addr: &str, console: &mut Console) -> i32 {
    let mut me = me.to_string();
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
                    _ if leaving => return EXIT_OK,
                    Ok(None) => {
                        console.print(&format!("[SERVER] lost connection to {addr}: closed by the server"));
                        return EXIT_CONNECTION;
                    }
                    Err(err) => {
                        console.print(&format!("[SERVER] lost connection to {addr}: {err}"));
                        return EXIT_CONNECTION;
                    }
                };
                match &msg {
                    ServerMsg::Ping { nonce } => {
                        let _ = client.send_msg(&ClientMsg::Pong { nonce: *nonce }).await;
                    }
                    ServerMsg::Shutdown { reason, .. } => {
                        console.print(&format!("[SERVER] {addr} is shutting down: {}", clean(reason)));
                        return EXIT_SERVER_SHUTDOWN;
                    }
                    ServerMsg::Left { name, reason: LeaveReason::Leave, .. } if leaving && *name == me => {
                        console.print(&render(&msg).unwrap_or_default());
                        return EXIT_OK;
                    }
                    ServerMsg::Error { code, text, fatal: false }
                        if *code == ErrorCode::NAME_TAKEN || (renaming && *code == ErrorCode::NAME_INVALID) =>
                    {
                        console.print(&format!("[ERROR] {}", clean(text)));
                        if !console.is_interactive() {
                            return EXIT_NAME_REFUSED;
                        }
                        renaming = true;
                        console.set_prompt("choose another name: ");
                    }
                    ServerMsg::Welcome { name, .. } => {
                        me = name.clone();
                        renaming = false;
                        console.set_prompt(PROMPT);
                        console.print(&format!("[SERVER] you are back in the chat as {}", clean(name)));
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
                        console.print(&format!("[SERVER] lost connection to {addr}"));
                        return EXIT_CONNECTION;
                    }
                    continue;
                }
                if text.trim() == "exit" {
                    leave_deadline = Some(leave(client).await);
                } else if text.trim().is_empty() {
                    continue;
                } else if let Err(why) = validate_text(text) {
                    console.print(&format!("[ERROR] {why}"));
                } else if let Err(err) = client.say(text).await {
                    console.print(&format!("[SERVER] lost connection to {addr}: {err}"));
                    return EXIT_CONNECTION;
                }
            }
            _ = &mut ctrl_c, if !leaving => {
                leave_deadline = Some(leave(client).await);
            }
            _ = sleep_until(last_heard + silence_limit) => {
                console.print(&format!(
                    "[SERVER] lost connection to {addr}: nothing heard for {} s",
                    silence_limit.as_secs()
                ));
                return EXIT_CONNECTION;
            }
            _ = sleep_until(leave_deadline.unwrap_or_else(Instant::now)), if leaving => {
                return EXIT_OK;
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
