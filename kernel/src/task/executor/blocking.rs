//! Running blocking code from async code: [`spawn_blocking`] runs a closure on a kernel
//! thread of its own and returns a future of its result.

use core::{
    future::Future,
    pin::Pin,
    task::{Context, Poll},
};

use crate::{
    sync::oneshot,
    thread::{self, SpawnError},
};

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
    let (sender, receiver) = oneshot::channel();
    thread::Builder::new().name("blocking").spawn(move || {
        // The awaiting task may have given up on the result: then it is dropped.
        let _ = sender.send(work());
    })?;
    Ok(BlockingHandle { receiver })
}

/// The future returned by [`spawn_blocking`]; `Err` if the thread ended through
/// `thread::exit` without producing a result.
#[derive(Debug)]
#[must_use = "futures do nothing unless polled"]
pub struct BlockingHandle<T> {
    receiver: oneshot::Receiver<T>,
}

impl<T> Future for BlockingHandle<T> {
    type Output = Result<T, oneshot::RecvError>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        Pin::new(&mut self.receiver).poll(cx)
    }
}
