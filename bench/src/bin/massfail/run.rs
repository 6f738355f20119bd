//! One run: servers up, everyone joined, chat going, SIGKILL, everyone
//! back, chat stopped and drained, verdict.

use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::time::Duration;

use anyhow::bail;
use tokio::sync::Semaphore;
use tokio::time::Instant;

use chatty_bench::api::survivors;
use chatty_bench::exactly::Verdict;
use chatty_bench::losses::Losses;
use chatty_bench::report::ms;
use chatty_harness::Chatty;

use crate::cluster;
use crate::member::{live, Role, Shared};
use crate::rejoin::Spread;

/// Servers in a run; clients of server 0 (index % 3 == 0) are the ones that
/// fail over.
const SERVERS: usize = 3;
/// How long everyone may take to join.
const SETUP: Duration = Duration::from_secs(180);
/// A pause after the last join, so that its backlog is read before the chat.
const SETTLE: Duration = Duration::from_secs(2);

/// What a run does.
#[derive(Debug, Clone)]
pub struct RunSpec {
    pub clients: usize,
    pub senders: usize,
    pub period: Duration,
    pub before: Duration,
    pub after: Duration,
    pub limit: Duration,
    pub spread: Spread,
    pub parallel: usize,
    /// Further `chatty server` flags.
    pub server_args: Vec<String>,
    /// How long the senders' lines may take to be acknowledged, and then
    /// delivered everywhere, once typing stops; what has not arrived by
    /// then counts as missed.
    pub drain: Duration,
}

impl RunSpec {
    /// The most one run may take.
    pub fn bound(&self) -> Duration {
        SETUP
            + SETTLE
            + self.before
            + self.limit
            + self.after
            + self.drain * 2
            + Duration::from_secs(30)
    }
}

/// What a run measured.
#[derive(Debug)]
pub struct RunOutcome {
    pub victims: usize,
    /// How many of the lost server's clients landed on each survivor
    /// (servers 1 and 2) at their first failover.
    pub landed: [usize; SERVERS - 1],
    /// SIGKILL → the last of the lost server's clients chatting again.
    pub all_back: Option<Duration>,
    /// SIGKILL → `welcome` on a survivor, per client that got one.
    pub reconnect: Vec<Duration>,
    /// SIGKILL → its line reached the observer, per client.
    pub chatting: Vec<Duration>,
    pub name_busy: u64,
    pub typed: u64,
    pub verdict: Verdict,
    pub filtered: u64,
    /// Connections lost by survivors' clients, and by the lost server's
    /// clients after their failover.
    pub unexpected: Losses,
    pub survivors_lost: usize,
    pub stranded: usize,
    pub stranded_example: Option<String>,
}

fn quantile(sorted: &[Duration], q: f64) -> Option<Duration> {
    if sorted.is_empty() {
        return None;
    }
    Some(sorted[((sorted.len() - 1) as f64 * q).round() as usize])
}

fn cell(d: Option<Duration>) -> String {
    d.map_or("–".into(), ms)
}

impl RunOutcome {
    /// Everyone back, nothing missed or twice, nobody dropped.
    pub fn clean(&self) -> bool {
        self.all_back.is_some()
            && self.verdict.exact()
            && self.unexpected.total() == 0
            && self.stranded == 0
    }

    /// The per-run table's cells after binary and run.
    pub fn cells(&self) -> String {
        format!(
            "{} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {}",
            self.victims,
            self.split(),
            self.all_back.map_or_else(
                || format!("not all: {} of {}", self.chatting.len(), self.victims),
                ms
            ),
            cell(quantile(&self.reconnect, 0.5)),
            cell(quantile(&self.reconnect, 0.99)),
            cell(quantile(&self.chatting, 0.5)),
            cell(quantile(&self.chatting, 0.99)),
            self.name_busy,
            self.typed,
            self.verdict.missed,
            self.verdict.duplicates,
            self.filtered,
            self.survivors_lost,
            self.unexpected.summary(),
            self.stranded,
        )
    }

    /// Where the lost server's clients landed: "n1 / n2".
    pub fn split(&self) -> String {
        let counts: Vec<String> = self.landed.iter().map(|n| n.to_string()).collect();
        counts.join(" / ")
    }

    /// One line for progress output.
    pub fn line(&self) -> String {
        format!(
            "landed {}, all back after {}, {} lines, missed {}, twice {}, lost {}, stranded {}{}",
            self.split(),
            cell(self.all_back),
            self.typed,
            self.verdict.missed,
            self.verdict.duplicates,
            self.unexpected.summary(),
            self.stranded,
            self.stranded_example
                .as_deref()
                .map_or(String::new(), |e| format!(" (e.g. {e})"))
        )
    }
}

/// Waits until `done` or `limit`; whether it was done.
async fn until(limit: Duration, done: impl Fn() -> bool) -> bool {
    let deadline = Instant::now() + limit;
    while !done() {
        if Instant::now() > deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(10)).await; // poll, bounded
    }
    true
}

pub async fn one(chatty: &Chatty, spec: &RunSpec, run: usize) -> anyhow::Result<RunOutcome> {
    let mut servers = cluster::start(chatty, SERVERS, spec.clients, &spec.server_args).await?;
    let addrs: Vec<String> = servers.iter().map(|s| s.addr().to_string()).collect();
    let shared = Shared::new(spec.clients, spec.senders);
    let gate = Arc::new(Semaphore::new(spec.parallel));
    let name = |i: usize| format!("m{run}c{i}");
    // Member 1 (on server 1, a survivor) observes; members 2.. type.
    let observer = name(1);
    let mut tasks = Vec::with_capacity(spec.clients);
    for i in 0..spec.clients {
        let role = Role {
            index: i,
            name: name(i),
            addr: addrs[i % SERVERS].clone(),
            sender: i.checked_sub(2).filter(|&s| s < spec.senders),
            period: spec.period,
            observer: observer.clone(),
            is_observer: i == 1,
            spread: spec.spread,
            turn: survivors::draw_turn(),
            failover_limit: spec.limit,
        };
        tasks.push(tokio::spawn(live(role, shared.clone(), gate.clone())));
    }
    let joined = until(SETUP, || shared.joined.load(Relaxed) == spec.clients).await;
    if !joined {
        shared.stop.cancel();
        bail!(
            "only {} of {} clients joined within {SETUP:?}",
            shared.joined.load(Relaxed),
            spec.clients
        );
    }
    tokio::time::sleep(SETTLE).await;
    shared.sending.store(true, Relaxed);
    tokio::time::sleep(spec.before).await;

    let victims: Vec<usize> = (0..spec.clients).filter(|i| i % SERVERS == 0).collect();
    let t0 = shared.stamp();
    servers[0].kill();
    until(spec.limit, || {
        victims
            .iter()
            .all(|&i| shared.back_at[i].load(Relaxed) != 0)
    })
    .await;
    tokio::time::sleep(spec.after).await;
    shared.sending.store(false, Relaxed);
    until(spec.drain, || {
        shared.unacked.iter().all(|u| u.load(Relaxed) == 0)
    })
    .await;
    let typed: Vec<u64> = shared.typed.iter().map(|t| t.load(Relaxed)).collect();
    let total: u64 = typed.iter().sum();
    until(spec.drain, || {
        shared.shown.iter().all(|s| s.load(Relaxed) >= total)
    })
    .await;
    shared.stop.cancel();

    let mut verdict = Verdict::default();
    let mut unexpected = Losses::default();
    let mut filtered = 0;
    let mut name_busy = 0;
    let mut stranded = 0;
    let mut stranded_example = None;
    let mut survivors_lost = 0;
    let mut landed = [0; SERVERS - 1];
    for (i, task) in tasks.into_iter().enumerate() {
        let report = task.await?;
        if i % SERVERS == 0 {
            if let Some(at) = addrs[1..]
                .iter()
                .position(|a| Some(a) == report.landed.as_ref())
            {
                landed[at] += 1;
            }
        }
        name_busy += u64::from(report.name_busy);
        filtered += report.filtered;
        // The lost server's clients lose their first connection to the kill.
        let expected = usize::from(i % SERVERS == 0);
        if i % SERVERS != 0 && !report.lost.is_empty() {
            survivors_lost += 1;
        }
        for why in report.lost.iter().skip(expected) {
            unexpected.record(why);
        }
        if let Some(why) = report.stranded {
            stranded += 1;
            stranded_example.get_or_insert(why);
            continue;
        }
        verdict.absorb(report.ledger.verdict(&typed));
    }
    let since_kill = |stamp: u64| {
        shared
            .instant(stamp)
            .zip(shared.instant(t0))
            .map(|(at, kill)| at.saturating_duration_since(kill))
    };
    let mut reconnect: Vec<Duration> = victims
        .iter()
        .filter_map(|&i| since_kill(shared.rejoined_at[i].load(Relaxed)))
        .collect();
    let mut chatting: Vec<Duration> = victims
        .iter()
        .filter_map(|&i| since_kill(shared.back_at[i].load(Relaxed)))
        .collect();
    reconnect.sort();
    chatting.sort();
    let all_back = (chatting.len() == victims.len())
        .then(|| chatting.last().copied())
        .flatten();
    drop(servers);
    Ok(RunOutcome {
        victims: victims.len(),
        landed,
        all_back,
        reconnect,
        chatting,
        name_busy,
        typed: total,
        verdict,
        filtered,
        unexpected,
        survivors_lost,
        stranded,
        stranded_example,
    })
}
