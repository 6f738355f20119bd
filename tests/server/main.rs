//! One in-process server on loopback and its clients, one test binary: the
//! chat itself (`chat`), bad input (`bad_input`), protective limits
//! (`limits`), hostile clients (`hostile`), bridged sessions (`bridge`)
//! and the web listener without a browser (`web`). One binary so that
//! `common` is compiled and the crate linked once for all of them; a
//! module's tests run as `cargo test --test server MODULE::`.

#[path = "../common/mod.rs"]
mod common;

mod bad_input;
mod bridge;
mod chat;
mod hostile;
mod limits;
mod web;
