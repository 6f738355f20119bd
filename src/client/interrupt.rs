//! Ctrl-C, heard from the moment [`Interrupts::listen`] returns (on Unix;
//! elsewhere each [`Interrupts::next`] is tokio's `ctrl_c()`, as before).
//!
//! `tokio::signal::ctrl_c()` registers its interest when first polled, and
//! a fresh call inside a `select!` loop sees only signals after that poll:
//! a Ctrl-C pressed while the loop body runs (a redraw, a frame) is lost,
//! and the program goes on as if nothing was typed. One listener made
//! before the loop keeps a signal that arrives between polls until the
//! next one.

/// Ctrl-C (SIGINT) for the whole of one loop.
pub struct Interrupts {
    #[cfg(unix)]
    signal: Option<tokio::signal::unix::Signal>,
}

impl Interrupts {
    /// Starts listening now. Where the handler cannot be installed, Ctrl-C
    /// keeps its default action (the process ends) and [`next`] never
    /// completes.
    ///
    /// [`next`]: Interrupts::next
    pub fn listen() -> Interrupts {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{signal, SignalKind};
            Interrupts {
                signal: signal(SignalKind::interrupt()).ok(),
            }
        }
        #[cfg(not(unix))]
        {
            Interrupts {}
        }
    }

    /// Completes at the next Ctrl-C not yet returned.
    pub async fn next(&mut self) {
        #[cfg(unix)]
        {
            match self.signal.as_mut() {
                Some(signal) => {
                    signal.recv().await;
                }
                None => std::future::pending().await,
            }
        }
        #[cfg(not(unix))]
        {
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}
