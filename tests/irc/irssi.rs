//! A real IRC client end to end: irssi, driven in tmux, on one server's
//! IRC gateway, chatting with a Chatty terminal client on another server of
//! the cluster. Both servers are the real binary on loopback; irssi runs
//! with a private home whose config has no servers, so it connects only to
//! the gateway it is told. Without irssi or tmux this prints SKIPPED and
//! passes, except in CI (CI=true), where it fails: CI installs them.

use crate::common;

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use common::proc::{irc_cluster, line_with, sees_member};

/// A tmux server of this test's own and irssi's home, both removed on drop
/// (a failing test leaves nothing behind).
struct Tmux {
    socket: String,
    home: std::path::PathBuf,
}

impl Tmux {
    fn run(&self, args: &[&str]) -> String {
        let out = Command::new("tmux")
            .args(["-L", &self.socket, "-f", "/dev/null"])
            .args(args)
            .output()
            .expect("tmux runs");
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    fn screen(&self) -> String {
        self.run(&["capture-pane", "-p", "-t", "irc"])
    }

    fn type_line(&self, line: &str) {
        self.run(&["send-keys", "-t", "irc", "-l", line]);
        self.run(&["send-keys", "-t", "irc", "Enter"]);
    }

    /// Waits until the screen shows `text`.
    fn wait_screen(&self, text: &str) {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let screen = self.screen();
            if screen.contains(text) {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "irssi never showed {text:?}; screen:\n{screen}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        self.run(&["kill-server"]);
        let _ = std::fs::remove_dir_all(&self.home);
    }
}

fn irssi_home(dir: &Path) {
    std::fs::create_dir_all(dir).unwrap();
    let config = r#"
servers = ( );
chatnets = { };
channels = ( );
settings = {
  core = { real_name = "Iris Irssi"; user_name = "iris"; nick = "Iris"; };
  "irc/core" = { cmd_queue_speed = "10msec"; cmds_max_at_once = "50"; };
  "fe-common/core" = { autolog = "no"; };
};
"#;
    std::fs::write(dir.join("config"), config).unwrap();
}

#[tokio::test]
async fn irssi_chats_with_a_chatty_client_on_another_server() {
    if !common::tools::present(&["irssi", "tmux"]) {
        return;
    }
    let (_servers, irc, mut cleo) = irc_cluster().await;

    let home = std::env::temp_dir().join(format!("chatty-irssi-{}", std::process::id()));
    irssi_home(&home);
    let tmux = Tmux {
        socket: format!("chatty-irc-{}", std::process::id()),
        home: home.clone(),
    };
    let command = format!(
        "HOME={home} TERM=screen irssi --home={home} -c 127.0.0.1 -p {port} -n Iris",
        home = home.display(),
        port = irc.port()
    );
    tmux.run(&[
        "new-session",
        "-d",
        "-s",
        "irc",
        "-x",
        "160",
        "-y",
        "40",
        &command,
    ]);
    tmux.wait_screen("Welcome to the Chatty IRC Network");

    // Wait until both servers know both members, then meet in #dev.
    line_with(&mut cleo, "Iris joined the chat").await;
    tmux.type_line("/join #dev");
    tmux.wait_screen("#dev: Total of 1 nicks");
    cleo.write("/join #dev\n").await.unwrap();
    sees_member(&mut cleo, "#dev", "Iris").await;
    tmux.wait_screen("Cleo");

    tmux.type_line("hello from irssi");
    line_with(&mut cleo, "[#dev] [Iris] hello from irssi").await;
    cleo.write("hello from chatty\n").await.unwrap();
    tmux.wait_screen("hello from chatty");
    tmux.type_line("/me waves");
    line_with(&mut cleo, "[#dev] * Iris waves").await;
    cleo.write("/me bows\n").await.unwrap();
    tmux.wait_screen("Cleo bows");
    tmux.type_line("/topic release friday");
    line_with(&mut cleo, "[TOPIC] #dev: release friday (set by Iris)").await;
    tmux.type_line("/msg Cleo a private word");
    line_with(&mut cleo, "[PM from Iris] a private word").await;
    cleo.write("/nick Cleopatra\n").await.unwrap();
    tmux.wait_screen("Cleopatra");
    tmux.type_line("/quit bye now");
    line_with(&mut cleo, "Iris left").await;

    cleo.write("exit\n").await.unwrap();
    let _ = cleo.wait().await;
    drop(tmux);
}
