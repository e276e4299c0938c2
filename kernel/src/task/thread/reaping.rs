//! Who lets go of an exited thread last: its join handle, not the CPU that reaps it.
//!
//! An exited thread is reaped on the CPU it ran on last (`scheduler::reap`), which frees
//! its stack, takes it out of the thread table and then wakes its joiners. The reaper
//! holds an `Arc<Thread>` meanwhile. If it let go of it only after the wake, a joiner on
//! another CPU could return from `join` and drop its handle first, and the control block
//! (and the result slot it keeps) would be freed later, by the reaper: `join` would
//! return with some of the thread's memory not yet back (312 bytes in 2 of 5 spawn/exit
//! churns on 4 CPUs, seen by `memory_after_churn` when it measured right after the joins).
//!
//! So while a join handle exists, the reaper gives up its reference *before* it wakes the
//! joiners, and the handle, which keeps the thread alive meanwhile, waits in its drop
//! until the reaper no longer touches the thread. One word, three bits, each set once:
//!
//! - `REAPING`: the reaper's first step. From here on the handle's drop waits for `REAPED`.
//! - `REAPED`: the reaper's last touch of the thread.
//! - `HANDLE_GONE`: the handle's drop.
//!
//! **Orderings.** The reaper's first step and the handle's are read-modify-writes of the
//! one word, so one comes first. If the reaper's does, the handle's sees `REAPING` and
//! waits for `REAPED`. If the handle's does, the reaper's sees `HANDLE_GONE` and keeps
//! its reference to the end (it may be the last one; nobody waits for the memory). The
//! reaper sets `REAPED` with Release after everything it does to the thread, and the
//! handle's wait reads it with Acquire, so the reaper's accesses happen before the
//! handle's reference goes, and with it, possibly, the thread. The wait is short: the
//! reaper runs with interrupts off, between a switch and the next thread's first
//! instruction. The model `thread_reaping_lets_the_handle_go_last` runs both sides.

use crate::atomics::{AtomicU8, Ordering, spin_loop};

const REAPING: u8 = 1 << 0;
const REAPED: u8 = 1 << 1;
const HANDLE_GONE: u8 = 1 << 2;

/// The reaper and the join handle agreeing who lets go of the thread last (module docs).
#[derive(Debug)]
pub(super) struct Reaping(AtomicU8);

impl Reaping {
    /// A thread that has not been reaped, with a join handle or none (the boot thread,
    /// idle threads): without one, nothing will ever call
    /// [`handle_gone`](Self::handle_gone), so it counts as gone from the start and the
    /// reaper keeps its reference to the end.
    pub(super) const fn new(has_handle: bool) -> Self {
        Self(AtomicU8::new(if has_handle { 0 } else { HANDLE_GONE }))
    }

    /// The reaper's first step: `true` if a join handle keeps the thread alive until
    /// [`reaped`](Self::reaped), so that the reaper may let go of its reference now.
    pub(super) fn start(&self) -> bool {
        self.0.fetch_or(REAPING, Ordering::AcqRel) & HANDLE_GONE == 0
    }

    /// The reaper's last touch of the thread.
    pub(super) fn reaped(&self) {
        self.0.fetch_or(REAPED, Ordering::Release);
    }

    /// The join handle's drop, before it lets go of its reference: waits while a reaper
    /// that counts on that reference still works on the thread.
    pub(super) fn handle_gone(&self) {
        if self.0.fetch_or(HANDLE_GONE, Ordering::AcqRel) & REAPING == 0 {
            return;
        }
        while self.0.load(Ordering::Acquire) & REAPED == 0 {
            spin_loop();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Reaping;

    /// A thread without a join handle (the boot thread calling `thread::exit`) is freed by
    /// its reaper, which must not let go of its reference before it is done.
    #[test]
    fn a_thread_without_a_handle_keeps_its_reaper_reference() {
        assert!(!Reaping::new(false).start());
    }

    #[test]
    fn a_live_handle_lets_the_reaper_go_first() {
        let reaping = Reaping::new(true);
        assert!(reaping.start());
        reaping.reaped();
        reaping.handle_gone(); // returns: the reaper is done
    }

    #[test]
    fn a_handle_dropped_before_the_reaper_came_makes_it_keep_its_reference() {
        let reaping = Reaping::new(true);
        reaping.handle_gone(); // no reaper yet: returns at once
        assert!(!reaping.start());
    }
}
