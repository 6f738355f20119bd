//! Away messages of the gateway's IRC users, shared by its connections.
//! Chatty has no away state, so AWAY is local to one server's gateway:
//! its IRC users see each other's (301, WHOIS, WHO's `G`, away-notify);
//! users on other servers and Chatty clients do not (IRC.md).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use tokio::sync::broadcast;

/// A change: a Chatty name and its away message (`None`: back).
pub type AwayChange = (String, Option<String>);

/// The board every connection of one gateway reads and writes.
#[derive(Debug, Clone)]
pub struct AwayBoard {
    now: Arc<Mutex<HashMap<String, String>>>,
    changes: broadcast::Sender<AwayChange>,
}

impl Default for AwayBoard {
    fn default() -> Self {
        AwayBoard {
            now: Arc::default(),
            changes: broadcast::channel(256).0,
        }
    }
}

impl AwayBoard {
    /// Sets or clears `name`'s away message and tells every connection.
    pub fn set(&self, name: &str, away: Option<&str>) {
        let mut now = self.now.lock().unwrap_or_else(|e| e.into_inner());
        match away {
            Some(text) => now.insert(name.to_string(), text.to_string()),
            None => now.remove(name),
        };
        let _ = self
            .changes
            .send((name.to_string(), away.map(str::to_string)));
    }

    /// Everyone away now.
    pub fn snapshot(&self) -> Vec<(String, String)> {
        let now = self.now.lock().unwrap_or_else(|e| e.into_inner());
        now.iter().map(|(k, v)| (k.clone(), v.clone())).collect()
    }

    /// Changes from now on.
    pub fn subscribe(&self) -> broadcast::Receiver<AwayChange> {
        self.changes.subscribe()
    }
}
