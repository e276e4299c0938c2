//! Wait queues: the one way a thread blocks until something happens.
//!
//! Every blocking primitive (mutex, semaphore, condition variable, event, channel, join)
//! is a condition plus a `WaitQueue`. The rule that makes lost wake-ups impossible:
//!
//! - the waiter checks the condition, then — under the queue's lock, with interrupts
//!   off — marks itself `Blocking`, checks the condition *again*, and only then enqueues
//!   itself and calls the scheduler;
//! - the waker changes the condition *before* calling [`WaitQueue::wake_one`] or
//!   [`WaitQueue::wake_all`], which take the same lock.
//!
//! So either the waiter's second check sees the change, or the waiter is already queued
//! when the waker looks; and a wake that lands between enqueueing and switching finds the
//! thread `Blocking` and cancels the block (see `thread`). Waking takes no sleeping lock
//! and never allocates: it is safe in interrupt handlers.

use alloc::{collections::VecDeque, sync::Arc};
use core::sync::atomic::Ordering;

use super::{Thread, ThreadState, cpu::this_cpu, scheduler};
use crate::{arch::cpu::InterruptsDisabled, sync::IrqSpinLock};

/// Threads waiting for a condition.
#[derive(Debug, Default)]
pub struct WaitQueue {
    waiters: IrqSpinLock<VecDeque<Arc<Thread>>>,
}

impl WaitQueue {
    /// An empty queue.
    pub const fn new() -> Self {
        Self {
            waiters: IrqSpinLock::new(VecDeque::new()),
        }
    }

    /// Blocks until `condition` returns `Some`, and returns its value.
    ///
    /// `condition` runs with interrupts disabled (sometimes under this queue's lock): it
    /// must be quick and must not block.
    ///
    /// # Panics
    /// If called from the idle thread or before the scheduler is up.
    pub fn wait_until<T>(&self, mut condition: impl FnMut() -> Option<T>) -> T {
        loop {
            if let Some(value) = condition() {
                return value;
            }
            let irq = InterruptsDisabled::new();
            let me = Arc::clone(this_cpu().current(&irq));
            assert!(!me.is_idle, "the idle thread must never block");
            {
                let mut waiters = self.waiters.lock();
                me.set_state(ThreadState::Blocking);
                if let Some(value) = condition() {
                    me.set_state(ThreadState::Running);
                    return value;
                }
                me.queued_on_wait_queue.store(true, Ordering::Relaxed);
                waiters.push_back(Arc::clone(&me));
            }
            scheduler::block_current(&irq);
            if me.queued_on_wait_queue.load(Ordering::Relaxed) {
                // Woken by something else (a stop request, unpark): leave the queue.
                self.remove(&me);
            }
        }
    }

    /// Wakes the longest-waiting thread; returns whether there was one.
    pub fn wake_one(&self) -> bool {
        loop {
            let Some(thread) = self.take_first() else {
                return false;
            };
            if scheduler::wake(&thread) {
                return true;
            }
            // It had been woken some other way and is leaving by itself: try the next.
        }
    }

    /// Wakes every waiting thread; returns how many.
    pub fn wake_all(&self) -> usize {
        let mut woken = 0;
        while let Some(thread) = self.take_first() {
            woken += usize::from(scheduler::wake(&thread));
        }
        woken
    }

    /// Whether no thread is waiting.
    pub fn is_empty(&self) -> bool {
        self.waiters.lock().is_empty()
    }

    fn take_first(&self) -> Option<Arc<Thread>> {
        let mut waiters = self.waiters.lock();
        let thread = waiters.pop_front()?;
        thread.queued_on_wait_queue.store(false, Ordering::Relaxed);
        Some(thread)
    }

    fn remove(&self, thread: &Arc<Thread>) {
        let mut waiters = self.waiters.lock();
        waiters.retain(|waiter| !Arc::ptr_eq(waiter, thread));
        thread.queued_on_wait_queue.store(false, Ordering::Relaxed);
    }
}
