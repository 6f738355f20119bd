//! A real IRC client end to end: WeeChat (`weechat-headless`, no terminal)
//! on one server's IRC gateway, chatting with a Chatty terminal client on
//! another server of the cluster. Both servers are the real binary on
//! loopback.
//!
//! WeeChat is driven through its FIFO plugin (commands in) and read through
//! its logger plugin (one file per buffer, flushed at once): both are plain
//! files, so every step waits for a line to appear, with a deadline. It runs
//! in a fresh home of its own (`--dir`) with only the irc, fifo and logger
//! plugins loaded (`-P`): no script manager, no spell checker, no relay, and
//! no server but the one the test adds, so it connects nowhere but
//! 127.0.0.1. Without weechat-headless this prints SKIPPED and passes,
//! except in CI (CI=true), where it fails: CI installs it.

use crate::common;

use std::fs::File;
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use common::proc::{irc_cluster, line_with, sees_member};
use tokio::time::Instant;

/// Any one step may take this long (WeeChat starts in well under a second).
const STEP: Duration = Duration::from_secs(20);

/// A running `weechat-headless` with its home, both gone on drop (a failing
/// test leaves nothing behind).
struct Weechat {
    child: Child,
    home: PathBuf,
    /// The write end of WeeChat's FIFO, held open for the whole test: a
    /// writer that closed after each command would make WeeChat reopen the
    /// pipe, and a command written in between could be lost.
    fifo: File,
}

impl Weechat {
    /// Starts WeeChat in `home`, connected to the gateway on `port` as Wendy.
    async fn start(home: PathBuf, port: u16) -> Weechat {
        let _ = std::fs::remove_dir_all(&home);
        std::fs::create_dir_all(&home).unwrap();
        let setup = [
            // Log every line at once (the default holds them for 120 s).
            "/set logger.file.flush_delay 0",
            "/set irc.server_default.nicks Wendy",
            "/set irc.server_default.username wendy",
            "/set irc.server_default.realname Wendy Weechat",
            // WeeChat 3.8 spaces user lines 2 s apart by default.
            "/set irc.server_default.anti_flood_prio_high 0",
            "/set irc.server_default.anti_flood_prio_low 0",
            "/set irc.server_default.autoreconnect off",
            &format!("/server add chatty 127.0.0.1/{port}"),
            "/connect chatty",
        ]
        .join(";");
        let out = File::create(home.join("stdout")).unwrap();
        let child = Command::new("weechat-headless")
            .arg("--dir")
            .arg(&home)
            .args(["-P", "irc,fifo,logger", "-r", &setup])
            .env("HOME", &home)
            .stdin(Stdio::null())
            .stdout(out.try_clone().unwrap())
            .stderr(out)
            .spawn()
            .expect("start weechat-headless");
        let fifo = open_fifo(&home).await;
        Weechat { child, home, fifo }
    }

    /// Sends `line` (text, or a /command) as typed in `buffer`
    /// (`irc.server.chatty`, `irc.chatty.#dev`, …).
    fn type_in(&mut self, buffer: &str, line: &str) {
        writeln!(self.fifo, "{buffer} *{line}").expect("write to the FIFO");
    }

    /// Waits until the log of `buffer` has a line containing every one of
    /// `parts`; returns that line.
    async fn logged(&self, buffer: &str, parts: &[&str]) -> String {
        let path = self.home.join("logs").join(format!("{buffer}.weechatlog"));
        let deadline = Instant::now() + STEP;
        loop {
            let log = std::fs::read_to_string(&path).unwrap_or_default();
            if let Some(line) = log.lines().find(|l| parts.iter().all(|p| l.contains(p))) {
                return line.to_string();
            }
            assert!(
                Instant::now() < deadline,
                "WeeChat never logged {parts:?} in {buffer}; its logs:\n{}",
                self.all_logs()
            );
            tokio::time::sleep(Duration::from_millis(25)).await; // poll a file, bounded
        }
    }

    /// Every log file, for a failure message.
    fn all_logs(&self) -> String {
        let mut all = String::new();
        let mut files: Vec<PathBuf> = std::fs::read_dir(self.home.join("logs"))
            .map(|d| d.flatten().map(|e| e.path()).collect())
            .unwrap_or_default();
        files.push(self.home.join("stdout"));
        files.sort();
        for file in files {
            let text = std::fs::read_to_string(&file).unwrap_or_default();
            all.push_str(&format!("== {}\n{text}\n", file.display()));
        }
        all
    }
}

impl Drop for Weechat {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.home);
    }
}

/// Opens WeeChat's FIFO (`weechat_fifo_<pid>` in its home) for writing
/// once the plugin has created it and opened its end. Non-blocking, so an
/// open before WeeChat reads is refused (ENXIO) and tried again, never hung.
async fn open_fifo(home: &Path) -> File {
    let deadline = Instant::now() + STEP;
    loop {
        let fifo = std::fs::read_dir(home).ok().and_then(|dir| {
            dir.flatten().map(|e| e.path()).find(|p| {
                p.file_name()
                    .is_some_and(|n| n.to_string_lossy().starts_with("weechat_fifo_"))
            })
        });
        if let Some(path) = fifo {
            let opened = std::fs::OpenOptions::new()
                .write(true)
                .custom_flags(libc::O_NONBLOCK)
                .open(&path);
            if let Ok(file) = opened {
                return file;
            }
        }
        assert!(
            Instant::now() < deadline,
            "WeeChat made no FIFO in {home:?}"
        );
        tokio::time::sleep(Duration::from_millis(25)).await; // poll, bounded
    }
}

/// `weechat-plugins (fifo)` if WeeChat's FIFO plugin is in none of the
/// places Debian and a source build put it.
fn fifo_missing() -> Vec<&'static str> {
    let dirs = [
        "/usr/lib/x86_64-linux-gnu",
        "/usr/lib/aarch64-linux-gnu",
        "/usr/lib",
        "/usr/local/lib",
    ];
    let found = dirs
        .iter()
        .any(|d| Path::new(d).join("weechat/plugins/fifo.so").exists());
    if found {
        vec![]
    } else {
        vec!["weechat-plugins (fifo)"]
    }
}

/// The capabilities in WeeChat's `client capability, <what>: a b c` line.
fn caps_in(line: &str, what: &str) -> Vec<String> {
    let marker = format!("client capability, {what}: ");
    let rest = &line[line.find(&marker).expect("a capability line") + marker.len()..];
    rest.split_whitespace().map(str::to_string).collect()
}

#[tokio::test]
async fn weechat_chats_with_a_chatty_client_on_another_server() {
    if !common::tools::present(&["weechat-headless"]) || !common::tools::available(&fifo_missing())
    {
        return;
    }
    let (_servers, irc, mut cleo) = irc_cluster().await;

    let home = std::env::temp_dir().join(format!("chatty-weechat-{}", std::process::id()));
    let mut wee = Weechat::start(home, irc.port()).await;
    let server = "irc.server.chatty";
    let dev = "irc.chatty.#dev";

    // Registration with CAP: WeeChat asks for every capability it knows of
    // those offered (`capabilities = "*"`); all it asks for are granted.
    wee.logged(server, &["Welcome to the Chatty IRC Network", "Wendy"])
        .await;
    let requested = caps_in(
        &wee.logged(server, &["client capability, requesting: "])
            .await,
        "requesting",
    );
    let enabled = caps_in(
        &wee.logged(server, &["client capability, enabled: "]).await,
        "enabled",
    );
    for cap in ["away-notify", "multi-prefix", "server-time", "message-tags"] {
        assert!(
            requested.iter().any(|c| c == cap),
            "WeeChat did not ask for {cap}: {requested:?}"
        );
    }
    let mut both = (requested.clone(), enabled);
    both.0.sort();
    both.1.sort();
    assert_eq!(both.0, both.1, "everything asked for is enabled");
    assert!(
        !wee.all_logs().contains("client capability, refused"),
        "a capability was refused:\n{}",
        wee.all_logs()
    );

    // Both servers know both members; meet in #dev.
    line_with(&mut cleo, "Wendy joined the chat").await;
    wee.type_in(server, "/join #dev");
    wee.logged(dev, &["Wendy", "has joined #dev"]).await;
    wee.logged(dev, &["Channel #dev: 1 nick"]).await; // NAMES, as WeeChat reads it
    cleo.write("/join #dev\n").await.unwrap();
    sees_member(&mut cleo, "#dev", "Wendy").await;
    wee.logged(dev, &["Cleo", "has joined #dev"]).await;

    // Messages and actions both ways.
    wee.type_in(dev, "hello from weechat");
    line_with(&mut cleo, "[#dev] [Wendy] hello from weechat").await;
    cleo.write("hello from chatty\n").await.unwrap();
    wee.logged(dev, &["\tCleo\thello from chatty"]).await;
    wee.type_in(dev, "/me waves");
    line_with(&mut cleo, "[#dev] * Wendy waves").await;
    cleo.write("/me bows\n").await.unwrap();
    wee.logged(dev, &["Cleo bows"]).await;

    // Topics both ways.
    wee.type_in(dev, "/topic release friday");
    line_with(&mut cleo, "[TOPIC] #dev: release friday (set by Wendy)").await;
    cleo.write("/topic #dev ship it\n").await.unwrap();
    wee.logged(dev, &["Cleo has changed topic for #dev", "ship it"])
        .await;

    // Nick changes seen by the other side, both ways.
    wee.type_in(server, "/nick Wanda");
    line_with(&mut cleo, "[NICK] Wendy is now Wanda").await;
    cleo.write("/nick Cleopatra\n").await.unwrap();
    wee.logged(dev, &["Cleo", "is now known as", "Cleopatra"])
        .await;

    // Private messages both ways (WeeChat opens a buffer for the nick).
    wee.type_in(server, "/msg Cleopatra a private word");
    line_with(&mut cleo, "[PM from Wanda] a private word").await;
    cleo.write("/msg Wanda a private answer\n").await.unwrap();
    wee.logged("irc.chatty.cleopatra", &["Cleopatra\ta private answer"])
        .await;

    // Parts with a reason both ways, then a quit with one.
    cleo.write("/part #dev gone fishing\n").await.unwrap();
    wee.logged(dev, &["Cleopatra", "has left #dev", "gone fishing"])
        .await;
    cleo.write("/join #dev\n").await.unwrap();
    sees_member(&mut cleo, "#dev", "Wanda").await;
    wee.type_in(dev, "/part see you");
    line_with(&mut cleo, "[#dev] [LEAVE] Wanda left: see you").await;
    // WeeChat's /quit sends QUIT with the reason, and exits.
    wee.type_in(server, "/quit bye now");
    line_with(&mut cleo, "[LEAVE] Wanda left the chat: bye now").await;

    // Nothing WeeChat sent on its own (MODE #dev after joining, …) was refused.
    let logs = wee.all_logs();
    for refusal in [
        "Unknown command",
        "Not enough parameters",
        "You have not registered",
    ] {
        assert!(
            !logs.contains(refusal),
            "the gateway refused something:\n{logs}"
        );
    }

    cleo.write("exit\n").await.unwrap();
    let _ = cleo.wait().await;
    drop(wee);
}
