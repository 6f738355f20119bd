//! The key file on SIGHUP: reread, and passed on when good, so keys can be
//! rolled without a restart.

use std::path::PathBuf;
use std::sync::Arc;

use crate::seal::Keyring;

/// Rereads the key file on every SIGHUP and passes a good keyring on. A bad
/// file is reported and the keys in use are kept.
#[cfg(unix)]
pub(super) fn reload_on_sighup(
    path: PathBuf,
    current: &Keyring,
) -> Option<tokio::sync::watch::Receiver<Arc<Keyring>>> {
    use tokio::signal::unix::{signal, SignalKind};
    use tracing::{info, warn};
    let mut hangups = match signal(SignalKind::hangup()) {
        Ok(s) => s,
        Err(err) => {
            warn!(cause = %err, "cannot watch for SIGHUP; the key file is read only at start");
            return None;
        }
    };
    let (tx, rx) = tokio::sync::watch::channel(Arc::new(current.clone()));
    tokio::spawn(async move {
        while hangups.recv().await.is_some() {
            match Keyring::load(&path) {
                Ok((ring, warning)) => {
                    if let Some(warning) = warning {
                        warn!("{warning}");
                    }
                    info!(file = %path.display(), "SIGHUP: key file reloaded");
                    if tx.send(Arc::new(ring)).is_err() {
                        return;
                    }
                }
                Err(err) => tracing::error!(
                    file = %path.display(),
                    "SIGHUP: key file not reloaded, keeping the current keys: {err}"
                ),
            }
        }
    });
    Some(rx)
}

#[cfg(not(unix))]
pub(super) fn reload_on_sighup(
    _path: PathBuf,
    _current: &Keyring,
) -> Option<tokio::sync::watch::Receiver<Arc<Keyring>>> {
    None
}
