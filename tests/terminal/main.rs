//! The real terminal client and `chatty watch` through crashes, one test
//! binary: on a pseudo-terminal (`pty`, `watch`) and through a server's
//! SIGKILL with acknowledged sends, room lines (`resend`) and private ones
//! (`private_resend`). One binary so that `common` is compiled and the
//! crate linked once for all of them; a module's tests run as `cargo test
//! --test terminal MODULE::`.

#[path = "../common/mod.rs"]
mod common;

mod private_resend;
mod pty;
mod resend;
mod watch;
