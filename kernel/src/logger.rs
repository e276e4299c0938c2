//! The `log` backend: one line per record on the serial console, stamped with the time
//! since boot.
//!
//! The level is chosen when the kernel is built: `SPINDLE_LOG=debug cargo run` (error,
//! warn, info, debug, trace; default info).

use log::{LevelFilter, Log, Metadata, Record};

use crate::{println, time};

struct SerialLogger;

static LOGGER: SerialLogger = SerialLogger;

/// Installs the serial logger. Calling it again is harmless.
pub(crate) fn init() {
    if log::set_logger(&LOGGER).is_ok() {
        log::set_max_level(level_from(option_env!("SPINDLE_LOG")));
    }
}

fn level_from(setting: Option<&str>) -> LevelFilter {
    setting
        .and_then(|level| level.parse().ok())
        .unwrap_or(LevelFilter::Info)
}

impl Log for SerialLogger {
    fn enabled(&self, metadata: &Metadata<'_>) -> bool {
        metadata.level() <= log::max_level()
    }

    fn log(&self, record: &Record<'_>) {
        if !self.enabled(record.metadata()) {
            return;
        }
        let uptime = time::uptime();
        println!(
            "[{:>5}.{:06}] {:<5} {}: {}",
            uptime.as_secs(),
            uptime.subsec_micros(),
            record.level(),
            record.target(),
            record.args()
        );
    }

    fn flush(&self) {}
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn build_time_level_setting() {
        assert_eq!(level_from(None), LevelFilter::Info);
        assert_eq!(level_from(Some("debug")), LevelFilter::Debug);
        assert_eq!(level_from(Some("TRACE")), LevelFilter::Trace);
        assert_eq!(level_from(Some("loud")), LevelFilter::Info);
    }
}
