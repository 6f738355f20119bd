//! What the gateway's IRC users tell about themselves that Chatty does not
//! carry — their USER name, real name and away message — shared by the
//! connections of one server's gateway. So IRC users on one server see
//! each other's (WHO, WHOIS, sources, 301, away-notify); users on other
//! servers and Chatty clients do not (IRC.md, "Local to the gateway").
//!
//! One board per gateway, read in place: a connection looks a user up
//! when it needs to (a line's source, WHO, WHOIS), and never keeps a copy,
//! so a thousand users cost a thousand entries, not a million. Entries are
//! keyed by the Chatty name key, computed once when the entry is set.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};

use tokio::sync::broadcast;

use crate::protocol::validate::name_key;

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

/// A change on the board, told to every connection of the gateway.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PresenceChange {
    /// The Chatty name's key.
    pub key: String,
    /// The Chatty name.
    pub name: String,
    /// The away message now (`None`: back, or gone from the board).
    pub away: Option<String>,
    /// Whether the away message changed (else only the names did).
    pub away_changed: bool,
}

#[derive(Debug, Default)]
struct Entries {
    /// By name key.
    by_key: HashMap<String, Presence>,
    /// Name keys by the name as spelled (the server's spelling, which is
    /// what its frames carry): a message's sender is found without
    /// computing a skeleton.
    keys: HashMap<String, String>,
}

#[derive(Debug)]
struct Inner {
    now: RwLock<Entries>,
    /// Bumped on every change: lets a connection keep a looked-up user
    /// name until the board changes.
    version: AtomicU64,
    changes: broadcast::Sender<Arc<PresenceChange>>,
}

/// The board every connection of one gateway reads and writes. Cheap to
/// clone (one board, shared).
#[derive(Debug, Clone)]
pub struct Board {
    inner: Arc<Inner>,
}

impl Default for Board {
    fn default() -> Self {
        Board {
            inner: Arc::new(Inner {
                now: RwLock::default(),
                version: AtomicU64::new(0),
                changes: broadcast::channel(256).0,
            }),
        }
    }
}

impl Board {
    /// Sets or clears `name`'s presence and tells every connection.
    pub fn set(&self, name: &str, presence: Option<&Presence>) {
        let key = name_key(name);
        let old_away = {
            let mut now = self.inner.now.write().unwrap_or_else(|e| e.into_inner());
            let old = match presence {
                Some(p) => {
                    now.keys.insert(name.to_string(), key.clone());
                    now.by_key.insert(key.clone(), p.clone())
                }
                None => {
                    now.keys.remove(name);
                    now.by_key.remove(&key)
                }
            };
            old.and_then(|p| p.away)
        };
        self.inner.version.fetch_add(1, Ordering::Release);
        let away = presence.and_then(|p| p.away.clone());
        let change = PresenceChange {
            key,
            name: name.to_string(),
            away_changed: away != old_away,
            away,
        };
        let _ = self.inner.changes.send(Arc::new(change));
    }

    /// Calls `f` with the presence of the user whose name key is `key`.
    pub fn with<R>(&self, key: &str, f: impl FnOnce(Option<&Presence>) -> R) -> R {
        let now = self.inner.now.read().unwrap_or_else(|e| e.into_inner());
        f(now.by_key.get(key))
    }

    /// Calls `f` with the presence of the user named exactly `name` (as
    /// the server spells it); `None` for any other spelling.
    pub fn with_name<R>(&self, name: &str, f: impl FnOnce(Option<&Presence>) -> R) -> R {
        let now = self.inner.now.read().unwrap_or_else(|e| e.into_inner());
        f(now.keys.get(name).and_then(|key| now.by_key.get(key)))
    }

    /// The away message of the user whose name key is `key`.
    pub fn away(&self, key: &str) -> Option<String> {
        self.with(key, |p| p.and_then(|p| p.away.clone()))
    }

    /// Changes so far: a number that grows with every [`Board::set`].
    pub fn version(&self) -> u64 {
        self.inner.version.load(Ordering::Acquire)
    }

    /// Changes from now on.
    pub fn subscribe(&self) -> broadcast::Receiver<Arc<PresenceChange>> {
        self.inner.changes.subscribe()
    }
}
