//! Where the terminal client reads lines from and prints lines to.
//!
//! On a terminal: a line editor with a prompt (the active room), and
//! incoming lines printed above the line being typed so they never garble
//! it, each with the local time in front (`14:05 [Leo] hi`). The editor only
//! draws (typed keys and printed lines alike) while [`Console::read_line`]
//! is being polled, so the chat loop polls it all the time, whatever else
//! is going on. When stdin or stdout is not a terminal: plain lines, no
//! prompt and no time, so `printf 'hi\nexit\n' | chatty client …` works
//! and its output is exactly the documented lines.

use std::io::Write;

use rustyline_async::{Readline, ReadlineEvent, SharedWriter};
use tokio::io::{AsyncBufReadExt, BufReader, Lines, Stdin};

use super::clock::stamped;

/// The prompt shown at the start: the active room is the default one.
pub const PROMPT: &str = "#lobby> ";

/// What the console read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Input {
    /// A line (without its line break).
    Line(String),
    /// A pipe or file ended: no more lines will come.
    End,
    /// A person pressed Ctrl-C or Ctrl-D: they want to go (and, pressed
    /// again, to go at once).
    Interrupt,
}

/// The terminal client's input and output.
pub enum Console {
    /// A terminal: line editor with a prompt; output goes above the edited line.
    Editor {
        /// The line editor; it holds the terminal in raw mode until dropped.
        editor: Box<Readline>,
        /// Prints above the edited line.
        out: SharedWriter,
    },
    /// A pipe or file: plain lines, no prompt.
    Plain {
        /// Lines from stdin; `None` once it has ended.
        lines: Option<Lines<BufReader<Stdin>>>,
    },
}

impl Console {
    /// A line editor if `interactive`, plain lines otherwise.
    pub fn new(interactive: bool) -> Result<Console, rustyline_async::ReadlineError> {
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
                lines: Some(BufReader::new(tokio::io::stdin()).lines()),
            })
        }
    }

    /// Whether this is a terminal with a line editor.
    pub fn is_interactive(&self) -> bool {
        matches!(self, Console::Editor { .. })
    }

    /// Whether [`Console::read_line`] is worth polling: always on a
    /// terminal (the editor draws only while polled), and on a pipe until
    /// it has ended.
    pub fn is_open(&self) -> bool {
        match self {
            Console::Editor { .. } => true,
            Console::Plain { lines } => lines.is_some(),
        }
    }

    /// Prints one line (on a terminal, after the time).
    pub fn print(&mut self, line: &str) {
        match self {
            Console::Editor { out, .. } => {
                let _ = writeln!(out, "{}", stamped(line));
            }
            Console::Plain { .. } => {
                let mut stdout = std::io::stdout().lock();
                let _ = writeln!(stdout, "{line}");
                let _ = stdout.flush();
            }
        }
    }

    /// Prints a line only a person at a terminal needs (such as a pending
    /// line); piped output keeps to the documented line formats.
    pub fn note(&mut self, line: &str) {
        if self.is_interactive() {
            self.print(line);
        }
    }

    /// Changes the prompt (terminal only).
    pub fn set_prompt(&mut self, prompt: &str) {
        if let Console::Editor { editor, .. } = self {
            let _ = editor.update_prompt(prompt);
        }
    }

    /// The next line typed, the end of input, or Ctrl-C / Ctrl-D.
    /// Cancel-safe.
    pub async fn read_line(&mut self) -> Input {
        match self {
            Console::Editor { editor, .. } => match editor.readline().await {
                Ok(ReadlineEvent::Line(line)) => {
                    if !line.trim().is_empty() {
                        editor.add_history_entry(line.clone());
                    }
                    Input::Line(line)
                }
                Ok(ReadlineEvent::Eof | ReadlineEvent::Interrupted) | Err(_) => Input::Interrupt,
            },
            Console::Plain { lines } => {
                let Some(open) = lines.as_mut() else {
                    return Input::End;
                };
                match open.next_line().await {
                    Ok(Some(line)) => Input::Line(line),
                    _ => {
                        *lines = None;
                        Input::End
                    }
                }
            }
        }
    }

    /// Prints what is still queued and gives the terminal back: the editor
    /// leaves raw mode, and keys typed but not read are thrown away, so
    /// nothing typed into the chat reaches the shell after the client exits.
    pub fn finish(self) {
        if let Console::Editor { mut editor, out } = self {
            let _ = editor.flush();
            drop(out);
            drop(editor);
            discard_typeahead();
        }
    }
}

/// Throws away input the terminal has queued but nobody has read.
#[cfg(unix)]
fn discard_typeahead() {
    // SAFETY: tcflush only reads its arguments; on a descriptor that is
    // not a terminal it fails with ENOTTY and changes nothing.
    unsafe {
        libc::tcflush(libc::STDIN_FILENO, libc::TCIFLUSH);
    }
}

#[cfg(not(unix))]
fn discard_typeahead() {}
