//! Sealing: authenticated encryption of whole datagrams with the cluster
//! key, between the transport and the envelope decoder.
//!
//! A sealed datagram carries a complete plain envelope (see [`envelope`])
//! encrypted with XChaCha20-Poly1305:
//!
//! ```text
//! offset  size  field                                   in clear, authenticated
//! 0       4     magic "CHTY"                            yes
//! 4       1     envelope version (1)                    yes
//! 5       1     kind 0x80 = sealed                      yes
//! 6       4     key id of the sealing key               yes
//! 10      16    sender session id (random per process)  yes
//! 26      8     datagram counter, u64 big-endian, ≥ 1   yes
//! 34      8     send time, ms since the Unix epoch, BE  yes
//! 42      n     ciphertext of the plain envelope        encrypted
//! 42+n    16    Poly1305 tag
//! ```
//!
//! The 42-byte header is the associated data; the nonce is bytes 10..34
//! (session ‖ counter). A session id is 128 random bits and its counter never
//! repeats, so a (key, nonce) pair is never reused, even across restarts and
//! servers. XChaCha20's 24-byte nonce is what makes a random 128-bit prefix
//! safe; ChaCha20-Poly1305's 12-byte nonce would leave 4 random bytes, which
//! collide after some tens of thousands of restarts.
//!
//! Receiving, in this order: header shape; key id known (no trial
//! decryption — an unknown id is dropped unopened); tag; freshness (send time
//! within the tolerance of this server's clock, and not before this server
//! started); replay window; cluster name inside. Only then is the plain
//! envelope handed on. Every refusal is counted in [`SealStats`] and nothing
//! panics.
//!
//! [`Sealer`] does no I/O and reads no clock: the caller passes the time and
//! does the logging; only the session id comes from the operating system's
//! random source. [`Gate::new`] takes the start time from its caller too.
//!
//! [`envelope`]: crate::wire::envelope

use std::borrow::Cow;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;

use chacha20poly1305::aead::rand_core::RngCore;
use chacha20poly1305::aead::{AeadInPlace, KeyInit, OsRng};
use chacha20poly1305::{Tag, XChaCha20Poly1305, XNonce};

pub mod keyring;
pub mod replay;

pub use keyring::{ClusterKey, KeyError, KeyId, Keyring};

use crate::wire::{envelope, MAGIC, MAX_DATAGRAM, SEAL_OVERHEAD, VERSION};
use replay::{ReplayError, Senders, SessionId};

/// The kind byte of a sealed datagram (no plain kind has the top bit set).
pub const SEALED_KIND: u8 = 0x80;
/// The clear header, all of it associated data.
pub const HEADER_LEN: usize = 42;
/// The Poly1305 tag.
pub const TAG_LEN: usize = 16;
/// Bytes sealing adds to a plain envelope. Plain envelopes are built to fit
/// [`MAX_DATAGRAM`] minus this, keyed or not, so sealing never overflows.
pub const OVERHEAD: usize = HEADER_LEN + TAG_LEN;
// The size budget in `wire` reserves exactly this much.
const _: () = assert!(OVERHEAD == SEAL_OVERHEAD);
/// Default freshness tolerance: how far a sender's clock may be from ours.
pub const DEFAULT_MAX_CLOCK_SKEW: Duration = Duration::from_secs(60);
/// Default most sender sessions tracked for replay rejection.
pub const DEFAULT_MAX_SENDERS: usize = 4096;

/// How a cluster seals its traffic.
#[derive(Debug, Clone)]
pub struct SealConfig {
    /// The keys: the first seals, all open.
    pub keyring: Arc<Keyring>,
    /// A datagram whose send time is further than this from the receiver's
    /// clock is refused as stale. Servers' clocks must agree this well.
    pub max_clock_skew: Duration,
    /// Most sender sessions whose replay windows are kept at once.
    pub max_senders: usize,
    /// New keyrings to switch to while running (`chatty server` sends one
    /// when SIGHUP reloads the key file). The session, counter and replay
    /// windows carry over.
    pub updates: Option<watch::Receiver<Arc<Keyring>>>,
}

impl SealConfig {
    /// Default limits around `keyring`.
    pub fn new(keyring: Keyring) -> SealConfig {
        SealConfig {
            keyring: Arc::new(keyring),
            max_clock_skew: DEFAULT_MAX_CLOCK_SKEW,
            max_senders: DEFAULT_MAX_SENDERS,
            updates: None,
        }
    }
}

/// Received datagrams refused by the seal layer, by cause. Each count is
/// separate; a datagram is counted once.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SealStats {
    /// Sealed datagrams accepted.
    pub opened: u64,
    /// Too short, or a sealed header that is not ours (bad magic/version).
    pub malformed: u64,
    /// A plain (unsealed) datagram at a keyed server: forged, or a server
    /// without the key.
    pub unsealed: u64,
    /// A sealed datagram at a server without a key.
    pub sealed_without_key: u64,
    /// Sealed with a key id this server does not hold.
    pub unknown_key: u64,
    /// The tag did not verify: forged, corrupted, or another key with a
    /// colliding id.
    pub bad_tag: u64,
    /// Send time outside the clock-skew tolerance.
    pub stale: u64,
    /// A counter already seen, or behind the replay window.
    pub replayed: u64,
    /// A new sender while the session table was full.
    pub table_full: u64,
    /// Authentic, but for another cluster name.
    pub foreign: u64,
}

impl SealStats {
    /// All refusals together.
    pub fn rejected(&self) -> u64 {
        self.malformed
            + self.unsealed
            + self.sealed_without_key
            + self.unknown_key
            + self.bad_tag
            + self.stale
            + self.replayed
            + self.table_full
            + self.foreign
    }
}

/// Why a received datagram was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    /// See [`SealStats::malformed`].
    #[error("malformed sealed datagram")]
    Malformed,
    /// See [`SealStats::unsealed`].
    #[error("unsealed datagram at a keyed server")]
    Unsealed,
    /// See [`SealStats::sealed_without_key`].
    #[error("sealed datagram but this server has no key")]
    SealedWithoutKey,
    /// See [`SealStats::unknown_key`].
    #[error("sealed with unknown key id {0}")]
    UnknownKey(KeyId),
    /// See [`SealStats::bad_tag`].
    #[error("authentication failed")]
    BadTag,
    /// See [`SealStats::stale`]. Carries the sender's clock minus ours, in ms.
    #[error("send time {0} ms away from this server's clock")]
    Stale(i64),
    /// Also counted as [`SealStats::stale`]: sent before this server
    /// started, so its replay window cannot vouch for it.
    #[error("sent before this server started")]
    BeforeStart,
    /// See [`SealStats::replayed`].
    #[error("replayed or too old")]
    Replayed,
    /// See [`SealStats::table_full`].
    #[error("too many sender sessions")]
    TableFull,
    /// See [`SealStats::foreign`].
    #[error("another cluster")]
    Foreign,
}

/// Whether `datagram` has a sealed header (cheap; authenticates nothing).
pub fn looks_sealed(datagram: &[u8]) -> bool {
    datagram.len() >= 6
        && datagram[..4] == MAGIC
        && datagram[4] == VERSION
        && datagram[5] == SEALED_KIND
}

/// One server's sealing state: its keys, its own session and counter, and
/// the replay windows of everyone it hears.
pub struct Sealer {
    keyring: Arc<Keyring>,
    updates: Option<watch::Receiver<Arc<Keyring>>>,
    ciphers: Vec<(KeyId, XChaCha20Poly1305)>,
    cluster: String,
    session: SessionId,
    next_counter: u64,
    senders: Senders,
    tolerance_ms: u64,
    /// Datagrams stamped earlier are refused (see [`Sealer::not_before`]).
    not_before_ms: u64,
    stats: SealStats,
}

impl std::fmt::Debug for Sealer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sealer")
            .field("keys", &self.keyring.keys())
            .field("cluster", &self.cluster)
            .field("senders", &self.senders.len())
            .field("stats", &self.stats)
            .finish_non_exhaustive()
    }
}

impl Sealer {
    /// A sealer for `cluster` with a fresh random session.
    pub fn new(config: &SealConfig, cluster: &str) -> Sealer {
        let mut session = [0u8; 16];
        OsRng.fill_bytes(&mut session);
        Sealer::with_session(config, cluster, session)
    }

    /// A sealer with a chosen session id (tests; never reuse one with a key).
    pub fn with_session(config: &SealConfig, cluster: &str, session: SessionId) -> Sealer {
        let tolerance_ms = u64::try_from(config.max_clock_skew.as_millis()).unwrap_or(u64::MAX);
        Sealer {
            keyring: config.keyring.clone(),
            updates: config.updates.clone(),
            ciphers: ciphers(&config.keyring),
            cluster: cluster.to_string(),
            session,
            next_counter: 1,
            senders: Senders::new(config.max_senders, tolerance_ms),
            tolerance_ms,
            not_before_ms: 0,
            stats: SealStats::default(),
        }
    }

    /// Refuses datagrams stamped before `start_ms` (as `stale`). A process
    /// starts with empty replay windows, so without this an attacker could
    /// replay to a restarted server anything captured within the clock-skew
    /// tolerance before its start, such as the last heartbeats of a server
    /// that has died since. The cost: after a restart, a sender whose clock
    /// is `d` behind this one's is heard only `d` later.
    pub fn not_before(mut self, start_ms: u64) -> Sealer {
        self.not_before_ms = start_ms;
        self
    }

    /// Switches to another keyring: the first of its keys seals from now
    /// on. The session, its counter and the replay windows stay, so nothing
    /// in flight is refused and no nonce is reused.
    pub fn replace_keyring(&mut self, keyring: Arc<Keyring>) {
        self.ciphers = ciphers(&keyring);
        self.keyring = keyring;
    }

    /// Takes the newest keyring from [`SealConfig::updates`], if one came.
    /// Returns the new key ids, sealing one first.
    pub fn poll_updates(&mut self) -> Option<Vec<KeyId>> {
        let rx = self.updates.as_mut()?;
        if !rx.has_changed().unwrap_or(false) {
            return None;
        }
        let ring = rx.borrow_and_update().clone();
        self.replace_keyring(ring);
        Some(self.key_ids())
    }

    /// The ids of the keys held, the sealing one first.
    pub fn key_ids(&self) -> Vec<KeyId> {
        self.ciphers.iter().map(|(id, _)| *id).collect()
    }

    /// Refusals and successes so far.
    pub fn stats(&self) -> SealStats {
        self.stats
    }

    /// Sender sessions currently tracked.
    pub fn tracked_senders(&self) -> usize {
        self.senders.len()
    }

    /// Seals a plain envelope with the primary key, stamped `now_ms`. `None`
    /// if it would not fit [`MAX_DATAGRAM`] (the envelope builder prevents
    /// that) or the counter is exhausted (after 2⁶⁴ datagrams).
    pub fn seal(&mut self, plain: &[u8], now_ms: u64) -> Option<Vec<u8>> {
        if plain.len() + OVERHEAD > MAX_DATAGRAM || self.next_counter == u64::MAX {
            return None;
        }
        let counter = self.next_counter;
        self.next_counter += 1;
        let (id, cipher) = &self.ciphers[0];
        let mut out = Vec::with_capacity(plain.len() + OVERHEAD);
        out.extend_from_slice(&MAGIC);
        out.push(VERSION);
        out.push(SEALED_KIND);
        out.extend_from_slice(&id.0);
        out.extend_from_slice(&self.session);
        out.extend_from_slice(&counter.to_be_bytes());
        out.extend_from_slice(&now_ms.to_be_bytes());
        out.extend_from_slice(plain);
        let (header, body) = out.split_at_mut(HEADER_LEN);
        let nonce = XNonce::from_slice(&header[10..34]);
        let tag = cipher.encrypt_in_place_detached(nonce, header, body).ok()?;
        out.extend_from_slice(&tag);
        Some(out)
    }

    /// Authenticates and decrypts a received datagram at `now_ms`, returning
    /// the plain envelope. Counts the outcome.
    pub fn open(&mut self, datagram: &[u8], now_ms: u64) -> Result<Vec<u8>, Refusal> {
        let result = self.try_open(datagram, now_ms);
        let s = &mut self.stats;
        match result {
            Ok(_) => s.opened += 1,
            Err(Refusal::Malformed) => s.malformed += 1,
            Err(Refusal::Unsealed) => s.unsealed += 1,
            Err(Refusal::SealedWithoutKey) => s.sealed_without_key += 1,
            Err(Refusal::UnknownKey(_)) => s.unknown_key += 1,
            Err(Refusal::BadTag) => s.bad_tag += 1,
            Err(Refusal::Stale(_) | Refusal::BeforeStart) => s.stale += 1,
            Err(Refusal::Replayed) => s.replayed += 1,
            Err(Refusal::TableFull) => s.table_full += 1,
            Err(Refusal::Foreign) => s.foreign += 1,
        }
        result
    }

    /// Forgets sender sessions no replay could reach any more. Call now and
    /// then (the driver does, every second).
    pub fn expire(&mut self, now_ms: u64) {
        self.senders.expire(now_ms);
    }

    fn try_open(&mut self, datagram: &[u8], now_ms: u64) -> Result<Vec<u8>, Refusal> {
        if datagram.len() > MAX_DATAGRAM {
            return Err(Refusal::Malformed);
        }
        if !looks_sealed(datagram) {
            // Anything else with our magic is a plain envelope; without it, junk.
            return Err(if datagram.starts_with(&MAGIC) {
                Refusal::Unsealed
            } else {
                Refusal::Malformed
            });
        }
        if datagram.len() < OVERHEAD {
            return Err(Refusal::Malformed);
        }
        let (header, rest) = datagram.split_at(HEADER_LEN);
        let (ciphertext, tag) = rest.split_at(rest.len() - TAG_LEN);
        let key_id = KeyId(field(header, 6));
        let cipher = self
            .ciphers
            .iter()
            .find(|(id, _)| *id == key_id)
            .map(|(_, c)| c)
            .ok_or(Refusal::UnknownKey(key_id))?;
        let mut plain = ciphertext.to_vec();
        cipher
            .decrypt_in_place_detached(
                XNonce::from_slice(&header[10..34]),
                header,
                &mut plain,
                Tag::from_slice(tag),
            )
            .map_err(|_| Refusal::BadTag)?;
        // Authentic from here on: the header fields can be believed.
        let session: SessionId = field(header, 10);
        let counter = u64::from_be_bytes(field(header, 26));
        let stamp = u64::from_be_bytes(field(header, 34));
        let skew = i128::from(stamp) - i128::from(now_ms);
        if skew.unsigned_abs() > u128::from(self.tolerance_ms) {
            return Err(Refusal::Stale(
                skew.clamp(i64::MIN.into(), i64::MAX.into()) as i64
            ));
        }
        if stamp < self.not_before_ms {
            return Err(Refusal::BeforeStart);
        }
        self.senders
            .check(&session, counter, now_ms)
            .map_err(|e| match e {
                ReplayError::Replayed | ReplayError::TooOld => Refusal::Replayed,
                ReplayError::TableFull => Refusal::TableFull,
            })?;
        // The replay window moves even for a foreign cluster's datagram: it
        // was authentic, and replaying it must not count as something else.
        self.senders.accept(session, counter, stamp, now_ms);
        match envelope::cluster_of(&plain) {
            Some(name) if name != self.cluster => Err(Refusal::Foreign),
            // A malformed inner envelope goes on, to be counted by the state machine.
            _ => Ok(plain),
        }
    }
}

fn ciphers(keyring: &Keyring) -> Vec<(KeyId, XChaCha20Poly1305)> {
    keyring
        .keys()
        .iter()
        .map(|k| (k.id(), XChaCha20Poly1305::new(k.bytes().into())))
        .collect()
}

/// `N` bytes of `header` from `at`; the caller has checked the length.
fn field<const N: usize>(header: &[u8], at: usize) -> [u8; N] {
    let mut out = [0u8; N];
    out.copy_from_slice(&header[at..at + N]);
    out
}

/// The seal layer as the node uses it: a keyed server seals and opens,
/// an unkeyed one passes plain envelopes through and only counts sealed
/// datagrams it cannot read.
#[derive(Debug)]
pub enum Gate {
    /// No key: today's plain envelopes.
    Unkeyed(SealStats),
    /// A key: everything sealed.
    Keyed(Box<Sealer>),
}

impl Default for Gate {
    /// Unkeyed.
    fn default() -> Self {
        Gate::Unkeyed(SealStats::default())
    }
}

impl Gate {
    /// The gate for an optional seal config, started at `now_ms` (Unix
    /// milliseconds): a keyed gate refuses datagrams stamped before it.
    pub fn new(config: Option<&SealConfig>, cluster: &str, now_ms: u64) -> Gate {
        match config {
            Some(c) => Gate::Keyed(Box::new(Sealer::new(c, cluster).not_before(now_ms))),
            None => Gate::Unkeyed(SealStats::default()),
        }
    }

    /// What to put on the wire for a plain envelope (`None`: drop it).
    pub fn outgoing(&mut self, plain: Vec<u8>, now_ms: u64) -> Option<Vec<u8>> {
        match self {
            Gate::Unkeyed(_) => Some(plain),
            Gate::Keyed(sealer) => sealer.seal(&plain, now_ms),
        }
    }

    /// The plain envelope in a received datagram, or why it was refused.
    pub fn incoming<'a>(
        &mut self,
        datagram: &'a [u8],
        now_ms: u64,
    ) -> Result<Cow<'a, [u8]>, Refusal> {
        match self {
            Gate::Unkeyed(stats) if looks_sealed(datagram) => {
                stats.sealed_without_key += 1;
                Err(Refusal::SealedWithoutKey)
            }
            Gate::Unkeyed(_) => Ok(Cow::Borrowed(datagram)),
            Gate::Keyed(sealer) => sealer.open(datagram, now_ms).map(Cow::Owned),
        }
    }

    /// Refusals so far.
    pub fn stats(&self) -> SealStats {
        match self {
            Gate::Unkeyed(stats) => *stats,
            Gate::Keyed(sealer) => sealer.stats(),
        }
    }

    /// See [`Sealer::expire`].
    pub fn expire(&mut self, now_ms: u64) {
        if let Gate::Keyed(sealer) = self {
            sealer.expire(now_ms);
        }
    }
}

/// Milliseconds since the Unix epoch by the system clock (0 if it is set
/// before 1970). The one place the seal layer's time comes from.
pub fn unix_ms(now: std::time::SystemTime) -> u64 {
    now.duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

#[cfg(test)]
mod tests;
