//! What a typed line asks for: a chat line, or one of the slash commands.
//! Pure, so every command and every bad argument is unit-tested.
//!
//! A line whose first character other than white space is `/` is a
//! command (so a stray space cannot leak `/msg Ann …` to a room); `//`
//! escapes it: `//shrug` says `/shrug`. Command names are not
//! case-sensitive. What can be checked here is (room and member names,
//! text), for a fast error; the server stays the authority.

use crate::protocol::validate::{validate_name, validate_reason, validate_text, validate_topic};
use crate::protocol::MAX_ROOM_CHARS;

/// What a typed line asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    /// Nothing (a blank line).
    Nothing,
    /// Say this in the active room.
    Say(String),
    /// `/join #room`: enter it and make it the active room.
    Join(String),
    /// `/part [#room] [reason]`: leave it (the active room if none is
    /// given), saying why.
    Part(Option<String>, Option<String>),
    /// `/msg NAME text`: a private message.
    Msg {
        /// The addressee.
        to: String,
        /// What to say.
        text: String,
    },
    /// `/me text`: an action in the active room.
    Me(String),
    /// `/nick NAME`: change the name held.
    Nick(String),
    /// `/topic [#room] [text]`: ask for (no text) or set a room's topic.
    Topic {
        /// The room, if given (else the active one).
        room: Option<String>,
        /// The new topic; `None` asks.
        text: Option<String>,
    },
    /// `/who [#room]`: who is in a room.
    Who(Option<String>, Option<String>),
    /// `/rooms`: every room with a member.
    Rooms,
    /// `/whois NAME`: where a member is.
    Whois(String),
    /// `/switch #room`: make a room one is in the active one.
    Switch(String),
    /// `/help`: list the commands.
    Help,
    /// `/quit [reason]` or `exit`: leave the chat, saying why.
    Quit(Option<String>),
}

/// Why a typed line is not sent: the `[ERROR]` text to show.
pub type Refusal = String;

/// The commands, as `/help` shows them (one line each).
pub const HELP: &[&str] = &[
    "/join #room         enter a room; it becomes the active room",
    "/part [#room] [why] leave a room (the active one if none is given)",
    "/switch #room       make a room you are in the active one",
    "/msg NAME text      a private message (quote a name with spaces: \"Ann Lee\")",
    "/me text            an action in the active room: * Leo waves",
    "/nick NAME          change your name",
    "/topic [#room] [text]  show a room's topic, or set it (-delete clears it)",
    "/who [#room [NAME]] who is in a room, and on which server (after NAME: the next page)",
    "/rooms              every room with members",
    "/whois NAME         where someone is",
    "/quit [why], exit   leave the chat",
    "//text              say a line that starts with /",
    "other lines go to the active room",
];

/// What `line` (as typed, without its line break) asks for.
pub fn parse(line: &str) -> Result<Command, Refusal> {
    let trimmed = line.trim();
    if trimmed.is_empty() {
        return Ok(Command::Nothing);
    }
    if trimmed == "exit" {
        return Ok(Command::Quit(None));
    }
    let Some(rest) = trimmed.strip_prefix('/') else {
        return say(line);
    };
    if rest.starts_with('/') {
        // `//text` says `/text`: the first `/` goes, the rest as typed.
        let at = line.find('/').unwrap_or(0);
        return say(&line[at + 1..]);
    }
    let (name, args) = match rest.find(char::is_whitespace) {
        Some(at) => (&rest[..at], rest[at..].trim()),
        None => (rest, ""),
    };
    let usage = |u: &str| Err(format!("usage: {u}"));
    match name.to_ascii_lowercase().as_str() {
        "join" => match one_word(args) {
            Some(room) => Ok(Command::Join(checked_room(room)?)),
            None => usage("/join #room"),
        },
        "part" => part(args),
        "switch" => match one_word(args) {
            Some(room) => Ok(Command::Switch(checked_room(room)?)),
            None => usage("/switch #room"),
        },
        "who" => who(args),
        "msg" => {
            let Some((to, text)) = addressee(args) else {
                return usage("/msg NAME text");
            };
            if text.is_empty() {
                return usage("/msg NAME text");
            }
            Ok(Command::Msg {
                to: checked_name(&to)?,
                text: checked_text(text)?,
            })
        }
        "me" if args.is_empty() => usage("/me text"),
        "me" => Ok(Command::Me(checked_text(args)?)),
        "nick" if args.is_empty() => usage("/nick NAME"),
        "nick" => Ok(Command::Nick(checked_name(args)?)),
        "whois" if args.is_empty() => usage("/whois NAME"),
        "whois" => Ok(Command::Whois(checked_name(unquoted(args))?)),
        "topic" => topic(args),
        "rooms" if args.is_empty() => Ok(Command::Rooms),
        "rooms" => usage("/rooms"),
        "help" => Ok(Command::Help),
        "quit" => Ok(Command::Quit(checked_reason(args)?)),
        _ => Err(format!("unknown command /{name}; /help lists them")),
    }
}

/// A chat line, as typed.
fn say(text: &str) -> Result<Command, Refusal> {
    Ok(Command::Say(checked_text(text)?))
}

/// `args` if it is one word.
fn one_word(args: &str) -> Option<&str> {
    (!args.is_empty() && !args.contains(char::is_whitespace)).then_some(args)
}

/// No argument, or one room.
/// `/part`, `/part #room`, `/part #room reason` and `/part reason` (the
/// active room), as IRC clients take it.
fn part(args: &str) -> Result<Command, Refusal> {
    if !args.starts_with('#') {
        return Ok(Command::Part(None, checked_reason(args)?));
    }
    let (room, reason) = match args.find(char::is_whitespace) {
        Some(at) => (&args[..at], args[at..].trim()),
        None => (args, ""),
    };
    Ok(Command::Part(
        Some(checked_room(room)?),
        checked_reason(reason)?,
    ))
}

/// Why one parts or quits, as the server checks it; none if empty.
fn checked_reason(text: &str) -> Result<Option<String>, Refusal> {
    if text.is_empty() {
        return Ok(None);
    }
    validate_reason(text)?;
    Ok(Some(text.to_string()))
}

/// `/who`, `/who #room`, and `/who #room NAME` for the members after
/// `NAME` (the next page of a large room, as the last page said).
fn who(args: &str) -> Result<Command, Refusal> {
    const USAGE: &str = "usage: /who [#room [NAME]]";
    if args.is_empty() {
        return Ok(Command::Who(None, None));
    }
    let (room, after) = match args.find(char::is_whitespace) {
        Some(at) => (&args[..at], Some(unquoted(args[at..].trim()))),
        None => (args, None),
    };
    if !room.starts_with('#') {
        return Err(USAGE.into());
    }
    let after = after
        .filter(|a| !a.is_empty())
        .map(checked_name)
        .transpose()?;
    Ok(Command::Who(Some(checked_room(room)?), after))
}

/// `/topic`, `/topic #room`, `/topic text`, `/topic #room text`: a first
/// word starting with `#` is the room. The text `-delete` clears the topic
/// (as in irssi and WeeChat).
fn topic(args: &str) -> Result<Command, Refusal> {
    let (room, text) = if args.starts_with('#') {
        match args.find(char::is_whitespace) {
            Some(at) => (Some(&args[..at]), args[at..].trim()),
            None => (Some(args), ""),
        }
    } else {
        (None, args)
    };
    let room = room.map(checked_room).transpose()?;
    let text = match text {
        "" => None,
        CLEAR_TOPIC => Some(String::new()),
        text => Some(checked_topic(text)?),
    };
    Ok(Command::Topic { room, text })
}

/// The name a private message goes to and the text after it. A name with
/// spaces in it is quoted: `"Ann Lee" hello`.
fn addressee(args: &str) -> Option<(String, &str)> {
    if let Some(quoted) = args.strip_prefix('"') {
        let end = quoted.find('"')?;
        return Some((quoted[..end].to_string(), quoted[end + 1..].trim()));
    }
    let (name, text) = match args.find(char::is_whitespace) {
        Some(at) => (&args[..at], args[at..].trim()),
        None => (args, ""),
    };
    (!name.is_empty()).then(|| (name.to_string(), text))
}

/// A name, without the quotes it may be given in.
fn unquoted(name: &str) -> &str {
    name.strip_prefix('"')
        .and_then(|n| n.strip_suffix('"'))
        .unwrap_or(name)
}

fn checked_name(name: &str) -> Result<String, Refusal> {
    validate_name(name)?;
    Ok(name.to_string())
}

fn checked_text(text: &str) -> Result<String, Refusal> {
    validate_text(text)?;
    Ok(text.to_string())
}

/// What `/topic` takes for "clear the topic".
const CLEAR_TOPIC: &str = "-delete";

/// A topic as the server checks it (no tab either, unlike a line).
fn checked_topic(text: &str) -> Result<String, Refusal> {
    validate_topic(text)?;
    Ok(text.to_string())
}

/// The room name rules of protocol version 2: `#` and 1–49 more
/// characters, none of them white space, control, invisible or `,`.
fn checked_room(room: &str) -> Result<String, Refusal> {
    let Some(rest) = room.strip_prefix('#') else {
        return Err(format!("room names start with #: try #{room}"));
    };
    let chars = room.chars().count();
    if rest.is_empty() || chars > MAX_ROOM_CHARS {
        return Err(format!(
            "a room name is # and 1 to {} more characters",
            MAX_ROOM_CHARS - 1
        ));
    }
    if rest.contains(',') {
        return Err("room names must not contain ,".into());
    }
    // A character alone passes the name rules exactly when it is not
    // white space, a control or an invisible character: the set room names
    // refuse too. (`validate_room` checks the same set; this keeps the
    // client's own wording of the refusals.)
    let mut buf = [0; 4];
    if rest
        .chars()
        .any(|c| validate_name(c.encode_utf8(&mut buf)).is_err())
    {
        return Err("room names must not contain spaces, control or invisible characters".into());
    }
    Ok(room.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(line: &str) -> Command {
        parse(line).unwrap_or_else(|why| panic!("{line:?} refused: {why}"))
    }

    fn refused(line: &str) -> String {
        parse(line).expect_err(line)
    }

    #[test]
    fn plain_lines_are_said_as_typed() {
        assert_eq!(ok("hello"), Command::Say("hello".into()));
        assert_eq!(ok("  two  spaces "), Command::Say("  two  spaces ".into()));
        assert_eq!(ok("a/b"), Command::Say("a/b".into()));
        assert_eq!(ok(""), Command::Nothing);
        assert_eq!(ok("   "), Command::Nothing);
        assert!(refused("bell \u{7}").contains("control"));
        assert!(refused(&"x".repeat(1001)).contains("1000"));
    }

    #[test]
    fn a_double_slash_says_a_line_starting_with_a_slash() {
        assert_eq!(ok("//shrug"), Command::Say("/shrug".into()));
        assert_eq!(ok("//"), Command::Say("/".into()));
        assert_eq!(ok("///x"), Command::Say("//x".into()));
        assert_eq!(ok("  //me too"), Command::Say("/me too".into()));
    }

    #[test]
    fn unknown_commands_are_refused_by_name() {
        assert_eq!(
            refused("/frobnicate secret"),
            "unknown command /frobnicate; /help lists them"
        );
        assert_eq!(refused("/"), "unknown command /; /help lists them");
        assert_eq!(refused("/ hi"), "unknown command /; /help lists them");
        // A leading space does not make a command a chat line.
        assert!(refused("  /mgs Ann secret").starts_with("unknown command /mgs"));
    }

    #[test]
    fn exit_and_quit_leave() {
        assert_eq!(ok("exit"), Command::Quit(None));
        assert_eq!(ok(" exit "), Command::Quit(None));
        assert_eq!(ok("/quit"), Command::Quit(None));
        assert_eq!(ok("/QUIT bye all"), Command::Quit(Some("bye all".into())));
        assert!(refused(&format!("/quit {}", "x".repeat(301))).contains("300"));
        assert_eq!(ok("exit now"), Command::Say("exit now".into()));
    }

    #[test]
    fn rooms_are_joined_parted_switched_and_listed() {
        assert_eq!(ok("/join #dev"), Command::Join("#dev".into()));
        assert_eq!(ok("/JOIN   #Dev  "), Command::Join("#Dev".into()));
        assert_eq!(ok("/part"), Command::Part(None, None));
        assert_eq!(ok("/part #dev"), Command::Part(Some("#dev".into()), None));
        assert_eq!(
            ok("/part #dev  off to lunch "),
            Command::Part(Some("#dev".into()), Some("off to lunch".into()))
        );
        assert_eq!(ok("/part lunch"), Command::Part(None, Some("lunch".into())));
        assert_eq!(ok("/switch #lobby"), Command::Switch("#lobby".into()));
        assert_eq!(ok("/who"), Command::Who(None, None));
        assert_eq!(ok("/who #dev"), Command::Who(Some("#dev".into()), None));
        assert_eq!(
            ok("/who #dev Ann"),
            Command::Who(Some("#dev".into()), Some("Ann".into()))
        );
        assert_eq!(
            ok("/who #dev \"Ann Lee\""),
            Command::Who(Some("#dev".into()), Some("Ann Lee".into()))
        );
        assert_eq!(ok("/rooms"), Command::Rooms);
        assert_eq!(ok("/help"), Command::Help);
        assert_eq!(refused("/join"), "usage: /join #room");
        assert_eq!(refused("/join #a #b"), "usage: /join #room");
        assert_eq!(refused("/switch"), "usage: /switch #room");
        assert_eq!(refused("/who a b"), "usage: /who [#room [NAME]]");
        assert_eq!(refused("/rooms #dev"), "usage: /rooms");
    }

    #[test]
    fn room_names_follow_the_rules() {
        assert_eq!(refused("/join dev"), "room names start with #: try #dev");
        assert!(refused("/join #").contains("1 to 49"));
        let longest = format!("#{}", "é".repeat(49));
        assert_eq!(ok(&format!("/join {longest}")), Command::Join(longest));
        assert!(refused(&format!("/join #{}", "a".repeat(50))).contains("1 to 49"));
        assert!(refused("/join #a,b").contains(','));
        assert!(refused("/join #a\u{7}").contains("control"));
        assert!(refused("/join #a\u{200b}b").contains("invisible"));
        // White space ends the argument; the room rules refuse it anyway.
        assert_eq!(refused("/switch #a\u{a0}b"), "usage: /switch #room");
        assert!(checked_room("#a\u{a0}b").unwrap_err().contains("spaces"));
        assert!(refused("/part #a\u{7}").contains("control"));
        assert!(refused("/who #").contains("1 to 49"));
    }

    #[test]
    fn private_messages_name_their_addressee() {
        assert_eq!(
            ok("/msg Ann see you at 5"),
            Command::Msg {
                to: "Ann".into(),
                text: "see you at 5".into()
            }
        );
        assert_eq!(
            ok("/MSG \"Léa Ørsted\"   hi"),
            Command::Msg {
                to: "Léa Ørsted".into(),
                text: "hi".into()
            }
        );
        assert_eq!(refused("/msg"), "usage: /msg NAME text");
        assert_eq!(refused("/msg Ann"), "usage: /msg NAME text");
        assert_eq!(refused("/msg \"Ann hi"), "usage: /msg NAME text");
        assert!(refused(&format!("/msg {} hi", "a".repeat(33))).contains("32"));
        assert!(refused("/msg Ann a\u{1b}[2J").contains("control"));
    }

    #[test]
    fn actions_nicks_and_whois() {
        assert_eq!(ok("/me waves"), Command::Me("waves".into()));
        assert_eq!(ok("/me  waves  back"), Command::Me("waves  back".into()));
        assert_eq!(refused("/me"), "usage: /me text");
        assert_eq!(ok("/nick Leonardo"), Command::Nick("Leonardo".into()));
        assert_eq!(ok("/nick Léa Ørsted"), Command::Nick("Léa Ørsted".into()));
        assert_eq!(refused("/nick"), "usage: /nick NAME");
        assert!(refused(&format!("/nick {}", "a".repeat(33))).contains("32"));
        assert!(refused("/nick Leo\u{200b}").contains("invisible"));
        assert_eq!(ok("/whois Ann"), Command::Whois("Ann".into()));
        assert_eq!(ok("/whois \"Ann Lee\""), Command::Whois("Ann Lee".into()));
        assert_eq!(ok("/whois Ann Lee"), Command::Whois("Ann Lee".into()));
        assert_eq!(refused("/whois"), "usage: /whois NAME");
    }

    #[test]
    fn topics_are_asked_for_or_set() {
        let topic = |room: Option<&str>, text: Option<&str>| Command::Topic {
            room: room.map(Into::into),
            text: text.map(Into::into),
        };
        assert_eq!(ok("/topic"), topic(None, None));
        assert_eq!(ok("/topic #dev"), topic(Some("#dev"), None));
        assert_eq!(
            ok("/topic release friday"),
            topic(None, Some("release friday"))
        );
        assert_eq!(
            ok("/topic #dev  release friday "),
            topic(Some("#dev"), Some("release friday"))
        );
        assert!(refused(&format!("/topic {}", "x".repeat(301))).contains("300"));
        assert!(refused("/topic a\u{7}").contains("topic must not contain control"));
        assert!(refused("/topic a\tb").contains("topic must not contain control"));
        assert_eq!(ok("/topic -delete"), topic(None, Some("")));
        assert_eq!(ok("/topic #dev -delete"), topic(Some("#dev"), Some("")));
        assert!(refused("/topic #a,b x").contains(','));
    }
}
