//! One simulated chat member: joins, reads everything, checks that every
//! line reaches it once, and fails over when its server goes away.
//!
//! A member keeps, per origin, the newest seq of every lobby `message`
//! (PROTOCOL.md 12.3), starting from its first `welcome.seen`; a message at
//! or below it is not shown (counted as `filtered`), everything else is
//! shown and entered in its [`Ledger`]. Senders type lines at a fixed rate
//! while the run says so, each with a cid, kept in an [`Outbox`] until
//! safe and sent again after a rejoin. After a failover a member tells the
//! observer (a member on a survivor) with a private message: the time that
//! reaches the observer is when the member is chatting again.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering::Relaxed};
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::Semaphore;
use tokio::time::{Instant, MissedTickBehavior};
use tokio_util::sync::CancellationToken;

use chatty_bench::api::{ClientMsg, MessageId, ServerId};
use chatty_bench::exactly::{line_text, parse_line, Ledger};
use chatty_bench::resend::Outbox;

use crate::rejoin::{candidates, rejoin_somewhere, Spread};
use crate::wire::{Frame, OpenError, Wire};

/// State every member shares with the coordinator.
pub struct Shared {
    /// The clock every instant below is counted on (ns since, plus 1: 0
    /// means "not yet").
    pub base: Instant,
    /// Members joined (first join).
    pub joined: AtomicUsize,
    /// While set, senders type lines.
    pub sending: AtomicBool,
    /// Lines each sender has typed.
    pub typed: Vec<AtomicU64>,
    /// Lines each member has shown.
    pub shown: Vec<AtomicU64>,
    /// Lines each sender has not had acknowledged yet.
    pub unacked: Vec<AtomicU64>,
    /// When each member got its `welcome` after a failover.
    pub rejoined_at: Vec<AtomicU64>,
    /// When the observer got each member's "back" line.
    pub back_at: Vec<AtomicU64>,
    pub stop: CancellationToken,
}

impl Shared {
    pub fn new(members: usize, senders: usize) -> Arc<Shared> {
        let zeros = |n| (0..n).map(|_| AtomicU64::new(0)).collect();
        Arc::new(Shared {
            base: Instant::now(),
            joined: AtomicUsize::new(0),
            sending: AtomicBool::new(false),
            typed: zeros(senders),
            shown: zeros(members),
            unacked: zeros(senders),
            rejoined_at: zeros(members),
            back_at: zeros(members),
            stop: CancellationToken::new(),
        })
    }

    /// `now` on the shared clock (never 0).
    pub fn stamp(&self) -> u64 {
        self.base.elapsed().as_nanos() as u64 + 1
    }

    /// A stamp back as an instant.
    pub fn instant(&self, stamp: u64) -> Option<Instant> {
        (stamp != 0).then(|| self.base + Duration::from_nanos(stamp - 1))
    }
}

/// Who a member is.
#[derive(Debug, Clone)]
pub struct Role {
    pub index: usize,
    pub name: String,
    pub addr: String,
    /// Its sender number, if it types lines.
    pub sender: Option<usize>,
    /// Time between two lines of a sender.
    pub period: Duration,
    /// The observer's name (the member "back" lines go to).
    pub observer: String,
    pub is_observer: bool,
    pub spread: Spread,
    /// Its turn among the survivors, drawn once as the library draws it
    /// (for [`Spread::Library`]).
    pub turn: u64,
    /// How long a failover may take before the member gives up.
    pub failover_limit: Duration,
}

/// What a member reports at the end.
#[derive(Debug, Default)]
pub struct Report {
    pub ledger: Ledger,
    /// Messages not shown because their id was at or below what was seen.
    pub filtered: u64,
    /// Why each connection of this member ended, in order (a fatal error
    /// text, EOF, `shutdown`).
    pub lost: Vec<String>,
    /// Whether it ended without a connection (a failover that gave up, or
    /// the first join failed).
    pub stranded: Option<String>,
    /// 211 answers while failing over.
    pub name_busy: u32,
    /// The server its first failover landed on.
    pub landed: Option<String>,
}

/// Newest seq per origin: what was seen, as `rejoin.last_seen` wants it;
/// and the (sender, cid) of the lines shown (PROTOCOL.md 12.5).
#[derive(Debug, Default)]
struct Watermark(
    HashMap<ServerId, u64>,
    std::collections::HashSet<(String, u64)>,
);

impl Watermark {
    /// Whether a line with this sender and cid is new; records it if so.
    fn fresh_line(&mut self, from: &str, cid: Option<u64>) -> bool {
        match cid {
            Some(cid) => self.1.insert((from.to_string(), cid)),
            None => true,
        }
    }

    fn fresh(&mut self, id: MessageId) -> bool {
        if id.seq == 0 {
            return true;
        }
        let newest = self.0.entry(id.origin).or_insert(0);
        if id.seq <= *newest {
            return false;
        }
        *newest = id.seq;
        true
    }

    fn last_seen(&self) -> Vec<MessageId> {
        self.0
            .iter()
            .map(|(&origin, &seq)| MessageId { origin, seq })
            .collect()
    }
}

/// A member's whole life: join (through `gate`, which bounds the joins
/// under way), then read, type and fail over until `shared.stop`.
pub async fn live(role: Role, shared: Arc<Shared>, gate: Arc<Semaphore>) -> Report {
    let mut report = Report::default();
    let join = ClientMsg::Join {
        name: role.name.clone(),
    };
    let permit = gate.acquire().await;
    let opened = Wire::open(&role.addr, &join, Duration::from_secs(60)).await;
    drop(permit);
    let (mut wire, welcome) = match opened {
        Ok(ok) => ok,
        Err(OpenError::NameTaken) => {
            report.stranded = Some("first join: name taken".into());
            return report;
        }
        Err(OpenError::Failed(e)) => {
            report.stranded = Some(format!("first join: {e}"));
            return report;
        }
    };
    shared.joined.fetch_add(1, Relaxed);
    let mut seen = Watermark::default();
    for id in &welcome.seen {
        seen.fresh(*id);
    }
    let mut addr = role.addr.clone();
    let mut announced = welcome.servers;
    let mut rng = 0x9E37_79B9_7F4A_7C15u64 ^ (role.index as u64 + 1).wrapping_mul(0x2545_F491);
    let mut outbox = Outbox::new((rng >> 2) + role.index as u64 * 1_000_000);
    let mut typed = 0u64;
    let mut tick = tokio::time::interval(role.period);
    tick.set_missed_tick_behavior(MissedTickBehavior::Delay);
    // The "back" line after a failover, until acknowledged: (cid, retry at).
    let mut back: Option<(u64, Option<Instant>)> = None;
    let mut back_cid = u64::MAX / 2 + role.index as u64 * 1_000;
    loop {
        let retry_back = back.and_then(|(_, at)| at);
        let frame = tokio::select! {
            biased;
            _ = shared.stop.cancelled() => break,
            frame = wire.next() => frame.unwrap_or_else(|e| Frame::Closed(format!("{e:#}"))),
            // Always polled (a member waiting for frames must still notice
            // that typing has begun); types only while the run says so.
            _ = tick.tick(), if role.sender.is_some() => {
                let Some(s) = role.sender.filter(|_| shared.sending.load(Relaxed)) else {
                    continue;
                };
                let cid = outbox.push(typed);
                let line = send_line(s, typed, cid);
                typed += 1;
                shared.typed[s].store(typed, Relaxed);
                shared.unacked[s].store(outbox.unacked() as u64, Relaxed);
                if let Err(e) = wire.send(&line).await {
                    Frame::Closed(format!("write: {e}"))
                } else {
                    continue;
                }
            }
            _ = sleep_until_opt(retry_back) => {
                if let Some((cid, _)) = back {
                    let _ = wire.send(&back_line(&role, cid)).await;
                    back = Some((cid, None));
                }
                continue;
            }
        };
        let now = Instant::now();
        match frame {
            Frame::Message {
                id,
                from,
                text,
                cid,
            } => {
                // As the reference client: a line resent after a failover
                // and numbered anew is known by its (sender, cid).
                if seen.fresh(id) && seen.fresh_line(&from, cid) {
                    if let Some((s, c)) = parse_line(&text) {
                        report.ledger.show(s, c);
                        shared.shown[role.index].store(report.ledger.shown, Relaxed);
                    }
                } else {
                    report.filtered += 1;
                }
            }
            Frame::Private { text, .. } if role.is_observer => {
                if let Some(i) = text
                    .strip_prefix("back ")
                    .and_then(|t| t.parse::<usize>().ok())
                {
                    if let Some(at) = shared.back_at.get(i) {
                        let _ = at.compare_exchange(0, shared.stamp(), Relaxed, Relaxed);
                    }
                }
            }
            Frame::Ack { cid } => {
                if back.is_some_and(|(b, _)| b == cid) {
                    back = None;
                }
                outbox.ack(cid, now.into_std());
                if let Some(s) = role.sender {
                    shared.unacked[s].store(outbox.unacked() as u64, Relaxed);
                }
            }
            Frame::Servers(list) if !list.is_empty() => announced = list,
            // A failed write shows up as the read's end, next round.
            Frame::Ping(nonce) => {
                let _ = wire.send(&ClientMsg::Pong { nonce }).await;
            }
            Frame::Error {
                fatal: false, cid, ..
            } => {
                // The observer not known yet on this server (273): again soon.
                if let (Some(c), Some((b, _))) = (cid, back) {
                    if c == b {
                        back = Some((b, Some(now + Duration::from_millis(100))));
                    }
                }
            }
            Frame::Error { .. } | Frame::Closed(_) => {
                report.lost.push(match frame {
                    Frame::Error { code, text, .. } => format!("error {code}: {text}"),
                    Frame::Closed(why) => why,
                    _ => unreachable!("matched above"),
                });
                if !fail_over(
                    &role,
                    &shared,
                    &mut wire,
                    &mut addr,
                    &mut announced,
                    &seen,
                    &mut outbox,
                    &mut rng,
                    &mut report,
                )
                .await
                {
                    break;
                }
                back_cid += 1;
                back = Some((back_cid, Some(Instant::now())));
            }
            _ => {}
        }
        outbox.heard(now.into_std());
    }
    report
}

async fn sleep_until_opt(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

fn send_line(sender: usize, counter: u64, cid: u64) -> ClientMsg {
    ClientMsg::Send {
        text: line_text(sender, counter),
        cid: Some(cid),
        action: false,
        room: None,
    }
}

fn back_line(role: &Role, cid: u64) -> ClientMsg {
    ClientMsg::Private {
        to: role.observer.clone(),
        text: format!("back {}", role.index),
        cid: Some(cid),
        action: false,
    }
}

/// Rejoins elsewhere and sends every kept line again; `false` if the
/// member could not get back in time (it is then stranded).
#[allow(clippy::too_many_arguments)]
async fn fail_over(
    role: &Role,
    shared: &Shared,
    wire: &mut Wire,
    addr: &mut String,
    announced: &mut Vec<String>,
    seen: &Watermark,
    outbox: &mut Outbox,
    rng: &mut u64,
    report: &mut Report,
) -> bool {
    let order = candidates(addr, announced, role.spread, role.index, role.turn);
    let deadline = Instant::now() + role.failover_limit;
    let rejoined = tokio::select! {
        _ = shared.stop.cancelled() => Err("stopped while failing over".to_string()),
        r = rejoin_somewhere(&order, &role.name, seen.last_seen(), deadline, rng) => r,
    };
    let rejoined = match rejoined {
        Ok(r) => r,
        Err(e) => {
            report.stranded = Some(e);
            return false;
        }
    };
    let _ = shared.rejoined_at[role.index].compare_exchange(0, shared.stamp(), Relaxed, Relaxed);
    report.name_busy += rejoined.name_busy;
    report.landed.get_or_insert_with(|| rejoined.addr.clone());
    *wire = rejoined.wire;
    *addr = rejoined.addr;
    if !rejoined.welcome.servers.is_empty() {
        *announced = rejoined.welcome.servers;
    }
    // The seen of a later welcome is not taken in (PROTOCOL.md 12.3).
    if let Some(s) = role.sender {
        for kept in outbox.resend() {
            if wire
                .send(&send_line(s, kept.counter, kept.cid))
                .await
                .is_err()
            {
                break;
            }
        }
        shared.unacked[s].store(outbox.unacked() as u64, Relaxed);
    }
    true
}
