//! The keyed receive path: a datagram goes through the cluster key's seal
//! layer ([`Sealer::open`]: header, key id, tag, freshness, replay window,
//! cluster name) before the envelope and body decoders of [`datagrams`] see
//! it, and then to a keyed [`chatty::node::Node`], whose gate does the same
//! as a server with `--key-file` does.
//!
//! The first input byte picks what is fuzzed:
//! * even: the rest is a datagram as it arrived from the network. Random
//!   bytes never carry a valid tag, so this drives everything that runs
//!   *before* authentication; it must refuse all of it without panicking,
//!   and anything it does accept must be a sealed datagram from the test key
//!   (the sealed seeds and their mutations that keep the tag intact).
//! * odd: the rest is a plaintext envelope that a keyed sender seals; the
//!   receiver must open it back to the same bytes, and then the decoders and
//!   state machines behind the key get fuzzer-chosen plaintext.
//!
//! [`datagrams`]: crate::datagrams

use chatty::seal::{ClusterKey, Keyring, SealConfig, Sealer, OVERHEAD};
use chatty::wire::MAX_DATAGRAM;

use crate::datagrams::{check_plain, dispatch, CLUSTER, NOW_MS};

/// The sending server's session (fixed, so seeds stay valid).
const SESSION: [u8; 16] = [0x5e; 16];

/// The test cluster key: fixed, so seeds sealed with it keep opening.
pub fn config() -> SealConfig {
    let ring = Keyring::new(vec![ClusterKey::from_bytes([0x42; 32])]).expect("one key");
    SealConfig::new(ring)
}

/// A keyed sender's sealer, for seeds and for the odd mode.
pub fn sender() -> Sealer {
    Sealer::with_session(&config(), CLUSTER, SESSION)
}

/// One fuzz input (see the module documentation for the layout).
pub fn run(input: &[u8]) {
    let Some((&mode, rest)) = input.split_first() else {
        return;
    };
    let key = config();
    let mut receiver = Sealer::with_session(&key, CLUSTER, [0x01; 16]);
    if mode % 2 == 0 {
        if let Ok(plain) = receiver.open(rest, NOW_MS) {
            // Only the test key's sender can have produced what opened.
            assert_eq!(
                &rest[10..26],
                &SESSION,
                "opened a datagram from an unknown session"
            );
            assert_eq!(plain.len() + OVERHEAD, rest.len());
            check_plain(&plain);
        }
        let stats = receiver.stats();
        assert_eq!(
            stats.opened + stats.rejected(),
            1,
            "every datagram is counted once"
        );
        dispatch(rest, Some(&key));
    } else {
        let Some(sealed) = sender().seal(rest, NOW_MS) else {
            assert!(rest.len() + OVERHEAD > MAX_DATAGRAM);
            return;
        };
        // A plaintext that does not name our cluster is refused as foreign
        // after the tag; everything else opens unchanged.
        if let Ok(plain) = receiver.open(&sealed, NOW_MS) {
            assert_eq!(plain, rest, "open(seal(x)) != x");
            check_plain(&plain);
        }
        // A second delivery of the same datagram is a replay.
        assert!(
            receiver.open(&sealed, NOW_MS).is_err(),
            "a replay was accepted"
        );
        dispatch(&sealed, Some(&key));
    }
}
