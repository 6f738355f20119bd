//! Finding the `chatty` binary from an example or benchmark program.
//!
//! Cargo hands the binary's path only to the main crate's integration tests
//! (`env!("CARGO_BIN_EXE_chatty")`), and `cargo run --example x` or
//! `cargo run -p chatty-bench --bin y` builds only the program it runs. Such
//! a program therefore looks for the binary of its own build profile in the
//! target directory it was itself built into, and says how to build it when
//! it is missing, instead of running a stale one from somewhere else.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context};

/// Names a `chatty` binary to use instead of the one beside the program.
pub const OVERRIDE_VAR: &str = "CHATTY_BIN";

/// The `chatty` binary of the calling program's build: `$CHATTY_BIN` if set,
/// else `target/<profile>/chatty` beside `target/<profile>/<program>` (or
/// `target/<profile>/examples/<program>`, `…/deps/<program>`).
pub fn beside_current_exe() -> anyhow::Result<PathBuf> {
    if let Some(path) = std::env::var_os(OVERRIDE_VAR) {
        let path = PathBuf::from(path);
        if !path.is_file() {
            bail!("{OVERRIDE_VAR}={} does not exist", path.display());
        }
        return Ok(path);
    }
    let exe = std::env::current_exe().context("cannot find this program's own path")?;
    let profile_dir = profile_dir(&exe).context("unexpected location of this program")?;
    let path = profile_dir.join(format!("chatty{}", std::env::consts::EXE_SUFFIX));
    if !path.is_file() {
        let profile = match profile_dir.file_name().and_then(|n| n.to_str()) {
            Some("debug") | None => String::new(),
            Some("release") => " --release".into(),
            Some(other) => format!(" --profile {other}"),
        };
        bail!(
            "the server binary {} is missing: cargo builds only the program it runs.\n\
             Build it first with `cargo build{} --bin chatty` (with the same CARGO_TARGET_DIR), \
             or point {OVERRIDE_VAR} at a chatty binary.",
            path.display(),
            profile
        );
    }
    Ok(path)
}

/// `target/<profile>` for a program at `target/<profile>/<program>`,
/// `target/<profile>/examples/<program>` or `target/<profile>/deps/<program>`.
fn profile_dir(exe: &Path) -> Option<&Path> {
    let dir = exe.parent()?;
    match dir.file_name()?.to_str()? {
        "examples" | "deps" => dir.parent(),
        _ => Some(dir),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn programs_in_every_target_subdirectory_find_their_profile() {
        for exe in [
            "/t/release/relay",
            "/t/release/examples/vlan",
            "/t/release/deps/cli-1234",
        ] {
            assert_eq!(profile_dir(Path::new(exe)), Some(Path::new("/t/release")));
        }
    }
}
