//! A one-shot channel: one value, from one sender to one receiver, between any mix of
//! threads and tasks. The receiver blocks ([`Receiver::recv`]) or is awaited (it is a
//! future); sending never blocks and is interrupt-safe.
//!
//! There is one receiver, so one waiter at most: a thread waits on a [`WaitQueue`] (its
//! entry on its own stack), a task registers in an [`AtomicWaker`]. The sender publishes
//! `closed` and then wakes both; each waiter registers and then checks `closed`, so one of
//! the two sides always sees the other.

use alloc::sync::Arc;
use core::{
    fmt,
    future::Future,
    pin::Pin,
    task::{Context, Poll},
};

use futures_util::task::AtomicWaker;

use super::IrqSpinLock;
use crate::{
    atomics::{AtomicBool, Ordering},
    thread::WaitQueue,
};

/// The sender went away without sending.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RecvError;

impl fmt::Display for RecvError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("the sender was dropped without sending")
    }
}

struct Shared<T> {
    value: IrqSpinLock<Option<T>>,
    /// Set when the sender sent or went away: the receiver need wait no longer.
    closed: AtomicBool,
    receiver_gone: AtomicBool,
    /// A thread in `recv`.
    waiters: WaitQueue,
    /// A task awaiting the receiver.
    task: AtomicWaker,
}

/// Creates a one-shot channel.
///
/// ```no_run
/// # use spindle::{executor, sync::oneshot, thread};
/// let (sender, receiver) = oneshot::channel::<u32>();
/// thread::spawn(move || sender.send(7).unwrap());
/// assert_eq!(executor::block_on(receiver), Ok(7)); // a task awaits the receiver
/// ```
pub fn channel<T>() -> (Sender<T>, Receiver<T>) {
    let shared = Arc::new(Shared {
        value: IrqSpinLock::new(None),
        closed: AtomicBool::new(false),
        receiver_gone: AtomicBool::new(false),
        waiters: WaitQueue::new(),
        task: AtomicWaker::new(),
    });
    (
        Sender {
            shared: Some(Arc::clone(&shared)),
        },
        Receiver { shared },
    )
}

/// Sends the one value.
pub struct Sender<T> {
    shared: Option<Arc<Shared<T>>>,
}

impl<T> Sender<T> {
    /// Delivers `value`; gives it back if the receiver is gone.
    ///
    /// # Errors
    /// The value, when the [`Receiver`] was dropped.
    pub fn send(mut self, value: T) -> Result<(), T> {
        let shared = self.shared.take().expect("a sender sends once");
        if shared.receiver_gone.load(Ordering::Acquire) {
            return Err(value);
        }
        *shared.value.lock() = Some(value);
        close(&shared);
        Ok(())
    }
}

impl<T> Drop for Sender<T> {
    fn drop(&mut self) {
        if let Some(shared) = self.shared.take() {
            close(&shared);
        }
    }
}

fn close<T>(shared: &Shared<T>) {
    shared.closed.store(true, Ordering::Release);
    shared.waiters.wake_all();
    shared.task.wake();
}

impl<T> fmt::Debug for Sender<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("oneshot::Sender").finish_non_exhaustive()
    }
}

/// Receives the one value: call [`recv`](Self::recv) on a thread, or `.await` it.
pub struct Receiver<T> {
    shared: Arc<Shared<T>>,
}

impl<T> Receiver<T> {
    /// Blocks until the value arrives.
    ///
    /// # Errors
    /// [`RecvError`] if the sender was dropped without sending.
    #[track_caller]
    pub fn recv(self) -> Result<T, RecvError> {
        let shared = Arc::clone(&self.shared);
        shared.waiters.wait_until_named(
            "oneshot::Receiver::recv",
            "`.await` on the receiver",
            || shared.closed.load(Ordering::Acquire).then_some(()),
        );
        shared.value.lock().take().ok_or(RecvError)
    }

    /// The value if it has arrived.
    pub fn try_recv(&self) -> Option<T> {
        self.shared.value.lock().take()
    }
}

impl<T> Future for Receiver<T> {
    type Output = Result<T, RecvError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let shared = &*self.shared;
        if !shared.closed.load(Ordering::Acquire) {
            // Register, then check again: a `close` in between is seen by the check, a
            // later one finds the waker (AtomicWaker's register/wake are ordered).
            shared.task.register(cx.waker());
            if !shared.closed.load(Ordering::Acquire) {
                return Poll::Pending;
            }
        }
        Poll::Ready(shared.value.lock().take().ok_or(RecvError))
    }
}

impl<T> Drop for Receiver<T> {
    fn drop(&mut self) {
        self.shared.receiver_gone.store(true, Ordering::Release);
    }
}

impl<T> fmt::Debug for Receiver<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("oneshot::Receiver").finish_non_exhaustive()
    }
}
