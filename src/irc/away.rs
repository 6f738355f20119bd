//! What the gateway's IRC users tell about themselves that Chatty does not
//! carry — their USER name, real name and away message — shared by the
//! connections of one server's gateway. So IRC users on one server see
//! each other's (WHO, WHOIS, sources, 301, away-notify); users on other
//! servers and Chatty clients do not (IRC.md, "Local to the gateway").

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use tokio::sync::broadcast;

/// One IRC user's own words about themselves.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Presence {
    /// USER's user name.
    pub user: String,
    /// USER's real name.
    pub real: String,
    /// The away message, if away.
    pub away: Option<String>,
}

/// A change: a Chatty name and its presence (`None`: gone).
pub type PresenceChange = (String, Option<Presence>);

/// The board every connection of one gateway reads and writes.
#[derive(Debug, Clone)]
pub struct Board {
    now: Arc<Mutex<HashMap<String, Presence>>>,
    changes: broadcast::Sender<PresenceChange>,
}

impl Default for Board {
    fn default() -> Self {
        Board {
            now: Arc::default(),
            changes: broadcast::channel(256).0,
        }
    }
}

impl Board {
    /// Sets or clears `name`'s presence and tells every connection.
    pub fn set(&self, name: &str, presence: Option<&Presence>) {
        let mut now = self.now.lock().unwrap_or_else(|e| e.into_inner());
        match presence {
            Some(p) => now.insert(name.to_string(), p.clone()),
            None => now.remove(name),
        };
        let _ = self.changes.send((name.to_string(), presence.cloned()));
    }

    /// Everyone on the board now.
    pub fn snapshot(&self) -> Vec<(String, Presence)> {
        let now = self.now.lock().unwrap_or_else(|e| e.into_inner());
        now.iter().map(|(k, v)| (k.clone(), v.clone())).collect()
    }

    /// Changes from now on.
    pub fn subscribe(&self) -> broadcast::Receiver<PresenceChange> {
        self.changes.subscribe()
    }
}
