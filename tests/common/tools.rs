//! Outside programs a test drives (irssi, tmux, weechat-headless): present,
//! or the test says SKIPPED — except in CI (CI=true), which installs them
//! (.ci/run) and so fails instead of skipping silently.

use std::process::Command;

/// Whether every one of `tools` is on the PATH. A missing one prints
/// `SKIPPED: … not installed` and returns false; in CI it panics.
pub fn present(tools: &[&str]) -> bool {
    let missing: Vec<&str> = tools
        .iter()
        .copied()
        .filter(|t| {
            !Command::new("sh")
                .arg("-c")
                .arg(format!("command -v {t}"))
                .output()
                .is_ok_and(|o| o.status.success())
        })
        .collect();
    available(&missing)
}

/// Whether nothing is `missing`: otherwise as [`present`], SKIPPED or (in
/// CI) a failure naming what is.
pub fn available(missing: &[&str]) -> bool {
    if missing.is_empty() {
        return true;
    }
    if std::env::var("CI").is_ok_and(|v| v == "true") {
        panic!("CI must install {missing:?} (see .ci/run)");
    }
    println!("SKIPPED: {} not installed", missing.join(", "));
    false
}
