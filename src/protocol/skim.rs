//! A non-recursive MessagePack shape check, run before serde sees a body.
//!
//! serde's buffering of internally tagged enums recurses once per nesting
//! level, so 60 KB of nested one-element arrays overflow the stack. This
//! scanner walks the body with an explicit counter stack, in time linear in
//! its length, and rejects anything deeper than a protocol message can be,
//! malformed, or followed by trailing bytes. Only then is the body decoded.

/// Why a body failed the shape check.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ShapeError {
    /// The body ends in the middle of a value.
    #[error("truncated MessagePack value")]
    Truncated,
    /// Byte 0xc1, which MessagePack never uses.
    #[error("invalid MessagePack marker 0x{0:02x}")]
    InvalidMarker(u8),
    /// Containers nested deeper than the limit.
    #[error("nesting deeper than {0} levels")]
    TooDeep(usize),
    /// Bytes follow the first complete value.
    #[error("{0} unexpected bytes after the message")]
    Trailing(usize),
}

/// Checks that `body` is exactly one well-formed MessagePack value whose
/// containers nest at most `max_depth` levels.
pub fn check_shape(body: &[u8], max_depth: usize) -> Result<(), ShapeError> {
    // Each entry: how many values the open container still expects.
    let mut pending: Vec<u64> = vec![1];
    let mut pos = 0usize;
    while let Some(top) = pending.last_mut() {
        if *top == 0 {
            pending.pop();
            continue;
        }
        *top -= 1;
        let (header, children) = item(body, pos)?;
        pos = pos.checked_add(header).ok_or(ShapeError::Truncated)?;
        if pos > body.len() {
            return Err(ShapeError::Truncated);
        }
        if children > 0 {
            if pending.len() > max_depth {
                return Err(ShapeError::TooDeep(max_depth));
            }
            pending.push(children);
        }
    }
    if pos < body.len() {
        return Err(ShapeError::Trailing(body.len() - pos));
    }
    Ok(())
}

/// Reads the value starting at `pos`: returns the bytes it occupies itself
/// (marker, length and payload) and how many child values follow it.
fn item(body: &[u8], pos: usize) -> Result<(usize, u64), ShapeError> {
    let marker = *body.get(pos).ok_or(ShapeError::Truncated)?;
    let len_at = |width: usize| -> Result<u64, ShapeError> {
        let bytes = body
            .get(pos + 1..pos + 1 + width)
            .ok_or(ShapeError::Truncated)?;
        Ok(bytes.iter().fold(0u64, |acc, b| (acc << 8) | u64::from(*b)))
    };
    let payload = |width: usize| -> Result<(usize, u64), ShapeError> {
        let len = usize::try_from(len_at(width)?).map_err(|_| ShapeError::Truncated)?;
        Ok((1 + width + len, 0))
    };
    Ok(match marker {
        0x00..=0x7f | 0xe0..=0xff | 0xc0 | 0xc2 | 0xc3 => (1, 0),
        0x80..=0x8f => (1, 2 * u64::from(marker & 0x0f)),
        0x90..=0x9f => (1, u64::from(marker & 0x0f)),
        0xa0..=0xbf => (1 + usize::from(marker & 0x1f), 0),
        0xc1 => return Err(ShapeError::InvalidMarker(marker)),
        0xc4 | 0xd9 => payload(1)?,
        0xc5 | 0xda => payload(2)?,
        0xc6 | 0xdb => payload(4)?,
        // ext 8/16/32: length, then a type byte, then the payload
        0xc7 => (payload(1)?.0 + 1, 0),
        0xc8 => (payload(2)?.0 + 1, 0),
        0xc9 => (payload(4)?.0 + 1, 0),
        0xca => (5, 0),
        0xcb => (9, 0),
        0xcc | 0xd0 => (2, 0),
        0xcd | 0xd1 => (3, 0),
        0xce | 0xd2 => (5, 0),
        0xcf | 0xd3 => (9, 0),
        // fixext 1/2/4/8/16: type byte plus payload
        0xd4 => (3, 0),
        0xd5 => (4, 0),
        0xd6 => (6, 0),
        0xd7 => (10, 0),
        0xd8 => (18, 0),
        0xdc => (3, len_at(2)?),
        0xdd => (5, len_at(4)?),
        0xde => (3, 2 * len_at(2)?),
        0xdf => (5, 2 * len_at(4)?),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn encode(value: &rmpv::Value) -> Vec<u8> {
        let mut out = Vec::new();
        rmpv::encode::write_value(&mut out, value).unwrap();
        out
    }

    #[test]
    fn accepts_every_kind_of_value() {
        use rmpv::Value;
        let value = Value::Map(vec![
            (Value::from("nil"), Value::Nil),
            (Value::from("bool"), Value::Boolean(true)),
            (Value::from("neg"), Value::from(-5)),
            (Value::from("u64"), Value::from(u64::MAX)),
            (Value::from("i64"), Value::from(i64::MIN)),
            (Value::from("f32"), Value::F32(1.5)),
            (Value::from("f64"), Value::F64(2.5)),
            (Value::from("str"), Value::from("x".repeat(300))),
            (Value::from("bin"), Value::Binary(vec![1; 70_000])),
            (Value::from("ext"), Value::Ext(3, vec![1; 4])),
            (Value::from("ext8"), Value::Ext(3, vec![1; 5])),
            (
                Value::from("arr"),
                Value::Array((0..20).map(Value::from).collect()),
            ),
        ]);
        check_shape(&encode(&value), 4).unwrap();
    }

    #[test]
    fn rejects_depth_truncation_and_trailing_bytes() {
        assert_eq!(check_shape(&[0x91; 100], 16), Err(ShapeError::TooDeep(16)));
        let mut ok = vec![0x91; 15];
        ok.push(0x01);
        check_shape(&ok, 16).unwrap();
        assert_eq!(check_shape(&[0x92, 0x01], 4), Err(ShapeError::Truncated));
        assert_eq!(
            check_shape(&[0xdd, 0xff, 0xff, 0xff, 0xff], 4),
            Err(ShapeError::Truncated)
        );
        assert_eq!(
            check_shape(&[0xdb, 0xff, 0xff, 0xff, 0xff], 4),
            Err(ShapeError::Truncated)
        );
        assert_eq!(
            check_shape(&[0xc1], 4),
            Err(ShapeError::InvalidMarker(0xc1))
        );
        assert_eq!(check_shape(&[0x01, 0x02], 4), Err(ShapeError::Trailing(1)));
        assert_eq!(check_shape(&[], 4), Err(ShapeError::Truncated));
    }

    #[test]
    fn never_panics_on_any_short_input() {
        // Every 1- and 2-byte input, and 3-byte inputs for every marker.
        for a in 0..=255u8 {
            let _ = check_shape(&[a], 8);
            for b in 0..=255u8 {
                let _ = check_shape(&[a, b], 8);
                let _ = check_shape(&[a, b, 0xff], 8);
            }
        }
    }
}
