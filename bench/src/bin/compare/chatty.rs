//! Chatty's client protocol: u32 length-prefixed MessagePack maps.
//!
//! A `message`'s text is its last field, so a benchmark payload is the last
//! `size` bytes of the frame body: no decoding on the hot path. Other frames
//! are told apart by their `type` string (the first key of every map) and
//! decoded only when needed (`ping`, `error`).

use bytes::{Buf, BytesMut};
use chatty_bench::api::{
    decode, encode_frame, ClientMsg, ServerMsg, MAX_SERVER_FRAME, MIN_PROTOCOL_VERSION,
};

use crate::conn::Event;

/// `hello` then `join`. The generator is a version-1 client (it needs
/// nothing of rooms), so it can also measure a server from before version 2
/// beside this one (`BENCH_BASELINE`).
pub fn opening(name: &str) -> Vec<u8> {
    let mut out = encode_frame(&ClientMsg::Hello {
        version: MIN_PROTOCOL_VERSION,
        agent: "compare".into(),
        features: Vec::new(),
    })
    .to_vec();
    out.extend_from_slice(&encode_frame(&ClientMsg::Join { name: name.into() }));
    out
}

/// A `send` frame; the text is the frame's last field.
pub fn publish_template(payload: &[u8]) -> (Vec<u8>, usize) {
    let text = String::from_utf8(payload.to_vec()).expect("payloads are ASCII");
    let frame = encode_frame(&ClientMsg::Send {
        text,
        cid: None,
        action: false,
        room: None,
    })
    .to_vec();
    let at = frame.len() - payload.len();
    (frame, at)
}

/// The `type` of a message body: the map's first value, a short string.
fn kind(body: &[u8]) -> &[u8] {
    // fixmap, fixstr "type", fixstr value
    if body.len() > 6 && &body[1..6] == b"\xa4type" && body[6] & 0xe0 == 0xa0 {
        let len = usize::from(body[6] & 0x1f);
        return body.get(7..7 + len).unwrap_or_default();
    }
    b""
}

pub fn parse(
    buf: &mut BytesMut,
    size: usize,
    on: &mut dyn FnMut(Event<'_>),
    reply: &mut Vec<u8>,
) -> Result<(), String> {
    while buf.len() >= 4 {
        let len = u32::from_be_bytes([buf[0], buf[1], buf[2], buf[3]]) as usize;
        if len == 0 || len > MAX_SERVER_FRAME {
            return Err(format!("bad frame length {len}"));
        }
        if buf.len() < 4 + len {
            buf.reserve(4 + len - buf.len());
            return Ok(());
        }
        let body = &buf[4..4 + len];
        match kind(body) {
            b"message" if size > 0 && len >= size && body[len - size] == b'#' => {
                on(Event::Payload(&body[len - size..]));
            }
            b"welcome" => on(Event::Ready),
            b"ping" => {
                if let Ok(ServerMsg::Ping { nonce }) = decode::<ServerMsg>(body) {
                    reply.extend_from_slice(&encode_frame(&ClientMsg::Pong { nonce }));
                }
            }
            b"error" | b"shutdown" => {
                // `error 240 too_slow: …`: the code's number and name, so
                // that the loss tables can count evictions by cause.
                match decode::<ServerMsg>(body) {
                    Ok(ServerMsg::Error { fatal: false, .. }) => {}
                    Ok(ServerMsg::Error { code, text, .. }) => {
                        on(Event::Error(format!("error {code}: {text}")))
                    }
                    Ok(ServerMsg::Shutdown { reason, .. }) => {
                        on(Event::Error(format!("shutdown: {reason}")))
                    }
                    Ok(other) => on(Event::Error(format!("{other:?}"))),
                    Err(e) => on(Event::Error(format!("undecodable {e}"))),
                }
            }
            _ => {}
        }
        buf.advance(4 + len);
    }
    Ok(())
}
