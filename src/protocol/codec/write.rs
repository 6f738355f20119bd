//! MessagePack values written straight onto a buffer, for the frames sent
//! most (a chat line to every member): serde writes every field name of a
//! struct through the generic `io::Write` path, a call per key and value,
//! which cost the server a tenth of its time at fan-out. Each writer here
//! emits the shortest form, as rmp-serde does, so the bytes are the same.

use bytes::{BufMut, BytesMut};

/// A map header of `len` entries.
pub fn map_len(buf: &mut BytesMut, len: u32) {
    match len {
        0..=15 => buf.put_u8(0x80 | len as u8),
        16..=0xffff => {
            buf.put_u8(0xde);
            buf.put_u16(len as u16);
        }
        _ => {
            buf.put_u8(0xdf);
            buf.put_u32(len);
        }
    }
}

/// A string.
pub fn str(buf: &mut BytesMut, s: &str) {
    let len = s.len();
    match len {
        0..=31 => buf.put_u8(0xa0 | len as u8),
        32..=0xff => {
            buf.put_u8(0xd9);
            buf.put_u8(len as u8);
        }
        0x100..=0xffff => {
            buf.put_u8(0xda);
            buf.put_u16(len as u16);
        }
        _ => {
            buf.put_u8(0xdb);
            buf.put_u32(u32::try_from(len).expect("a frame's string fits in 4 GiB"));
        }
    }
    buf.put_slice(s.as_bytes());
}

/// A binary blob of at most 255 bytes (ids).
pub fn bin8(buf: &mut BytesMut, b: &[u8]) {
    buf.put_u8(0xc4);
    buf.put_u8(u8::try_from(b.len()).expect("a short binary"));
    buf.put_slice(b);
}

/// An unsigned integer.
pub fn uint(buf: &mut BytesMut, n: u64) {
    match n {
        0..=0x7f => buf.put_u8(n as u8),
        0x80..=0xff => {
            buf.put_u8(0xcc);
            buf.put_u8(n as u8);
        }
        0x100..=0xffff => {
            buf.put_u8(0xcd);
            buf.put_u16(n as u16);
        }
        0x1_0000..=0xffff_ffff => {
            buf.put_u8(0xce);
            buf.put_u32(n as u32);
        }
        _ => {
            buf.put_u8(0xcf);
            buf.put_u64(n);
        }
    }
}

/// A boolean.
pub fn bool(buf: &mut BytesMut, b: bool) {
    buf.put_u8(if b { 0xc3 } else { 0xc2 });
}

/// Writes a frame's 4-byte length prefix, then the body `body` writes, and
/// fills the prefix in.
pub fn frame(buf: &mut BytesMut, body: impl FnOnce(&mut BytesMut)) {
    let start = buf.len();
    buf.put_u32(0);
    body(buf);
    let body_len =
        u32::try_from(buf.len() - start - super::PREFIX_LEN).expect("a frame under 4 GiB");
    buf[start..start + super::PREFIX_LEN].copy_from_slice(&body_len.to_be_bytes());
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Serialize;

    fn serde_bytes<T: Serialize>(value: &T) -> Vec<u8> {
        rmp_serde::encode::to_vec_named(value).unwrap()
    }

    fn ours(write: impl FnOnce(&mut BytesMut)) -> Vec<u8> {
        let mut buf = BytesMut::new();
        write(&mut buf);
        buf.to_vec()
    }

    #[test]
    fn every_form_is_the_shortest_as_rmp_serde_writes_it() {
        for n in [
            0,
            1,
            0x7f,
            0x80,
            0xff,
            0x100,
            0xffff,
            0x1_0000,
            0xffff_ffff,
            1 << 32,
            u64::MAX,
        ] {
            assert_eq!(ours(|b| uint(b, n)), serde_bytes(&n), "uint {n}");
        }
        for len in [0, 1, 31, 32, 255, 256, 0xffff, 0x1_0000] {
            let s = "é".repeat(len / 2) + &"x".repeat(len % 2);
            assert_eq!(ours(|b| str(b, &s)), serde_bytes(&s), "str of {len} bytes");
        }
        for len in [0u32, 15, 16, 0xffff, 0x1_0000] {
            let map: std::collections::BTreeMap<u32, bool> = (0..len).map(|k| (k, true)).collect();
            let header = ours(|b| map_len(b, len));
            assert_eq!(header, serde_bytes(&map)[..header.len()], "map of {len}");
        }
        let id = crate::protocol::ServerId::from_bytes([9; 16]);
        assert_eq!(ours(|b| bin8(b, id.as_bytes())), serde_bytes(&id));
        assert_eq!(ours(|b| bool(b, true)), serde_bytes(&true));
        assert_eq!(ours(|b| bool(b, false)), serde_bytes(&false));
    }

    #[test]
    fn a_frame_is_prefixed_with_its_body_length() {
        let mut buf = BytesMut::from(&b"before"[..]);
        frame(&mut buf, |b| str(b, "hi"));
        assert_eq!(&buf[..], b"before\0\0\0\x03\xa2hi");
    }
}
