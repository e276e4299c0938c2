//! The handle to a spawned task's result: a future that completes with it.

use alloc::sync::Arc;
use core::{
    fmt,
    future::Future,
    pin::Pin,
    sync::atomic::{AtomicU8, Ordering},
    task::{Context, Poll},
};

use futures_util::task::AtomicWaker;

use crate::arch::IrqSpinLock;

const PENDING: u8 = 0;
const DONE: u8 = 1;
const CANCELLED: u8 = 2;

/// The task was dropped before it finished (its executor went away).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cancelled;

/// Where a task leaves its result for its [`JoinHandle`]: written once by the executor
/// (`complete` or `cancel`), taken once by the handle after it saw the state change.
/// The value sits behind a lock only so that this needs no `unsafe`; the lock is never
/// contended (the state orders the writer before the reader).
pub(super) struct JoinState<T> {
    state: AtomicU8,
    value: IrqSpinLock<Option<T>>,
    waker: AtomicWaker,
}

impl<T> JoinState<T> {
    pub(super) fn new() -> Self {
        Self {
            state: AtomicU8::new(PENDING),
            value: IrqSpinLock::new(None),
            waker: AtomicWaker::new(),
        }
    }

    /// Stores the result and wakes the handle. Called once, by the executor.
    pub(super) fn complete(&self, value: T) {
        *self.value.lock() = Some(value);
        self.finish(DONE);
    }

    /// Marks the task as dropped unfinished and wakes the handle.
    pub(super) fn cancel(&self) {
        self.finish(CANCELLED);
    }

    fn finish(&self, state: u8) {
        if self
            .state
            .compare_exchange(PENDING, state, Ordering::AcqRel, Ordering::Acquire)
            .is_ok()
        {
            self.waker.wake();
        }
    }
}

/// Owns a spawned task's result. Awaiting it yields the result once the task finished;
/// dropping it detaches the task, which runs on regardless.
pub struct JoinHandle<T> {
    state: Arc<JoinState<T>>,
}

impl<T> JoinHandle<T> {
    pub(super) fn new(state: Arc<JoinState<T>>) -> Self {
        Self { state }
    }

    /// Whether the task has finished (or was cancelled).
    pub fn is_finished(&self) -> bool {
        self.state.state.load(Ordering::Acquire) != PENDING
    }
}

impl<T> fmt::Debug for JoinHandle<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JoinHandle")
            .field("finished", &self.is_finished())
            .finish()
    }
}

impl<T> Future for JoinHandle<T> {
    type Output = Result<T, Cancelled>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let state = &self.state;
        if state.state.load(Ordering::Acquire) == PENDING {
            state.waker.register(cx.waker());
            if state.state.load(Ordering::Acquire) == PENDING {
                return Poll::Pending;
            }
        }
        if state.state.load(Ordering::Acquire) == CANCELLED {
            return Poll::Ready(Err(Cancelled));
        }
        let value = state.value.lock().take();
        Poll::Ready(Ok(
            value.expect("JoinHandle polled after it returned the result")
        ))
    }
}
