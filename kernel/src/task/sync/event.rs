//! A manual-reset event: threads wait until it is set; setting it wakes them all.
//!
//! Used as a completion too (set once, never reset). Setting it is callable from
//! interrupt handlers.
//!
//! **A `set` releases everyone waiting at that moment**, even if `reset` follows at once:
//! every `set` bumps a generation, and a waiter waits for "set, or the generation moved
//! since I started waiting". (Without it a waiter woken by the `set` could find the flag
//! already cleared again and go back to sleep, as Windows' `PulseEvent` is known to.)

use core::{
    future::Future,
    pin::Pin,
    task::{Context, Poll},
};

use pin_project_lite::pin_project;

use crate::{
    atomics::{AtomicBool, AtomicU64, Ordering},
    thread::{AsyncWaiter, WaitQueue},
};

/// A flag that threads ([`wait`](Self::wait)) and tasks ([`wait_async`](Self::wait_async))
/// wait for.
///
/// ```no_run
/// # use spindle::{sync::Event, thread};
/// static READY: Event = Event::new();
/// let waiter = thread::spawn(|| READY.wait());
/// READY.set(); // releases every waiter, now and later (until `reset`)
/// waiter.join();
/// ```
#[derive(Debug, Default)]
pub struct Event {
    set: AtomicBool,
    /// Bumped by every `set`, after the flag.
    generation: AtomicU64,
    waiters: WaitQueue,
}

impl Event {
    /// An event that is not set.
    pub const fn new() -> Self {
        Self {
            set: AtomicBool::new(false),
            generation: AtomicU64::new(0),
            waiters: WaitQueue::new(),
        }
    }

    /// Sets the event and wakes every waiter. Interrupt-safe.
    pub fn set(&self) {
        self.set.store(true, Ordering::Release);
        self.generation.fetch_add(1, Ordering::AcqRel);
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
    #[track_caller]
    pub fn wait(&self) {
        let since = self.generation.load(Ordering::Acquire);
        self.waiters
            .wait_until_named("Event::wait", "`Event::wait_async().await`", || {
                self.released(since).then_some(())
            });
    }

    /// A future that completes once the event is set (or was set after the future was
    /// made, even if reset since).
    pub fn wait_async(&self) -> EventWait<'_> {
        EventWait {
            event: self,
            since: self.generation.load(Ordering::Acquire),
            waiter: AsyncWaiter::new(&self.waiters),
        }
    }

    /// Whether a waiter that started at generation `since` may go.
    fn released(&self, since: u64) -> bool {
        self.is_set() || self.generation.load(Ordering::Acquire) != since
    }
}

pin_project! {
    /// The future returned by [`Event::wait_async`]: its own entry in the event's wait
    /// queue, withdrawn when it is dropped.
    #[derive(Debug)]
    #[must_use = "futures do nothing unless polled"]
    pub struct EventWait<'a> {
        event: &'a Event,
        since: u64,
        #[pin]
        waiter: AsyncWaiter<'a>,
    }
}

impl Future for EventWait<'_> {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let this = self.project();
        let (event, since) = (*this.event, *this.since);
        this.waiter
            .poll_until(cx, || event.released(since).then_some(()))
    }
}

#[cfg(test)]
mod tests {
    use alloc::boxed::Box;
    use core::{
        future::Future,
        task::{Context, Poll},
    };

    use super::*;
    use crate::testing::counting_waker;

    /// A `set` releases a waiter even when `reset` follows before the waiter looks.
    #[test]
    fn a_set_then_reset_still_releases_a_waiting_future() {
        let event = Event::new();
        let (count, waker) = counting_waker();
        let mut context = Context::from_waker(&waker);
        let mut wait = Box::pin(event.wait_async());
        assert_eq!(wait.as_mut().poll(&mut context), Poll::Pending);
        event.set();
        event.reset();
        assert_eq!(count.count(), 1);
        assert_eq!(wait.as_mut().poll(&mut context), Poll::Ready(()));
        // A wait that starts after the reset waits for the next set.
        let mut later = Box::pin(event.wait_async());
        assert_eq!(later.as_mut().poll(&mut context), Poll::Pending);
    }
}
