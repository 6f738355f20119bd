//! TLS, one test binary: the client's TLS with the library and the real
//! binary (`client`) and README's certificate recipe run as written
//! (`certificates`). One binary so that `common` is compiled and the crate
//! linked once for both; a module's tests run as `cargo test --test tls
//! MODULE::`.

#[path = "../common/mod.rs"]
mod common;

mod certificates;
mod client;
