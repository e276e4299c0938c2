//! A sleeping mutex: a thread that finds it locked blocks instead of spinning.
//!
//! The lock word is the owner's thread id (0 = unlocked; ids start at 1), which is what
//! lets `lock` recognise a thread relocking a mutex it holds and panic instead of
//! sleeping forever. Unlocking clears the owner *before* waking a waiter, as the
//! [`WaitQueue`] rule asks; the woken thread retries the compare-and-swap and, if another
//! thread got in first, goes back to sleep — that thread wakes the next waiter when it
//! unlocks, so no waiter is stranded.
//!
//! [`Mutex::lock`] is for threads, once the scheduler is up (the owner is the current
//! thread); not for interrupt handlers, where it could block the interrupted thread.
//!
//! **Tasks** lock the same mutex with [`Mutex::lock_async`]: the future waits in the same
//! queue (its own entry inside the future, as every async wait), and its guard,
//! [`AsyncMutexGuard`], is `Send`, so a task may hold it across `.await`. The lock word
//! then says [`TASK_OWNER`]: a task is not a thread, and a guard may be dropped by
//! another thread than the one that polled the lock. Waiters (threads and tasks) are
//! woken one at a time in the order they queued; the lock is not handed over, so a
//! newcomer may take it before the woken waiter runs, and the woken one queues again at
//! the back (fair enough for short critical sections, never a lost wake-up). A lock
//! future dropped after its wake-up but before it took the lock passes the wake-up on
//! (`AsyncWaiter`), so cancelling never strands the other waiters.
//!
//! **Panics.** A thread or task that panics while it holds the lock releases it: its
//! guard is dropped by the unwinding, like any other value of its frames. The mutex is
//! not poisoned (unlike `std`'s): the next `lock` gets the value as the panicking code left
//! it. Poisoning would turn one contained failure into a failure of every later user of
//! the shared value, which containment is there to avoid; code whose invariants can break
//! mid-update restores them in a guard's `Drop`, or does not panic while holding the lock.
#![allow(unsafe_code)]

use core::{
    cell::UnsafeCell,
    fmt,
    future::Future,
    marker::PhantomData,
    ops::{Deref, DerefMut},
    pin::Pin,
    task::{Context, Poll},
};

use pin_project_lite::pin_project;

use crate::{
    atomics::{AtomicU64, Ordering},
    thread::{self, AsyncWaiter, WaitQueue},
};

/// The lock word of an unlocked mutex.
const UNLOCKED: u64 = 0;

/// The lock word of a mutex an async task holds (through an [`AsyncMutexGuard`]). Thread
/// ids count up from 1 and never get here.
const TASK_OWNER: u64 = u64::MAX;

/// Mutual exclusion for a `T`: threads block for it ([`lock`](Self::lock)), tasks await
/// it ([`lock_async`](Self::lock_async)).
///
/// ```no_run
/// # use spindle::{executor, sync::Mutex, thread};
/// static TOTAL: Mutex<u64> = Mutex::new(0);
/// let adder = thread::spawn(|| *TOTAL.lock() += 1);       // a thread blocks
/// executor::block_on(async {
///     let mut total = TOTAL.lock_async().await;             // a task awaits
///     *total += 1;
///     executor::yield_now().await;                          // the guard is Send
/// });
/// adder.join();
/// assert_eq!(*TOTAL.lock(), 2);
/// ```
pub struct Mutex<T: ?Sized> {
    /// The id of the thread holding the lock, or [`UNLOCKED`].
    owner: AtomicU64,
    waiters: WaitQueue,
    value: UnsafeCell<T>,
}

// SAFETY: the mutex hands out `&mut T` to one thread at a time, which may be any thread:
// that takes `T: Send` (like `std::sync::Mutex`), not `T: Sync`.
unsafe impl<T: ?Sized + Send> Sync for Mutex<T> {}

impl<T> Mutex<T> {
    /// An unlocked mutex holding `value`.
    pub const fn new(value: T) -> Self {
        Self {
            owner: AtomicU64::new(UNLOCKED),
            waiters: WaitQueue::new(),
            value: UnsafeCell::new(value),
        }
    }

    /// Consumes the mutex and returns its value (owning it proves no one holds it).
    pub fn into_inner(self) -> T {
        self.value.into_inner()
    }
}

impl<T: ?Sized> Mutex<T> {
    /// Locks the mutex, blocking while another thread holds it.
    ///
    /// # Panics
    /// If the calling thread already holds this mutex (waiting would deadlock), with the
    /// message "Mutex::lock: the calling thread already holds this mutex".
    #[track_caller]
    pub fn lock(&self) -> MutexGuard<'_, T> {
        let me = current_thread_id();
        if !self.try_acquire(me) {
            // Only this thread stores its own id there, and only its guard clears it.
            assert!(
                self.owner.load(Ordering::Relaxed) != me,
                "Mutex::lock: the calling thread already holds this mutex"
            );
            self.waiters
                .wait_until_named("Mutex::lock", "`Mutex::lock_async().await`", || {
                    self.try_acquire(me).then_some(())
                });
        }
        MutexGuard::new(self)
    }

    /// A future that locks the mutex for an async task, waiting (without blocking the
    /// thread) while a thread or another task holds it. Cancel-safe: dropping the
    /// future before it completes leaves the mutex as it was and wakes nobody less.
    ///
    /// ```no_run
    /// # extern crate alloc;
    /// # use alloc::vec::Vec;
    /// # use spindle::sync::Mutex;
    /// # async fn example(shared: &Mutex<Vec<u32>>) {
    /// shared.lock_async().await.push(7); // unlocked at the end of the statement
    /// # }
    /// ```
    pub fn lock_async(&self) -> MutexLock<'_, T> {
        MutexLock {
            mutex: self,
            waiter: AsyncWaiter::new(&self.waiters),
        }
    }

    /// Locks the mutex for a task if nobody holds it; never waits.
    pub fn try_lock_async(&self) -> Option<AsyncMutexGuard<'_, T>> {
        // Not `then_some`: its argument is built (and dropped, unlocking) even when the
        // lock was not taken.
        if self.try_acquire(TASK_OWNER) {
            Some(AsyncMutexGuard { mutex: self })
        } else {
            None
        }
    }

    /// Locks the mutex if no thread holds it (the calling thread included); never blocks.
    pub fn try_lock(&self) -> Option<MutexGuard<'_, T>> {
        self.try_acquire(current_thread_id())
            .then(|| MutexGuard::new(self))
    }

    /// The value, through a unique borrow of the mutex (no locking needed).
    pub fn get_mut(&mut self) -> &mut T {
        self.value.get_mut()
    }

    fn try_acquire(&self, me: u64) -> bool {
        self.owner
            .compare_exchange(UNLOCKED, me, Ordering::Acquire, Ordering::Relaxed)
            .is_ok()
    }

    fn unlock(&self) {
        self.owner.store(UNLOCKED, Ordering::Release);
        self.waiters.wake_one();
    }
}

fn current_thread_id() -> u64 {
    thread::current_id().as_u64()
}

impl<T: Default> Default for Mutex<T> {
    fn default() -> Self {
        Self::new(T::default())
    }
}

impl<T: ?Sized> fmt::Debug for Mutex<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let owner = self.owner.load(Ordering::Relaxed);
        f.debug_struct("Mutex")
            .field("owner", &(owner != UNLOCKED).then_some(owner))
            .finish_non_exhaustive()
    }
}

pin_project! {
    /// The future returned by [`Mutex::lock_async`]: its own entry in the mutex's wait
    /// queue, withdrawn (passing on a wake-up it got) when it is dropped.
    #[must_use = "futures do nothing unless polled"]
    pub struct MutexLock<'a, T: ?Sized> {
        mutex: &'a Mutex<T>,
        #[pin]
        waiter: AsyncWaiter<'a>,
    }
}

impl<'a, T: ?Sized> Future for MutexLock<'a, T> {
    type Output = AsyncMutexGuard<'a, T>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let mutex: &'a Mutex<T> = this.mutex;
        this.waiter
            .poll_until(cx, || mutex.try_acquire(TASK_OWNER).then_some(()))
            .map(|()| AsyncMutexGuard { mutex })
    }
}

impl<T: ?Sized> fmt::Debug for MutexLock<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MutexLock").finish_non_exhaustive()
    }
}

/// Access to the value of a [`Mutex`] an async task locked; dropping it unlocks and wakes
/// the next waiter. `Send` (when `T` is): a task may hold it across `.await`, and the
/// task may be dropped on another thread.
#[must_use = "dropping the guard unlocks the mutex at once"]
pub struct AsyncMutexGuard<'a, T: ?Sized> {
    mutex: &'a Mutex<T>,
}

// SAFETY: the guard hands out `&mut T` (so moving it to another thread moves access to
// `T`: `T: Send`) and `&T` through a shared guard (`T: Sync`), like
// `std::sync::MutexGuard` would if it were `Send`; the lock word is an atomic that any
// thread may clear.
unsafe impl<T: ?Sized + Send> Send for AsyncMutexGuard<'_, T> {}
// SAFETY: sharing the guard shares only `&T`.
unsafe impl<T: ?Sized + Sync> Sync for AsyncMutexGuard<'_, T> {}

impl<T: ?Sized> Deref for AsyncMutexGuard<'_, T> {
    type Target = T;

    fn deref(&self) -> &T {
        // SAFETY: the guard exists only while the lock word says `TASK_OWNER` for it, so
        // no `&mut T` exists elsewhere.
        unsafe { &*self.mutex.value.get() }
    }
}

impl<T: ?Sized> DerefMut for AsyncMutexGuard<'_, T> {
    fn deref_mut(&mut self) -> &mut T {
        // SAFETY: as for `deref`, and `&mut self` makes this the only borrow through it.
        unsafe { &mut *self.mutex.value.get() }
    }
}

impl<T: ?Sized> Drop for AsyncMutexGuard<'_, T> {
    fn drop(&mut self) {
        self.mutex.unlock();
    }
}

impl<T: ?Sized + fmt::Debug> fmt::Debug for AsyncMutexGuard<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&**self, f)
    }
}

/// Access to the value of a locked [`Mutex`]; dropping it unlocks.
///
/// Not `Send`: the lock belongs to the thread that took it, so only that thread can
/// release it.
#[must_use = "dropping the guard unlocks the mutex at once"]
pub struct MutexGuard<'a, T: ?Sized> {
    pub(super) mutex: &'a Mutex<T>,
    _not_send: PhantomData<*const ()>,
}

// SAFETY: sharing the guard shares only `&T` (like `std::sync::MutexGuard`).
unsafe impl<T: ?Sized + Sync> Sync for MutexGuard<'_, T> {}

impl<'a, T: ?Sized> MutexGuard<'a, T> {
    fn new(mutex: &'a Mutex<T>) -> Self {
        Self {
            mutex,
            _not_send: PhantomData,
        }
    }
}

impl<T: ?Sized> Deref for MutexGuard<'_, T> {
    type Target = T;

    fn deref(&self) -> &T {
        // SAFETY: the guard exists only while this thread holds the lock, so no `&mut T`
        // exists elsewhere.
        unsafe { &*self.mutex.value.get() }
    }
}

impl<T: ?Sized> DerefMut for MutexGuard<'_, T> {
    fn deref_mut(&mut self) -> &mut T {
        // SAFETY: the guard exists only while this thread holds the lock, and `&mut self`
        // makes this the only borrow through it.
        unsafe { &mut *self.mutex.value.get() }
    }
}

impl<T: ?Sized> Drop for MutexGuard<'_, T> {
    fn drop(&mut self) {
        self.mutex.unlock();
    }
}

impl<T: ?Sized + fmt::Debug> fmt::Debug for MutexGuard<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&**self, f)
    }
}

#[cfg(test)]
mod tests {
    use alloc::{boxed::Box, sync::Arc};
    use core::{
        future::Future,
        task::{Context, Poll, Waker},
    };

    use super::*;
    use crate::testing::WakeCount;

    /// Tasks take the lock in turn: a waiting lock future is woken when the guard drops,
    /// a cancelled one passes its wake-up on, and the guard is `Send`.
    #[test]
    fn async_guards_lock_in_turn_and_cancelled_locks_pass_the_wake_on() {
        fn assert_send<T: Send>(_: &T) {}
        let mutex = Mutex::new(0u32);
        let counts: [Arc<WakeCount>; 3] = Default::default();
        let wakers = counts.clone().map(Waker::from);
        let mut held = mutex.try_lock_async().expect("unlocked");
        assert_send(&held);
        *held += 1;
        let mut waiting = [0, 1].map(|_| Box::pin(mutex.lock_async()));
        for (lock, waker) in waiting.iter_mut().zip(&wakers) {
            assert!(
                lock.as_mut()
                    .poll(&mut Context::from_waker(waker))
                    .is_pending()
            );
        }
        drop(held);
        assert_eq!(counts[0].count(), 1, "the first waiter woken");
        let [first, mut second] = waiting;
        drop(first);
        assert_eq!(counts[1].count(), 1, "the wake moved on");
        let Poll::Ready(mut guard) = second.as_mut().poll(&mut Context::from_waker(&wakers[1]))
        else {
            panic!("the second waiter did not get the lock");
        };
        *guard += 1;
        assert!(mutex.try_lock_async().is_none());
        assert!(
            mutex.try_lock_async().is_none(),
            "a failed try unlocked the mutex"
        );
        drop(guard);
        assert_eq!(*mutex.try_lock_async().expect("unlocked again"), 2);
        assert_eq!(counts[2].count(), 0);
    }
}
