//! Signals that stop QEMU from outside, told apart from a guest reset.
//!
//! QEMU shuts down cleanly on SIGINT (Ctrl-C), SIGTERM and SIGHUP, and
//! exits with status 0: the status a guest reset also ends with under
//! `-no-reboot`. Two things tell them apart: QEMU says
//! `terminating on signal N` on stderr, and, for a run on this terminal,
//! the signal also reaches this process (Ctrl-C goes to the whole
//! foreground process group; `kill` or a supervisor may signal this
//! process alone), which [`Relay`] notices and passes on to QEMU.

use std::{
    str,
    sync::{
        Arc, OnceLock,
        atomic::{AtomicBool, AtomicUsize, Ordering},
    },
};

use anyhow::Context;
use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};

/// The signals a person or a supervisor stops a run with.
const STOP_SIGNALS: [i32; 3] = [SIGINT, SIGTERM, SIGHUP];

/// What QEMU prints on stderr before it exits on a signal.
const REPORT: &str = "terminating on signal ";

/// The signal QEMU says in `stderr` it shut down on, if any.
pub(crate) fn reported_signal(stderr: &[u8]) -> Option<i32> {
    let text = String::from_utf8_lossy(stderr);
    text.lines().rev().find_map(|line| {
        let (_, rest) = line.split_once(REPORT)?;
        let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
        digits.parse().ok()
    })
}

/// `SIGTERM` for 15, or `signal N` for a number without a name.
pub(crate) fn signal_name(signal: i32) -> String {
    signal_hook::low_level::signal_name(signal)
        .map_or_else(|| format!("signal {signal}"), str::to_owned)
}

/// While alive, the stop signals sent to this process are recorded for an
/// interactive run to pass on to QEMU, instead of ending this process at
/// once: QEMU then shuts down (restoring the terminal) and the run reports
/// the signal. One at a time: interactive runs share the terminal anyway.
#[derive(Debug)]
pub(crate) struct Relay {
    handlers: &'static Handlers,
}

/// The process-wide handlers: installed once and kept, because a handler
/// cannot be removed again. Outside a [`Relay`] they do what the signal's
/// default action does (end the process).
#[derive(Debug)]
struct Handlers {
    /// The last stop signal received while relaying; 0 for none.
    received: Arc<AtomicUsize>,
    /// True outside a relay: a signal then takes its default action.
    default_action: Arc<AtomicBool>,
}

static HANDLERS: OnceLock<anyhow::Result<Handlers>> = OnceLock::new();

impl Relay {
    /// Starts recording stop signals.
    pub(crate) fn start() -> anyhow::Result<Self> {
        let handlers = HANDLERS
            .get_or_init(Handlers::install)
            .as_ref()
            .map_err(|err| anyhow::anyhow!("{err:#}"))?;
        handlers.received.store(0, Ordering::SeqCst);
        handlers.default_action.store(false, Ordering::SeqCst);
        Ok(Self { handlers })
    }

    /// The stop signal received since the last call, if any.
    pub(crate) fn take(&self) -> Option<i32> {
        match self.handlers.received.swap(0, Ordering::SeqCst) {
            0 => None,
            signal => i32::try_from(signal).ok(),
        }
    }
}

impl Drop for Relay {
    fn drop(&mut self) {
        self.handlers.default_action.store(true, Ordering::SeqCst);
    }
}

impl Handlers {
    /// For each stop signal: its default action while `default_action` is
    /// set (registered first, so it runs first), else a note in `received`.
    fn install() -> anyhow::Result<Self> {
        let handlers = Self {
            received: Arc::new(AtomicUsize::new(0)),
            default_action: Arc::new(AtomicBool::new(true)),
        };
        for signal in STOP_SIGNALS {
            let name = signal_name(signal);
            signal_hook::flag::register_conditional_default(
                signal,
                Arc::clone(&handlers.default_action),
            )
            .and_then(|_| {
                let number = usize::try_from(signal).unwrap_or_default();
                signal_hook::flag::register_usize(signal, Arc::clone(&handlers.received), number)
            })
            .with_context(|| format!("cannot handle {name}"))?;
        }
        Ok(handlers)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_signal_from_qemus_report() {
        let stderr = b"qemu-system-x86_64: warning: something\n\
                       qemu-system-x86_64: terminating on signal 15 from pid 7493 (runner)\n";
        assert_eq!(reported_signal(stderr), Some(SIGTERM));
        assert_eq!(
            reported_signal(b"qemu-system-x86_64: terminating on signal 2\n"),
            Some(SIGINT)
        );
        assert_eq!(reported_signal(b"qemu-system-x86_64: -m: bad size\n"), None);
        assert_eq!(reported_signal(b""), None);
    }

    #[test]
    fn names_signals() {
        assert_eq!(signal_name(SIGTERM), "SIGTERM");
        assert_eq!(signal_name(SIGINT), "SIGINT");
        assert_eq!(signal_name(1000), "signal 1000");
    }
}
