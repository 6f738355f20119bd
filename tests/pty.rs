//! The real `chatty client` on a terminal (a pseudo-terminal this test
//! opens): it stays live through failover — the loss is shown at once,
//! typed keys echo, a line typed meanwhile is shown pending and sent after
//! the rejoin — and when no server is left it gives the terminal back as
//! it found it, with no typed keys left over for the shell.
#![cfg(target_os = "linux")]

mod common;

use std::fs::File;
use std::io::{Read, Write};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::process::CommandExt;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use common::free_udp_port;
use common::proc::loopback_server;
use common::watcher::{wait_cluster, Watcher};

/// How long any one thing on the screen may take to appear.
const SCREEN_DEADLINE: Duration = Duration::from_secs(15);

/// A `chatty client` on its own pseudo-terminal.
struct Terminal {
    child: Child,
    keys: File,
    /// The terminal's other end, kept open to look at what is left in its
    /// input queue after the client exits.
    slave: OwnedFd,
    output: mpsc::Receiver<Vec<u8>>,
    /// Everything shown so far, escape sequences and carriage returns removed.
    screen: String,
}

impl Terminal {
    /// Runs `chatty client` with `args` on a fresh 100×30 terminal that is
    /// its controlling terminal, like a shell would.
    fn spawn(args: &[&str]) -> Terminal {
        let (mut master, mut slave) = (-1, -1);
        let size = libc::winsize {
            ws_row: 30,
            ws_col: 100,
            ws_xpixel: 0,
            ws_ypixel: 0,
        };
        // SAFETY: openpty writes two descriptors into the given ints; the
        // name and termios pointers may be null.
        let opened = unsafe {
            libc::openpty(
                &mut master,
                &mut slave,
                std::ptr::null_mut(),
                std::ptr::null(),
                &size,
            )
        };
        assert_eq!(opened, 0, "openpty: {}", std::io::Error::last_os_error());
        // SAFETY: both descriptors were just opened and are owned here alone.
        let (master, slave) =
            unsafe { (OwnedFd::from_raw_fd(master), OwnedFd::from_raw_fd(slave)) };
        let tty = |fd: &OwnedFd| Stdio::from(fd.try_clone().expect("dup"));
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_chatty"));
        cmd.arg("client")
            .args(args)
            .env("RUST_LOG", "error")
            .stdin(tty(&slave))
            .stdout(tty(&slave))
            .stderr(tty(&slave));
        // SAFETY: setsid and ioctl are async-signal-safe; nothing else runs
        // between fork and exec.
        unsafe {
            cmd.pre_exec(|| {
                if libc::setsid() < 0 || libc::ioctl(0, libc::TIOCSCTTY, 0) < 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
        let child = cmd.spawn().expect("spawn chatty client");
        let mut reader = File::from(master.try_clone().expect("dup"));
        let (tx, output) = mpsc::channel();
        std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            // Ends with EIO once the child is gone and the test drops the slave.
            while let Ok(n) = reader.read(&mut buf) {
                if n == 0 || tx.send(buf[..n].to_vec()).is_err() {
                    break;
                }
            }
        });
        Terminal {
            child,
            keys: File::from(master),
            slave,
            output,
            screen: String::new(),
        }
    }

    /// Presses these keys.
    fn type_keys(&mut self, keys: &str) {
        self.keys.write_all(keys.as_bytes()).expect("type");
    }

    /// Reads the screen until it shows `text`; returns how long that took.
    fn wait_for(&mut self, text: &str) -> Duration {
        let start = Instant::now();
        let deadline = start + SCREEN_DEADLINE;
        while !self.screen.contains(text) {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.output.recv_timeout(left) {
                Ok(bytes) => self.screen.push_str(&visible(&bytes)),
                Err(_) => panic!("{text:?} not on screen; it shows:\n{}", self.screen),
            }
        }
        start.elapsed()
    }

    /// Whether the screen shows `text` (after reading what has arrived).
    fn shows(&mut self, text: &str) -> bool {
        while let Ok(bytes) = self.output.try_recv() {
            self.screen.push_str(&visible(&bytes));
        }
        self.screen.contains(text)
    }

    /// Waits for the client to exit; returns its status.
    fn exit_code(&mut self) -> i32 {
        let deadline = Instant::now() + SCREEN_DEADLINE;
        loop {
            if let Some(status) = self.child.try_wait().expect("wait") {
                return status.code().expect("exited normally");
            }
            assert!(Instant::now() < deadline, "client did not exit");
            std::thread::sleep(Duration::from_millis(20)); // poll, bounded by the deadline
        }
    }

    /// The terminal's settings, as the client left them.
    fn termios(&self) -> libc::termios {
        // SAFETY: termios is plain data; tcgetattr fills it in.
        let mut t: libc::termios = unsafe { std::mem::zeroed() };
        assert_eq!(
            unsafe { libc::tcgetattr(self.slave.as_raw_fd(), &mut t) },
            0
        );
        t
    }

    /// Bytes typed but never read, which a shell would read next.
    fn typeahead(&self) -> Vec<u8> {
        let fd = self.slave.as_raw_fd();
        let mut t = self.termios();
        // SAFETY: plain calls on our own descriptor; raw mode and
        // O_NONBLOCK make a partial line readable and an empty queue EAGAIN.
        unsafe {
            libc::cfmakeraw(&mut t);
            libc::tcsetattr(fd, libc::TCSANOW, &t);
            libc::fcntl(fd, libc::F_SETFL, libc::O_NONBLOCK);
        }
        let mut left = Vec::new();
        let mut buf = [0u8; 256];
        loop {
            // SAFETY: reads into a buffer of the given length.
            let n = unsafe { libc::read(fd, buf.as_mut_ptr().cast(), buf.len()) };
            if n <= 0 {
                return left;
            }
            left.extend_from_slice(&buf[..n as usize]);
        }
    }
}

impl Drop for Terminal {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// What a person would read: text without escape sequences or carriage returns.
fn visible(bytes: &[u8]) -> String {
    let text = String::from_utf8_lossy(bytes);
    let mut out = String::new();
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\u{1b}' => match chars.next() {
                // CSI: parameters, then one final byte in @..~
                Some('[') => {
                    for c in chars.by_ref() {
                        if ('@'..='~').contains(&c) {
                            break;
                        }
                    }
                }
                // OSC: up to BEL
                Some(']') => for _ in chars.by_ref().take_while(|c| *c != '\u{7}') {},
                _ => {}
            },
            '\r' => {}
            c => out.push(c),
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn typing_stays_live_through_failover() {
    // B declares A dead only 3 s after A's last heartbeat, and refuses
    // Leo's name until then: a failover window of seconds to type in.
    let slow = ["--suspect-ms", "1000", "--dead-ms", "3000"];
    let port = free_udp_port();
    let mut a = loopback_server(port, &slow).await;
    let addr_a = a.addr().to_string();
    let _b = loopback_server(port, &slow).await;
    let addr_b = _b.addr().to_string();
    wait_cluster(&[&addr_a, &addr_b]).await;
    let mut bob = Watcher::join(&addr_b, "Bob", "Leo").await;
    let mut term = Terminal::spawn(&[&addr_a, "--name", "Leo"]);
    term.wait_for("[JOIN] Leo joined the chat");
    bob.wait("Leo to join", |heard, _| !heard.is_empty()).await;

    a.kill();
    let noticed = term.wait_for(&format!(
        "[SERVER] lost connection to {addr_a}; reconnecting…"
    ));
    assert!(
        noticed < Duration::from_secs(2),
        "noticed after {noticed:?}"
    );
    // Keys echo while the client reconnects…
    term.type_keys("typed while away");
    term.wait_for("-> typed while away");
    // …and Enter queues the line, shown as pending.
    term.type_keys("\r");
    term.wait_for("[PENDING] typed while away");
    assert!(
        !term.shows("[SERVER] reconnected"),
        "typed during the failover, not after it:\n{}",
        term.screen
    );
    term.wait_for(&format!("[SERVER] reconnected to {addr_b} as Leo"));
    term.wait_for("[Leo] typed while away");
    let heard = bob
        .wait("the line", |heard, _| {
            heard.iter().any(|l| l == "typed while away")
        })
        .await;
    assert_eq!(
        heard.iter().filter(|l| *l == "typed while away").count(),
        1,
        "{heard:?}"
    );
    term.type_keys("exit\r");
    assert_eq!(term.exit_code(), 0, "{}", term.screen);
    let restored = term.termios();
    assert_ne!(restored.c_lflag & libc::ICANON, 0, "line mode restored");
    assert_ne!(restored.c_lflag & libc::ECHO, 0, "echo restored");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_no_server_left_it_gives_up_and_gives_the_terminal_back() {
    let mut server = loopback_server(free_udp_port(), &[]).await;
    let addr = server.addr().to_string();
    let mut term = Terminal::spawn(&[&addr, "--name", "Leo", "--failover-timeout", "2"]);
    term.wait_for("[JOIN] Leo joined the chat");
    server.kill();
    term.wait_for("reconnecting…");
    term.type_keys("never sent\r");
    term.wait_for("[PENDING] never sent");
    // Keys typed without Enter echo too, and go nowhere after the exit.
    term.type_keys("half a line");
    term.wait_for("-> half a line");
    term.wait_for("giving up; 1 typed line was not sent");
    assert_eq!(term.exit_code(), 1, "{}", term.screen);
    let restored = term.termios();
    assert_ne!(restored.c_lflag & libc::ICANON, 0, "line mode restored");
    assert_ne!(restored.c_lflag & libc::ECHO, 0, "echo restored");
    assert_eq!(
        String::from_utf8_lossy(&term.typeahead()),
        "",
        "nothing typed is left for the shell"
    );
}
