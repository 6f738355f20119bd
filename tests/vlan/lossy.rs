//! The sustained lossy run: 10 % loss (in and out) and 1 % duplication on
//! every host for a minute, one chatting and one listening client per host.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use chatty::client::{Client, ClientWriter};
use chatty::protocol::{ClientMsg, ServerId, ServerMsg};

use super::{converged, joined, wait_members, DEADLINE};
use chatty_harness::vlan::Lan;

const HOSTS: usize = 5;
/// How long the senders chat under loss.
const RUN: Duration = Duration::from_secs(60);
/// Time between one sender's messages: 4 per second, under the default
/// limit of 10 per second.
const PACE: Duration = Duration::from_millis(250);
/// Messages per sender.
const PER_SENDER: usize = (RUN.as_millis() / PACE.as_millis()) as usize;
/// What a sender says after its last number.
const END: &str = "end";
/// How long after the last send every message must have arrived.
const DRAIN: Duration = Duration::from_secs(30);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lossy_lan_delivers_everything_once_in_order_and_removes_no_one() {
    let test = "a_lossy_lan_delivers_everything_once_in_order_and_removes_no_one";
    let Some((mut lan, ids)) = converged(test, HOSTS).await else {
        return;
    };
    let all: Vec<usize> = (0..HOSTS).collect();
    for i in 0..HOSTS {
        lan.set_loss(i, 10).unwrap();
        lan.set_dup(i, 1).unwrap();
    }

    let mut receivers = Vec::new();
    let mut senders = Vec::new();
    for i in 0..HOSTS {
        receivers.push(joined(&lan, i, &format!("r{i}")).await);
        senders.push(joined(&lan, i, &format!("s{i}")).await);
    }
    let names: Vec<(String, ServerId)> = (0..HOSTS)
        .flat_map(|i| [(format!("r{i}"), ids[i]), (format!("s{i}"), ids[i])])
        .collect();
    let names_ref: Vec<(&str, ServerId)> = names.iter().map(|(n, s)| (n.as_str(), *s)).collect();
    wait_members(&lan, &all, &names_ref, DEADLINE, "every client everywhere").await;

    let watch = Arc::new(AtomicBool::new(false));
    let monitor = tokio::spawn(watch_lists(
        lan_status_clients(&lan).await,
        ids.clone(),
        watch.clone(),
    ));
    let receive: Vec<_> = receivers
        .into_iter()
        .map(|r| tokio::spawn(receive(r)))
        .collect();
    let send: Vec<_> = senders
        .into_iter()
        .enumerate()
        .map(|(i, s)| tokio::spawn(send(s, i)))
        .collect();
    let mut writers = Vec::new();
    for task in send {
        writers.push(task.await.expect("sender task"));
    }
    let mut results = Vec::new();
    for task in receive {
        // Connections stay open until every receiver is done: one that
        // closed would show up as a `left` at the others.
        let Received { got, lefts, client } = task.await.expect("receiver task");
        writers.push(client.split().1);
        results.push((got, lefts));
    }
    for (host, (got, lefts)) in results.into_iter().enumerate() {
        assert!(lefts.is_empty(), "r{host} saw members leave: {lefts:?}");
        for sender in 0..HOSTS {
            let want: Vec<usize> = (0..=PER_SENDER).collect();
            let seq = got.get(&format!("s{sender}")).cloned().unwrap_or_default();
            assert!(
                seq == want,
                "r{host} got {} messages from s{sender}, want 0..={PER_SENDER} once in order; \
                 first difference at index {:?}",
                seq.len(),
                seq.iter().zip(&want).position(|(a, b)| a != b)
            );
        }
    }
    watch.store(true, Ordering::Relaxed);
    let (polls, problems) = monitor.await.expect("monitor task");
    assert!(problems.is_empty(), "false removals: {problems:?}");
    // 5 hosts × about 3 polls a second over the run: the lists were watched.
    assert!(polls >= HOSTS * 60, "only {polls} status polls");
    report_faults(&lan);
    drop(writers);
}

/// One status connection per host, from that host. Each joins as a
/// watcher `w<i>`: a connection that never joins is closed by the server's
/// join deadline, and this one stays open for the whole run.
async fn lan_status_clients(lan: &Lan) -> Vec<Client> {
    let mut clients = Vec::new();
    for i in 0..HOSTS {
        let mut client = lan.client(i, i).await.expect("status connection");
        client.join(&format!("w{i}")).await.expect("watcher joins");
        clients.push(client);
    }
    clients
}

/// Polls every server's list until `stop` is set; returns how many polls
/// were made and every poll where a live server was missing.
async fn watch_lists(
    mut clients: Vec<Client>,
    ids: Vec<ServerId>,
    stop: Arc<AtomicBool>,
) -> (usize, Vec<String>) {
    let mut polls = 0;
    let mut problems = Vec::new();
    while !stop.load(Ordering::Relaxed) {
        for (host, client) in clients.iter_mut().enumerate() {
            let report = match client.status().await {
                Ok(report) => report,
                Err(err) => {
                    // A broken status connection ends the watch: every
                    // later poll would only repeat this one problem.
                    problems.push(format!("status of host {host}: {err}"));
                    return (polls, problems);
                }
            };
            polls += 1;
            for (other, id) in ids.iter().enumerate() {
                if !report.servers.iter().any(|s| s.id == *id) {
                    problems.push(format!("host {host} lost host {other} after {polls} polls"));
                }
            }
        }
        tokio::time::sleep(Duration::from_millis(300)).await; // sampling period
    }
    (polls, problems)
}

/// Sends `PER_SENDER` messages `"<n>"`, one every `PACE`, while draining
/// what the server sends back (own echoes and everyone else's chat).
/// Returns the writer, so the member stays joined until the test ends.
async fn send(client: Client, _host: usize) -> ClientWriter {
    let (mut rx, mut tx) = client.split();
    let drain = tokio::spawn(async move { while let Ok(Some(_)) = rx.recv().await {} });
    let mut tick = tokio::time::interval(PACE);
    for n in 0..PER_SENDER {
        tick.tick().await;
        tx.say(&n.to_string()).await.expect("send");
    }
    // After the last number, so a late duplicate of it is still seen.
    tick.tick().await;
    tx.say(END).await.expect("send");
    drop(drain); // detached: it keeps draining until the connection closes
    tx
}

/// What one receiver saw.
struct Received {
    /// The numbers each sender sent, by sender name, in arrival order (its
    /// end marker as `PER_SENDER`).
    got: BTreeMap<String, Vec<usize>>,
    /// Every `left` event (there should be none).
    lefts: Vec<String>,
    /// The connection, still open.
    client: Client,
}

/// Collects the numbers every sender `s<i>` sent, in arrival order, until
/// every sender's end marker has arrived (or the deadline), plus any `left`.
async fn receive(mut client: Client) -> Received {
    let mut got: BTreeMap<String, Vec<usize>> = BTreeMap::new();
    let mut lefts = Vec::new();
    let ended = |got: &BTreeMap<String, Vec<usize>>| {
        got.len() == HOSTS && got.values().all(|seq| seq.contains(&PER_SENDER))
    };
    let read = async {
        while !ended(&got) {
            match client.recv().await {
                Ok(Some(ServerMsg::Ping { nonce })) => {
                    let _ = client.send_msg(&ClientMsg::Pong { nonce }).await;
                }
                Ok(Some(ServerMsg::Message { from, text, .. })) if from.starts_with('s') => {
                    // The end marker is recorded as PER_SENDER.
                    let n = if text == END {
                        PER_SENDER
                    } else {
                        text.parse().unwrap_or(usize::MAX)
                    };
                    got.entry(from).or_default().push(n);
                }
                Ok(Some(ServerMsg::Left { name, reason, .. })) => {
                    lefts.push(format!("{name} ({reason:?})"))
                }
                Ok(Some(_)) => {}
                Ok(None) | Err(_) => break,
            }
        }
    };
    let _ = tokio::time::timeout(RUN + DRAIN, read).await;
    Received { got, lefts, client }
}

/// Prints how many packets the fault rules hit, so a run shows the faults
/// were real (`cargo test -- --nocapture`).
fn report_faults(lan: &Lan) {
    let (mut lost, mut duplicated) = (0, 0);
    for i in 0..HOSTS {
        let counters = lan.fault_counters(i).expect("nft counters");
        lost += counters.lost;
        duplicated += counters.duplicated;
    }
    eprintln!("lossy run: {lost} packets dropped, {duplicated} duplicated by nftables");
    assert!(lost > 0 && duplicated > 0, "the faults hit nothing");
}
