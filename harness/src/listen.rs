//! The lines a `chatty server` prints on stdout to say where it listens.
//!
//! The client listener's line is exactly `listening on ADDR`, and it ends the
//! server's start-up: once it is printed, clients can connect. Any other
//! listener a server opens says so as `<label> listening on ADDR` (for
//! example `metrics listening on 127.0.0.1:9100`), before or after that line.
//! [`Listeners`] collects them, so a new listener needs no new reader.

use std::collections::BTreeMap;
use std::net::SocketAddr;

use anyhow::{bail, Context};

const MARK: &str = "listening on ";

/// One line of a server's stdout.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Line {
    /// `listening on ADDR`: the client listener.
    Client(SocketAddr),
    /// `<label> listening on ADDR`: another listener.
    Labeled(String, SocketAddr),
}

/// Reads one stdout line; an error for anything but a listener line, since
/// a server prints nothing else on stdout.
pub fn parse(line: &str) -> anyhow::Result<Line> {
    let line = line.trim_end();
    let Some(at) = line.find(MARK) else {
        bail!("unexpected stdout line {line:?} (want `[LABEL] listening on ADDR`)");
    };
    let addr: SocketAddr = line[at + MARK.len()..]
        .parse()
        .with_context(|| format!("bad address in {line:?}"))?;
    match line[..at].strip_suffix(' ') {
        _ if at == 0 => Ok(Line::Client(addr)),
        Some(label) if !label.trim().is_empty() => Ok(Line::Labeled(label.to_string(), addr)),
        _ => bail!("unexpected stdout line {line:?} (want `[LABEL] listening on ADDR`)"),
    }
}

/// Where one server listens.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Listeners {
    /// The client listener, once its line has been read.
    pub client: Option<SocketAddr>,
    /// The other listeners, by label.
    pub labeled: BTreeMap<String, SocketAddr>,
}

impl Listeners {
    /// Takes in one stdout line; returns whether it was the client
    /// listener's, which ends the start-up.
    pub fn read(&mut self, line: &str) -> anyhow::Result<bool> {
        match parse(line)? {
            Line::Client(addr) => {
                self.client = Some(addr);
                Ok(true)
            }
            Line::Labeled(label, addr) => {
                self.labeled.insert(label, addr);
                Ok(false)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_and_labeled_lines_are_told_apart() {
        let addr: SocketAddr = "127.0.0.1:7878".parse().unwrap();
        assert_eq!(
            parse("listening on 127.0.0.1:7878\n").unwrap(),
            Line::Client(addr)
        );
        assert_eq!(
            parse("cluster udp listening on [::1]:9").unwrap(),
            Line::Labeled("cluster udp".into(), "[::1]:9".parse().unwrap())
        );
        for bad in [
            "hello",
            "listening on nowhere",
            " listening on 127.0.0.1:1",
            "xlistening on 127.0.0.1:1",
        ] {
            assert!(parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn the_client_line_ends_start_up_and_labels_are_kept() {
        let mut listeners = Listeners::default();
        assert!(!listeners
            .read("metrics listening on 127.0.0.1:9100")
            .unwrap());
        assert!(listeners.read("listening on 127.0.0.1:7878").unwrap());
        assert_eq!(listeners.client, Some("127.0.0.1:7878".parse().unwrap()));
        assert_eq!(
            listeners.labeled["metrics"],
            "127.0.0.1:9100".parse().unwrap()
        );
    }
}
