//! The ready queue: task slots waiting to be polled, pushed by wakers from anywhere.
//!
//! Two lists. A wake made on the host thread itself, outside interrupt handlers, appends
//! to the local ready list (`local_queue`: plain loads and stores, nothing else); every
//! other wake (another thread, another CPU, an interrupt handler, the host thread with
//! interrupts disabled) pushes to a bounded lock-free queue
//! (`crossbeam_queue::ArrayQueue`) and then makes sure the host looks. Neither can
//! overflow: a task is in one of them at most once (its `queued` flag, see `task`), and
//! an executor never holds more tasks than their capacity (spawning beyond it is an
//! error). So a wake takes no lock and allocates nothing, from anywhere.
//!
//! The run loop pops the local list first. When a round starts with slots on the local
//! list, it first moves the lock-free queue's slots behind them ([`ReadyQueue::begin_round`]),
//! so a task woken remotely waits at most one round behind tasks that keep waking
//! themselves; otherwise it pops the lock-free queue directly once the local list is
//! empty (a local task woken meanwhile goes first: it cannot be starved either). A round
//! that takes spawned tasks from the inbox gathers too, before queueing them: a task's
//! first poll comes after every wake that happened before its spawn (the wake's push
//! comes before the spawn's push to the inbox, which the host's take of the inbox
//! synchronises with), as with one queue.
//!
//! The wake's test "on the host thread, outside interrupt handlers" (`Host::runs_here`:
//! the interrupt flag, the running thread) is only made while the host is in a round of
//! its run loop (the `polling` hint, which only the host writes): a wake from anywhere
//! while the host is parked or doing something else takes the lock-free queue at the
//! price of one load. The hint is never what makes a wake local, only what skips the
//! test, so a stale value costs time, not correctness.
//!
//! Sleeping without losing a wake-up is a two-flag handshake with the host thread:
//! the host sets `sleeping` and then looks at the queue; a waker pushes and then looks
//! at `sleeping`. Each side stores to one location and then loads the other, the shape
//! where x86 lets each load pass its own store; a `SeqCst` fence between the store and
//! the load on both sides forbids that (the fences are totally ordered, and whichever
//! comes second sees the other side's store). So either the host finds the work or the
//! waker notifies the host. The host test `sleep_handshake_litmus` races the two halves
//! (`prepare_to_sleep` against `push`) on two threads. A local wake needs no part in
//! it: it runs on the host thread, so never while the host sleeps, and the host looks at
//! the local list after announcing sleep, in its own program order.

use crossbeam_queue::ArrayQueue;

use super::{host::Host, local_queue::LocalQueue};
use crate::atomics::{AtomicBool, Ordering, fence};

/// Slots of ready tasks, plus the sleep/notify handshake with the host thread.
pub(super) struct ReadyQueue<H: Host> {
    /// Woken on the host thread (module docs).
    local: LocalQueue,
    /// Woken from anywhere else.
    slots: ArrayQueue<usize>,
    /// Whether the host is in a round of its run loop (module docs: a hint).
    polling: AtomicBool,
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
            local: LocalQueue::new(capacity),
            slots: ArrayQueue::new(capacity.max(1)),
            polling: AtomicBool::new(false),
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

    /// Queues `slot`, woken by the caller (who set its `queued` flag): on the local list
    /// if the caller is the host thread outside interrupt handlers, else on the lock-free
    /// queue, notifying the host.
    #[inline]
    pub(super) fn wake(&self, slot: u32) {
        if self.woken_on_host() {
            self.local.push(slot);
        } else {
            self.push(slot as usize);
        }
    }

    /// Whether the caller is the host thread in a round of its run loop, outside
    /// interrupt handlers (module docs).
    #[inline]
    pub(super) fn woken_on_host(&self) -> bool {
        self.polling.load(Ordering::Relaxed) && self.host.runs_here()
    }

    /// Queues `slot` on the local list; only the run loop calls it (on the host thread).
    pub(super) fn push_local(&self, slot: u32) {
        self.local.push(slot);
    }

    /// Queues `slot` and makes sure the host will look at it; returns whether the host
    /// had to be notified. Out of line: the local path of [`wake`](Self::wake), inlined
    /// into every waker, stays short.
    #[inline(never)]
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

    /// Starts a round of the run loop (on the host thread): raises the `polling` hint
    /// and, if the local list is not empty or `spawned` (tasks taken from the inbox will
    /// be queued after this), moves the slots woken remotely behind its own (module
    /// docs).
    #[inline]
    pub(super) fn begin_round(&self, spawned: bool) {
        self.polling.store(true, Ordering::Relaxed);
        if spawned || !self.local.is_empty() {
            self.gather();
        }
    }

    /// Ends a round of the run loop: lowers the `polling` hint.
    #[inline]
    pub(super) fn end_round(&self) {
        self.polling.store(false, Ordering::Relaxed);
    }

    /// Moves the slots woken remotely to the end of the local list. Ends: every slot
    /// moved stays `queued` until it is polled, so it cannot come back meanwhile, and
    /// there are at most as many as tasks.
    fn gather(&self) {
        while let Some(slot) = self.slots.pop() {
            self.local.push(slot as u32);
        }
    }

    /// The next ready slot (on the host thread): the local list's, else the lock-free
    /// queue's.
    #[inline]
    pub(super) fn pop(&self) -> Option<usize> {
        match self.local.pop() {
            Some(slot) => Some(slot as usize),
            None => self.slots.pop(),
        }
    }

    /// Blocks the host until a push or a [`notify_host`](Self::notify_host), unless
    /// `has_work` says there is something to do; `has_work` is asked again after every
    /// wake-up of the host thread, whoever caused it (a stop request, say).
    pub(super) fn sleep_unless(&self, has_work: impl Fn() -> bool) {
        // Work woken on this thread needs no handshake to be seen.
        if !self.local.is_empty() || !self.prepare_to_sleep(&has_work) {
            return;
        }
        while self.sleeping.load(Ordering::Acquire) {
            if !self.slots.is_empty() || !self.local.is_empty() || has_work() {
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
        let idle = self.slots.is_empty() && self.local.is_empty() && !has_work();
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
