//! One receiver: joins, then checks and times every message from the
//! publisher until the last one.

use std::sync::Arc;
use std::time::Instant;

use chatty_bench::api::{Client, ClientError, ClientMsg, ServerMsg};
use chatty_bench::report::histogram;
use chatty_bench::seen::{Arrival, Seen};
use chatty_bench::stamp::now_ns;
use hdrhistogram::Histogram;
use tokio::sync::{mpsc, Semaphore};
use tokio::time::{timeout_at, Instant as Deadline};

use crate::{LAYOUT, PUBLISHER};

/// What one receiver saw.
pub(crate) struct Received {
    /// Latency in µs of every message received.
    pub(crate) hist: Histogram<u64>,
    /// Distinct messages received.
    pub(crate) unique: u64,
    pub(crate) duplicates: u64,
    /// Messages that arrived after one with a higher counter.
    pub(crate) reordered: u64,
    /// When the last message arrived.
    pub(crate) finished: Option<Instant>,
    pub(crate) error: Option<String>,
    /// Kept so the connection closes only after the measurement.
    pub(crate) client: Option<Client>,
}

/// How far a receiver's setup has come.
pub(crate) enum Setup {
    Joined,
    Failed(String),
    /// The receiver saw the publisher join: it has drained the join backlog.
    Ready,
}

/// Says what to do about an error a client saw, where there is something
/// to do.
pub(crate) fn describe(err: &ClientError) -> String {
    let text = err.to_string();
    if text.contains("Too many open files") {
        format!("{text} — raise the open-file limit, e.g. `ulimit -n 4096`")
    } else {
        text
    }
}

/// Connects (at most as many at once as `connect_slots` has permits) and
/// joins as `name`, reports to `setup`, then reads until the publisher's
/// message number `messages - 1` or `deadline`.
pub(crate) async fn receiver(
    addr: String,
    name: String,
    messages: u64,
    connect_slots: Arc<Semaphore>,
    setup: mpsc::UnboundedSender<Setup>,
    deadline: Deadline,
) -> Received {
    let mut out = Received {
        hist: histogram(),
        unique: 0,
        duplicates: 0,
        reordered: 0,
        finished: None,
        error: None,
        client: None,
    };
    let connected = {
        let _slot = connect_slots.acquire().await;
        timeout_at(deadline, async {
            let mut client = Client::connect(&addr).await?;
            client.join(&name).await?;
            Ok::<_, ClientError>(client)
        })
        .await
    };
    let mut client = match connected {
        Ok(Ok(client)) => client,
        Ok(Err(err)) => return out.failed(&setup, format!("{name}: {}", describe(&err))),
        Err(_) => return out.failed(&setup, format!("{name}: setup timed out")),
    };
    let _ = setup.send(Setup::Joined);
    if let Err(why) = out
        .read(&mut client, &name, messages, &setup, deadline)
        .await
    {
        out.error = Some(format!("{name}: {why}"));
    }
    out.client = Some(client);
    out
}

impl Received {
    /// Reads until the publisher's last message, checking and timing each.
    async fn read(
        &mut self,
        client: &mut Client,
        name: &str,
        messages: u64,
        setup: &mpsc::UnboundedSender<Setup>,
        deadline: Deadline,
    ) -> Result<(), String> {
        let mut seen = Seen::default();
        loop {
            let msg = match timeout_at(deadline, client.recv()).await {
                Err(_) => return Err("timed out".into()),
                Ok(Err(err)) => return Err(err.to_string()),
                Ok(Ok(None)) => return Err("the server closed the connection".into()),
                Ok(Ok(Some(msg))) => msg,
            };
            match msg {
                ServerMsg::Message { from, text, .. } if from == PUBLISHER => {
                    let now = now_ns();
                    let parsed = LAYOUT.parse(text.as_bytes());
                    let Some([counter, sent]) = parsed.filter(|&[c, _]| c < messages) else {
                        return Err(format!("malformed message text {text:?}"));
                    };
                    self.hist.saturating_record(now.saturating_sub(sent) / 1000);
                    match seen.record(counter) {
                        Arrival::Duplicate => self.duplicates += 1,
                        Arrival::InOrder => self.unique += 1,
                        Arrival::Reordered => {
                            self.unique += 1;
                            self.reordered += 1;
                        }
                    }
                    // Delivery is in order, so the last message means we are
                    // done (anything missing is counted, not waited for).
                    if counter == messages - 1 {
                        self.finished = Some(Instant::now());
                        return Ok(());
                    }
                }
                ServerMsg::Joined { name: joined, .. } if joined == PUBLISHER => {
                    let _ = setup.send(Setup::Ready);
                }
                ServerMsg::Ping { nonce } => {
                    let pong = client.send_msg(&ClientMsg::Pong { nonce }).await;
                    pong.map_err(|err| err.to_string())?;
                }
                ServerMsg::Error {
                    code, text, fatal, ..
                } => {
                    let why = format!("server error {code}: {text}");
                    if fatal {
                        return Err(why);
                    }
                    self.error = Some(format!("{name}: {why}"));
                }
                ServerMsg::Shutdown { reason, .. } => {
                    return Err(format!("server shut down: {reason}"))
                }
                _ => {}
            }
        }
    }

    /// Ends a receiver whose setup failed, telling the run why.
    fn failed(mut self, setup: &mpsc::UnboundedSender<Setup>, why: String) -> Received {
        let _ = setup.send(Setup::Failed(why.clone()));
        self.error = Some(why);
        self
    }
}
