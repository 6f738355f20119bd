//! The client protocol's receive path, as the server session and the client
//! library run it: a [`FrameDecoder`] fed by a socket that returns arbitrary
//! chunks, then [`decode`] (shape check, MessagePack, explanation of errors).
//!
//! Input layout: `[mode, seed_lo, seed_hi, stream…]`. Bit 0 of `mode` picks
//! the direction (0 = client→server, 1 = server→client); bits 1–2 pick the
//! largest chunk (1, 7, 64 or 4096 bytes); the seed drives the chunk sizes.

use bytes::BytesMut;
use chatty::client::render::render;
use chatty::protocol::validate::{name_key, validate_name, validate_text};
use chatty::protocol::{
    decode, encode_frame, ClientMsg, DecodeError, FrameDecoder, FrameError, ServerMsg,
    MAX_CLIENT_FRAME, MAX_SERVER_FRAME,
};
use tokio_util::codec::Decoder;

/// Which end of a connection is reading.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reader {
    /// A server session reading `ClientMsg`s.
    Server,
    /// The client library reading `ServerMsg`s.
    Client,
}

/// Builds an input for [`run`] (used by the seed generator).
pub fn input(reader: Reader, max_chunk_sel: u8, seed: u16, stream: &[u8]) -> Vec<u8> {
    let mode = u8::from(reader == Reader::Client) | ((max_chunk_sel & 3) << 1);
    let mut out = vec![mode, seed as u8, (seed >> 8) as u8];
    out.extend_from_slice(stream);
    out
}

/// The fuzz target body.
pub fn run(data: &[u8]) {
    let [mode, lo, hi, stream @ ..] = data else {
        return;
    };
    let reader = if mode & 1 == 0 {
        Reader::Server
    } else {
        Reader::Client
    };
    let max_chunk = [1, 7, 64, 4096][usize::from((mode >> 1) & 3)];
    let max = match reader {
        Reader::Server => MAX_CLIENT_FRAME,
        Reader::Client => MAX_SERVER_FRAME,
    };
    let mut rng = fastrand::Rng::with_seed(u64::from(u16::from_le_bytes([*lo, *hi])));
    let chunked = split(stream, max, |left| rng.usize(1..=max_chunk.min(left)));
    // Framing must not depend on how the socket happened to chunk the bytes.
    let whole = split(stream, max, |left| left);
    assert_eq!(chunked, whole, "framing depends on chunking");
    for body in &chunked.0 {
        match reader {
            Reader::Server => server_handles(body),
            Reader::Client => client_handles(body),
        }
    }
}

/// What a stream splits into: the frame bodies, then how it ended.
#[derive(Debug, PartialEq, Eq)]
pub struct Split(pub Vec<Vec<u8>>, pub Ending);

/// How a stream ended.
#[derive(Debug, PartialEq, Eq)]
pub enum Ending {
    /// At a frame boundary.
    Clean,
    /// With a framing error (`TooLarge` keeps its announced length).
    Error(String),
}

/// Runs the decoder as `FramedRead` does: after each read, decode until it
/// wants more; at end of stream, `decode_eof` until it has nothing. The first
/// error ends the connection.
pub fn split(stream: &[u8], max: usize, mut next_chunk: impl FnMut(usize) -> usize) -> Split {
    let mut decoder = FrameDecoder::new(max);
    let mut buf = BytesMut::new();
    let mut frames = Vec::new();
    let mut rest = stream;
    while !rest.is_empty() {
        let (chunk, tail) = rest.split_at(next_chunk(rest.len()).clamp(1, rest.len()));
        rest = tail;
        buf.extend_from_slice(chunk);
        loop {
            match decoder.decode(&mut buf) {
                Ok(Some(frame)) => frames.push(check_frame(frame, max)),
                Ok(None) => break,
                Err(err) => return Split(frames, ending(err)),
            }
        }
    }
    loop {
        match decoder.decode_eof(&mut buf) {
            Ok(Some(frame)) => frames.push(check_frame(frame, max)),
            Ok(None) => return Split(frames, Ending::Clean),
            Err(err) => return Split(frames, ending(err)),
        }
    }
}

fn check_frame(frame: BytesMut, max: usize) -> Vec<u8> {
    assert!(
        !frame.is_empty() && frame.len() <= max,
        "frame size out of bounds"
    );
    frame.to_vec()
}

fn ending(err: FrameError) -> Ending {
    // Every framing error either has a code for the peer or ends silently.
    let _ = err.code();
    Ending::Error(err.to_string())
}

/// What a server session does with a frame body before touching the room.
fn server_handles(body: &[u8]) {
    match decode::<ClientMsg>(body) {
        Ok(msg) => {
            round_trips(&msg);
            match &msg {
                ClientMsg::Join { name } | ClientMsg::Rejoin { name, .. }
                    if validate_name(name).is_ok() =>
                {
                    accepted_name(name)
                }
                ClientMsg::Send { text, .. } if validate_text(text).is_ok() => accepted_text(text),
                _ => {}
            }
        }
        Err(err) => explained(&err),
    }
}

/// What the client library does with a frame body: decode, skip unknown
/// types, and render for the terminal.
fn client_handles(body: &[u8]) {
    match decode::<ServerMsg>(body) {
        Ok(msg) => {
            round_trips(&msg);
            let _ = msg.is_unsolicited();
            for line in render(&msg, "Leo") {
                assert!(
                    !line.chars().any(|c| c.is_control() && c != '\t'),
                    "a server made the terminal print a control character: {line:?}"
                );
            }
        }
        Err(err) => explained(&err),
    }
}

/// The naming rules promise these of every accepted name.
pub fn accepted_name(name: &str) {
    let chars = name.chars().count();
    assert!((1..=chatty::protocol::MAX_NAME_CHARS).contains(&chars));
    assert!(!name.chars().any(char::is_control));
    assert_eq!(name.trim(), name);
    for bidi in ['\u{202e}', '\u{200b}', '\u{feff}', '\u{2066}'] {
        assert!(!name.contains(bidi), "accepted an invisible character");
    }
    let key = name_key(name);
    assert_eq!(name_key(&key), key, "name_key must be idempotent");
}

/// The text rules promise these of every accepted text.
pub fn accepted_text(text: &str) {
    assert!(!text.is_empty() && text.len() <= chatty::protocol::MAX_TEXT_BYTES);
    assert!(!text.chars().any(|c| c.is_control() && c != '\t'));
}

fn explained(err: &DecodeError) {
    let _ = err.code();
    let _ = err.to_string();
}

/// Anything decoded re-encodes to something that decodes to the same value.
fn round_trips<T>(msg: &T)
where
    T: serde::Serialize + serde::de::DeserializeOwned + PartialEq + std::fmt::Debug,
{
    let frame = encode_frame(msg);
    let again: T = decode(&frame[4..]).expect("a re-encoded message must decode");
    assert_eq!(&again, msg, "decode∘encode is not the identity");
}
