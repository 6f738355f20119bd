//! The cluster keyring: the shared secret keys that seal server-to-server
//! datagrams, read from a key file.
//!
//! # Key file format
//!
//! UTF-8 text, one key per line: 64 hexadecimal digits (32 bytes). Blank
//! lines are ignored, and so is everything from a `#` to the end of a line.
//! The **first** key is the primary: it seals everything this server sends.
//! Every key in the file opens what others send. `chatty keygen` prints a
//! fresh key line.
//!
//! ```text
//! # cluster "lab" — rolled 2026-11-25
//! 9f1c…64 hex digits…e0   # new, primary
//! 41d7…64 hex digits…2b   # old, still accepted
//! ```
//!
//! Each key has a 4-byte [`KeyId`] derived from it (BLAKE2s over a fixed
//! label and the key), sent in clear so a receiver goes straight to the right
//! key. Two keys of one ring may not share an id.
//!
//! This module only parses and checks; it never logs and never touches the
//! network.

use std::fmt;
use std::path::Path;

use blake2::{Blake2s256, Digest};
use chacha20poly1305::aead::rand_core::RngCore;
use chacha20poly1305::aead::OsRng;

/// Bytes in a key.
pub const KEY_LEN: usize = 32;
/// Most keys a ring may hold: a rotation needs two; a few more are slack.
pub const MAX_KEYS: usize = 8;
/// Domain-separation label for key ids, so an id is never a hash of the key
/// that some other protocol might also publish.
const KEY_ID_LABEL: &[u8] = b"chatty cluster key id v1";

/// A key's short public name, carried in every sealed datagram's header.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct KeyId(pub [u8; 4]);

impl fmt::Display for KeyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&to_hex(&self.0))
    }
}

/// One 32-byte secret key and its id.
#[derive(Clone)]
pub struct ClusterKey {
    bytes: [u8; KEY_LEN],
    id: KeyId,
}

impl ClusterKey {
    /// Wraps raw key bytes.
    pub fn from_bytes(bytes: [u8; KEY_LEN]) -> ClusterKey {
        let digest = Blake2s256::new()
            .chain_update(KEY_ID_LABEL)
            .chain_update(bytes)
            .finalize();
        let mut id = [0u8; 4];
        id.copy_from_slice(&digest[..4]);
        ClusterKey {
            bytes,
            id: KeyId(id),
        }
    }

    /// A fresh key from the operating system's random number generator.
    pub fn generate() -> ClusterKey {
        let mut bytes = [0u8; KEY_LEN];
        OsRng.fill_bytes(&mut bytes);
        ClusterKey::from_bytes(bytes)
    }

    /// Parses 64 hex digits.
    pub fn from_hex(text: &str) -> Result<ClusterKey, KeyError> {
        if text.len() != 2 * KEY_LEN {
            return Err(KeyError::Length(text.len()));
        }
        let mut bytes = [0u8; KEY_LEN];
        for (i, pair) in text.as_bytes().chunks_exact(2).enumerate() {
            let hi = hex_digit(pair[0]).ok_or(KeyError::Encoding)?;
            let lo = hex_digit(pair[1]).ok_or(KeyError::Encoding)?;
            bytes[i] = hi << 4 | lo;
        }
        Ok(ClusterKey::from_bytes(bytes))
    }

    /// The key as 64 lowercase hex digits, as a key file holds it.
    pub fn to_hex(&self) -> String {
        to_hex(&self.bytes)
    }

    /// The key's id.
    pub fn id(&self) -> KeyId {
        self.id
    }

    /// The secret bytes.
    pub fn bytes(&self) -> &[u8; KEY_LEN] {
        &self.bytes
    }
}

impl fmt::Debug for ClusterKey {
    /// Never prints the secret.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ClusterKey({})", self.id)
    }
}

/// The keys a server holds: the first seals, all open.
#[derive(Debug, Clone)]
pub struct Keyring {
    keys: Vec<ClusterKey>,
}

impl Keyring {
    /// A ring of `keys`, the first primary. Fails if empty, too many, or two
    /// share an id.
    pub fn new(keys: Vec<ClusterKey>) -> Result<Keyring, KeyError> {
        if keys.is_empty() {
            return Err(KeyError::Empty);
        }
        if keys.len() > MAX_KEYS {
            return Err(KeyError::TooMany(keys.len()));
        }
        for (i, k) in keys.iter().enumerate() {
            if keys[..i].iter().any(|other| other.id == k.id) {
                return Err(KeyError::DuplicateId(k.id));
            }
        }
        Ok(Keyring { keys })
    }

    /// Parses key-file text (see the module docs).
    pub fn parse(text: &str) -> Result<Keyring, KeyError> {
        let mut keys = Vec::new();
        for (n, line) in text.lines().enumerate() {
            let content = line.split('#').next().unwrap_or("").trim();
            if content.is_empty() {
                continue;
            }
            let key = ClusterKey::from_hex(content).map_err(|e| KeyError::Line {
                line: n + 1,
                cause: Box::new(e),
            })?;
            keys.push(key);
        }
        Keyring::new(keys)
    }

    /// Reads and parses a key file. Also returns a warning if other users
    /// may read the file (Unix permissions), for the caller to log.
    pub fn load(path: &Path) -> Result<(Keyring, Option<String>), KeyError> {
        let bytes = std::fs::read(path).map_err(|e| KeyError::Read(e.to_string()))?;
        let text = match String::from_utf8(bytes) {
            Ok(text) if !text.contains('\0') => text,
            Ok(text) => return Err(KeyError::NotText(text.len())),
            Err(err) => return Err(KeyError::NotText(err.as_bytes().len())),
        };
        let ring = Keyring::parse(&text)?;
        Ok((ring, permission_warning(path)))
    }

    /// The key that seals.
    pub fn primary(&self) -> &ClusterKey {
        &self.keys[0]
    }

    /// Every key, primary first.
    pub fn keys(&self) -> &[ClusterKey] {
        &self.keys
    }

    /// The key with this id, if held.
    pub fn get(&self, id: KeyId) -> Option<&ClusterKey> {
        self.keys.iter().find(|k| k.id == id)
    }
}

/// Why a key file was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyError {
    /// The file could not be read.
    #[error("cannot read the key file: {0}")]
    Read(String),
    /// Binary content, such as 32 raw key bytes.
    #[error(
        "the key file is not text ({0} bytes; raw key bytes?): it must hold one key per \
         line as 64 hex digits; `chatty keygen > FILE` makes one"
    )]
    NotText(usize),
    /// No key in the file.
    #[error(
        "the key file holds no key (one line of 64 hex digits per key; `chatty keygen` makes one)"
    )]
    Empty,
    /// More than [`MAX_KEYS`].
    #[error("the key file holds {0} keys; at most {MAX_KEYS} are allowed")]
    TooMany(usize),
    /// A key of the wrong length.
    #[error("a key must be 64 hex digits (32 bytes), found {0} characters")]
    Length(usize),
    /// A non-hex character.
    #[error("a key must be hex digits only (0-9, a-f)")]
    Encoding,
    /// Two keys with one id (in practice: the same key twice).
    #[error("two keys share the id {0}; is a key listed twice?")]
    DuplicateId(KeyId),
    /// A bad line.
    #[error("line {line}: {cause} (`chatty keygen` prints a valid key file)")]
    Line {
        /// 1-based line number.
        line: usize,
        /// What is wrong with it.
        cause: Box<KeyError>,
    },
}

#[cfg(unix)]
fn permission_warning(path: &Path) -> Option<String> {
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(path).ok()?.permissions().mode();
    (mode & 0o077 != 0).then(|| {
        format!(
            "key file {} is readable by other users (mode {:o}); run `chmod 600` on it",
            path.display(),
            mode & 0o777
        )
    })
}

#[cfg(not(unix))]
fn permission_warning(_path: &Path) -> Option<String> {
    None
}

fn hex_digit(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    }
}

fn to_hex(bytes: &[u8]) -> String {
    use fmt::Write;
    bytes.iter().fold(String::new(), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: &str = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f";

    #[test]
    fn hex_round_trip_and_stable_id() {
        let k = ClusterKey::from_hex(A).unwrap();
        assert_eq!(k.to_hex(), A);
        assert_eq!(k.bytes()[31], 0x1f);
        assert_eq!(
            k.id(),
            ClusterKey::from_hex(&A.to_uppercase()).unwrap().id()
        );
        let g = ClusterKey::generate();
        assert_ne!(g.bytes(), k.bytes());
        assert_eq!(ClusterKey::from_hex(&g.to_hex()).unwrap().id(), g.id());
    }

    #[test]
    fn parses_comments_blank_lines_and_order() {
        let b = ClusterKey::generate();
        let text = format!("# ring\n\n  {}  # new\n{A}\n", b.to_hex());
        let ring = Keyring::parse(&text).unwrap();
        assert_eq!(ring.keys().len(), 2);
        assert_eq!(ring.primary().id(), b.id());
        let a = ClusterKey::from_hex(A).unwrap();
        assert!(ring.get(a.id()).is_some());
        assert_eq!(ring.get(a.id()).unwrap().bytes(), a.bytes());
    }

    #[test]
    fn rejects_bad_files_with_the_line() {
        assert_eq!(
            Keyring::parse("# nothing\n\n").unwrap_err(),
            KeyError::Empty
        );
        let short = Keyring::parse(&format!("{A}\nabcd\n")).unwrap_err();
        assert_eq!(
            short.to_string(),
            "line 2: a key must be 64 hex digits (32 bytes), found 4 characters \
             (`chatty keygen` prints a valid key file)"
        );
        let bad = A.replace('0', "g");
        assert!(matches!(
            Keyring::parse(&bad),
            Err(KeyError::Line { line: 1, .. })
        ));
        assert_eq!(
            Keyring::parse(&format!("{A}\n{A}\n")).unwrap_err(),
            KeyError::DuplicateId(ClusterKey::from_hex(A).unwrap().id())
        );
        let many: String = (0..9)
            .map(|_| ClusterKey::generate().to_hex() + "\n")
            .collect();
        assert_eq!(Keyring::parse(&many).unwrap_err(), KeyError::TooMany(9));
    }

    #[test]
    fn debug_never_shows_the_secret() {
        let k = ClusterKey::from_hex(A).unwrap();
        assert!(!format!("{k:?}").contains("0102"));
    }
}
