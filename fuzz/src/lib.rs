//! Fuzzing harnesses for Chatty, kept in a library so the `fuzz_targets/*`
//! files stay one-liners and the seed generator and the harnesses agree on
//! input layouts.
//!
//! * [`frames`] — TCP byte stream → frames → `ClientMsg` / `ServerMsg`.
//! * [`datagrams`] — UDP datagram → a real node (gate, envelope, the state
//!   machine of its kind), and every body decoder.
//! * [`sealed`] — the same behind the cluster key's seal layer (`--key-file`).
//! * [`relay_sim`] — two or three real nodes on a fuzzer-driven network,
//!   chat events relayed while membership comes and goes.
//! * [`membership_sim`] — the same, forging membership traffic.
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
