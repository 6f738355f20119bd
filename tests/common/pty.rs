//! The real `chatty client` on a pseudo-terminal a test opens, driven
//! like a person at a keyboard: keys typed in, the screen read back (with
//! escape sequences and carriage returns taken out).

use std::fs::File;
use std::io::{Read, Write};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::process::CommandExt;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// How long any one thing on the screen may take to appear.
pub const SCREEN_DEADLINE: Duration = Duration::from_secs(15);

/// A `chatty client` on its own pseudo-terminal.
pub struct Terminal {
    child: Child,
    keys: File,
    /// The terminal's other end, kept open to look at what is left in its
    /// input queue after the client exits.
    slave: OwnedFd,
    output: mpsc::Receiver<Vec<u8>>,
    /// Everything shown so far, escape sequences and carriage returns removed.
    pub screen: String,
}

impl Terminal {
    /// Runs `chatty client` with `args` on a fresh 100×30 terminal that is
    /// its controlling terminal, like a shell would.
    pub fn spawn(args: &[&str]) -> Terminal {
        Terminal::spawn_command("client", args)
    }

    /// Runs `chatty COMMAND ARGS` (e.g. `watch`) the same way.
    pub fn spawn_command(command: &str, args: &[&str]) -> Terminal {
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
        // openpty's descriptors are inheritable: without close-on-exec, a
        // child another test spawns meanwhile (tests of one binary run in
        // parallel) would hold this terminal open. The child here gets its
        // own copies as its stdio.
        for fd in [master, slave] {
            // SAFETY: fcntl on a descriptor just opened and owned here.
            let set = unsafe { libc::fcntl(fd, libc::F_SETFD, libc::FD_CLOEXEC) };
            assert_eq!(set, 0, "fcntl: {}", std::io::Error::last_os_error());
        }
        // SAFETY: both descriptors were just opened and are owned here alone.
        let (master, slave) =
            unsafe { (OwnedFd::from_raw_fd(master), OwnedFd::from_raw_fd(slave)) };
        let tty = |fd: &OwnedFd| Stdio::from(fd.try_clone().expect("dup"));
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_chatty"));
        cmd.arg(command)
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
    pub fn type_keys(&mut self, keys: &str) {
        self.keys.write_all(keys.as_bytes()).expect("type");
    }

    /// Reads the screen until it shows `text`; returns how long that took.
    pub fn wait_for(&mut self, text: &str) -> Duration {
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
    pub fn shows(&mut self, text: &str) -> bool {
        while let Ok(bytes) = self.output.try_recv() {
            self.screen.push_str(&visible(&bytes));
        }
        self.screen.contains(text)
    }

    /// Holds the client's output: its next write to the terminal blocks
    /// until [`release_output`](Terminal::release_output). Unlike Ctrl-S,
    /// no key typed meanwhile (Ctrl-C included) lets it go on: flow
    /// control by keys (`IXON`) is switched off first.
    pub fn hold_output(&self) {
        let mut t = self.termios();
        t.c_iflag &= !libc::IXON;
        let fd = self.slave.as_raw_fd();
        // SAFETY: tcsetattr and tcflow on the terminal this test owns.
        assert_eq!(unsafe { libc::tcsetattr(fd, libc::TCSANOW, &t) }, 0);
        assert_eq!(unsafe { libc::tcflow(fd, libc::TCOOFF) }, 0);
    }

    /// Lets held output go on.
    pub fn release_output(&self) {
        // SAFETY: tcflow on the terminal this test owns.
        assert_eq!(
            unsafe { libc::tcflow(self.slave.as_raw_fd(), libc::TCOON) },
            0
        );
    }

    /// Waits until one of the client's threads is blocked writing to its
    /// terminal (the system call `write` on descriptor 1, read from
    /// `/proc`), as it is once output is held.
    pub fn wait_blocked_writing(&self) {
        let deadline = Instant::now() + SCREEN_DEADLINE;
        let tasks = format!("/proc/{}/task", self.child.id());
        let writing = format!("{} 0x1 ", libc::SYS_write);
        loop {
            let blocked = std::fs::read_dir(&tasks).into_iter().flatten().any(|task| {
                task.ok()
                    .and_then(|t| std::fs::read_to_string(t.path().join("syscall")).ok())
                    .is_some_and(|call| call.starts_with(&writing))
            });
            if blocked {
                return;
            }
            assert!(Instant::now() < deadline, "client never blocked writing");
            std::thread::sleep(Duration::from_millis(10)); // poll, bounded by the deadline
        }
    }

    /// Waits for the client to exit; returns its status.
    pub fn exit_code(&mut self) -> i32 {
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
    pub fn termios(&self) -> libc::termios {
        // SAFETY: termios is plain data; tcgetattr fills it in.
        let mut t: libc::termios = unsafe { std::mem::zeroed() };
        assert_eq!(
            unsafe { libc::tcgetattr(self.slave.as_raw_fd(), &mut t) },
            0
        );
        t
    }

    /// Bytes typed but never read, which a shell would read next.
    pub fn typeahead(&self) -> Vec<u8> {
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
