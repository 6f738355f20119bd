//! Chatty names as IRC nicks, and back: a deterministic, collision-free
//! mapping (IRC.md, "Names").
//!
//! A Chatty name may hold spaces and any Unicode; an IRC nick here is
//! ASCII letters, digits and `[]\`_^{|}-`, not starting with a digit or
//! `-`. A name that is already such a nick and has no `^` is its own nick.
//! Otherwise every character that cannot stand where it is — and every
//! `^` — is written `^` + its code point in lower-case hex + `^`: `Ann Lee`
//! is `Ann^20^Lee`, `José` is `Jos^e9^`, `1eo` is `^31^eo`. Decoding
//! reverses it, so the mapping is one-to-one, and two names whose nicks are
//! equal under IRC's ASCII case folding are equal under Chatty's folding
//! too, which never lets both be held: no two members ever show one nick.

use std::fmt::Write as _;

/// The escape character of the mapping.
const ESCAPE: char = '^';

/// Whether `c` may appear in a nick (anywhere but first, for digits and `-`).
fn nick_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || "[]\\`_^{|}-".contains(c)
}

/// Whether `c` may start a nick.
fn nick_start(c: char) -> bool {
    nick_char(c) && !c.is_ascii_digit() && c != '-'
}

/// The IRC nick for a Chatty name, borrowed when the name is its own nick
/// (nearly always): the message path formats a sender per line.
pub fn as_nick(name: &str) -> std::borrow::Cow<'_, str> {
    let plain = name.chars().enumerate().all(|(i, c)| {
        let fits = if i == 0 { nick_start(c) } else { nick_char(c) };
        fits && c != ESCAPE
    });
    if plain {
        std::borrow::Cow::Borrowed(name)
    } else {
        std::borrow::Cow::Owned(to_nick(name))
    }
}

/// The IRC nick for a Chatty name.
pub fn to_nick(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    for (i, c) in name.chars().enumerate() {
        let fits = if i == 0 { nick_start(c) } else { nick_char(c) };
        if fits && c != ESCAPE {
            out.push(c);
        } else {
            let _ = write!(out, "{ESCAPE}{:x}{ESCAPE}", c as u32);
        }
    }
    out
}

/// The Chatty name a nick stands for, or `None` if it is not a nick this
/// mapping writes (a character outside the nick set, a broken or
/// unnecessary escape): such a nick is erroneous (432) or nobody's (401).
pub fn from_nick(nick: &str) -> Option<String> {
    let mut out = String::with_capacity(nick.len());
    let mut rest = nick;
    while let Some(c) = rest.chars().next() {
        if c == ESCAPE {
            let end = rest[1..].find(ESCAPE)? + 1;
            let hex = &rest[1..end];
            if hex.is_empty() || hex.len() > 6 || hex.starts_with('0') && hex.len() > 1 {
                return None;
            }
            let code = u32::from_str_radix(hex, 16).ok()?;
            out.push(char::from_u32(code)?);
            rest = &rest[end + 1..];
        } else {
            if !nick_char(c) {
                return None;
            }
            out.push(c);
            rest = &rest[c.len_utf8()..];
        }
    }
    // Only the canonical spelling decodes: `^41^nn` is not `Ann`'s nick.
    (!out.is_empty() && to_nick(&out).eq_ignore_ascii_case(nick)).then_some(out)
}

/// IRC's `ascii` case mapping, for comparing nicks and channels locally.
pub fn fold(s: &str) -> String {
    s.to_ascii_lowercase()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_nicks_are_themselves() {
        for name in ["Leo", "ann_lee", "x[1]", "a-b", "{pipe}|`"] {
            assert_eq!(to_nick(name), name);
            assert_eq!(from_nick(name).as_deref(), Some(name));
        }
    }

    #[test]
    fn other_names_are_escaped_and_come_back() {
        for (name, nick) in [
            ("Ann Lee", "Ann^20^Lee"),
            ("José", "Jos^e9^"),
            ("1eo", "^31^eo"),
            ("-x", "^2d^x"),
            ("a^b", "a^5e^b"),
            ("李", "^674e^"),
            ("🙂", "^1f642^"),
        ] {
            assert_eq!(to_nick(name), nick);
            assert_eq!(from_nick(nick).as_deref(), Some(name));
        }
    }

    #[test]
    fn broken_or_needless_escapes_are_nobodys() {
        for nick in [
            "a^", "a^zz^", "^41^nn", "^^", "a b", "a,b", "é", "", "^0041^", "^110000^",
        ] {
            assert_eq!(from_nick(nick), None, "{nick}");
        }
        // Hex is read in either case, as IRC folds case.
        assert_eq!(from_nick("Jos^E9^").as_deref(), Some("José"));
    }

    #[test]
    fn the_mapping_is_one_to_one_on_many_names() {
        use std::collections::HashMap;
        let mut seen: HashMap<String, String> = HashMap::new();
        let alphabet = ['a', 'B', ' ', '^', '1', '-', 'é', '_', '李'];
        for a in alphabet {
            for b in alphabet {
                for c in alphabet {
                    let name: String = [a, b, c].iter().collect();
                    let nick = to_nick(&name);
                    assert_eq!(from_nick(&nick).as_deref(), Some(name.as_str()));
                    if let Some(other) = seen.insert(nick.clone(), name.clone()) {
                        panic!("{other:?} and {name:?} share {nick}");
                    }
                }
            }
        }
    }
}
