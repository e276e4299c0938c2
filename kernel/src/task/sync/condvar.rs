//! A condition variable: wait, with a [`Mutex`] released, until another thread notifies.
//!
//! **No lost notifications.** Every notify first bumps a generation counter, then wakes.
//! A waiter reads the generation *while it still holds the mutex*, unlocks, and sleeps
//! on the [`WaitQueue`] condition "the generation changed". A notifier that changed the
//! shared state under the mutex necessarily bumps the counter after that read, so the
//! waiter either sees the new generation in its last check or is already queued when the
//! wake comes. Hence the usual rule for [`Condvar::wait`]: change the state the waiter
//! tests under the mutex (notifying after unlocking is fine). [`Condvar::wait_while`]
//! reads the generation before testing, which lifts that rule.
//!
//! A notify may wake more threads than asked (every waiter that has not queued yet sees
//! the new generation); like any condition variable, callers re-check their predicate,
//! which [`Condvar::wait_while`] does for them.
//!
//! Notifying bumps an atomic and wakes: it never blocks and never allocates, so it is
//! interrupt-safe.

use super::{Mutex, MutexGuard};
use crate::{
    atomics::{AtomicU64, Ordering},
    thread::WaitQueue,
};

/// Threads waiting, with a mutex released, for a notification. (Threads only: a task
/// waits on an [`Event`](super::Event) or a channel instead.)
///
/// ```no_run
/// # use spindle::{sync::{Condvar, Mutex}, thread};
/// static QUEUE: Mutex<u32> = Mutex::new(0);
/// static CHANGED: Condvar = Condvar::new();
/// let consumer = thread::spawn(|| {
///     let queue = CHANGED.wait_while(QUEUE.lock(), |queued| *queued == 0);
///     *queue
/// });
/// *QUEUE.lock() += 1;
/// CHANGED.notify_all();
/// assert_eq!(consumer.join(), 1);
/// ```
#[derive(Debug, Default)]
pub struct Condvar {
    generation: AtomicU64,
    waiters: WaitQueue,
}

impl Condvar {
    /// A condition variable nobody waits on.
    pub const fn new() -> Self {
        Self {
            generation: AtomicU64::new(0),
            waiters: WaitQueue::new(),
        }
    }

    /// Unlocks `guard`'s mutex, blocks until notified, and locks the mutex again.
    ///
    /// May return without a matching notify (see the module docs): re-check the state.
    #[track_caller]
    pub fn wait<'a, T: ?Sized>(&self, guard: MutexGuard<'a, T>) -> MutexGuard<'a, T> {
        let seen = self.generation.load(Ordering::Acquire);
        self.wait_since(guard, seen)
    }

    /// Waits, as [`wait`](Self::wait) does, for as long as `condition` holds for the
    /// protected value; returns with the mutex locked and `condition` false.
    ///
    /// The generation is read *before* `condition` runs, so this also works when the
    /// state is changed without the mutex (an atomic set by an interrupt handler that
    /// then notifies): a change after the read bumps the generation past it.
    #[track_caller]
    pub fn wait_while<'a, T: ?Sized>(
        &self,
        mut guard: MutexGuard<'a, T>,
        mut condition: impl FnMut(&mut T) -> bool,
    ) -> MutexGuard<'a, T> {
        loop {
            let seen = self.generation.load(Ordering::Acquire);
            if !condition(&mut *guard) {
                return guard;
            }
            guard = self.wait_since(guard, seen);
        }
    }

    /// Unlocks, sleeps until the generation differs from `seen`, relocks.
    #[track_caller]
    fn wait_since<'a, T: ?Sized>(&self, guard: MutexGuard<'a, T>, seen: u64) -> MutexGuard<'a, T> {
        let mutex: &'a Mutex<T> = guard.mutex;
        drop(guard);
        self.waiters.wait_until_named(
            "Condvar::wait",
            "`executor::spawn_blocking` for code that waits on a condition variable",
            || (self.generation.load(Ordering::Acquire) != seen).then_some(()),
        );
        mutex.lock()
    }

    /// Wakes one waiting thread (if any). Interrupt-safe.
    pub fn notify_one(&self) {
        self.generation.fetch_add(1, Ordering::Release);
        self.waiters.wake_one();
    }

    /// Wakes every waiting thread. Interrupt-safe.
    pub fn notify_all(&self) {
        self.generation.fetch_add(1, Ordering::Release);
        self.waiters.wake_all();
    }
}
