//! One run on three fresh servers: plan the senders, start every client's
//! reader and writer, wait until the senders report, stop, and tally.

use std::collections::HashMap;
use std::sync::atomic::AtomicU32;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use chatty_bench::api::{Client, ClientReader, ClientWriter, ServerId};
use chatty_bench::procfs::{peak_rss_kib, udp_rcvbuf_errors, CpuSample};
use chatty_harness::Chatty;
use hdrhistogram::Histogram;
use tokio::sync::{mpsc, Semaphore};
use tokio::task::JoinSet;
use tokio::time::{timeout_at, Instant as Deadline};
use tokio_util::sync::CancellationToken;

use crate::cluster::{report_logs, start_cluster, Cluster};
use crate::receiver::{receiver, Received, RecvCtx, Shared};
use crate::sender::{writer_task, Mode, SendPlan, SendReport, WriterCtx};
use crate::tally::Tally;
use crate::{Args, LAYOUT, SERVERS};

/// What one run does.
pub(crate) struct RunSpec {
    /// The servers' --inject-loss, in percent.
    pub(crate) loss: f64,
    pub(crate) senders_per_server: usize,
    pub(crate) mode: Mode,
}

/// The result of one run.
pub(crate) struct Outcome {
    pub(crate) senders: usize,
    pub(crate) window: usize,
    pub(crate) messages: u64,
    /// First send → the last client has the last message.
    pub(crate) elapsed: Option<Duration>,
    /// First send → the last sender stopped sending.
    pub(crate) sending: Option<Duration>,
    pub(crate) same: Histogram<u64>,
    pub(crate) cross: Histogram<u64>,
    pub(crate) slow_cross: u64,
    /// CPU seconds of all three servers during the timed window.
    pub(crate) server_cpu: f64,
    /// Length of the timed window (first send → every sender drained, or the end).
    pub(crate) window_secs: f64,
    /// The largest peak RSS of the three servers.
    pub(crate) rss_kib: Option<u64>,
    pub(crate) udp_drops: Option<u64>,
    /// Cores busy with anything but the servers and this process.
    pub(crate) others: Option<f64>,
    pub(crate) log_lines: u64,
    pub(crate) complete: String,
}

/// Runs `spec` on a fresh cluster.
pub(crate) async fn run_one(
    chatty: &Chatty,
    args: &Args,
    spec: &RunSpec,
) -> anyhow::Result<Outcome> {
    let deadline = Deadline::now() + Duration::from_secs(args.timeout);
    let Cluster {
        servers,
        clients,
        server_ids,
    } = start_cluster(chatty, args, spec.loss, deadline).await?;
    let pids: Vec<u32> = servers.iter().map(|s| s.pid()).collect();
    let mut plan = Plan::new(args, spec, clients.len(), server_ids)?;

    let cpu_before = CpuSample::take(&pids);
    let udp_before = udp_rcvbuf_errors();
    let start = Instant::now();
    let mut traffic = Traffic::spawn(clients, &mut plan, args, spec, start, deadline);
    let reports = traffic.reports(plan.senders(), deadline).await;
    let window_secs = start.elapsed().as_secs_f64();
    // A server that died makes the run incomplete anyway; its CPU is not read.
    let cpu = CpuSample::take(&pids).since(&cpu_before);
    let udp_drops = udp_before
        .zip(udp_rcvbuf_errors())
        .map(|(before, after)| after.saturating_sub(before));
    let all_drained =
        reports.len() == plan.senders() && reports.iter().all(|r| r.drained.is_some());
    if all_drained {
        // A little longer, so that duplicates would be seen.
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let (results, writers) = traffic.stop().await?;
    let rss_kib = pids.iter().filter_map(|&pid| peak_rss_kib(pid)).max();
    let log_lines = report_logs(&servers);
    // Kill the servers before the clients hang up.
    drop(servers);
    drop(writers);

    let tally = Tally::of(&results, &reports, plan.senders());
    drop(results);
    let sending = reports
        .iter()
        .map(|r| r.done_sending)
        .max()
        .map(|t| t.duration_since(start));
    let max_late = reports.iter().map(|r| r.max_late).max().unwrap_or_default();
    eprintln!(
        "  window {}/sender; sending {:.2} s, last delivery {:.2} s; {}; kernel UDP receive-buffer \
         drops {}; server log lines {log_lines}{}",
        plan.window,
        sending.map_or(0.0, |d| d.as_secs_f64()),
        tally.last_new.map_or(0.0, |t| t.duration_since(start).as_secs_f64()),
        cpu.cores(window_secs, "servers"),
        udp_drops.map_or_else(|| "?".into(), |d| d.to_string()),
        match spec.mode {
            Mode::Paced { .. } => format!("; worst send lateness {} ms", max_late.as_millis()),
            Mode::Closed { .. } => String::new(),
        }
    );
    tally.print_cross_latency(args.buckets);
    let complete = tally.verdict(all_drained);
    Ok(Outcome {
        senders: plan.senders(),
        window: plan.window,
        messages: tally.messages,
        elapsed: tally
            .last_new
            .filter(|_| all_drained)
            .map(|t| t.duration_since(start)),
        sending,
        same: tally.same,
        cross: tally.cross,
        slow_cross: tally.slow_cross,
        server_cpu: cpu.servers.unwrap_or(0.0),
        window_secs,
        rss_kib,
        udp_drops,
        others: cpu.others(window_secs),
        log_lines,
        complete,
    })
}

/// Who sends what, and the state every client task shares.
struct Plan {
    shared: Arc<Shared>,
    /// Senders by name.
    sender_index: HashMap<String, usize>,
    /// Each sender's pre-encoded frame and where its text starts, taken by
    /// its writer task.
    templates: Vec<(Vec<u8>, usize)>,
    /// Senders per server.
    per_server: usize,
    /// Each sender's window, in messages.
    window: usize,
    /// Most messages one sender sends.
    max: usize,
}

impl Plan {
    fn new(
        args: &Args,
        spec: &RunSpec,
        receivers: usize,
        server_ids: Vec<ServerId>,
    ) -> anyhow::Result<Plan> {
        let spp = spec.senders_per_server.clamp(1, args.clients);
        let senders: Vec<(String, usize)> = (0..SERVERS)
            .flat_map(|s| (0..spp).map(move |j| (format!("s{s}c{j}"), s)))
            .collect();
        let n_senders = senders.len();
        let window = (args.inflight / n_senders).max(1);
        let max = match spec.mode {
            Mode::Closed { .. } => args.max_messages,
            Mode::Paced { rate, duration } => {
                let share = duration.as_secs_f64() * rate / n_senders as f64;
                (share.ceil() as usize).min(args.max_messages)
            }
        }
        .max(1);
        let templates = (0..n_senders)
            .map(|index| LAYOUT.send_frame(args.size, &[index as u64, 0, 0]))
            .collect::<anyhow::Result<Vec<_>>>()?;
        let sender_index = senders
            .iter()
            .enumerate()
            .map(|(i, (name, _))| (name.clone(), i))
            .collect();
        let shared = Arc::new(Shared {
            receivers: receivers as u32,
            senders,
            server_ids,
            acks: (0..n_senders)
                .map(|_| (0..max).map(|_| AtomicU32::new(0)).collect())
                .collect(),
            windows: (0..n_senders).map(|_| Semaphore::new(window)).collect(),
        });
        Ok(Plan {
            shared,
            sender_index,
            templates,
            per_server: spp,
            window,
            max,
        })
    }

    fn senders(&self) -> usize {
        self.shared.senders.len()
    }

    /// What client `name` sends, if it is a sender.
    fn send_plan(
        &mut self,
        name: &str,
        args: &Args,
        spec: &RunSpec,
        start: Instant,
    ) -> Option<SendPlan> {
        let index = *self.sender_index.get(name)?;
        let (template, text_at) = std::mem::take(&mut self.templates[index]);
        let spp = self.per_server;
        Some(SendPlan {
            index,
            senders: self.senders(),
            // index = server·spp + j  →  slot = j·SERVERS + server
            slot: (index % spp) * SERVERS + index / spp,
            template,
            text_at,
            window: self.window,
            max: self.max,
            batch: args.batch.max(1),
            drain: Duration::from_secs_f64(args.drain),
            mode: spec.mode,
            start,
        })
    }
}

/// Every client's reader and writer task.
struct Traffic {
    receivers: JoinSet<(Received, ClientReader)>,
    writers: JoinSet<ClientWriter>,
    reports: mpsc::UnboundedReceiver<SendReport>,
    stop: CancellationToken,
}

impl Traffic {
    /// Splits every client into a reader task and a writer task; the
    /// senders start sending at once.
    fn spawn(
        clients: Vec<(String, usize, Client)>,
        plan: &mut Plan,
        args: &Args,
        spec: &RunSpec,
        start: Instant,
        deadline: Deadline,
    ) -> Traffic {
        let stop = CancellationToken::new();
        let (report_tx, reports) = mpsc::unbounded_channel();
        let mut receivers = JoinSet::new();
        let mut writers = JoinSet::new();
        for (name, server, client) in clients {
            let (reader, writer) = client.split();
            let (pong_tx, pong_rx) = mpsc::unbounded_channel();
            let ctx = RecvCtx {
                name: name.clone(),
                server,
                shared: plan.shared.clone(),
                pongs: pong_tx,
                stop: stop.clone(),
                deadline,
            };
            receivers.spawn(receiver(reader, ctx));
            let ctx = WriterCtx {
                plan: plan.send_plan(&name, args, spec, start),
                name,
                shared: plan.shared.clone(),
                pongs: pong_rx,
                reports: report_tx.clone(),
                stop: stop.clone(),
                deadline,
            };
            writers.spawn(writer_task(writer, ctx));
        }
        Traffic {
            receivers,
            writers,
            reports,
            stop,
        }
    }

    /// Every sender's report, by the deadline (its drain is bounded by it).
    async fn reports(&mut self, senders: usize, deadline: Deadline) -> Vec<SendReport> {
        let mut reports = Vec::with_capacity(senders);
        while reports.len() < senders {
            match timeout_at(deadline + Duration::from_secs(2), self.reports.recv()).await {
                Ok(Some(report)) => reports.push(report),
                Ok(None) | Err(_) => break,
            }
        }
        reports
    }

    /// Stops every task; what the receivers saw, with the connections,
    /// which stay open until dropped.
    async fn stop(mut self) -> anyhow::Result<(Vec<(Received, ClientReader)>, Vec<ClientWriter>)> {
        self.stop.cancel();
        let mut results = Vec::with_capacity(self.receivers.len());
        while let Some(done) = self.receivers.join_next().await {
            results.push(done.context("receiver task failed")?);
        }
        let mut writers = Vec::with_capacity(self.writers.len());
        while let Some(done) = self.writers.join_next().await {
            writers.push(done.context("writer task failed")?);
        }
        Ok((results, writers))
    }
}
