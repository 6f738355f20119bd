//! The naming and text rules, shared by the server (which enforces them) and
//! the client (which checks early to give a faster, friendlier error).

use super::{MAX_NAME_CHARS, MAX_REASON_BYTES, MAX_ROOM_CHARS, MAX_TEXT_BYTES, MAX_TOPIC_BYTES};

/// Checks a requested name against the rules in PROTOCOL.md: 1–32 characters,
/// no control characters, no leading or trailing white space.
pub fn validate_name(name: &str) -> Result<(), String> {
    let chars = name.chars().count();
    if chars == 0 {
        return Err("name must not be empty".into());
    }
    if chars > MAX_NAME_CHARS {
        return Err(format!(
            "name is {chars} characters; at most {MAX_NAME_CHARS} are allowed"
        ));
    }
    if name.chars().any(char::is_control) {
        return Err("name must not contain control characters".into());
    }
    if name.chars().any(is_invisible) {
        return Err("name must not contain invisible or direction-changing characters".into());
    }
    if name.trim() != name {
        return Err("name must not start or end with white space".into());
    }
    Ok(())
}

/// Checks a room name against the rules in PROTOCOL.md: `#` and then 1–49
/// characters (50 in all), no white space, no `,`, no control or invisible
/// characters. Rooms are compared by [`name_key`], like names.
pub fn validate_room(room: &str) -> Result<(), String> {
    let Some(rest) = room.strip_prefix('#') else {
        return Err("a room name starts with #".into());
    };
    let chars = room.chars().count();
    if rest.is_empty() {
        return Err("a room name needs at least one character after #".into());
    }
    if chars > MAX_ROOM_CHARS {
        return Err(format!(
            "room name is {chars} characters; at most {MAX_ROOM_CHARS} are allowed"
        ));
    }
    if room.chars().any(char::is_control) {
        return Err("room name must not contain control characters".into());
    }
    if room.chars().any(is_invisible) {
        return Err("room name must not contain invisible or direction-changing characters".into());
    }
    if room.chars().any(char::is_whitespace) {
        return Err("room name must not contain white space".into());
    }
    if room.contains(',') {
        return Err("room name must not contain ','".into());
    }
    Ok(())
}

/// Checks a topic: at most 300 bytes, no control characters (tab
/// included: a topic is shown on one line). Empty clears the topic.
pub fn validate_topic(topic: &str) -> Result<(), String> {
    if topic.len() > MAX_TOPIC_BYTES {
        return Err(format!(
            "topic is {} bytes; at most {MAX_TOPIC_BYTES} are allowed",
            topic.len()
        ));
    }
    if topic.chars().any(char::is_control) {
        return Err("topic must not contain control characters".into());
    }
    Ok(())
}

/// Checks the text of a `part` or `leave`: at most 300 bytes, no control
/// characters (it is shown on one line, like a topic).
pub fn validate_reason(text: &str) -> Result<(), String> {
    if text.len() > MAX_REASON_BYTES {
        return Err(format!(
            "the reason is {} bytes; at most {MAX_REASON_BYTES} are allowed",
            text.len()
        ));
    }
    if text.chars().any(char::is_control) {
        return Err("the reason must not contain control characters".into());
    }
    Ok(())
}

/// Format characters that render as nothing or reorder text, so that
/// "Leo\u{200b}" or a right-to-left override cannot pose as someone else.
fn is_invisible(c: char) -> bool {
    matches!(c,
        '\u{00ad}' | '\u{034f}' | '\u{061c}' | '\u{115f}' | '\u{1160}' | '\u{17b4}' | '\u{17b5}'
        | '\u{180b}'..='\u{180f}' | '\u{200b}'..='\u{200f}' | '\u{202a}'..='\u{202e}'
        | '\u{2060}'..='\u{206f}' | '\u{3164}' | '\u{fe00}'..='\u{fe0f}' | '\u{feff}'
        | '\u{ffa0}' | '\u{fff0}'..='\u{fff8}')
}

/// The key under which names are unique, cluster-wide: names that look
/// alike are the same name, so nobody can impersonate anyone.
///
/// Compatibility forms are folded first (NFKC: fullwidth `Ｌｅｏ` is `Leo`),
/// then letter case (`LEO` is `leo`), then every character is replaced by
/// its prototype from the Unicode confusables table (UTS #39 skeleton:
/// Cyrillic `Lео` is Latin `Leo`, and so are `Le0` and `1eo`), and case is
/// folded once more because some prototypes are capitals (`0` is `O`).
/// Case goes first so that `Leo` and `leo` stay one name; the price is that
/// a capital `I` and a small `l` stay apart (`Ian`, `lan`), as on IRC.
/// Every server computes keys itself from the names on the wire, so one
/// build's keys agree everywhere.
pub fn name_key(name: &str) -> String {
    use unicode_normalization::UnicodeNormalization;
    use unicode_security::confusable_detection::skeleton;
    let fold = |s: &str| {
        let folded = s.nfkc().collect::<String>().to_lowercase();
        skeleton(&folded).collect::<String>().to_lowercase()
    };
    // A prototype can itself fold further (`%` becomes `°/₀`, whose `₀` is
    // `0`, whose prototype is `O`): fold to a fixed point, so that a key is
    // its own key. A few rounds always reach it.
    let mut key = fold(name);
    for _ in 0..4 {
        let again = fold(&key);
        if again == key {
            break;
        }
        key = again;
    }
    key
}

/// Checks message text: non-empty, at most 1,000 bytes, no control characters
/// except tab (a terminal must never receive escape sequences from a stranger).
pub fn validate_text(text: &str) -> Result<(), String> {
    if text.is_empty() {
        return Err("message text must not be empty".into());
    }
    if text.len() > MAX_TEXT_BYTES {
        return Err(format!(
            "message is {} bytes; at most {MAX_TEXT_BYTES} are allowed",
            text.len()
        ));
    }
    if has_control(text) {
        return Err("message must not contain control characters".into());
    }
    Ok(())
}

/// Whether `text` holds a control character other than tab: C0, DEL or C1.
///
/// A byte scan first: C0 and DEL are single bytes, and C1 (U+0080–U+009F)
/// is encoded as 0xC2 followed by 0x80–0x9F, so text without any byte
/// below 0x20, 0x7F or 0xC2 is clean. Only text with one of those (tab,
/// or a Latin-1 letter such as "é" = C3 A9, does not count) falls back to
/// checking characters. This runs on every chat message.
fn has_control(text: &str) -> bool {
    if !has_suspicious_byte(text.as_bytes()) {
        return false;
    }
    text.chars().any(|c| c.is_control() && c != '\t')
}

/// Whether any byte is below 0x20, 0x7F or 0xC2. Checked 32 bytes at a
/// time without an early exit inside a block, so the compiler can use
/// vector compares (an `any` over single bytes cannot be vectorised and
/// cost ~0.3 µs for a 512-byte message).
fn has_suspicious_byte(bytes: &[u8]) -> bool {
    let suspicious = |b: u8| (b < 0x20) | (b == 0x7f) | (b == 0xc2);
    let mut blocks = bytes.chunks_exact(32);
    for block in &mut blocks {
        if block.iter().fold(false, |hit, &b| hit | suspicious(b)) {
            return true;
        }
    }
    blocks.remainder().iter().any(|&b| suspicious(b))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_block_scan_finds_a_suspicious_byte_anywhere() {
        for len in [1, 31, 32, 33, 64, 100] {
            for at in 0..len {
                for bad in [0x00, 0x1f, 0x7f, 0xc2] {
                    let mut bytes = vec![b'x'; len];
                    bytes[at] = bad;
                    assert!(has_suspicious_byte(&bytes), "len {len}, at {at}, {bad:#x}");
                }
            }
            assert!(!has_suspicious_byte(&vec![b' '; len]));
        }
    }

    #[test]
    fn the_byte_scan_agrees_with_char_is_control_for_every_char() {
        for c in (0..=0x10ffffu32).filter_map(char::from_u32) {
            for text in [c.to_string(), format!("a{c}b"), format!("é{c}\t")] {
                let expected = text.chars().any(|c| c.is_control() && c != '\t');
                assert_eq!(has_control(&text), expected, "U+{:04X}", c as u32);
            }
        }
    }

    #[test]
    fn names() {
        assert!(validate_name("Leo").is_ok());
        assert!(validate_name("Léa Ørsted").is_ok());
        assert!(
            validate_name(&"é".repeat(32)).is_ok(),
            "counted in characters, not bytes"
        );
        assert!(validate_name(&"a".repeat(33)).is_err());
        assert!(validate_name("").is_err());
        assert!(validate_name("a\u{7}b").is_err());
        assert!(validate_name("a\nb").is_err());
        assert!(validate_name("\u{9b}x").is_err(), "C1 control");
        assert!(validate_name(" Leo").is_err());
        assert!(validate_name("Leo ").is_err());
        assert!(validate_name("   ").is_err());
        assert!(validate_name("Leo\u{200b}").is_err(), "zero-width space");
        assert!(
            validate_name("\u{202e}oeL").is_err(),
            "right-to-left override"
        );
        assert!(validate_name("Le\u{feff}o").is_err(), "BOM");
    }

    #[test]
    fn rooms() {
        for good in ["#dev", "#a", "#Dév-2", &format!("#{}", "é".repeat(49))] {
            assert!(validate_room(good).is_ok(), "{good}");
        }
        for bad in [
            "dev",
            "#",
            "",
            &format!("#{}", "x".repeat(50)),
            "#two words",
            "#tab\there",
            "#a,b",
            "#bell\u{7}",
            "#zw\u{200b}sp",
            "#nbsp\u{a0}x",
            " #dev",
        ] {
            assert!(validate_room(bad).is_err(), "{bad:?}");
        }
        assert_eq!(
            name_key("#Dev"),
            name_key("#d\u{435}v"),
            "one room, looked alike"
        );
    }

    #[test]
    fn topics() {
        assert!(validate_topic("").is_ok(), "empty clears");
        assert!(validate_topic("release on Friday").is_ok());
        assert!(validate_topic(&"x".repeat(300)).is_ok());
        assert!(validate_topic(&"x".repeat(301)).is_err());
        assert!(validate_topic(&"é".repeat(151)).is_err(), "limit is bytes");
        assert!(validate_topic("a\tb").is_err());
        assert!(validate_topic("evil \u{1b}[2J").is_err());
    }

    #[test]
    fn reasons() {
        assert!(validate_reason("").is_ok());
        assert!(validate_reason("off to lunch").is_ok());
        assert!(validate_reason(&"x".repeat(300)).is_ok());
        assert!(validate_reason(&"x".repeat(301)).is_err());
        assert!(validate_reason(&"é".repeat(151)).is_err(), "limit is bytes");
        assert!(validate_reason("two\nlines").is_err());
        assert!(
            validate_reason("\u{3}4red").is_err(),
            "IRC colours are controls"
        );
    }

    #[test]
    fn name_keys_fold_case() {
        assert_eq!(name_key("Leo"), name_key("lEO"));
        assert_ne!(name_key("Leo"), name_key("Lea"));
    }

    #[test]
    fn numbered_names_stay_distinct() {
        // Scripts and benchmarks name people `user-123`: digits that look
        // alike (0/O, 1/l) must not make two numbers one name.
        let keys: std::collections::HashSet<String> = (0..20_000)
            .map(|i| name_key(&format!("user-{i}")))
            .collect();
        assert_eq!(keys.len(), 20_000);
    }

    #[test]
    fn look_alike_names_share_a_key() {
        let leo = name_key("Leo");
        for look_alike in [
            "\u{ff2c}\u{ff45}\u{ff4f}", // fullwidth
            "L\u{435}\u{43e}",          // Cyrillic e and o
            "Le0",
            "1eo",
            "LEO",
            "\u{1d40b}eo", // mathematical bold L
        ] {
            assert_eq!(name_key(look_alike), leo, "{look_alike}");
        }
        for different in ["Lea", "Leon", "Lo", "Ann"] {
            assert_ne!(name_key(different), leo, "{different}");
        }
        assert_eq!(name_key("Zoë"), name_key("zoe\u{308}"), "composed or not");
    }

    #[test]
    fn texts() {
        assert!(validate_text("hello").is_ok());
        assert!(validate_text("tab\tok").is_ok());
        assert!(validate_text(&"x".repeat(1000)).is_ok());
        assert!(validate_text(&"x".repeat(1001)).is_err());
        assert!(validate_text(&"é".repeat(501)).is_err(), "limit is bytes");
        assert!(validate_text("").is_err());
        assert!(validate_text("evil \u{1b}[2J").is_err());
        assert!(validate_text("two\nlines").is_err());
    }
}
