//! IRC messages: one line's tags, source, command and parameters, parsed
//! and written as the IRCv3 message-tags specification and the ircdocs
//! "Modern IRC Client Protocol" describe. Pure: no sockets.
//!
//! Parsing follows RFC 1459 on runs of spaces (several spaces separate one
//! pair of atoms), as the public `irc-parser-tests` vectors do; the tests in
//! `tests/irc/parser.rs` check both directions against them.

use std::fmt::Write as _;

/// One IRC message.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Message {
    /// Tags in the order given (values unescaped; a tag without a value has
    /// `""`). A key given twice keeps its last value.
    pub tags: Vec<(String, String)>,
    /// The source (prefix) without its leading `:`.
    pub source: Option<String>,
    /// The command or three-digit numeric, as sent.
    pub command: String,
    /// The parameters, the trailing one included.
    pub params: Vec<String>,
}

/// Why a line is not an IRC message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ParseError {
    /// Nothing but spaces (or tags and a source) where the command goes.
    NoCommand,
}

impl Message {
    /// A message with a command and parameters, no tags or source.
    pub fn new(command: &str, params: &[&str]) -> Message {
        Message {
            command: command.to_string(),
            params: params.iter().map(|p| p.to_string()).collect(),
            ..Message::default()
        }
    }

    /// Parses one line, without its CR LF (a trailing CR or LF is ignored).
    pub fn parse(line: &str) -> Result<Message, ParseError> {
        let mut rest = line.trim_end_matches(['\r', '\n']);
        let mut msg = Message::default();
        if let Some(tagged) = rest.strip_prefix('@') {
            let (tags, after) = tagged.split_once(' ').unwrap_or((tagged, ""));
            for tag in tags.split(';').filter(|t| !t.is_empty()) {
                let (key, value) = tag.split_once('=').unwrap_or((tag, ""));
                let value = unescape_tag(value);
                match msg.tags.iter_mut().find(|(k, _)| k == key) {
                    Some(slot) => slot.1 = value,
                    None => msg.tags.push((key.to_string(), value)),
                }
            }
            rest = after;
        }
        rest = rest.trim_start_matches(' ');
        if let Some(sourced) = rest.strip_prefix(':') {
            let (source, after) = sourced.split_once(' ').unwrap_or((sourced, ""));
            msg.source = Some(source.to_string());
            rest = after.trim_start_matches(' ');
        }
        let (command, mut rest) = rest.split_once(' ').unwrap_or((rest, ""));
        if command.is_empty() {
            return Err(ParseError::NoCommand);
        }
        msg.command = command.to_string();
        loop {
            rest = rest.trim_start_matches(' ');
            if rest.is_empty() {
                break;
            }
            if let Some(trailing) = rest.strip_prefix(':') {
                msg.params.push(trailing.to_string());
                break;
            }
            let (param, after) = rest.split_once(' ').unwrap_or((rest, ""));
            msg.params.push(param.to_string());
            rest = after;
        }
        Ok(msg)
    }

    /// The command in upper case, for matching.
    pub fn verb(&self) -> String {
        self.command.to_ascii_uppercase()
    }

    /// Parameter `i`, if given.
    pub fn param(&self, i: usize) -> Option<&str> {
        self.params.get(i).map(String::as_str)
    }

    /// Writes the message without CR LF. The last parameter gets a `:` only
    /// when it needs one (empty, a space, or a leading `:`), unless
    /// `colon_last` asks for it always, as servers write free text.
    pub fn write(&self, colon_last: bool) -> String {
        let mut out = String::with_capacity(64);
        if !self.tags.is_empty() {
            out.push('@');
            for (i, (key, value)) in self.tags.iter().enumerate() {
                if i > 0 {
                    out.push(';');
                }
                out.push_str(key);
                if !value.is_empty() {
                    out.push('=');
                    escape_tag(value, &mut out);
                }
            }
            out.push(' ');
        }
        if let Some(source) = &self.source {
            let _ = write!(out, ":{source} ");
        }
        out.push_str(&self.command);
        let last = self.params.len().saturating_sub(1);
        for (i, param) in self.params.iter().enumerate() {
            out.push(' ');
            let needs = param.is_empty() || param.contains(' ') || param.starts_with(':');
            if i == last && (needs || colon_last) {
                out.push(':');
            }
            out.push_str(param);
        }
        out
    }
}

/// Undoes tag-value escaping: `\:` `;`, `\s` space, `\\` `\`, `\r`, `\n`;
/// a backslash before anything else is dropped, as is a lone trailing one.
pub fn unescape_tag(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    let mut chars = value.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some(':') => out.push(';'),
            Some('s') => out.push(' '),
            Some('r') => out.push('\r'),
            Some('n') => out.push('\n'),
            Some(other) => out.push(other),
            None => {}
        }
    }
    out
}

/// Escapes a tag value for the wire (the inverse of [`unescape_tag`]).
pub fn escape_tag(value: &str, out: &mut String) {
    for c in value.chars() {
        match c {
            ';' => out.push_str("\\:"),
            ' ' => out.push_str("\\s"),
            '\\' => out.push_str("\\\\"),
            '\r' => out.push_str("\\r"),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_parts() {
        let m = Message::parse("@a=b\\sc;d :nick!u@h PRIVMSG #c :hello there\r\n").unwrap();
        assert_eq!(
            m.tags,
            vec![("a".into(), "b c".into()), ("d".into(), "".into())]
        );
        assert_eq!(m.source.as_deref(), Some("nick!u@h"));
        assert_eq!(m.command, "PRIVMSG");
        assert_eq!(m.params, vec!["#c", "hello there"]);
    }

    #[test]
    fn empty_and_odd_lines_never_panic() {
        for line in [
            "",
            " ",
            "@",
            "@a",
            ":",
            ": ",
            ":x",
            "@a :x ",
            "\u{1}",
            "@=;=;;; :",
        ] {
            let _ = Message::parse(line);
        }
        assert_eq!(Message::parse("   "), Err(ParseError::NoCommand));
    }

    #[test]
    fn writes_a_colon_only_where_needed_unless_asked() {
        let m = Message::new("PRIVMSG", &["#c", "hi"]);
        assert_eq!(m.write(false), "PRIVMSG #c hi");
        assert_eq!(m.write(true), "PRIVMSG #c :hi");
        assert_eq!(Message::new("AWAY", &[""]).write(false), "AWAY :");
    }
}
