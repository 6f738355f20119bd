//! The terminal client's commands, one test binary: through pipes with the
//! real server (`pipes`), the client library's requests against a scripted
//! server (`library`), typed on a pseudo-terminal (`pty`), against a server
//! from before rooms (`old_server`) and through a failover (`failover`).
//! One binary so that `common` is compiled and the crate linked once for
//! all of them; a module's tests run as `cargo test --test commands
//! MODULE::`.

#[path = "../common/mod.rs"]
mod common;

mod failover;
mod library;
mod old_server;
mod pipes;
mod pty;
