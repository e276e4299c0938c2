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
//!
//! Futures wait on the same queues through an [`AsyncWaiter`]: the same
//! check-register-recheck order, with the task's waker queued instead of the thread.
//! A waker handed a `wake_one` but dropped before acting on it passes the wake on, so a
//! cancelled future cannot swallow the wake-up another waiter needed.

use alloc::{collections::VecDeque, sync::Arc};
use core::{
    sync::atomic::Ordering,
    task::{Context, Poll, Waker},
};

use super::{Thread, ThreadState, cpu::this_cpu, scheduler};
use crate::{arch::cpu::InterruptsDisabled, sync::IrqSpinLock};

/// A thread or a task waiting on a queue.
#[derive(Debug)]
enum Waiter {
    Thread(Arc<Thread>),
    Task(Waker),
}

/// Threads and tasks waiting for a condition.
#[derive(Debug, Default)]
pub struct WaitQueue {
    waiters: IrqSpinLock<VecDeque<Waiter>>,
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
                waiters.push_back(Waiter::Thread(Arc::clone(&me)));
            }
            scheduler::block_current(&irq);
            if me.queued_on_wait_queue.load(Ordering::Relaxed) {
                // Woken by something else (a stop request, unpark): leave the queue.
                self.remove(&me);
            }
        }
    }

    /// Wakes the longest-waiting thread or task; returns whether there was one.
    pub fn wake_one(&self) -> bool {
        while let Some(waiter) = self.take_first() {
            if wake(waiter) {
                return true;
            }
            // A thread woken some other way is leaving by itself: try the next.
        }
        false
    }

    /// Wakes every waiting thread and task; returns how many.
    pub fn wake_all(&self) -> usize {
        let mut woken = 0;
        while let Some(waiter) = self.take_first() {
            woken += usize::from(wake(waiter));
        }
        woken
    }

    /// Whether no thread is waiting.
    pub fn is_empty(&self) -> bool {
        self.waiters.lock().is_empty()
    }

    fn take_first(&self) -> Option<Waiter> {
        let mut waiters = self.waiters.lock();
        let waiter = waiters.pop_front()?;
        if let Waiter::Thread(thread) = &waiter {
            thread.queued_on_wait_queue.store(false, Ordering::Relaxed);
        }
        Some(waiter)
    }

    fn remove(&self, thread: &Arc<Thread>) {
        let mut waiters = self.waiters.lock();
        waiters.retain(
            |waiter| !matches!(waiter, Waiter::Thread(queued) if Arc::ptr_eq(queued, thread)),
        );
        thread.queued_on_wait_queue.store(false, Ordering::Relaxed);
    }

    /// Queues `waker` unless an equivalent one is queued already.
    fn register(&self, waker: &Waker) {
        let mut waiters = self.waiters.lock();
        if !waiters
            .iter()
            .any(|waiter| matches!(waiter, Waiter::Task(queued) if queued.will_wake(waker)))
        {
            waiters.push_back(Waiter::Task(waker.clone()));
        }
    }

    /// Takes `waker` off the queue; `false` if it was not there (a wake took it).
    fn unregister(&self, waker: &Waker) -> bool {
        let mut waiters = self.waiters.lock();
        let position = waiters
            .iter()
            .position(|waiter| matches!(waiter, Waiter::Task(queued) if queued.will_wake(waker)));
        position.map(|index| waiters.remove(index)).is_some()
    }
}

fn wake(waiter: Waiter) -> bool {
    match waiter {
        Waiter::Thread(thread) => scheduler::wake(&thread),
        Waiter::Task(waker) => {
            waker.wake();
            true
        }
    }
}

/// The waiting half of a future that waits on a [`WaitQueue`]. Embed one in the future,
/// poll through [`poll_until`](Self::poll_until), and call [`cancel`](Self::cancel) from
/// the future's `Drop`.
#[derive(Debug, Default)]
pub struct AsyncWaiter {
    registered: Option<Waker>,
}

impl AsyncWaiter {
    /// A waiter that is not registered anywhere.
    pub const fn new() -> Self {
        Self { registered: None }
    }

    /// `Ready` with `condition`'s value once it returns `Some`; otherwise registers the
    /// task's waker on `queue` (checking `condition` again after registering, so a wake
    /// between the check and the registration is not lost) and returns `Pending`.
    pub fn poll_until<T>(
        &mut self,
        queue: &WaitQueue,
        cx: &mut Context<'_>,
        mut condition: impl FnMut() -> Option<T>,
    ) -> Poll<T> {
        if let Some(value) = condition() {
            self.cancel(queue);
            return Poll::Ready(value);
        }
        if self
            .registered
            .as_ref()
            .is_some_and(|waker| !waker.will_wake(cx.waker()))
        {
            self.cancel(queue);
        }
        queue.register(cx.waker());
        self.registered = Some(cx.waker().clone());
        match condition() {
            Some(value) => {
                self.cancel(queue);
                Poll::Ready(value)
            }
            None => Poll::Pending,
        }
    }

    /// Withdraws the registration. If a `wake_one` already took it (and so may have
    /// chosen this waiter over another), passes the wake on to the next waiter.
    pub fn cancel(&mut self, queue: &WaitQueue) {
        if let Some(waker) = self.registered.take()
            && !queue.unregister(&waker)
        {
            queue.wake_one();
        }
    }
}
