//! A manual-reset event: threads wait until it is set; setting it wakes them all.
//!
//! Used as a completion too (set once, never reset), for instance by `join`. Setting it
//! is callable from interrupt handlers.

use core::{
    future::Future,
    pin::Pin,
    sync::atomic::{AtomicBool, Ordering},
    task::{Context, Poll},
};

use crate::task::{AsyncWaiter, WaitQueue};

/// A flag that threads can wait for.
#[derive(Debug, Default)]
pub struct Event {
    set: AtomicBool,
    waiters: WaitQueue,
}

impl Event {
    /// An event that is not set.
    pub const fn new() -> Self {
        Self {
            set: AtomicBool::new(false),
            waiters: WaitQueue::new(),
        }
    }

    /// Sets the event and wakes every waiter. Interrupt-safe.
    pub fn set(&self) {
        self.set.store(true, Ordering::Release);
        self.waiters.wake_all();
    }

    /// Clears the event: later waiters block until it is set again.
    pub fn reset(&self) {
        self.set.store(false, Ordering::Release);
    }

    /// Whether the event is set.
    pub fn is_set(&self) -> bool {
        self.set.load(Ordering::Acquire)
    }

    /// Blocks until the event is set (returns at once if it is).
    pub fn wait(&self) {
        self.waiters.wait_until(|| self.is_set().then_some(()));
    }

    /// A future that completes once the event is set.
    pub fn wait_async(&self) -> EventWait<'_> {
        EventWait {
            event: self,
            waiter: AsyncWaiter::new(),
        }
    }
}

/// The future returned by [`Event::wait_async`].
#[derive(Debug)]
#[must_use = "futures do nothing unless polled"]
pub struct EventWait<'a> {
    event: &'a Event,
    waiter: AsyncWaiter,
}

impl Future for EventWait<'_> {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let this = self.get_mut();
        let event = this.event;
        this.waiter
            .poll_until(&event.waiters, cx, || event.is_set().then_some(()))
    }
}

impl Drop for EventWait<'_> {
    fn drop(&mut self) {
        self.waiter.cancel(&self.event.waiters);
    }
}
