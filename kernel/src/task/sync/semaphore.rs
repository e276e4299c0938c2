//! A counting semaphore: a number of permits; taking one blocks while none is left.
//!
//! The count is an atomic, so [`Semaphore::release`] is one `fetch_add` followed by a
//! wake-up — no lock, no allocation, no blocking — and interrupt handlers may call it
//! (say, a driver releasing a permit per received packet). The count goes up *before*
//! the wake, so a waiter either sees the permit in its last check or is already queued.

use core::sync::atomic::{AtomicUsize, Ordering};

use crate::thread::WaitQueue;

/// A count of permits that threads take and give back.
#[derive(Debug, Default)]
pub struct Semaphore {
    permits: AtomicUsize,
    waiters: WaitQueue,
}

impl Semaphore {
    /// A semaphore with `permits` permits available.
    pub const fn new(permits: usize) -> Self {
        Self {
            permits: AtomicUsize::new(permits),
            waiters: WaitQueue::new(),
        }
    }

    /// Takes a permit, blocking while none is available.
    pub fn acquire(&self) {
        self.waiters.wait_until(|| self.try_acquire().then_some(()));
    }

    /// Takes a permit if one is available; never blocks, interrupt-safe.
    pub fn try_acquire(&self) -> bool {
        self.permits
            .try_update(Ordering::Acquire, Ordering::Relaxed, |n| n.checked_sub(1))
            .is_ok()
    }

    /// Adds a permit and wakes one waiting thread. Never blocks; interrupt-safe.
    pub fn release(&self) {
        self.permits.fetch_add(1, Ordering::Release);
        self.waiters.wake_one();
    }

    /// Permits available right now (already stale if other threads use the semaphore).
    pub fn available(&self) -> usize {
        self.permits.load(Ordering::Relaxed)
    }
}
