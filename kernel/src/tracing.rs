//! Turning the schedule trace on and off for the whole kernel, and getting it out.
//!
//! The recorder is `trace` (a low layer, so that every layer can record into it); this
//! module sits on top because starting a trace also labels what already exists: every
//! live thread, executor and task gets its name recorded, so the host can show names
//! for everything in the picture. `boot` starts a trace when the kernel was built with
//! `SPINDLE_TRACE=on` (`cargo run -- --trace FILE` does that); the console's
//! `trace on|off|dump` captures a window of an interactive session.
//!
//! **Checked by:** test kernel `trace` (switching it on and off on every CPU).

pub use crate::trace::{TraceError, dump, mark};
use crate::{executor, thread, time, trace};

/// Starts recording, and records the names of everything that exists already.
///
/// # Errors
/// [`TraceError::OutOfMemory`] if the rings cannot be allocated.
pub fn start() -> Result<(), TraceError> {
    trace::enable(time::tsc_frequency())?;
    thread::trace_names();
    executor::trace_names();
    Ok(())
}

/// Stops recording; what was recorded waits for [`dump`].
pub fn stop() {
    trace::disable();
}

/// Whether a trace is being recorded.
pub fn is_on() -> bool {
    trace::enabled()
}

/// Whether this kernel was built to trace from boot (`SPINDLE_TRACE=on`).
pub fn requested_at_build() -> bool {
    option_env!("SPINDLE_TRACE").is_some_and(|value| value == "on" || value == "1")
}
