//! What the terminal shows of text from the network: every line the client
//! prints passes its strangers' text through [`clean`].

/// Replaces control characters so that nothing a server or another user
/// sends can move the cursor, clear the screen or forge extra lines.
pub fn clean(s: &str) -> String {
    s.chars()
        .map(|c| {
            if c.is_control() && c != '\t' {
                '\u{fffd}'
            } else {
                c
            }
        })
        .collect()
}
