//! Core NATS text protocol: `CONNECT`, `SUB`, `PUB`, `MSG`, `PING`/`PONG`.
//!
//! Connections send `CONNECT` with `verbose: false` (no `+OK` per command)
//! and end their opening with `PING`: the server answers `PONG` only after
//! it has processed everything before it, so `PONG` confirms the `SUB`.

use bytes::{Buf, BytesMut};

use crate::conn::Event;

pub const SUBJECT: &str = "bench";

pub fn opening(name: &str, subscribe: bool) -> Vec<u8> {
    let mut out = format!(
        "CONNECT {{\"verbose\":false,\"pedantic\":false,\"echo\":true,\"name\":\"{name}\",\"lang\":\"rust\",\"version\":\"0\",\"protocol\":1}}\r\n"
    );
    if subscribe {
        out.push_str(&format!("SUB {SUBJECT} 1\r\n"));
    }
    out.push_str("PING\r\n");
    out.into_bytes()
}

pub fn publish_template(payload: &[u8]) -> (Vec<u8>, usize) {
    let mut out = format!("PUB {SUBJECT} {}\r\n", payload.len()).into_bytes();
    let at = out.len();
    out.extend_from_slice(payload);
    out.extend_from_slice(b"\r\n");
    (out, at)
}

fn line_end(buf: &[u8]) -> Option<usize> {
    buf.windows(2).position(|w| w == b"\r\n")
}

pub fn parse(
    buf: &mut BytesMut,
    _size: usize,
    on: &mut dyn FnMut(Event<'_>),
    reply: &mut Vec<u8>,
) -> Result<(), String> {
    loop {
        let Some(end) = line_end(buf) else {
            if buf.len() > 64 * 1024 {
                return Err("NATS control line too long".into());
            }
            return Ok(());
        };
        let line = &buf[..end];
        if line.starts_with(b"MSG ") {
            // MSG <subject> <sid> [reply-to] <#bytes>
            let size = line
                .rsplit(|&b| b == b' ')
                .next()
                .and_then(|d| std::str::from_utf8(d).ok())
                .and_then(|d| d.parse::<usize>().ok())
                .ok_or_else(|| format!("bad MSG line {:?}", String::from_utf8_lossy(line)))?;
            let total = end + 2 + size + 2;
            if buf.len() < total {
                buf.reserve(total - buf.len());
                return Ok(());
            }
            on(Event::Payload(&buf[end + 2..end + 2 + size]));
            buf.advance(total);
            continue;
        }
        if line == b"PING" {
            reply.extend_from_slice(b"PONG\r\n");
        } else if line == b"PONG" {
            on(Event::Ready);
        } else if line.starts_with(b"-ERR") {
            on(Event::Error(String::from_utf8_lossy(line).into_owned()));
        }
        // INFO and +OK need nothing.
        buf.advance(end + 2);
    }
}
