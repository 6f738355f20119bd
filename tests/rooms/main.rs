//! Rooms, private messages, nick changes and topics, one test binary:
//! in-process servers on loopback (`across_servers`, `bad_input`,
//! `cluster`, `sealed`) and the real binary (`terminal`, `large`). One
//! binary so that `common` is compiled and the crate linked once for all
//! of them; a module's tests run as `cargo test --test rooms MODULE::`.
//! (The simulated rooms are in `tests/sim/`.)

#[path = "../common/mod.rs"]
mod common;

mod across_servers;
mod bad_input;
mod cluster;
mod large;
mod sealed;
mod terminal;
