//! The deterministic simulations, one test binary: real nodes (membership,
//! relay and the seal gate) on a simulated lossy network, with the shared
//! scaffolding in `sim_support`. One binary so that the scaffolding is
//! compiled and the crate linked once for all of them. A module's tests
//! run as `cargo test --test sim MODULE::`; a failing seed is replayed with
//! `CHATTY_SIM_SEED=N cargo test --test sim MODULE::TEST`.

mod sim_support;

mod membership;
mod node;
mod private;
mod relay;
mod rooms;
mod sync;
