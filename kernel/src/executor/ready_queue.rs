//! The ready queue: task slots waiting to be polled, pushed by wakers from anywhere.
//!
//! A bounded lock-free queue (`crossbeam_queue::ArrayQueue`). It can never overflow: a
//! task is in it at most once (its `queued` flag, see `task`), and an executor never
//! holds more tasks than the queue's capacity (spawning beyond it is an error). So a push
//! takes no lock and allocates nothing, from any thread or interrupt handler.
//!
//! Sleeping without losing a wake-up is a two-flag handshake with the host thread:
//! the host sets `sleeping` and then looks at the queue; a waker pushes and then looks
//! at `sleeping`. With a full fence on both sides, at least one of them sees the other,
//! so either the host finds the work or the waker notifies the host.

use core::sync::atomic::{AtomicBool, Ordering, fence};

use crossbeam_queue::ArrayQueue;

use super::host::Host;

/// Slots of ready tasks, plus the sleep/notify handshake with the host thread.
pub(super) struct ReadyQueue<H: Host> {
    slots: ArrayQueue<usize>,
    sleeping: AtomicBool,
    host: H,
}

impl<H: Host> ReadyQueue<H> {
    /// A queue for up to `capacity` tasks, whose host is `host`.
    pub(super) fn new(capacity: usize, host: H) -> Self {
        Self {
            slots: ArrayQueue::new(capacity.max(1)),
            sleeping: AtomicBool::new(false),
            host,
        }
    }

    /// How many tasks the executor may hold.
    pub(super) fn capacity(&self) -> usize {
        self.slots.capacity()
    }

    /// Queues `slot` and makes sure the host will look at it.
    pub(super) fn push(&self, slot: usize) {
        let pushed = self.slots.push(slot);
        debug_assert!(
            pushed.is_ok(),
            "ready queue overflow: more queued slots than tasks"
        );
        self.notify_host();
    }

    /// Wakes the host if it is (about to be) asleep.
    pub(super) fn notify_host(&self) {
        fence(Ordering::SeqCst);
        if self.sleeping.swap(false, Ordering::AcqRel) {
            self.host.notify();
        }
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
        self.sleeping.store(true, Ordering::SeqCst);
        fence(Ordering::SeqCst);
        while self.sleeping.load(Ordering::Acquire) {
            if !self.slots.is_empty() || has_work() {
                self.sleeping.store(false, Ordering::Relaxed);
                return;
            }
            self.host.wait();
        }
    }
}
