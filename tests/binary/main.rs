//! The real `chatty` binary as a user or a script meets it, one test
//! binary: piped stdin, exit codes and signals (`cli`), every flag and its
//! mistakes (`flags`), and two servers on ::1 (`ipv6`). One binary so that
//! `common` is compiled and the crate linked once for all of them; a
//! module's tests run as `cargo test --test binary MODULE::`.

#[path = "../common/mod.rs"]
mod common;

mod cli;
mod flags;
mod ipv6;
