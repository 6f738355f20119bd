//! Fuzzing harnesses for Chatty, kept in a library so the `fuzz_targets/*`
//! files stay one-liners and the seed generator and the harnesses agree on
//! input layouts.
//!
//! * [`frames`] — TCP byte stream → frames → `ClientMsg` / `ServerMsg`.
//! * [`datagrams`] — UDP datagram → envelope → membership / relay bodies,
//!   with an "unwrap" hook where a keyed variant decrypts first.
//! * [`sealed`] — the same behind the cluster key's seal layer (`--key-file`).
//! * [`relay_sim`] — two or three sans-IO relays on a fuzzer-driven network.
//! * [`membership_sim`] — the same for the membership state machine.
//! * [`seeds`] — valid inputs from the real encoders, for the corpora.
//!
//! Every harness checks invariants with `assert!`: a failed invariant is a
//! crash to libFuzzer, exactly like a panic inside Chatty.

pub mod datagrams;
pub mod frames;
pub mod membership_sim;
pub mod relay_sim;
pub mod sealed;
pub mod seeds;
