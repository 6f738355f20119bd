//! Redis pub/sub over RESP: `SUBSCRIBE` on receiving connections, `PUBLISH`
//! on separate sending connections (a subscribed connection may not
//! publish). A subscriber's push is `*3 $7 message $<channel> $<payload>`;
//! a publisher's reply is `:<receivers>`.

use bytes::{Buf, BytesMut};

use crate::conn::Event;

pub const CHANNEL: &str = "bench";

pub fn opening(subscribe: bool) -> Vec<u8> {
    if subscribe {
        format!("SUBSCRIBE {CHANNEL}\r\n").into_bytes()
    } else {
        b"PING\r\n".to_vec()
    }
}

pub fn publish_template(payload: &[u8]) -> (Vec<u8>, usize) {
    let mut out = format!(
        "*3\r\n$7\r\nPUBLISH\r\n${}\r\n{CHANNEL}\r\n${}\r\n",
        CHANNEL.len(),
        payload.len()
    )
    .into_bytes();
    let at = out.len();
    out.extend_from_slice(payload);
    out.extend_from_slice(b"\r\n");
    (out, at)
}

/// One RESP item: a line (`+`, `-`, `:`) or a bulk string, as a range of the buffer.
enum Item {
    Line(usize, usize),
    Bulk(usize, usize),
    Array(usize),
}

/// Parses the item header at `pos`; `None` if incomplete. Returns the item
/// and the position after it (after the array header for arrays).
fn item(buf: &[u8], pos: usize) -> Result<Option<(Item, usize)>, String> {
    let Some(rel) = buf[pos..].windows(2).position(|w| w == b"\r\n") else {
        return Ok(None);
    };
    let line_end = pos + rel;
    let number = || -> Result<i64, String> {
        std::str::from_utf8(&buf[pos + 1..line_end])
            .ok()
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| "bad RESP length".to_string())
    };
    match buf.get(pos) {
        Some(b'+' | b'-' | b':') => Ok(Some((Item::Line(pos, line_end), line_end + 2))),
        Some(b'$') => {
            let len = number()?;
            if len < 0 {
                return Ok(Some((Item::Bulk(0, 0), line_end + 2)));
            }
            let start = line_end + 2;
            let end = start + len as usize;
            if buf.len() < end + 2 {
                return Ok(None);
            }
            Ok(Some((Item::Bulk(start, end), end + 2)))
        }
        Some(b'*') => Ok(Some((Item::Array(number()?.max(0) as usize), line_end + 2))),
        Some(other) => Err(format!("unexpected RESP byte {other:#04x}")),
        None => Ok(None),
    }
}

pub fn parse(
    buf: &mut BytesMut,
    _size: usize,
    on: &mut dyn FnMut(Event<'_>),
    _reply: &mut Vec<u8>,
) -> Result<(), String> {
    loop {
        let Some((top, mut pos)) = item(buf, 0)? else {
            return Ok(());
        };
        match top {
            Item::Line(start, end) => {
                let line = &buf[start..end];
                match line.first() {
                    Some(b'-') => on(Event::Error(String::from_utf8_lossy(line).into_owned())),
                    Some(b'+') => on(Event::Ready), // +PONG
                    _ => {}                         // :<receivers>
                }
            }
            Item::Bulk(..) => {}
            Item::Array(count) => {
                // Push messages: ["message", channel, payload] or
                // ["subscribe", channel, count]; elements are never nested.
                let mut parts = [(0usize, 0usize); 3];
                for i in 0..count {
                    let Some((part, next)) = item(buf, pos)? else {
                        return Ok(());
                    };
                    if let (Some(slot), Item::Bulk(s, e) | Item::Line(s, e)) =
                        (parts.get_mut(i), part)
                    {
                        *slot = (s, e);
                    }
                    pos = next;
                }
                let kind = &buf[parts[0].0..parts[0].1];
                if kind == b"message" && count == 3 {
                    on(Event::Payload(&buf[parts[2].0..parts[2].1]));
                } else if kind == b"subscribe" {
                    on(Event::Ready);
                }
            }
        }
        buf.advance(pos);
    }
}
