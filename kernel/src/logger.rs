//! The `log` backend: one line per record on the serial console, stamped with the time
//! since boot.
//!
//! The level a kernel starts with is chosen when it is built: `SPINDLE_LOG=debug cargo
//! run` (error, warn, info, debug, trace; default info). [`set_level`] changes it while
//! the kernel runs (the console's `log LEVEL` command). A disabled `debug!` or `trace!`
//! costs one load and compare of the level.
//!
//! **Where not to log.** A record is written under the serial port's lock, which disables
//! interrupts: so an interrupt handler never finds that lock held by the code it
//! interrupted on its own CPU, but every other CPU that prints waits while a line is
//! written, and the lock is not reentrant. Kernel code therefore logs from threads only,
//! never from interrupt handlers, the scheduler's switch path, or with a spinlock held;
//! failures are reported through `arch::debug_port`, which takes no lock.
//!
//! ```
//! spindle::logger::set_level(log::LevelFilter::Debug); // thread spawns, exits, ...
//! ```
//!
//! **Checked by:** host tests below; test kernel `log_level`.

use log::{LevelFilter, Log, Metadata, Record};

use crate::{println, time};

struct SerialLogger;

static LOGGER: SerialLogger = SerialLogger;

/// Installs the serial logger at the build-time level. Calling it again is harmless.
pub(crate) fn init() {
    if log::set_logger(&LOGGER).is_ok() {
        set_level(level_from(option_env!("SPINDLE_LOG")));
    }
}

/// Makes records up to `level` appear from now on, on every CPU (`LevelFilter::Off`
/// silences the log).
pub fn set_level(level: LevelFilter) {
    log::set_max_level(level);
}

/// The level records are shown up to.
pub fn level() -> LevelFilter {
    log::max_level()
}

/// The level a name stands for: `off`, `error`, `warn`, `info`, `debug` or `trace`, in
/// any case; `None` for anything else.
pub fn parse_level(name: &str) -> Option<LevelFilter> {
    name.parse().ok()
}

fn level_from(setting: Option<&str>) -> LevelFilter {
    setting.and_then(parse_level).unwrap_or(LevelFilter::Info)
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

    #[test]
    fn level_names() {
        assert_eq!(parse_level("off"), Some(LevelFilter::Off));
        assert_eq!(parse_level("Warn"), Some(LevelFilter::Warn));
        assert_eq!(parse_level("debug"), Some(LevelFilter::Debug));
        assert_eq!(parse_level(""), None);
        assert_eq!(parse_level("verbose"), None);
    }

    /// The `log` macros skip a record unless its level is at most `log::max_level()`.
    #[test]
    fn set_level_is_the_filter_the_log_macros_test() {
        set_level(LevelFilter::Trace);
        assert_eq!(level(), LevelFilter::Trace);
        assert!(log::Level::Debug <= log::max_level());
        set_level(LevelFilter::Info);
        assert_eq!(level(), LevelFilter::Info);
        assert!(log::Level::Debug > log::max_level());
        assert!(log::Level::Info <= log::max_level());
    }
}
