//! A sleeping mutex: a thread that finds it locked blocks instead of spinning.
//!
//! The lock word is the owner's thread id (0 = unlocked; ids start at 1), which is what
//! lets `lock` recognise a thread relocking a mutex it holds and panic instead of
//! sleeping forever. Unlocking clears the owner *before* waking a waiter, as the
//! [`WaitQueue`] rule asks; the woken thread retries the compare-and-swap and, if another
//! thread got in first, goes back to sleep — that thread wakes the next waiter when it
//! unlocks, so no waiter is stranded.
//!
//! For threads only, once the scheduler is up (the owner is the current thread): not for
//! interrupt handlers, where `lock` could block the interrupted thread.
#![allow(unsafe_code)]

use core::{
    cell::UnsafeCell,
    fmt,
    marker::PhantomData,
    ops::{Deref, DerefMut},
    sync::atomic::{AtomicU64, Ordering},
};

use crate::thread::{self, WaitQueue};

/// The lock word of an unlocked mutex.
const UNLOCKED: u64 = 0;

/// Mutual exclusion for a `T`, blocking the threads that wait for it.
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
    pub fn lock(&self) -> MutexGuard<'_, T> {
        let me = current_thread_id();
        if !self.try_acquire(me) {
            // Only this thread stores its own id there, and only its guard clears it.
            assert!(
                self.owner.load(Ordering::Relaxed) != me,
                "Mutex::lock: the calling thread already holds this mutex"
            );
            self.waiters
                .wait_until(|| self.try_acquire(me).then_some(()));
        }
        MutexGuard::new(self)
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
