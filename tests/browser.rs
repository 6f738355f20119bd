//! The web client in a real browser: two clustered `chatty server`s (the
//! real binary) on loopback with `--http 127.0.0.1:0`, and
//! tests/browser/chat.py driving Debian's headless Chromium through its
//! chromedriver (python3-selenium) against them. The script's scenarios are
//! listed at its top. Screenshots go to target/browser-shots/. A scripted
//! web server on loopback (browser/fake_web.rs) sends one page a line twice
//! under two ids, which real servers do only in a mass failover.
//!
//! Needs `chromium`, `chromium-driver` and `python3-selenium` (`.ci/run`
//! installs them). Without them the test prints SKIPPED and passes, except
//! in CI (`CI=true`), where a missing tool fails it.

mod common;
#[path = "browser/fake_web.rs"]
mod fake_web;

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use common::free_udp_port;
use common::proc::loopback_server;

/// The whole script, three Chromium starts included.
const SCRIPT_DEADLINE: Duration = Duration::from_secs(150);

/// Debian's paths: nothing else may be used (nothing may download a browser).
const CHROMIUM: &str = "/usr/bin/chromium";
const CHROMEDRIVER: &str = "/usr/bin/chromedriver";
const PYTHON: &str = "/usr/bin/python3";

/// The tools, or why they are missing.
fn tools() -> Result<(), String> {
    for tool in [CHROMIUM, CHROMEDRIVER, PYTHON] {
        if !Path::new(tool).exists() {
            return Err(format!(
                "{tool} is missing (apt-get install chromium chromium-driver python3-selenium)"
            ));
        }
    }
    let selenium = std::process::Command::new(PYTHON)
        .args(["-c", "import selenium"])
        .stderr(Stdio::null())
        .status()
        .map_err(|e| format!("{PYTHON}: {e}"))?;
    if !selenium.success() {
        return Err("python3-selenium is missing (apt-get install python3-selenium)".into());
    }
    Ok(())
}

/// Skips (prints SKIPPED) outside CI; fails in CI.
fn require_tools() -> bool {
    match tools() {
        Ok(()) => true,
        Err(why) if std::env::var("CI").is_ok_and(|v| v == "true") => {
            panic!("the browser test needs its tools in CI: {why}")
        }
        Err(why) => {
            println!("SKIPPED: {why}");
            false
        }
    }
}

fn shots_dir() -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .parent()
        .expect("target dir")
        .join("browser-shots");
    std::fs::create_dir_all(&dir).expect("screenshot directory");
    dir
}

/// What the fake's page must show in `#lobby`, in order, as JSON for the
/// script: `[[from, text], …]`.
fn fake_lines() -> String {
    let (from, text, _) = fake_web::HISTORY;
    let mut lines = vec![(from, text)];
    lines.extend(
        fake_web::SCRIPT
            .iter()
            .filter(|line| line.3)
            .map(|&(from, text, _, _)| (from, text)),
    );
    lines.push(("fake", fake_web::PONG_EXACT));
    let json: Vec<String> = lines
        .iter()
        .map(|(from, text)| format!("[{from:?}, {text:?}]"))
        .collect();
    format!("[{}]", json.join(", "))
}

/// What the fake's page must show in Cy's private conversation, as JSON:
/// `[text, …]`.
fn fake_private() -> String {
    let shown: Vec<String> = fake_web::PRIVATE_SCRIPT
        .iter()
        .filter(|line| line.2)
        .map(|(text, _, _)| format!("{text:?}"))
        .collect();
    format!("[{}]", shown.join(", "))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_page_chats_fails_over_and_shows_the_cluster_in_a_real_browser() {
    if !require_tools() {
        return;
    }
    let group = free_udp_port();
    let http = ["--http", "127.0.0.1:0"];
    let mut a = loopback_server(group, &http).await;
    let mut b = loopback_server(group, &http).await;
    let a_web = a.wait_listener("http").await.expect("A's web address");
    let b_web = b.wait_listener("http").await.expect("B's web address");
    assert!(a_web.ip().is_loopback() && b_web.ip().is_loopback());
    let fake = fake_web::start().await;
    let shots = shots_dir();
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/browser/chat.py");
    let mut run = tokio::process::Command::new(PYTHON);
    run.arg(script)
        .args(["--chatty", env!("CARGO_BIN_EXE_chatty")])
        .args(["--chromium", CHROMIUM, "--chromedriver", CHROMEDRIVER])
        .args([
            "--a-client",
            &a.addr().to_string(),
            "--a-web",
            &a_web.to_string(),
        ])
        .args([
            "--b-client",
            &b.addr().to_string(),
            "--b-web",
            &b_web.to_string(),
        ])
        .args(["--a-pid", &a.pid().to_string()])
        .args(["--fake-web", &fake.to_string()])
        .args(["--fake-lines", &fake_lines()])
        .args(["--fake-count", &fake_web::LIVE_COUNT.to_string()])
        .args(["--fake-private", &fake_private()])
        .arg("--shots")
        .arg(&shots)
        // Selenium must not look for (or fetch) a driver of its own.
        .env("SE_OFFLINE", "true")
        .env("SE_AVOID_STATS", "true")
        .kill_on_drop(true);
    let output = tokio::time::timeout(SCRIPT_DEADLINE, run.output())
        .await
        .expect("the browser script's deadline")
        .expect("run the browser script");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    println!("{stdout}");
    assert!(
        output.status.success(),
        "browser script failed: {}\n--- stdout\n{stdout}\n--- stderr\n{stderr}\n--- server B\n{:?}",
        output.status,
        b.stderr().0
    );
    assert!(stdout.contains("browser: all scenarios passed"));
    // A was killed by the script; B is still serving.
    assert!(!a.is_running());
    assert!(b.is_running());
    for shot in ["chat.png", "cluster.png"] {
        assert!(shots.join(shot).exists(), "{shot} was saved");
    }
}
