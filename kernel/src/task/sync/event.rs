//! A manual-reset event: threads wait until it is set; setting it wakes them all.
//!
//! Used as a completion too (set once, never reset). Setting it is callable from
//! interrupt handlers.
//!
//! **A `set` releases everyone waiting at that moment**, even if `reset` follows at once:
//! every `set` bumps a generation, and a waiter waits for "set, or the generation moved
//! since I started waiting". (Without it a waiter woken by the `set` could find the flag
//! already cleared again and go back to sleep, as Windows' `PulseEvent` is known to.)
//!
//! **And none that began after it.** The flag and the generation are one word, and a
//! `set` changes both in one read-modify-write: that is the moment the event is set. A
//! waiter that sees the flag and resets it (a read-modify-write of the same word, so
//! after the `set`'s) then starts its next wait at the bumped generation, which only a
//! later `set` moves. (With two words, set then bumped, such a next wait could read the
//! generation before the bump and be released by it, with no `set` after it began: the
//! model `event_set_releases_no_wait_that_began_after_it` found that interleaving.)
//! Orderings: `set` is `Release` (what the setter wrote before is visible to whoever is
//! released), every read is `Acquire`; the word's modification order is all the rest.

use core::{
    future::Future,
    pin::Pin,
    task::{Context, Poll},
};

use pin_project_lite::pin_project;

use crate::{
    atomics::{AtomicU64, Ordering},
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
    /// [`SET`] and the generation (the rest of the bits, counting `set`s) in one word.
    state: AtomicU64,
    waiters: WaitQueue,
}

/// The flag's bit of [`Event::state`].
const SET: u64 = 1;
/// One `set` in the generation bits.
const GENERATION: u64 = 2;

impl Event {
    /// An event that is not set.
    pub const fn new() -> Self {
        Self {
            state: AtomicU64::new(0),
            waiters: WaitQueue::new(),
        }
    }

    /// Sets the event and wakes every waiter. Interrupt-safe.
    pub fn set(&self) {
        // One step sets the flag and bumps the generation (wrapping: only a change is
        // ever looked for). Lock-free: retried only if the word changed meanwhile.
        self.state
            .update(Ordering::Release, Ordering::Relaxed, |state| {
                (state | SET).wrapping_add(GENERATION)
            });
        self.waiters.wake_all();
    }

    /// Clears the event: later waiters block until it is set again.
    pub fn reset(&self) {
        self.state.fetch_and(!SET, Ordering::AcqRel);
    }

    /// Whether the event is set.
    pub fn is_set(&self) -> bool {
        self.state.load(Ordering::Acquire) & SET != 0
    }

    /// The generation now: where a wait that starts now starts.
    fn generation(&self) -> u64 {
        self.state.load(Ordering::Acquire) & !SET
    }

    /// Blocks until the event is set (returns at once if it is).
    #[track_caller]
    pub fn wait(&self) {
        let since = self.generation();
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
            since: self.generation(),
            waiter: AsyncWaiter::new(&self.waiters),
        }
    }

    /// Whether a waiter that started at generation `since` may go: the event is set, or
    /// was set since (one load: both facts at one moment).
    fn released(&self, since: u64) -> bool {
        let state = self.state.load(Ordering::Acquire);
        state & SET != 0 || state & !SET != since
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
