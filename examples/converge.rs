//! Watch a cluster converge, without root: five servers on 127.0.0.1 (one
//! multicast group on loopback, of this run's own), killed, restarted and
//! stopped on a schedule. Every live server is watched through the status
//! subscription (`watch`, the same one `chatty watch` uses), so what each
//! survivor sees is printed as it happens, and each step reports how long
//! it took until every running server listed exactly the running servers.
//!
//! ```text
//! cargo run --example converge              # the full schedule, a few seconds
//! cargo run --example converge -- --short   # four steps (what CI runs)
//! ```
//!
//! A kill drops a server at once, without a word to the others (what a
//! crash looks like to them: silence, then removal); a stop is a graceful
//! shutdown (its leave is announced); a restart is a new incarnation on the
//! same address; a restart is a kill and a start at once, so the new
//! incarnation is heard before the old one is given up (`replaced`).

use std::collections::{BTreeSet, HashMap};
use std::net::{Ipv4Addr, SocketAddr, TcpListener};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use chatty::client::Client;
use chatty::net::{ClusterConfig, TransportConfig};
use chatty::protocol::{ClientMsg, ServerId, ServerMsg, StatusReport};
use chatty::server::{Server, ServerConfig};
use tokio::sync::{oneshot, watch};
use tokio::task::JoinHandle;

/// One step of a schedule.
#[derive(Debug, Clone, Copy)]
pub enum Step {
    /// Crash server `n` (no leave).
    Kill(usize),
    /// Stop server `n` gracefully.
    Stop(usize),
    /// Start server `n` again, on its address: a new incarnation.
    Start(usize),
    /// Kill server `n` and start it again at once.
    Restart(usize),
}

/// Servers in a run.
pub const SERVERS: usize = 5;

/// The full schedule: a crash, a restart, a graceful stop, two crashes at
/// once, and everyone back.
pub const FULL: &[Step] = &[
    Step::Restart(2),
    Step::Kill(1),
    Step::Start(1),
    Step::Stop(3),
    Step::Kill(0),
    Step::Kill(4),
    Step::Start(3),
    Step::Start(0),
    Step::Start(4),
];

/// A short schedule for CI: a crash, a start, a restart, a graceful stop.
pub const SHORT: &[Step] = &[
    Step::Kill(1),
    Step::Start(1),
    Step::Restart(3),
    Step::Stop(2),
];

/// The longest one convergence may take before the run fails.
pub const CONVERGE_LIMIT: Duration = Duration::from_secs(10);

#[allow(dead_code)] // the CI test calls `run`, not `main`
#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let short = std::env::args().any(|a| a == "--short");
    let times = run(if short { SHORT } else { FULL }, true).await?;
    println!("\nconvergence, step by step:");
    for (step, took) in times {
        println!(
            "  {:<10} {:>6.0} ms",
            describe(step),
            took.as_secs_f64() * 1000.0
        );
    }
    Ok(())
}

/// Runs `schedule` on a fresh cluster of [`SERVERS`]; returns how long each
/// step took to converge. Prints what the survivors see when `verbose`.
pub async fn run(schedule: &[Step], verbose: bool) -> anyhow::Result<Vec<(Step, Duration)>> {
    let mut lab = Lab::new(verbose)?;
    let t0 = Instant::now();
    for n in 0..SERVERS {
        lab.start(n).await?;
    }
    let took = lab.converge(t0).await?;
    lab.say(format_args!(
        "all {SERVERS} servers list each other after {took:.2?}"
    ));
    let mut times = Vec::new();
    for &step in schedule {
        lab.say(format_args!("── {}", describe(step)));
        let t = Instant::now();
        match step {
            Step::Kill(n) => lab.kill(n).await,
            Step::Stop(n) => lab.stop(n).await,
            Step::Start(n) => lab.start(n).await?,
            Step::Restart(n) => {
                lab.kill(n).await;
                lab.start(n).await?;
            }
        }
        let took = lab.converge(t).await?;
        lab.say(format_args!("   converged in {took:.2?}"));
        times.push((step, took));
    }
    lab.say(format_args!("── stopping every server"));
    for n in 0..SERVERS {
        lab.stop(n).await;
    }
    Ok(times)
}

fn describe(step: Step) -> String {
    match step {
        Step::Kill(n) => format!("kill s{n}"),
        Step::Stop(n) => format!("stop s{n}"),
        Step::Start(n) => format!("start s{n}"),
        Step::Restart(n) => format!("restart s{n}"),
    }
}

/// A running server and the watcher of what it sees.
struct Running {
    id: ServerId,
    stop: oneshot::Sender<()>,
    task: JoinHandle<anyhow::Result<()>>,
    sees: watch::Receiver<BTreeSet<ServerId>>,
    watcher: JoinHandle<()>,
}

/// Five server slots on loopback, each with a fixed client address.
struct Lab {
    cluster: ClusterConfig,
    addrs: Vec<SocketAddr>,
    running: Vec<Option<Running>>,
    /// Which slot an id is (or was) in, for printing `s2` instead of a uuid.
    names: Arc<Mutex<HashMap<ServerId, usize>>>,
    verbose: bool,
    started: Instant,
}

impl Lab {
    fn new(verbose: bool) -> anyhow::Result<Lab> {
        let group_port = chatty_harness::loopback::free_udp_port()?;
        let cluster = ClusterConfig {
            name: "converge".into(),
            transport: TransportConfig {
                iface: Ipv4Addr::LOCALHOST.into(),
                iface_index: 0,
                udp_port: 0,
                group: (chatty_harness::loopback::GROUP_IP, group_port).into(),
                multicast: true,
            },
            ..ClusterConfig::default()
        };
        let addrs = (0..SERVERS)
            .map(|_| {
                // A port that was free a moment ago; each slot keeps it.
                let probe = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))?;
                probe.local_addr()
            })
            .collect::<std::io::Result<Vec<_>>>()?;
        Ok(Lab {
            cluster,
            addrs,
            running: (0..SERVERS).map(|_| None).collect(),
            names: Arc::default(),
            verbose,
            started: Instant::now(),
        })
    }

    fn say(&self, what: std::fmt::Arguments<'_>) {
        if self.verbose {
            println!("{:>7.3} s  {what}", self.started.elapsed().as_secs_f64());
        }
    }

    async fn start(&mut self, n: usize) -> anyhow::Result<()> {
        let config = ServerConfig {
            cluster: Some(self.cluster.clone()),
            ..ServerConfig::default()
        };
        let server = Server::bind(self.addrs[n], config)
            .await
            .with_context(|| format!("start s{n} on {}", self.addrs[n]))?;
        let id = server.id();
        self.names.lock().unwrap().insert(id, n);
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(server.run(async {
            let _ = stopped.await;
        }));
        let client = Client::connect(&self.addrs[n].to_string()).await?;
        let (sees_tx, sees) = watch::channel(BTreeSet::new());
        let printer = Printer {
            who: n,
            names: self.names.clone(),
            verbose: self.verbose,
            started: self.started,
        };
        let watcher = tokio::spawn(watch_server(client, sees_tx, printer));
        self.say(format_args!("   s{n} is up as {}", id.short()));
        self.running[n] = Some(Running {
            id,
            stop,
            task,
            sees,
            watcher,
        });
        Ok(())
    }

    /// Drops server `n` at once: its cluster task goes with it, unannounced.
    /// Returns once the task is gone, so its address is free again.
    async fn kill(&mut self, n: usize) {
        if let Some(r) = self.running[n].take() {
            r.watcher.abort();
            r.task.abort();
            let _ = tokio::time::timeout(Duration::from_secs(5), r.task).await;
        }
    }

    async fn stop(&mut self, n: usize) {
        if let Some(r) = self.running[n].take() {
            r.watcher.abort();
            let _ = r.stop.send(());
            let _ = tokio::time::timeout(Duration::from_secs(5), r.task).await;
        }
    }

    /// Waits until every running server lists exactly the running servers;
    /// returns the time since `from`.
    async fn converge(&mut self, from: Instant) -> anyhow::Result<Duration> {
        let want: BTreeSet<ServerId> = self.running.iter().flatten().map(|r| r.id).collect();
        let deadline = tokio::time::Instant::from_std(from + CONVERGE_LIMIT);
        for r in self.running.iter_mut().flatten() {
            let waited = tokio::time::timeout_at(deadline, r.sees.wait_for(|s| *s == want))
                .await
                .map(|seen| seen.is_ok());
            match waited {
                Ok(true) => {}
                Ok(false) => bail!("the watcher of {} stopped", r.id.short()),
                Err(_) => bail!(
                    "{} did not converge within {CONVERGE_LIMIT:?}: it lists {:?}",
                    r.id.short(),
                    r.sees
                        .borrow()
                        .iter()
                        .map(ServerId::short)
                        .collect::<Vec<_>>()
                ),
            }
        }
        Ok(from.elapsed())
    }
}

/// Prints one watcher's events as `s2 sees: s1 removed`.
struct Printer {
    who: usize,
    names: Arc<Mutex<HashMap<ServerId, usize>>>,
    verbose: bool,
    started: Instant,
}

impl Printer {
    fn name(&self, id: &ServerId) -> String {
        match self.names.lock().unwrap().get(id) {
            Some(n) => format!("s{n} ({})", id.short()),
            None => id.short(),
        }
    }
}

/// Subscribes to one server's view and publishes the servers it lists.
async fn watch_server(
    mut client: Client,
    sees: watch::Sender<BTreeSet<ServerId>>,
    printer: Printer,
) {
    if client.send_msg(&ClientMsg::Watch).await.is_err() {
        return;
    }
    let publish = |report: &StatusReport| {
        let _ = sees.send(report.servers.iter().map(|s| s.id).collect());
    };
    while let Ok(Some(msg)) = client.recv().await {
        match msg {
            ServerMsg::Watching { report, .. } | ServerMsg::WatchUpdate { report } => {
                publish(&report)
            }
            ServerMsg::WatchEvent { event } if printer.verbose => println!(
                "{:>7.3} s     s{} sees {} {}",
                printer.started.elapsed().as_secs_f64(),
                printer.who,
                printer.name(&event.server),
                event.kind
            ),
            ServerMsg::Ping { nonce } => {
                let _ = client.send_msg(&ClientMsg::Pong { nonce }).await;
            }
            _ => {}
        }
    }
}
