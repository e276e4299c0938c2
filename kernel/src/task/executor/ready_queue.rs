//! The ready queue: task slots waiting to be polled, pushed by wakers from anywhere.
//!
//! A bounded lock-free queue (`crossbeam_queue::ArrayQueue`). It can never overflow: a
//! task is in it at most once (its `queued` flag, see `task`), and an executor never
//! holds more tasks than the queue's capacity (spawning beyond it is an error). So a push
//! takes no lock and allocates nothing, from any thread or interrupt handler.
//!
//! Sleeping without losing a wake-up is a two-flag handshake with the host thread:
//! the host sets `sleeping` and then looks at the queue; a waker pushes and then looks
//! at `sleeping`. Each side stores to one location and then loads the other, the shape
//! where x86 lets each load pass its own store; a `SeqCst` fence between the store and
//! the load on both sides forbids that (the fences are totally ordered, and whichever
//! comes second sees the other side's store). So either the host finds the work or the
//! waker notifies the host. The host test `sleep_handshake_litmus` races the two halves
//! (`prepare_to_sleep` against `push`) on two threads.

use crossbeam_queue::ArrayQueue;

use super::host::Host;
use crate::atomics::{AtomicBool, Ordering, fence};

/// Slots of ready tasks, plus the sleep/notify handshake with the host thread.
pub(super) struct ReadyQueue<H: Host> {
    slots: ArrayQueue<usize>,
    /// The executor's task capacity: the queue's own, except that a queue of 0 slots
    /// cannot be made (so an executor of capacity 0 has one slot it never fills).
    capacity: usize,
    sleeping: AtomicBool,
    host: H,
}

impl<H: Host> ReadyQueue<H> {
    /// A queue for up to `capacity` tasks, whose host is `host`.
    pub(super) fn new(capacity: usize, host: H) -> Self {
        Self {
            slots: ArrayQueue::new(capacity.max(1)),
            capacity,
            sleeping: AtomicBool::new(false),
            host,
        }
    }

    /// The thread that runs the executor.
    pub(super) fn host(&self) -> &H {
        &self.host
    }

    /// How many tasks the executor may hold.
    pub(super) fn capacity(&self) -> usize {
        self.capacity
    }

    /// Queues `slot` and makes sure the host will look at it; returns whether the host
    /// had to be notified.
    pub(super) fn push(&self, slot: usize) -> bool {
        let pushed = self.slots.push(slot);
        debug_assert!(
            pushed.is_ok(),
            "ready queue overflow: more queued slots than tasks"
        );
        self.notify_host()
    }

    /// Wakes the host if it is (about to be) asleep; returns whether it was.
    pub(super) fn notify_host(&self) -> bool {
        fence(Ordering::SeqCst);
        let was_sleeping = self.sleeping.swap(false, Ordering::AcqRel);
        if was_sleeping {
            self.host.notify();
        }
        was_sleeping
    }

    /// Whether the host thread was asked to stop.
    pub(super) fn host_should_stop(&self) -> bool {
        self.host.should_stop()
    }

    /// The next ready slot.
    pub(super) fn pop(&self) -> Option<usize> {
        self.slots.pop()
    }

    /// Blocks the host until a push or a [`notify_host`](Self::notify_host), unless
    /// `has_work` says there is something to do; `has_work` is asked again after every
    /// wake-up of the host thread, whoever caused it (a stop request, say).
    pub(super) fn sleep_unless(&self, has_work: impl Fn() -> bool) {
        if !self.prepare_to_sleep(&has_work) {
            return;
        }
        while self.sleeping.load(Ordering::Acquire) {
            if !self.slots.is_empty() || has_work() {
                self.sleeping.store(false, Ordering::Relaxed);
                return;
            }
            self.host.wait();
        }
    }

    /// The host's half of the handshake: announce sleep, then look for work. Returns
    /// whether the host should wait (nothing found); if not, the announcement is taken
    /// back.
    fn prepare_to_sleep(&self, has_work: impl Fn() -> bool) -> bool {
        self.sleeping.store(true, Ordering::SeqCst);
        fence(Ordering::SeqCst);
        let idle = self.slots.is_empty() && !has_work();
        if !idle {
            self.sleeping.store(false, Ordering::Relaxed);
        }
        idle
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::litmus::litmus;

    struct Quiet;

    impl Host for Quiet {
        fn wait(&self) {}
        fn notify(&self) {}
        fn should_stop(&self) -> bool {
            false
        }
    }

    /// The host announcing sleep against a waker pushing: never both missing each other.
    #[test]
    fn sleep_handshake_litmus() {
        let queues = (0..2_000).map(|_| ReadyQueue::new(1, Quiet)).collect();
        let missed = litmus(
            queues,
            200,
            |queue| queue.prepare_to_sleep(|| false),
            |queue| queue.push(0),
            |queue| {
                while queue.pop().is_some() {}
                queue.sleeping.store(false, Ordering::Relaxed);
            },
        );
        assert_eq!(missed, 0, "lost wake-ups");
    }
}
