//! The real terminal client and `chatty watch` through crashes, one test
//! binary: on a pseudo-terminal (`pty`, `watch`) and through a server's
//! SIGKILL (or SIGSTOP) with acknowledged sends: room lines (`resend`), two
//! failovers in a row (`cascade`) and private lines (`private_resend`).
//! One binary so that `common` is compiled and the crate linked once for
//! all of them; a module's tests run as `cargo test --test terminal
//! MODULE::`.

#[path = "../common/mod.rs"]
mod common;

mod cascade;
mod private_resend;
mod pty;
mod resend;
mod watch;
