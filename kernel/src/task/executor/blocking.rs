//! Running blocking code from async code: [`spawn_blocking`] runs a closure on a kernel
//! thread of its own and returns a future of its result.

use alloc::boxed::Box;
use core::{
    fmt,
    future::Future,
    pin::Pin,
    task::{Context, Poll},
};

use crate::thread::{self, JoinError, SpawnError};

/// Runs `work` on a new kernel thread named `blocking`; the returned future completes
/// with its result. The task awaiting it sleeps meanwhile; its executor runs other tasks.
/// The way to call blocking code (a [`Mutex::lock`](crate::sync::Mutex::lock) held for
/// long, a [`thread::sleep`]) from a task.
///
/// ```no_run
/// # use spindle::{executor, thread};
/// # async fn example() {
/// let slow = executor::spawn_blocking(|| {
///     thread::sleep(core::time::Duration::from_millis(5)); // fine: its own thread
///     42
/// });
/// assert_eq!(slow.await, Ok(42));
/// # }
/// ```
///
/// # Panics
/// If the thread cannot be created; [`try_spawn_blocking`] returns the error instead.
#[track_caller]
pub fn spawn_blocking<F, T>(work: F) -> BlockingHandle<T>
where
    F: FnOnce() -> T + Send + 'static,
    T: Send + 'static,
{
    try_spawn_blocking(work).unwrap_or_else(|error| panic!("spawn_blocking failed: {error}"))
}

/// [`spawn_blocking`], or the reason the thread cannot be created.
///
/// # Errors
/// [`SpawnError`] if the thread cannot be created.
pub fn try_spawn_blocking<F, T>(work: F) -> Result<BlockingHandle<T>, SpawnError>
where
    F: FnOnce() -> T + Send + 'static,
    T: Send + 'static,
{
    let thread = thread::Builder::new().name("blocking").spawn(work)?;
    // Boxed: `join_async`'s future has no name to store. If there is no room for it, the
    // thread is detached and runs on; its result is dropped.
    let joined = Box::try_new(thread.join_async()).map_err(|_| SpawnError::OutOfMemory)?;
    Ok(BlockingHandle {
        joined: Box::into_pin(joined),
    })
}

/// The future returned by [`spawn_blocking`]: the closure's result, or why there is none
/// ([`JoinError::Panicked`] with the panic's report if it panicked, `Exited` if it
/// called `thread::exit`). Dropping it detaches the thread, which runs on.
#[must_use = "futures do nothing unless polled"]
pub struct BlockingHandle<T> {
    joined: Pin<Box<dyn Future<Output = Result<T, JoinError>> + Send>>,
}

impl<T> fmt::Debug for BlockingHandle<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BlockingHandle").finish_non_exhaustive()
    }
}

impl<T> Future for BlockingHandle<T> {
    type Output = Result<T, JoinError>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        self.joined.as_mut().poll(cx)
    }
}
