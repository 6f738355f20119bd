//! Clusters of in-process servers over real UDP on loopback, one test
//! binary: membership (`membership`), multi-server chat over the relay
//! (`relay`), pasted bursts on every server at once (`bursts`),
//! acknowledged sends (`acked`), one suite over UDP and in
//! memory (`transports`) and the cluster key against a LAN attacker
//! (`security`). Each test uses its own multicast port, so they run in
//! parallel. One binary so that `common` is compiled and the crate linked
//! once for all of them; a module's tests run as `cargo test --test
//! cluster MODULE::`.

#[path = "../common/mod.rs"]
mod common;

mod acked;
mod bursts;
mod membership;
mod relay;
mod security;
mod transports;
