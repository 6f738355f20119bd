//! A chat member who listens to one other member, for tests of what that
//! member's lines look like from another server.

use std::time::Duration;

use chatty::client::{status, Client};
use chatty::protocol::{ClientMsg, LeaveReason, ServerMsg};
use tokio::sync::watch;
use tokio::time::Instant;

/// How long a whole conversation may take, failover included.
pub const CONVERSATION: Duration = Duration::from_secs(60);

/// Waits until every server's status lists all of `addrs`, alive.
pub async fn wait_cluster(addrs: &[&String]) {
    let deadline = Instant::now() + Duration::from_secs(15);
    for addr in addrs {
        loop {
            let report = status::fetch(addr).await.expect("status");
            let alive: Vec<&String> = report
                .servers
                .iter()
                .filter(|s| s.state == "alive")
                .map(|s| &s.addr)
                .collect();
            if addrs.iter().all(|a| alive.contains(a)) {
                break;
            }
            assert!(Instant::now() < deadline, "{addr} sees {alive:?}");
            tokio::time::sleep(Duration::from_millis(50)).await; // poll, bounded by the deadline
        }
    }
}

/// Waits until the server at `addr` lists `name` as a member: from then
/// on it follows the stream of `name`'s server (its first sync is done).
pub async fn wait_member(addr: &str, name: &str) {
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let report = status::fetch(addr).await.expect("status");
        if report.members.iter().any(|m| m.name == name) {
            return;
        }
        assert!(Instant::now() < deadline, "{addr} never listed {name}");
        tokio::time::sleep(Duration::from_millis(50)).await; // poll, bounded by the deadline
    }
}

/// Someone on `addr` who records everything `from` says, and whether
/// `from` has left the chat (of their own accord).
pub struct Watcher {
    heard: watch::Receiver<(Vec<String>, bool)>,
}

impl Watcher {
    /// Joins `addr` as `name` and listens to `from`; `<joined>` stands
    /// for each time `from` joins, and a private line from `from` is
    /// recorded as `(private) text`.
    pub async fn join(addr: &str, name: &str, from: &'static str) -> Watcher {
        let mut client = Client::connect(addr).await.expect("connect");
        client.join(name).await.expect("join");
        let (mut rx, mut tx) = client.split();
        let (report, heard) = watch::channel((Vec::new(), false));
        tokio::spawn(async move {
            while let Ok(Some(msg)) = rx.recv().await {
                match msg {
                    ServerMsg::Ping { nonce } => {
                        let _ = tx.send_msg(&ClientMsg::Pong { nonce }).await;
                    }
                    ServerMsg::Message { from: f, text, .. } if f == from => {
                        report.send_modify(|(lines, _)| lines.push(text));
                    }
                    ServerMsg::Private { from: f, text, .. } if f == from => {
                        report.send_modify(|(lines, _)| lines.push(format!("(private) {text}")));
                    }
                    ServerMsg::Joined { name, .. } if name == from => {
                        report.send_modify(|(lines, _)| lines.push("<joined>".into()));
                    }
                    ServerMsg::Left {
                        name,
                        reason: LeaveReason::Leave,
                        ..
                    } if name == from => report.send_modify(|(_, left)| *left = true),
                    _ => {}
                }
            }
        });
        Watcher { heard }
    }

    /// Waits until `pred` holds for what was heard; returns it.
    pub async fn wait(
        &mut self,
        what: &str,
        pred: impl Fn(&[String], bool) -> bool,
    ) -> Vec<String> {
        let waited = tokio::time::timeout(
            CONVERSATION,
            self.heard.wait_for(|(lines, left)| pred(lines, *left)),
        )
        .await
        .map(|got| got.map(|got| got.0.clone()));
        match waited {
            Ok(Ok(heard)) => heard,
            _ => panic!(
                "timed out waiting for {what}; heard {:?}",
                self.heard.borrow().0
            ),
        }
    }
}
