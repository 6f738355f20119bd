//! The `main` of a benchmark program.

use std::future::Future;
use std::process::ExitCode;
use std::time::Duration;

/// Runs `run` on a multi-threaded runtime and turns its result into the
/// exit status, printing an error as `NAME: error`. On Ctrl-C or SIGTERM
/// the run is dropped, and with it every server it started (their guards
/// kill them).
pub fn main(name: &str, run: impl Future<Output = anyhow::Result<()>>) -> ExitCode {
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(runtime) => runtime,
        Err(err) => {
            eprintln!("{name}: cannot start the async runtime: {err}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(async {
        tokio::select! {
            result = run => result,
            _ = interrupted() => Err(anyhow::anyhow!("interrupted; the servers were stopped")),
        }
    });
    // Do not wait for tasks still parked on a deadline.
    runtime.shutdown_timeout(Duration::from_secs(1));
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("{name}: {err:#}");
            ExitCode::FAILURE
        }
    }
}

/// Completes on SIGINT or SIGTERM.
async fn interrupted() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        if let Ok(mut term) = signal(SignalKind::terminate()) {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = term.recv() => {}
            }
            return;
        }
    }
    let _ = tokio::signal::ctrl_c().await;
}
