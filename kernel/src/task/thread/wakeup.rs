//! How a CPU is asked to reschedule, and how an idle CPU that polls needs no IPI for it
//! (Linux's `TIF_POLLING_NRFLAG`, the haltpoll idea). Portable; model-checked.
//!
//! Two flags per CPU: `need_resched` (someone wants this CPU to look at its queue) and
//! `polling` (its idle loop spins on `need_resched` with interrupts on, so a store is
//! enough to reach it). A waker sets `need_resched` and then reads `polling`; the idle
//! loop sets `polling` and then reads `need_resched` (while it polls), and on leaving the
//! poll clears `polling` and then reads `need_resched` once more before it halts.
//!
//! **Orderings.** Both sides write one flag and then read the other: the store-buffering
//! shape, where a plain store followed by a load may be reordered on x86. So each side
//! puts a `SeqCst` fence between its store and its load. Then of a waker's
//! `need_resched = true` / read of `polling` and the poller's `polling = false` / read of
//! `need_resched`, one of the two reads sees the other side's store:
//!
//! - the waker reads `polling == true`: its store of `need_resched` comes before the
//!   poller's final read of it, which therefore sees it, and the CPU does not halt;
//! - the waker reads `polling == false`: it sends the IPI, which ends a halt, or, if the
//!   CPU has not halted yet, stays pending across its `sti; hlt` (one unit) and ends it.
//!
//! A waker that saw `polling` set while the CPU still polls is simply seen by the poll.
//! `need_resched` is cleared only by the CPU itself as it schedules.

use crate::atomics::{AtomicBool, Ordering, fence};

/// A CPU's reschedule request and its idle loop's polling flag (see the module docs).
#[derive(Debug, Default)]
pub(super) struct Wakeup {
    need_resched: AtomicBool,
    polling: AtomicBool,
}

impl Wakeup {
    pub(super) const fn new() -> Self {
        Self {
            need_resched: AtomicBool::new(false),
            polling: AtomicBool::new(false),
        }
    }

    /// Whether a reschedule was asked for.
    #[inline]
    pub(super) fn requested(&self) -> bool {
        self.need_resched.load(Ordering::Relaxed)
    }

    /// Asks for a reschedule from the CPU itself (its next interrupt exit or preemption
    /// point takes it): no IPI is ever needed.
    #[inline]
    pub(super) fn request_here(&self) {
        self.need_resched.store(true, Ordering::Relaxed);
    }

    /// Asks for a reschedule from another CPU; whether that CPU needs an IPI to notice
    /// (`false`: it polls, and sees the request by itself).
    pub(super) fn request_remote(&self) -> bool {
        self.need_resched.store(true, Ordering::Relaxed);
        fence(Ordering::SeqCst);
        !self.polling.load(Ordering::Relaxed)
    }

    /// The CPU takes the request (as it schedules).
    #[inline]
    pub(super) fn clear(&self) {
        self.need_resched.store(false, Ordering::Relaxed);
    }

    /// The idle loop starts polling: from now on wakers need send no IPI.
    pub(super) fn start_polling(&self) {
        self.polling.store(true, Ordering::Relaxed);
        fence(Ordering::SeqCst);
    }

    /// The idle loop stops polling; whether a request came meanwhile (then it must not
    /// halt: the waker may have skipped the IPI).
    pub(super) fn stop_polling(&self) -> bool {
        self.polling.store(false, Ordering::Relaxed);
        fence(Ordering::SeqCst);
        self.requested()
    }
}
