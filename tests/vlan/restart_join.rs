//! Issue 14, from the speaker's side: a server restarts during a
//! conversation at 10 % loss and a client joins it at once. Every message
//! the speaker sends after its own server lists that client must reach the
//! client exactly once and in order, or the client must be told how many
//! were lost. (Before the relay's sync point moved to where the origin
//! began relaying to the peer, 2 to 23 such messages were skipped silently
//! in 5 of 8 runs.)

use std::time::Duration;

use chatty::client::{ClientReader, ClientWriter};
use chatty::protocol::ServerMsg;
use tokio::sync::watch;

use super::{converged_with, joined, DEADLINE};

/// The speaker's pace: a message every 50 ms (the servers run with no
/// flood limit, so the pace is the speaker's alone).
const PACE: Duration = Duration::from_millis(50);
/// Messages the speaker sends after it sees the newcomer.
const AFTER: usize = 40;
/// Restart rounds per run: each one a new incarnation and a new newcomer.
const ROUNDS: usize = 3;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_joining_a_restarted_server_misses_nothing_silently() {
    let test = "a_client_joining_a_restarted_server_misses_nothing_silently";
    let Some((mut lan, _)) = converged_with(test, 3, &["--rate-limit", "0"]).await else {
        return;
    };
    for host in 0..3 {
        lan.set_loss(host, 10).unwrap();
    }
    let (speaker_rx, speaker_tx) = joined(&lan, 0, "speaker").await.split();
    let (seen_tx, seen) = watch::channel(String::new());
    let watcher = tokio::spawn(watch_joins(speaker_rx, seen_tx));
    let mut speaker = Speaker {
        writer: speaker_tx,
        seen,
        next: 0,
    };
    for round in 0..ROUNDS {
        let newcomer = format!("new{round}");
        // Talk while host 2's server is killed and restarted, and while
        // the newcomer joins it the moment it listens.
        lan.kill(2);
        speaker.talk(5).await;
        lan.start(2).await.unwrap();
        let client = joined(&lan, 2, &newcomer).await;
        let (first, last) = speaker.talk_until_seen(&newcomer).await;
        let got = collect(client.split().0, last).await;
        check(&newcomer, first, last, &got);
    }
    watcher.abort();
}

/// The speaker: numbers its lines, and knows (from its own connection)
/// when its server lists a newcomer.
struct Speaker {
    writer: ClientWriter,
    seen: watch::Receiver<String>,
    next: usize,
}

impl Speaker {
    async fn say_next(&mut self) -> usize {
        let n = self.next;
        self.writer
            .say(&format!("m{n}"))
            .await
            .expect("speaker sends");
        self.next += 1;
        tokio::time::sleep(PACE).await;
        n
    }

    async fn talk(&mut self, lines: usize) {
        for _ in 0..lines {
            self.say_next().await;
        }
    }

    /// Talks until the speaker's server has shown it `name` joining, then
    /// [`AFTER`] lines more. Returns the first line numbered after the
    /// join was seen, and the last line.
    async fn talk_until_seen(&mut self, name: &str) -> (usize, usize) {
        let until = tokio::time::Instant::now() + DEADLINE;
        while *self.seen.borrow() != name {
            assert!(
                tokio::time::Instant::now() < until,
                "the speaker's server never listed {name}"
            );
            self.say_next().await;
        }
        // Everything sent from here on reaches the server after it listed
        // the newcomer, so the server numbers it after that.
        let first = self.next;
        let mut last = first;
        for _ in 0..AFTER {
            last = self.say_next().await;
        }
        (first, last)
    }
}

/// Publishes the name of each member the speaker's server announces.
async fn watch_joins(mut reader: ClientReader, seen: watch::Sender<String>) {
    while let Ok(Some(msg)) = reader.recv().await {
        if let ServerMsg::Joined { name, .. } = msg {
            let _ = seen.send(name);
        }
    }
}

/// What the newcomer saw of the speaker.
#[derive(Debug, Default)]
struct Got {
    lines: Vec<usize>,
    lost_notices: Vec<String>,
}

/// Reads the newcomer's stream until the speaker's line `last` (or a loss
/// notice and then silence).
async fn collect(mut reader: ClientReader, last: usize) -> Got {
    let mut got = Got::default();
    let until = tokio::time::Instant::now() + DEADLINE;
    loop {
        let left = until.saturating_duration_since(tokio::time::Instant::now());
        let next = tokio::time::timeout(left, reader.recv()).await;
        match next {
            Ok(Ok(Some(ServerMsg::Message { from, text, .. }))) if from == "speaker" => {
                let n: usize = text[1..].parse().expect("numbered line");
                got.lines.push(n);
                if n == last {
                    return got;
                }
            }
            Ok(Ok(Some(ServerMsg::Notice { text }))) if text.contains("lost") => {
                got.lost_notices.push(text);
            }
            Ok(Ok(Some(_))) => {}
            Ok(Ok(None)) | Ok(Err(_)) => panic!("the newcomer's connection closed"),
            Err(_) if !got.lost_notices.is_empty() => return got,
            Err(_) => panic!("the newcomer never got line m{last}: {got:?}"),
        }
    }
}

/// Every line from `first` to `last` exactly once, in order — unless the
/// newcomer was told of a loss, and then still never a line twice or out
/// of order.
fn check(newcomer: &str, first: usize, last: usize, got: &Got) {
    let mut sorted = got.lines.clone();
    sorted.dedup();
    assert_eq!(
        sorted.len(),
        got.lines.len(),
        "{newcomer}: a line twice: {got:?}"
    );
    assert!(
        got.lines.windows(2).all(|w| w[0] < w[1]),
        "{newcomer}: lines out of order: {got:?}"
    );
    let missing: Vec<usize> = (first..=last).filter(|n| !got.lines.contains(n)).collect();
    assert!(
        missing.is_empty() || !got.lost_notices.is_empty(),
        "{newcomer}: lines m{first}..=m{last} were sent after the speaker's server listed \
         {newcomer}, and these never arrived, with no loss notice: {missing:?}"
    );
}
