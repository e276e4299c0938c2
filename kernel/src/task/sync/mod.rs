//! Synchronisation primitives.
//!
//! | type | for |
//! |---|---|
//! | [`IrqSpinLock`] | data that interrupt handlers also touch (the serial port, the heap) |
//! | [`Mutex`] | data held across long or blocking work: waiters sleep instead of spinning; threads [`lock`](Mutex::lock), tasks [`lock_async`](Mutex::lock_async) |
//! | [`Condvar`] | waiting, with a [`Mutex`] released, for a change to the data it guards |
//! | [`Semaphore`] | bounding how many threads or tasks use something at once; tasks get a [`Permit`] ([`acquire_async`](Semaphore::acquire_async)) |
//! | [`Event`] | "it happened": a flag threads wait for; set once, it is a completion |
//! | [`channel::bounded`] | passing values between threads and tasks, with back-pressure |
//! | [`oneshot::channel`] | one value, once, between threads and tasks |
//!
//! [`IrqSpinLock`] disables interrupts while held, so a handler can never spin on a lock
//! its own CPU holds, and a timer interrupt cannot preempt the holder. Everything else
//! blocks through [`WaitQueue`](crate::thread::WaitQueue): a condition plus a queue, where
//! the waker changes the condition before waking, which is what rules out lost
//! wake-ups. Waking never blocks or allocates, so the "give" halves — [`Event::set`],
//! [`Semaphore::release`], [`Condvar::notify_one`]/[`notify_all`](Condvar::notify_all),
//! [`try_send`](channel::Sender::try_send)/[`try_recv`](channel::Receiver::try_recv) —
//! are callable from interrupt handlers; the blocking halves are for threads only.
//!
//! **Checked by:** host tests in `mutex.rs`, `semaphore.rs`, `event.rs`, models in
//! `models.rs`; test kernels `mutex`, `mutex_relock`, `channel`, `async_sync`,
//! `event_handoff`, `blocking_lock_in_task`, `hostile_waits`.

pub mod channel;
mod condvar;
mod event;
#[cfg(all(test, feature = "model"))]
mod models;
mod mutex;
pub mod oneshot;
mod semaphore;

pub use condvar::Condvar;
pub use event::{Event, EventWait};
pub use mutex::{AsyncMutexGuard, Mutex, MutexGuard, MutexLock};
pub use semaphore::{Acquire, Permit, Semaphore};

/// The interrupt-disabling spinlock, from `arch` (the layers below `sync` use it too).
pub use crate::arch::{IrqSpinLock, IrqSpinLockGuard, RawIrqSpinLock};
