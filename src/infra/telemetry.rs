//! Tracing setup: pretty output for people, JSON for log shippers, on stderr.

use tracing_subscriber::filter::{Directive, LevelFilter};
use tracing_subscriber::EnvFilter;

/// The log line format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    Pretty,
    Json,
}

/// The migrator's target. It reports every migration it applies, and that there is none to
/// apply, at INFO: detail for whoever debugs a start, noise in front of the table a command
/// prints, since every command that opens the database migrates it first.
const MIGRATOR: &str = "sea_orm_migration";

/// Installs the global subscriber. Logs go to stderr so that commands whose stdout is data
/// (`pull --json`, `policy eval`) stay pipeable.
pub fn init(format: LogFormat, filter: &str) {
    let builder = tracing_subscriber::fmt()
        .with_env_filter(env_filter(filter))
        .with_writer(std::io::stderr);
    let _ = match format {
        LogFormat::Pretty => builder.try_init(),
        LogFormat::Json => builder.json().try_init(),
    };
}

/// The filter of `log_level`, with the migrator held to warnings unless the filter asks for
/// debug output or names the migrator itself.
fn env_filter(filter: &str) -> EnvFilter {
    let env_filter = EnvFilter::try_new(filter).unwrap_or_else(|_| EnvFilter::new("info"));
    let debugging = env_filter
        .max_level_hint()
        .is_some_and(|level| level >= LevelFilter::DEBUG);
    if debugging || filter.contains(MIGRATOR) {
        return env_filter;
    }
    match format!("{MIGRATOR}=warn").parse::<Directive>() {
        Ok(quiet) => env_filter.add_directive(quiet),
        Err(_) => env_filter,
    }
}

#[cfg(test)]
mod tests {
    use std::io::Write;
    use std::sync::{Arc, Mutex};

    use super::*;

    /// What a subscriber with `filter` prints for one INFO line of the migrator and one of
    /// logwarden.
    fn printed(filter: &str) -> String {
        let buffer = Arc::new(Mutex::new(Vec::new()));
        let writer = {
            let buffer = buffer.clone();
            move || Capture(buffer.clone())
        };
        let subscriber = tracing_subscriber::fmt()
            .with_env_filter(env_filter(filter))
            .with_writer(writer)
            .with_ansi(false)
            .finish();
        tracing::subscriber::with_default(subscriber, || {
            tracing::info!(target: "sea_orm_migration::migrator::exec", "Applying migration 'm1'");
            tracing::info!(target: "logwarden::roles::scheduler", "tick");
        });
        let bytes = buffer.lock().unwrap_or_else(|e| e.into_inner()).clone();
        String::from_utf8(bytes).unwrap_or_default()
    }

    struct Capture(Arc<Mutex<Vec<u8>>>);

    impl Write for Capture {
        fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
            self.0
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .extend_from_slice(bytes);
            Ok(bytes.len())
        }

        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn the_migrator_s_info_lines_are_hidden_at_info_and_shown_when_debugging() {
        let at_info = printed("info");
        assert!(at_info.contains("tick"), "{at_info}");
        assert!(!at_info.contains("Applying migration"), "{at_info}");

        for filter in ["debug", "sea_orm_migration=info,warn"] {
            let shown = printed(filter);
            assert!(shown.contains("Applying migration"), "{filter}: {shown}");
        }
    }
}
