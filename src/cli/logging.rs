//! Where logs go and how much: stderr, as text (coloured on a terminal) or
//! one JSON object per line, at a level from `-v`/`-q`, else `RUST_LOG`,
//! else the command's default.

use clap::{ArgAction, Args, ValueEnum};
use tracing_subscriber::EnvFilter;

/// How log lines look.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(super) enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line (for journald, log shippers).
    Json,
}

#[derive(Debug, Args)]
#[command(next_help_heading = "Logging")]
pub(super) struct LogArgs {
    /// More log output on stderr (-v, -vv); given, it wins over RUST_LOG.
    #[arg(short, long, action = ArgAction::Count, global = true)]
    verbose: u8,
    /// Less log output (-q: warnings and errors of the server, -qq: errors, -qqq: none).
    #[arg(short, long, action = ArgAction::Count, global = true, conflicts_with = "verbose")]
    quiet: u8,
    /// Log line format.
    #[arg(long, value_enum, value_name = "FORMAT", default_value_t = LogFormat::Text,
          global = true, env = "CHATTY_LOG_FORMAT", hide_env_values = true)]
    log_format: LogFormat,
}

const LEVELS: [&str; 6] = ["off", "error", "warn", "info", "debug", "trace"];

impl LogArgs {
    /// The filter: `-v`/`-q` move from `default` (an entry of [`LEVELS`]);
    /// without them `RUST_LOG` decides, and without that `default`.
    fn filter(&self, default: &str) -> EnvFilter {
        if self.verbose == 0 && self.quiet == 0 {
            return EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default));
        }
        EnvFilter::new(level(default, self.verbose, self.quiet))
    }

    /// Installs the subscriber for this process.
    pub(super) fn init(&self, default: &str) {
        let builder = tracing_subscriber::fmt()
            .with_env_filter(self.filter(default))
            .with_writer(std::io::stderr);
        match self.log_format {
            LogFormat::Text => builder
                .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
                .init(),
            LogFormat::Json => builder.json().with_ansi(false).init(),
        }
    }
}

/// `default` moved up by `verbose` and down by `quiet` steps, within bounds.
fn level(default: &str, verbose: u8, quiet: u8) -> &'static str {
    let at = LEVELS.iter().position(|l| *l == default).unwrap_or(3) as i32;
    let moved = (at + i32::from(verbose) - i32::from(quiet)).clamp(0, LEVELS.len() as i32 - 1);
    LEVELS[moved as usize]
}

#[cfg(test)]
mod tests {
    use super::level;

    #[test]
    fn verbose_and_quiet_move_from_the_default() {
        assert_eq!(level("info", 0, 0), "info");
        assert_eq!(level("info", 1, 0), "debug");
        assert_eq!(level("info", 5, 0), "trace");
        assert_eq!(level("info", 0, 1), "warn");
        assert_eq!(level("info", 0, 3), "off");
        assert_eq!(level("warn", 0, 9), "off");
        assert_eq!(level("warn", 1, 0), "info");
    }
}
