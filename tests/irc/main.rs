//! The IRC gateway, one test binary: end to end with IRC and Chatty clients
//! on clustered servers (`gateway`), the parser against public vectors
//! (`parser`), abuse (`hostile`), large rooms (`large`), HexChat's bytes
//! replayed (`hexchat`), and the real irssi and WeeChat (`irssi`,
//! `weechat`; SKIPPED without them, failing in CI). One binary so that
//! `common` is compiled and the crate linked once for all of them; a
//! module's tests run as `cargo test --test irc MODULE::`.

#[path = "../common/mod.rs"]
mod common;

mod gateway;
mod hexchat;
mod hostile;
mod irssi;
mod large;
mod parser;
mod weechat;
