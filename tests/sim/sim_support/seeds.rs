//! Seeds: every simulation runs from one, prints it when it fails, and can
//! be replayed with `CHATTY_SIM_SEED=N cargo test --test sim MODULE::TEST`.

use std::ops::Range;
use std::panic::{catch_unwind, resume_unwind, AssertUnwindSafe};

/// The environment variable that overrides a simulation's seed.
pub const SEED_VAR: &str = "CHATTY_SIM_SEED";

fn overridden() -> Option<u64> {
    let seed = std::env::var(SEED_VAR).ok()?;
    Some(
        seed.parse()
            .unwrap_or_else(|_| panic!("{SEED_VAR} is a number")),
    )
}

/// Runs `scenario` with `seed`, or with the seed in [`SEED_VAR`] if set.
pub fn with_seed(seed: u64, scenario: impl FnOnce(u64)) {
    let seed = overridden().unwrap_or(seed);
    guarded(seed, scenario);
}

/// Runs `scenario` once per seed in `seeds`; with [`SEED_VAR`] set, only
/// that seed, and only if it is in the range.
pub fn for_seeds(seeds: Range<u64>, scenario: impl Fn(u64)) {
    match overridden() {
        Some(seed) if seeds.contains(&seed) => guarded(seed, scenario),
        Some(_) => {}
        None => seeds.for_each(|seed| guarded(seed, &scenario)),
    }
}

fn guarded(seed: u64, scenario: impl FnOnce(u64)) {
    if let Err(panic) = catch_unwind(AssertUnwindSafe(|| scenario(seed))) {
        eprintln!("simulation failed with seed {seed}; replay with {SEED_VAR}={seed}");
        resume_unwind(panic);
    }
}
