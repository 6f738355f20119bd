//! Counters and send times carried in message text as fixed-width ASCII
//! digits, so that a receiver can check order and measure latency without a
//! decoder of its own, and a sender can patch a pre-encoded frame in place.
//!
//! Times are nanoseconds on one clock ([`base`]) that every task of a
//! benchmark shares, so a send time written by one task and read by another
//! needs no clock synchronisation.

use std::sync::OnceLock;
use std::time::Instant;

use anyhow::bail;

use crate::api::{encode_frame, ClientMsg};

/// The instant every timestamp counts from. Call it once before the first
/// message, so that it is fixed before any task reads it.
pub fn base() -> Instant {
    static BASE: OnceLock<Instant> = OnceLock::new();
    *BASE.get_or_init(Instant::now)
}

/// Nanoseconds since [`base`].
pub fn now_ns() -> u64 {
    base().elapsed().as_nanos() as u64
}

/// Writes `value` into `out` as decimal digits, zero-padded to its length
/// (higher digits that do not fit are dropped).
pub fn put_digits(out: &mut [u8], mut value: u64) {
    for slot in out.iter_mut().rev() {
        *slot = b'0' + (value % 10) as u8;
        value /= 10;
    }
}

/// The number in `digits`, or `None` if any byte is not a digit.
pub fn parse_digits(digits: &[u8]) -> Option<u64> {
    digits.iter().try_fold(0u64, |acc, &d| {
        d.is_ascii_digit()
            .then(|| acc.wrapping_mul(10).wrapping_add(u64::from(d - b'0')))
    })
}

/// A message text made of fixed-width digit fields, each followed by a
/// space, then `x` padding up to the message size: `FFFF GGGGGGGGGG xxx…`.
#[derive(Debug, Clone, Copy)]
pub struct Layout {
    /// Each field's width in digits, in order.
    pub widths: &'static [usize],
}

impl Layout {
    /// Where field `i` starts.
    fn at(&self, i: usize) -> usize {
        self.widths[..i].iter().map(|w| w + 1).sum()
    }

    /// The shortest text that holds every field.
    pub fn min_size(&self) -> usize {
        self.at(self.widths.len())
    }

    /// Writes `value` into field `i` of `text`.
    pub fn put(&self, text: &mut [u8], i: usize, value: u64) {
        let at = self.at(i);
        put_digits(&mut text[at..at + self.widths[i]], value);
    }

    /// Every field of `text`, or `None` if it is too short or not digits.
    pub fn parse<const N: usize>(&self, text: &[u8]) -> Option<[u64; N]> {
        if text.len() < self.min_size() || N != self.widths.len() {
            return None;
        }
        let mut out = [0; N];
        for (i, slot) in out.iter_mut().enumerate() {
            let at = self.at(i);
            *slot = parse_digits(&text[at..at + self.widths[i]])?;
        }
        Some(out)
    }

    /// The `send` frame for a `size`-byte text whose fields hold `values`,
    /// and where the text starts in it (the text is the frame's last field,
    /// so it can be patched in place with [`Layout::put`]).
    pub fn send_frame(&self, size: usize, values: &[u64]) -> anyhow::Result<(Vec<u8>, usize)> {
        if size < self.min_size() {
            bail!(
                "a message of {size} B cannot hold its counters (at least {} B)",
                self.min_size()
            );
        }
        let mut text = vec![b'x'; size];
        for (i, &value) in values.iter().enumerate() {
            self.put(&mut text, i, value);
            text[self.at(i) + self.widths[i]] = b' ';
        }
        let text = String::from_utf8(text).expect("ASCII");
        let frame = encode_frame(&ClientMsg::Send {
            text: text.clone(),
            cid: None,
            action: false,
            room: None,
        })
        .to_vec();
        let at = frame.len() - size;
        if &frame[at..] != text.as_bytes() {
            bail!("unexpected encoding of a send frame");
        }
        Ok((frame, at))
    }

    /// Like [`Layout::send_frame`], the `send` also carrying a `cid` (so
    /// that a server with the `ack` feature answers it with `ack`): the
    /// frame, where the text starts, and where the cid's 8 big-endian bytes
    /// are. The cid is always at least [`CID_BASE`], so its encoding keeps
    /// one width (`0xcf` and 8 bytes) and can be overwritten in place.
    pub fn send_frame_with_cid(
        &self,
        size: usize,
        values: &[u64],
    ) -> anyhow::Result<(Vec<u8>, usize, usize)> {
        let (plain, _) = self.send_frame(size, values)?;
        let text = plain[plain.len() - size..].to_vec();
        let frame = encode_frame(&ClientMsg::Send {
            text: String::from_utf8(text.clone()).expect("ASCII"),
            cid: Some(CID_BASE),
            action: false,
            room: None,
        })
        .to_vec();
        // `{type, text, cid}`: the cid's value ends the frame.
        let cid_at = frame.len() - 8;
        let text_at = cid_at - 1 - 4 - size;
        if frame[cid_at - 1] != 0xcf || frame[text_at..text_at + size] != text[..] {
            bail!("unexpected encoding of a send frame with a cid");
        }
        Ok((frame, text_at, cid_at))
    }
}

/// The lowest cid a benchmark sends: above 2^32, so every cid encodes in
/// the same 9 bytes.
pub const CID_BASE: u64 = 1 << 62;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cid_can_be_written_into_the_frame_in_place() {
        let layout = Layout { widths: &[10, 20] };
        let (mut frame, text_at, cid_at) = layout.send_frame_with_cid(64, &[0, 0]).unwrap();
        layout.put(&mut frame[text_at..], 0, 42);
        frame[cid_at..cid_at + 8].copy_from_slice(&(CID_BASE + 7).to_be_bytes());
        match chatty::protocol::decode::<ClientMsg>(&frame[4..]).unwrap() {
            ClientMsg::Send { text, cid, .. } => {
                assert_eq!(cid, Some(CID_BASE + 7));
                assert_eq!(text.len(), 64);
                assert!(text.starts_with("0000000042 "), "{text}");
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn fields_round_trip_through_a_send_frame() {
        let layout = Layout {
            widths: &[4, 10, 20],
        };
        assert_eq!(layout.min_size(), 37);
        let (mut frame, at) = layout.send_frame(64, &[7, 0, 0]).unwrap();
        layout.put(&mut frame[at..], 1, 12_345);
        layout.put(&mut frame[at..], 2, 99);
        assert_eq!(layout.parse(&frame[at..]), Some([7, 12_345, 99]));
        // The last field's space, then padding to the end of the frame.
        assert_eq!(frame[at + 36], b' ');
        assert!(frame.ends_with(&[b'x'; 64 - 37]));
        assert_eq!(layout.parse::<3>(b"12 34"), None);
    }
}
