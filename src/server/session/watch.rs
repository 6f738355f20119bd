//! A session's status subscription (`watch`, protocol version 2): the
//! server pushes its view of the cluster to the client instead of the
//! client polling `status`.
//!
//! The cluster task publishes a fresh view on every membership change and
//! at least every 100 ms; a watcher wakes on each, sends the changes it has
//! not sent yet (`watch_event`, oldest first) and, after changes or at most
//! once a second otherwise, the whole report (`watch_update`). A server
//! without a cluster has no view; its watcher is woken once a second.

use std::time::Duration;

use tokio::sync::watch;
use tokio::time::{interval, Instant, Interval, MissedTickBehavior};

use crate::net::ClusterView;
use crate::protocol::ServerMsg;
use crate::server::room::Room;

/// How often the report is re-sent when nothing else happened.
const UPDATE_EVERY: Duration = Duration::from_secs(1);

/// One connection's subscription.
#[derive(Debug)]
pub(super) struct Watcher {
    view: Option<watch::Receiver<ClusterView>>,
    tick: Interval,
    /// Changes sent so far, as counted by [`ClusterView::events_total`].
    sent: u64,
    last_update: Instant,
}

impl Watcher {
    /// Starts a subscription: the watcher, and the `watching` answer.
    pub(super) fn start(room: &Room) -> (Watcher, ServerMsg) {
        let mut view = room.cluster_view();
        let (events, sent) = match &mut view {
            Some(rx) => {
                let v = rx.borrow_and_update();
                (v.events.clone(), v.events_total)
            }
            None => (Vec::new(), 0),
        };
        let mut tick = interval(UPDATE_EVERY);
        tick.set_missed_tick_behavior(MissedTickBehavior::Delay);
        let watcher = Watcher {
            view,
            tick,
            sent,
            last_update: Instant::now(),
        };
        let answer = ServerMsg::Watching {
            report: room.status(),
            events,
        };
        (watcher, answer)
    }

    /// Completes when there may be something to send. Cancel-safe.
    pub(super) async fn wait(&mut self) {
        match &mut self.view {
            Some(rx) => {
                if rx.changed().await.is_err() {
                    // The cluster task is gone (shutting down): fall back
                    // to the clock, which the session outlives.
                    self.view = None;
                }
            }
            None => {
                self.tick.tick().await;
            }
        }
    }

    /// What to send now: changes not yet sent, then the report if any
    /// changed or a second has passed.
    pub(super) fn due(&mut self, room: &Room) -> Vec<ServerMsg> {
        let mut out = Vec::new();
        if let Some(rx) = &mut self.view {
            let view = rx.borrow_and_update();
            let (events, _lost) = view.events_after(self.sent);
            out.extend(events.iter().map(|event| ServerMsg::WatchEvent {
                event: event.clone(),
            }));
            self.sent = view.events_total;
        }
        if !out.is_empty() || self.last_update.elapsed() >= UPDATE_EVERY {
            out.push(ServerMsg::WatchUpdate {
                report: room.status(),
            });
            self.last_update = Instant::now();
        }
        out
    }
}

/// Waits on the subscription if there is one, forever otherwise (a
/// `select!` branch that never fires). The wait is boxed: this future is
/// part of every connection's state, watching or not.
pub(super) async fn next(watcher: &mut Option<Box<Watcher>>) {
    match watcher {
        Some(w) => Box::pin(w.wait()).await,
        None => std::future::pending().await,
    }
}
