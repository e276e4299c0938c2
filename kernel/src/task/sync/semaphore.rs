//! A counting semaphore: a number of permits; taking one blocks while none is left.
//!
//! The count is an atomic, so [`Semaphore::release`] is one `fetch_add` followed by a
//! wake-up — no lock, no allocation, no blocking — and interrupt handlers may call it
//! (say, a driver releasing a permit per received packet). The count goes up *before*
//! the wake, so a waiter either sees the permit in its last check or is already queued.
//!
//! **Tasks** take permits with [`Semaphore::acquire_async`], waiting in the same queue,
//! and get a [`Permit`] that gives the permit back when dropped. Waiters are woken one
//! per released permit, in the order they queued (a newcomer may take the permit first;
//! the woken one then queues again). Cancelling is safe: an acquire future holds no
//! permit until it completes, and one dropped after its wake-up but before it took the
//! permit passes the wake-up on to the next waiter (`AsyncWaiter`), so neither a permit
//! nor a wake-up is lost.

use core::{
    future::Future,
    pin::Pin,
    task::{Context, Poll},
};

use pin_project_lite::pin_project;

use crate::{
    atomics::{AtomicUsize, Ordering},
    thread::{AsyncWaiter, WaitQueue},
};

/// A count of permits that threads take and give back ([`acquire`](Self::acquire),
/// [`release`](Self::release)), and that tasks borrow ([`acquire_async`](Self::acquire_async)).
///
/// ```no_run
/// # use spindle::{executor, sync::Semaphore};
/// static SLOTS: Semaphore = Semaphore::new(2); // two at a time
/// executor::block_on(async {
///     let _permit = SLOTS.acquire_async().await; // given back when dropped
///     assert_eq!(SLOTS.available(), 1);
/// });
/// assert_eq!(SLOTS.available(), 2);
/// ```
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
    ///
    /// # Panics
    /// In debug builds, if it has to wait inside an async task (use
    /// [`acquire_async`](Self::acquire_async) there).
    #[track_caller]
    pub fn acquire(&self) {
        self.waiters.wait_until_named(
            "Semaphore::acquire",
            "`Semaphore::acquire_async().await`",
            || self.try_acquire().then_some(()),
        );
    }

    /// A future that takes a permit for an async task, waiting (without blocking the
    /// thread) while none is available; the [`Permit`] gives it back when dropped.
    /// Cancel-safe (see the module docs).
    pub fn acquire_async(&self) -> Acquire<'_> {
        Acquire {
            semaphore: self,
            waiter: AsyncWaiter::new(&self.waiters),
        }
    }

    /// Takes a permit for a task if one is available, as a [`Permit`]; never waits.
    pub fn try_acquire_permit(&self) -> Option<Permit<'_>> {
        // Not `then_some`: its argument is built (and dropped, giving a permit back) even
        // when no permit was taken.
        if self.try_acquire() {
            Some(Permit { semaphore: self })
        } else {
            None
        }
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

pin_project! {
    /// The future returned by [`Semaphore::acquire_async`]: its own entry in the
    /// semaphore's wait queue, withdrawn (passing on a wake-up it got) when it is dropped.
    #[derive(Debug)]
    #[must_use = "futures do nothing unless polled"]
    pub struct Acquire<'a> {
        semaphore: &'a Semaphore,
        #[pin]
        waiter: AsyncWaiter<'a>,
    }
}

impl<'a> Future for Acquire<'a> {
    type Output = Permit<'a>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Permit<'a>> {
        let this = self.project();
        let semaphore: &'a Semaphore = this.semaphore;
        this.waiter
            .poll_until(cx, || semaphore.try_acquire().then_some(()))
            .map(|()| Permit { semaphore })
    }
}

/// A permit taken from a [`Semaphore`] by [`acquire_async`](Semaphore::acquire_async):
/// dropping it gives the permit back (and wakes a waiter).
#[derive(Debug)]
#[must_use = "dropping the permit gives it back at once"]
pub struct Permit<'a> {
    semaphore: &'a Semaphore,
}

impl Permit<'_> {
    /// Keeps the permit taken for good (it is not given back; [`Semaphore::release`] can
    /// still add one later).
    pub fn forget(self) {
        core::mem::forget(self);
    }
}

impl Drop for Permit<'_> {
    fn drop(&mut self) {
        self.semaphore.release();
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
    use crate::testing::counting_waker as waker;

    /// A woken acquire that is dropped before it takes the permit passes the wake-up on:
    /// the next waiter gets the permit, and no permit is lost.
    #[test]
    fn a_cancelled_acquire_passes_its_wake_on() {
        let semaphore = Semaphore::new(1);
        let (_, main_waker) = waker();
        let mut context = Context::from_waker(&main_waker);
        let held = semaphore.try_acquire_permit().expect("one permit");
        let (first_count, first_waker) = waker();
        let (second_count, second_waker) = waker();
        let mut first = Box::pin(semaphore.acquire_async());
        let mut second = Box::pin(semaphore.acquire_async());
        assert!(
            first
                .as_mut()
                .poll(&mut Context::from_waker(&first_waker))
                .is_pending()
        );
        assert!(
            second
                .as_mut()
                .poll(&mut Context::from_waker(&second_waker))
                .is_pending()
        );
        drop(held); // the permit goes back: the first waiter is woken
        assert_eq!(first_count.count(), 1);
        assert_eq!(second_count.count(), 0);
        drop(first); // cancelled after its wake-up: the wake moves on
        assert_eq!(second_count.count(), 1);
        let Poll::Ready(permit) = second.as_mut().poll(&mut context) else {
            panic!("the second waiter did not get the permit");
        };
        assert_eq!(semaphore.available(), 0);
        drop(permit);
        assert_eq!(semaphore.available(), 1);
        permit_forget_keeps_it(&semaphore);
    }

    fn permit_forget_keeps_it(semaphore: &Semaphore) {
        semaphore.try_acquire_permit().expect("a permit").forget();
        assert_eq!(semaphore.available(), 0);
        assert!(semaphore.try_acquire_permit().is_none());
        assert_eq!(semaphore.available(), 0, "a failed try gave a permit back");
        semaphore.release();
        assert_eq!(semaphore.available(), 1);
    }
}
