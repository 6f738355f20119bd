//! Message text between IRC and Chatty: formatting codes removed (Chatty
//! text has no control characters), CTCP ACTION as Chatty's action flag,
//! long lines split to fit IRC's 512 bytes, and IRCv3 `server-time`
//! timestamps. Pure functions.

/// IRC lines are at most this many bytes, CR LF included, tags excluded.
pub const MAX_LINE: usize = 512;

/// What a PRIVMSG or NOTICE text holds, for Chatty.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Said {
    /// Text to say (formatting removed; may be empty).
    Text(String),
    /// A CTCP ACTION (`/me`), its text.
    Action(String),
    /// Another CTCP request or reply (VERSION, PING, …): not for Chatty.
    Ctcp,
}

/// Reads an IRC message text.
pub fn read_said(text: &str) -> Said {
    if let Some(ctcp) = text.strip_prefix('\u{1}') {
        let body = ctcp.strip_suffix('\u{1}').unwrap_or(ctcp);
        return match body.split_once(' ') {
            Some((cmd, rest)) if cmd.eq_ignore_ascii_case("ACTION") => {
                Said::Action(strip_formatting(rest))
            }
            None if body.eq_ignore_ascii_case("ACTION") => Said::Action(String::new()),
            _ => Said::Ctcp,
        };
    }
    Said::Text(strip_formatting(text))
}

/// A PART or QUIT message as Chatty takes it (`part`'s and `leave`'s
/// text): without IRC formatting or other control characters, cut to
/// [`crate::protocol::MAX_REASON_BYTES`] at a character boundary; none if
/// nothing is left.
pub fn chatty_reason(text: Option<&str>) -> Option<String> {
    let mut text: String = strip_formatting(text?)
        .chars()
        .filter(|c| !c.is_control())
        .collect();
    while text.len() > crate::protocol::MAX_REASON_BYTES {
        text.pop();
    }
    let text = text.trim();
    (!text.is_empty()).then(|| text.to_string())
}

/// Removes mIRC formatting (bold, colours with their numbers, hex colours,
/// italics, underline, strike, monospace, reverse, reset) and any other
/// control character but tab, which Chatty refuses in text.
pub fn strip_formatting(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\u{3}' => {
                // ^C[fg[,bg]]: one or two digits each.
                let digits = |chars: &mut std::iter::Peekable<std::str::Chars>| {
                    let mut n = 0;
                    while n < 2 && chars.peek().is_some_and(char::is_ascii_digit) {
                        chars.next();
                        n += 1;
                    }
                    n
                };
                if digits(&mut chars) > 0 && chars.peek() == Some(&',') {
                    let mut ahead = chars.clone();
                    ahead.next();
                    if ahead.peek().is_some_and(char::is_ascii_digit) {
                        chars.next();
                        digits(&mut chars);
                    }
                }
            }
            '\u{4}' => {
                let hex = |chars: &mut std::iter::Peekable<std::str::Chars>| {
                    let mut n = 0;
                    while n < 6 && chars.peek().is_some_and(char::is_ascii_hexdigit) {
                        chars.next();
                        n += 1;
                    }
                    n
                };
                if hex(&mut chars) > 0 && chars.peek() == Some(&',') {
                    chars.next();
                    hex(&mut chars);
                }
            }
            '\t' => out.push(c),
            c if c.is_control() => {}
            c => out.push(c),
        }
    }
    out
}

/// Splits `text` into pieces of at most `budget` bytes, at a space where
/// one is near the end of a piece, else at a character boundary. Never
/// returns an empty list.
pub fn split(text: &str, budget: usize) -> Vec<&str> {
    let mut out = Vec::new();
    let mut rest = text;
    loop {
        let (piece, after) = rest.split_at(next_cut(rest, budget));
        out.push(piece);
        rest = after;
        if rest.is_empty() {
            return out;
        }
    }
}

/// Where the first piece of `text` ends when [`split`] cuts it: all of it
/// if it fits in `budget` bytes.
pub fn next_cut(text: &str, budget: usize) -> usize {
    let budget = budget.max(4);
    if text.len() <= budget {
        return text.len();
    }
    let mut cut = budget;
    while !text.is_char_boundary(cut) {
        cut -= 1;
    }
    // Prefer a space in the last quarter of the piece.
    if let Some(space) = text[..cut].rfind(' ') {
        if space >= cut - cut / 4 && space > 0 {
            cut = space + 1;
        }
    }
    cut
}

/// Unix milliseconds as IRCv3 `server-time` (`2026-12-01T12:00:00.000Z`).
pub fn timestamp(unix_ms: u64) -> String {
    let mut out = Vec::with_capacity(24);
    write_timestamp(&mut out, unix_ms);
    String::from_utf8(out).unwrap_or_default()
}

/// [`timestamp`], written at the end of `out`.
pub fn write_timestamp(out: &mut Vec<u8>, unix_ms: u64) {
    use std::io::Write as _;
    let secs = unix_ms / 1000;
    let (days, rem) = (secs / 86_400, secs % 86_400);
    let (y, m, d) = civil_from_days(days as i64);
    let _ = write!(
        out,
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{:03}Z",
        rem / 3600,
        rem / 60 % 60,
        rem % 60,
        unix_ms % 1000
    );
}

/// Reads a `server-time` timestamp back into Unix milliseconds.
pub fn parse_timestamp(text: &str) -> Option<u64> {
    let b = text.as_bytes();
    if b.len() < 20 || b[4] != b'-' || b[7] != b'-' || b[10] != b'T' || !text.ends_with('Z') {
        return None;
    }
    let num = |r: std::ops::Range<usize>| text.get(r)?.parse::<u64>().ok();
    let (y, m, d) = (num(0..4)?, num(5..7)?, num(8..10)?);
    let (h, min, s) = (num(11..13)?, num(14..16)?, num(17..19)?);
    if !(1..=12).contains(&m) || !(1..=31).contains(&d) || h > 23 || min > 59 || s > 60 {
        return None;
    }
    let ms = match text.get(19..text.len() - 1)? {
        "" => 0,
        frac => {
            let digits = frac.strip_prefix('.')?;
            let padded = format!("{digits:0<3}");
            padded.get(..3)?.parse::<u64>().ok()?
        }
    };
    let days = days_from_civil(y as i64, m as i64, d as i64);
    u64::try_from(days)
        .ok()
        .map(|days| (days * 86_400 + h * 3600 + min * 60 + s) * 1000 + ms)
}

/// Days since 1970-01-01 to (year, month, day), proleptic Gregorian
/// (Howard Hinnant's algorithm).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

/// The inverse of [`civil_from_days`].
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let mp = if m > 2 { m - 3 } else { m + 9 };
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn actions_and_other_ctcp() {
        assert_eq!(
            read_said("\u{1}ACTION waves\u{1}"),
            Said::Action("waves".into())
        );
        assert_eq!(read_said("\u{1}action waves"), Said::Action("waves".into()));
        assert_eq!(read_said("\u{1}VERSION\u{1}"), Said::Ctcp);
        assert_eq!(read_said("hi"), Said::Text("hi".into()));
    }

    #[test]
    fn formatting_is_removed() {
        assert_eq!(
            strip_formatting("\u{2}bold\u{2} \u{3}04,12red\u{3} \u{1d}it\u{f}"),
            "bold red it"
        );
        assert_eq!(strip_formatting("\u{3}1,x"), ",x");
        assert_eq!(strip_formatting("\u{4}ff00aa,000000hex"), "hex");
        assert_eq!(strip_formatting("a\tb\u{7}"), "a\tb");
    }

    #[test]
    fn splits_at_spaces_and_char_boundaries() {
        let text = "word ".repeat(100);
        let pieces = split(&text, 100);
        assert!(pieces.iter().all(|p| p.len() <= 100));
        assert_eq!(pieces.concat(), text);
        let wide = "é".repeat(100);
        let pieces = split(&wide, 51);
        assert!(pieces.iter().all(|p| p.len() <= 51 && !p.is_empty()));
        assert_eq!(pieces.concat(), wide);
        assert_eq!(split("", 10), vec![""]);
    }

    #[test]
    fn timestamps_round_trip() {
        assert_eq!(timestamp(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(timestamp(1_796_126_400_123), "2026-12-01T12:00:00.123Z");
        for ms in [0, 951_782_400_000, 1_796_126_400_123, 4_102_444_800_999] {
            assert_eq!(parse_timestamp(&timestamp(ms)), Some(ms));
        }
        assert_eq!(
            parse_timestamp("2026-12-01T12:00:00Z"),
            Some(1_796_126_400_000)
        );
        assert_eq!(parse_timestamp("garbage"), None);
        assert_eq!(parse_timestamp("2026-13-01T12:00:00.000Z"), None);
    }
}
