//! One (N, size) run on a fresh server: set up, measure, check.

use std::sync::Arc;
use std::time::Duration;

use anyhow::{anyhow, bail, Context};
use chatty_bench::api::{Client, ClientError, ServerMsg};
use chatty_bench::procfs::{peak_rss_kib, CpuSample};
use chatty_bench::report::{histogram, print_errors};
use chatty_bench::server::start_loaded;
use chatty_harness::{loopback, Chatty, Server, Stderr};
use tokio::sync::{mpsc, Semaphore};
use tokio::task::JoinSet;
use tokio::time::{timeout_at, Instant as Deadline};

use crate::publisher::{Plan, Published, Publisher};
use crate::receiver::{describe, receiver, Received, Setup};
use crate::row::Row;
use crate::{Args, PUBLISHER};

/// Runs `messages` messages of `size` bytes to `clients` receivers.
pub(crate) async fn run_one(
    chatty: &Chatty,
    args: &Args,
    clients: usize,
    size: usize,
    acked: bool,
    messages: usize,
) -> anyhow::Result<Row> {
    let started = Deadline::now();
    let deadline = started + Duration::from_secs(args.timeout);
    // Every receiver may fall behind by the whole run, plus the join events.
    let queue = args.client_queue.unwrap_or(messages + clients + 1024);
    let server = start_server(chatty, queue).await?;
    let addr = server.addr().to_string();

    let mut receivers = Receivers::spawn(&addr, clients, messages, args, deadline);
    if let Err(why) = receivers.joined(deadline).await {
        return Ok(Row::failed(
            clients,
            size,
            acked,
            messages,
            format!("setup failed: {why}"),
        ));
    }
    eprintln!(
        "  {clients} receivers joined in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    let publisher = join_publisher(&addr, deadline).await?;
    if let Err(why) = receivers.ready(deadline).await {
        return Ok(Row::failed(clients, size, acked, messages, why));
    }

    let before = CpuSample::take(&[server.pid()]);
    let plan = Plan {
        messages,
        size,
        window: args.window,
        batch: args.batch,
        acked,
        deadline,
    };
    let publisher = Publisher::start(publisher, plan)?;
    let first_send = publisher.first_send;
    let results = receivers.finish().await?;
    let published = publisher.finish().await?;
    let cpu = CpuSample::take(&[server.pid()]).since(&before);
    let mut row = Row::empty(clients, size, acked, messages);
    row.peak_rss_kib = peak_rss_kib(server.pid());
    row.cpu_secs = cpu.servers;
    // Kill the server before the clients hang up, so their departures are not measured.
    drop(server);

    let check = Check::of(results, messages);
    if check.all_finished {
        row.elapsed = check.last_finish.map(|t| t.duration_since(first_send));
    }
    if let Some(elapsed) = row.elapsed {
        let sent_at = published.sent.done.map_or_else(
            || "–".into(),
            |t| format!("{:.2} s", t.duration_since(first_send).as_secs_f64()),
        );
        eprintln!(
            "  elapsed {:.2} s (publisher done sending at {sent_at}); {}",
            elapsed.as_secs_f64(),
            cpu.cores(elapsed.as_secs_f64(), "server")
        );
    }
    row.complete = check.verdict(published, messages, deadline, args.timeout);
    row.latency = Some(check.latency);
    Ok(row)
}

/// A lone server, but `chatty server` always takes part in discovery: its
/// multicast stays on loopback in a group of its own. Its warnings go to
/// this program's stderr as they come.
async fn start_server(chatty: &Chatty, client_queue: usize) -> anyhow::Result<Server> {
    let chatty = chatty.clone().stderr(Stderr::Inherit);
    start_loaded(&chatty, loopback::private_group()?, client_queue, &[]).await
}

/// The publisher, joined, past its own `joined` echo (which must not count
/// as a message echo).
async fn join_publisher(addr: &str, deadline: Deadline) -> anyhow::Result<Client> {
    let mut publisher = timeout_at(deadline, async {
        let mut client = Client::connect(addr).await?;
        client.join(PUBLISHER).await?;
        Ok::<_, ClientError>(client)
    })
    .await
    .map_err(|_| anyhow!("publisher setup timed out"))?
    .map_err(|err| anyhow!("publisher: {}", describe(&err)))?;
    loop {
        match timeout_at(deadline, publisher.next_reply()).await {
            Ok(Ok(ServerMsg::Joined { name, .. })) if name == PUBLISHER => return Ok(publisher),
            Ok(Ok(_)) => {}
            Ok(Err(err)) => bail!("publisher: {err}"),
            Err(_) => bail!("publisher never saw its own join"),
        }
    }
}

/// The receiver tasks, each reading from the moment it has joined.
struct Receivers {
    tasks: JoinSet<Received>,
    setup: mpsc::UnboundedReceiver<Setup>,
    clients: usize,
}

impl Receivers {
    fn spawn(
        addr: &str,
        clients: usize,
        messages: usize,
        args: &Args,
        deadline: Deadline,
    ) -> Receivers {
        let (setup_tx, setup) = mpsc::unbounded_channel();
        let slots = Arc::new(Semaphore::new(args.connect_parallel.max(1)));
        let mut tasks = JoinSet::new();
        for i in 0..clients {
            tasks.spawn(receiver(
                addr.to_string(),
                format!("r{i}"),
                messages as u64,
                slots.clone(),
                setup_tx.clone(),
                deadline,
            ));
        }
        Receivers {
            tasks,
            setup,
            clients,
        }
    }

    /// Waits until every receiver has joined; why not, if one failed.
    async fn joined(&mut self, deadline: Deadline) -> Result<(), String> {
        let mut joined = 0;
        while joined < self.clients {
            let why = match timeout_at(deadline, self.setup.recv()).await {
                Ok(Some(Setup::Joined)) => {
                    joined += 1;
                    continue;
                }
                Ok(Some(Setup::Ready)) => continue,
                Ok(Some(Setup::Failed(why))) => why,
                Ok(None) => "receivers ended during setup".into(),
                Err(_) => format!("only {joined}/{} receivers joined", self.clients),
            };
            self.tasks.abort_all();
            return Err(why);
        }
        Ok(())
    }

    /// Waits until every receiver has seen the publisher join, so that none
    /// is still working through the join backlog when the clock starts.
    async fn ready(&mut self, deadline: Deadline) -> Result<(), String> {
        let mut ready = 0;
        while ready < self.clients {
            match timeout_at(deadline, self.setup.recv()).await {
                Ok(Some(Setup::Ready)) => ready += 1,
                Ok(Some(_)) => {}
                Ok(None) | Err(_) => break,
            }
        }
        if ready < self.clients {
            self.tasks.abort_all();
            return Err(format!(
                "only {ready}/{} receivers saw the publisher join",
                self.clients
            ));
        }
        Ok(())
    }

    /// Every receiver's result (each ends by the deadline).
    async fn finish(mut self) -> anyhow::Result<Vec<Received>> {
        let mut results = Vec::with_capacity(self.clients);
        while let Some(joined) = self.tasks.join_next().await {
            results.push(joined.context("receiver task failed")?);
        }
        Ok(results)
    }
}

/// What all receivers saw together.
struct Check {
    latency: hdrhistogram::Histogram<u64>,
    missing: u64,
    duplicates: u64,
    reordered: u64,
    errors: Vec<String>,
    last_finish: Option<std::time::Instant>,
    all_finished: bool,
}

impl Check {
    fn of(mut results: Vec<Received>, messages: usize) -> Check {
        let mut check = Check {
            latency: histogram(),
            missing: 0,
            duplicates: 0,
            reordered: 0,
            errors: Vec::new(),
            last_finish: None,
            all_finished: results.iter().all(|r| r.finished.is_some()),
        };
        for r in &mut results {
            check.latency.add(&r.hist).expect("same histogram bounds");
            check.missing += messages as u64 - r.unique;
            check.duplicates += r.duplicates;
            check.reordered += r.reordered;
            check.errors.extend(r.error.take());
            check.last_finish = check.last_finish.max(r.finished);
        }
        check
    }

    /// `yes`, or `no (…)` with the counts and the first errors on stderr.
    fn verdict(
        &self,
        published: Published,
        messages: usize,
        deadline: Deadline,
        timeout: u64,
    ) -> String {
        let mut errors = self.errors.clone();
        errors.extend(published.sent.error);
        errors.extend(published.echo_error);
        let (sent, echoed) = (published.sent.sent, published.echoed);
        let ok = errors.is_empty()
            && self.missing == 0
            && self.duplicates == 0
            && self.reordered == 0
            && sent == messages
            && echoed == messages as u64;
        if ok {
            return "yes".into();
        }
        print_errors(&errors);
        let timed_out = if Deadline::now() >= deadline {
            format!("timed out after {timeout} s; ")
        } else {
            String::new()
        };
        format!(
            "no ({timed_out}missing {}, duplicated {}, reordered {}, sent {sent}, echoed {echoed}, {} errors)",
            self.missing,
            self.duplicates,
            self.reordered,
            errors.len()
        )
    }
}
