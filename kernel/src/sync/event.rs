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

use pin_project_lite::pin_project;

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
            waiter: AsyncWaiter::new(&self.waiters),
        }
    }
}

pin_project! {
    /// The future returned by [`Event::wait_async`]: its own entry in the event's wait
    /// queue, withdrawn when it is dropped.
    #[derive(Debug)]
    #[must_use = "futures do nothing unless polled"]
    pub struct EventWait<'a> {
        event: &'a Event,
        #[pin]
        waiter: AsyncWaiter<'a>,
    }
}

impl Future for EventWait<'_> {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let this = self.project();
        let event = *this.event;
        this.waiter.poll_until(cx, || event.is_set().then_some(()))
    }
}
