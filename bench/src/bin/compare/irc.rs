//! IRC (RFC 2812) as ngIRCd speaks it: `NICK`/`USER`/`JOIN`, `PRIVMSG` to one
//! channel, `PING` answered with `PONG`. End of `NAMES` (366) confirms the join.
//! A relayed `PRIVMSG` ends with the payload as its trailing parameter.

use bytes::{Buf, BytesMut};

use crate::conn::Event;

pub const CHANNEL: &str = "#bench";

/// Longest payload that fits a 512-byte line with the longest prefix a
/// relayed message gets here (`:nick!~user@host PRIVMSG #bench :` + CR LF).
pub const MAX_PAYLOAD: usize = 400;

pub fn opening(name: &str) -> Vec<u8> {
    format!("NICK {name}\r\nUSER {name} 0 * :{name}\r\nJOIN {CHANNEL}\r\n").into_bytes()
}

pub fn publish_template(payload: &[u8]) -> (Vec<u8>, usize) {
    let mut out = format!("PRIVMSG {CHANNEL} :").into_bytes();
    let at = out.len();
    out.extend_from_slice(payload);
    out.extend_from_slice(b"\r\n");
    (out, at)
}

/// The command word of a line (after an optional `:prefix`).
fn command(line: &[u8]) -> &[u8] {
    let rest = if line.first() == Some(&b':') {
        match line.iter().position(|&b| b == b' ') {
            Some(space) => &line[space + 1..],
            None => return b"",
        }
    } else {
        line
    };
    rest.split(|&b| b == b' ').next().unwrap_or_default()
}

pub fn parse(
    buf: &mut BytesMut,
    size: usize,
    on: &mut dyn FnMut(Event<'_>),
    reply: &mut Vec<u8>,
) -> Result<(), String> {
    loop {
        let Some(nl) = buf.iter().position(|&b| b == b'\n') else {
            if buf.len() > 8192 {
                return Err("IRC line too long".into());
            }
            return Ok(());
        };
        let line = &buf[..nl];
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        match command(line) {
            b"PRIVMSG" if size > 0 && line.len() >= size && line[line.len() - size] == b'#' => {
                on(Event::Payload(&line[line.len() - size..]));
            }
            b"PING" => {
                reply.extend_from_slice(b"PONG");
                reply.extend_from_slice(&line[4..]);
                reply.extend_from_slice(b"\r\n");
            }
            b"366" => on(Event::Ready),
            b"ERROR" | b"432" | b"433" | b"437" | b"471" | b"473" | b"474" | b"475" => {
                on(Event::Error(String::from_utf8_lossy(line).into_owned()));
            }
            _ => {}
        }
        buf.advance(nl + 1);
    }
}
