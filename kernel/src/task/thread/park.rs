//! Parking: a thread blocks until another unparks it ([`Thread::unpark`](super::Thread)),
//! and asks whether it was asked to stop. The handshake is one atomic word (`run_state`).

use super::{per_cpu::this_cpu, run_state::Park, scheduler};
use crate::arch::cpu::InterruptsDisabled;

/// Blocks until [`Thread::unpark`](super::Thread::unpark) is called for this thread, or
/// returns at once if it was called since the last `park` (the "token" is kept, not
/// lost).
///
/// Like `std::thread::park`, it may also return spuriously (for instance when a wake-up
/// meant for an earlier wait arrives late), so callers park in a loop that checks their
/// own condition.
///
/// # Panics
/// In debug builds, if called from inside an async task (it would stall its executor).
#[track_caller]
pub fn park() {
    park_named("thread::park", "an async wait (`.await`)");
}

/// [`park`] for the blocking operation `call` (reported if made inside an async task).
#[track_caller]
pub(crate) fn park_named(call: &str, instead: &str) {
    super::check_may_block(call, instead);
    let irq = InterruptsDisabled::new();
    if this_cpu().current(&irq).run_state.begin_park() == Park::TokenTaken {
        return;
    }
    scheduler::block_current(&irq);
    this_cpu().current(&irq).run_state.take_token();
}

/// Whether someone asked the calling thread to stop
/// ([`Thread::request_stop`](super::Thread::request_stop)).
pub fn should_stop() -> bool {
    let irq = InterruptsDisabled::new();
    this_cpu().current(&irq).stop_requested()
}
