//! A bounded multi-producer, multi-consumer channel.
//!
//! [`bounded`] allocates the whole buffer up front; after that no operation allocates
//! (the queue never grows past its capacity). The buffer is behind an [`IrqSpinLock`]
//! held only to push or pop one value, so [`Sender::try_send`] and
//! [`Receiver::try_recv`] never block and may be called from interrupt handlers.
//!
//! **Blocking without lost wake-ups.** Senders sleep on `not_full`, receivers on
//! `not_empty`. Each successful push wakes one receiver and each pop one sender, always
//! *after* the buffer changed (the [`WaitQueue`] rule). A woken thread that loses the
//! race for the value (or the slot) queues again; whoever won it wakes the next waiter
//! in turn. Dropping the last sender (receiver) wakes every receiver (sender), after
//! the count reached zero, so none sleeps on a channel that can no longer change.
//!
//! Tasks use the same channel through [`Sender::send_async`] and
//! [`Receiver::recv_async`]: their wakers wait on the same two queues, so values flow
//! between threads and tasks in either direction.
//!
//! The "is it disconnected" test reads the count while holding the buffer lock: a
//! sender's push (under the lock) comes before its count decrement, so a receiver that
//! sees no sender left and an empty buffer knows every value was already taken.

use alloc::{collections::VecDeque, sync::Arc};
use core::{
    fmt,
    future::Future,
    pin::Pin,
    task::{Context, Poll},
};

use pin_project_lite::pin_project;

use super::IrqSpinLock;
use crate::{
    atomics::{AtomicUsize, Ordering},
    thread::{AsyncWaiter, WaitQueue},
};

/// A channel that holds up to `capacity` values: `send` blocks while it is full
/// (`send_async` waits).
///
/// ```no_run
/// # use spindle::{executor, sync::channel, thread};
/// let (to_task, from_thread) = channel::bounded::<u32>(8);
/// let producer = thread::spawn(move || {
///     for value in 1..=3 {
///         to_task.send(value).unwrap(); // a thread blocks
///     }
/// });
/// let sum = executor::block_on(async move {
///     let mut sum = 0;
///     while let Ok(value) = from_thread.recv_async().await { // a task awaits
///         sum += value;
///     }
///     sum
/// });
/// producer.join();
/// assert_eq!(sum, 6);
/// ```
///
/// # Panics
/// If `capacity` is 0 (a rendezvous channel is not supported), with the message
/// "channel::bounded: capacity must be at least 1"; or if the heap cannot provide the
/// buffer.
pub fn bounded<T>(capacity: usize) -> (Sender<T>, Receiver<T>) {
    assert!(
        capacity > 0,
        "channel::bounded: capacity must be at least 1"
    );
    let shared = Arc::new(Shared {
        buffer: IrqSpinLock::new(VecDeque::with_capacity(capacity)),
        capacity,
        senders: AtomicUsize::new(1),
        receivers: AtomicUsize::new(1),
        not_full: WaitQueue::new(),
        not_empty: WaitQueue::new(),
    });
    (
        Sender {
            shared: Arc::clone(&shared),
        },
        Receiver { shared },
    )
}

struct Shared<T> {
    buffer: IrqSpinLock<VecDeque<T>>,
    capacity: usize,
    senders: AtomicUsize,
    receivers: AtomicUsize,
    /// Senders waiting for room.
    not_full: WaitQueue,
    /// Receivers waiting for a value.
    not_empty: WaitQueue,
}

impl<T> Shared<T> {
    /// Pushes `value` unless the channel is disconnected or full. Wakes nobody.
    fn push(&self, value: T) -> Result<(), TrySendError<T>> {
        let mut buffer = self.buffer.lock();
        if self.receivers.load(Ordering::Acquire) == 0 {
            Err(TrySendError::Disconnected(value))
        } else if buffer.len() == self.capacity {
            Err(TrySendError::Full(value))
        } else {
            buffer.push_back(value);
            Ok(())
        }
    }

    /// Pops the oldest value, or says why there is none. Wakes nobody.
    fn pop(&self) -> Result<T, TryRecvError> {
        let mut buffer = self.buffer.lock();
        match buffer.pop_front() {
            Some(value) => Ok(value),
            None if self.senders.load(Ordering::Acquire) == 0 => Err(TryRecvError::Disconnected),
            None => Err(TryRecvError::Empty),
        }
    }
}

/// The sending end; clone it for more producers.
pub struct Sender<T> {
    shared: Arc<Shared<T>>,
}

impl<T> Sender<T> {
    /// Sends `value`, blocking while the channel is full.
    ///
    /// # Errors
    /// [`SendError`] with `value` back if every [`Receiver`] is gone.
    #[track_caller]
    pub fn send(&self, value: T) -> Result<(), SendError<T>> {
        let shared = &*self.shared;
        let mut value = Some(value);
        let result = shared.not_full.wait_until_named(
            "Sender::send",
            "`Sender::send_async(..).await`",
            || {
                let attempt = value
                    .take()
                    .expect("a value is left until a send attempt ends");
                match shared.push(attempt) {
                    Err(TrySendError::Full(back)) => {
                        value = Some(back);
                        None
                    }
                    other => Some(other),
                }
            },
        );
        match result {
            Ok(()) => {
                shared.not_empty.wake_one();
                Ok(())
            }
            Err(error) => Err(SendError(error.into_inner())),
        }
    }

    /// Sends `value` if there is room; never blocks, interrupt-safe.
    ///
    /// # Errors
    /// [`TrySendError::Full`] or [`TrySendError::Disconnected`], with `value` back.
    pub fn try_send(&self, value: T) -> Result<(), TrySendError<T>> {
        self.shared.push(value)?;
        self.shared.not_empty.wake_one();
        Ok(())
    }
}

impl<T> Clone for Sender<T> {
    fn clone(&self) -> Self {
        self.shared.senders.fetch_add(1, Ordering::Relaxed);
        Self {
            shared: Arc::clone(&self.shared),
        }
    }
}

impl<T> Drop for Sender<T> {
    fn drop(&mut self) {
        if self.shared.senders.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.shared.not_empty.wake_all();
        }
    }
}

impl<T> fmt::Debug for Sender<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Sender").finish_non_exhaustive()
    }
}

/// The receiving end; clone it for more consumers (each value goes to one of them).
pub struct Receiver<T> {
    shared: Arc<Shared<T>>,
}

impl<T> Receiver<T> {
    /// Takes the oldest value, blocking while the channel is empty.
    ///
    /// # Errors
    /// [`RecvError`] once the channel is empty and every [`Sender`] is gone.
    #[track_caller]
    pub fn recv(&self) -> Result<T, RecvError> {
        let shared = &*self.shared;
        let value =
            shared
                .not_empty
                .wait_until_named("Receiver::recv", "`Receiver::recv_async().await`", || {
                    match shared.pop() {
                        Err(TryRecvError::Empty) => None,
                        other => Some(other),
                    }
                })
                .map_err(|_| RecvError)?;
        shared.not_full.wake_one();
        Ok(value)
    }

    /// Takes the oldest value if there is one; never blocks, interrupt-safe.
    ///
    /// # Errors
    /// [`TryRecvError::Empty`], or [`TryRecvError::Disconnected`] once the channel is
    /// empty and every [`Sender`] is gone.
    pub fn try_recv(&self) -> Result<T, TryRecvError> {
        let value = self.shared.pop()?;
        self.shared.not_full.wake_one();
        Ok(value)
    }
}

impl<T> Clone for Receiver<T> {
    fn clone(&self) -> Self {
        self.shared.receivers.fetch_add(1, Ordering::Relaxed);
        Self {
            shared: Arc::clone(&self.shared),
        }
    }
}

impl<T> Drop for Receiver<T> {
    fn drop(&mut self) {
        if self.shared.receivers.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.shared.not_full.wake_all();
        }
    }
}

impl<T> fmt::Debug for Receiver<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Receiver").finish_non_exhaustive()
    }
}

/// [`Sender::send`] failed: every receiver is gone. Holds the value that was not sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SendError<T>(pub T);

/// [`Receiver::recv`] failed: the channel is empty and every sender is gone.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RecvError;

/// Why [`Sender::try_send`] did not send; holds the value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TrySendError<T> {
    /// The channel holds `capacity` values.
    Full(T),
    /// Every receiver is gone.
    Disconnected(T),
}

impl<T> TrySendError<T> {
    /// The value that was not sent.
    pub fn into_inner(self) -> T {
        match self {
            Self::Full(value) | Self::Disconnected(value) => value,
        }
    }
}

/// Why [`Receiver::try_recv`] returned no value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TryRecvError {
    /// No value right now.
    Empty,
    /// No value, and every sender is gone.
    Disconnected,
}

impl<T> fmt::Display for SendError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("sending on a channel whose receivers are gone")
    }
}

impl fmt::Display for RecvError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("receiving on an empty channel whose senders are gone")
    }
}

impl<T> fmt::Display for TrySendError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Full(_) => f.write_str("sending on a full channel"),
            Self::Disconnected(_) => SendError(()).fmt(f),
        }
    }
}

impl fmt::Display for TryRecvError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Empty => f.write_str("receiving on an empty channel"),
            Self::Disconnected => RecvError.fmt(f),
        }
    }
}

impl<T> Sender<T> {
    /// A future that sends `value`, waiting while the channel is full. Dropping it before
    /// it completes gives up the send (the value is dropped with it).
    pub fn send_async(&self, value: T) -> SendFuture<'_, T> {
        SendFuture {
            sender: self,
            value: Some(value),
            waiter: AsyncWaiter::new(&self.shared.not_full),
        }
    }
}

impl<T> Receiver<T> {
    /// A future that takes the oldest value, waiting while the channel is empty.
    /// Dropping it before it completes takes nothing: no value is lost.
    pub fn recv_async(&self) -> RecvFuture<'_, T> {
        RecvFuture {
            receiver: self,
            waiter: AsyncWaiter::new(&self.shared.not_empty),
        }
    }
}

pin_project! {
    /// The future returned by [`Sender::send_async`]: its own entry in the channel's
    /// "not full" queue, withdrawn when it is dropped.
    #[must_use = "futures do nothing unless polled"]
    pub struct SendFuture<'a, T> {
        sender: &'a Sender<T>,
        value: Option<T>,
        #[pin]
        waiter: AsyncWaiter<'a>,
    }
}

impl<T> Future for SendFuture<'_, T> {
    type Output = Result<(), SendError<T>>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let shared = &*this.sender.shared;
        let value = this.value;
        let attempt = this.waiter.poll_until(cx, || {
            match shared.push(value.take().expect("SendFuture polled after completion")) {
                Err(TrySendError::Full(back)) => {
                    *value = Some(back);
                    None
                }
                other => Some(other),
            }
        });
        attempt.map(|result| match result {
            Ok(()) => {
                shared.not_empty.wake_one();
                Ok(())
            }
            Err(error) => Err(SendError(error.into_inner())),
        })
    }
}

impl<T> fmt::Debug for SendFuture<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SendFuture").finish_non_exhaustive()
    }
}

pin_project! {
    /// The future returned by [`Receiver::recv_async`]: its own entry in the channel's
    /// "not empty" queue, withdrawn when it is dropped (passing on a wake it got but did
    /// not use, so another receiver takes the value).
    #[must_use = "futures do nothing unless polled"]
    pub struct RecvFuture<'a, T> {
        receiver: &'a Receiver<T>,
        #[pin]
        waiter: AsyncWaiter<'a>,
    }
}

impl<T> Future for RecvFuture<'_, T> {
    type Output = Result<T, RecvError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let shared = &*this.receiver.shared;
        let attempt = this.waiter.poll_until(cx, || match shared.pop() {
            Err(TryRecvError::Empty) => None,
            other => Some(other),
        });
        attempt.map(|result| {
            let value = result.map_err(|_| RecvError)?;
            shared.not_full.wake_one();
            Ok(value)
        })
    }
}

impl<T> fmt::Debug for RecvFuture<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RecvFuture").finish_non_exhaustive()
    }
}
