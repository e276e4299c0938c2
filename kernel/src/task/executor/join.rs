//! The handle to a spawned task's result: a future that completes with it.
//!
//! The result lives in the task's own heap block (see `cell`); the handle is an `Arc` of
//! that block seen through [`JoinSlot`], so it is one pointer pair whatever the future's
//! type, and joining allocates nothing.

use alloc::sync::Arc;
use core::{
    fmt,
    future::Future,
    pin::Pin,
    task::{Context, Poll},
};

/// The task was dropped before it finished (its executor went away).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cancelled;

/// A task's result, seen from its handle (implemented by the task's block in `cell`).
pub(super) trait JoinSlot<T>: Send + Sync {
    /// Whether the task finished or was cancelled.
    fn is_finished(&self) -> bool;

    /// The result once there is one (registering `cx`'s waker until then).
    ///
    /// # Panics
    /// When the result was already taken.
    fn poll_join(&self, cx: &mut Context<'_>) -> Poll<Result<T, Cancelled>>;
}

/// Owns a spawned task's result. Awaiting it yields the result once the task finished;
/// dropping it detaches the task, which runs on regardless.
pub struct TaskHandle<T> {
    task: Arc<dyn JoinSlot<T>>,
}

impl<T> TaskHandle<T> {
    pub(super) fn new(task: Arc<dyn JoinSlot<T>>) -> Self {
        Self { task }
    }

    /// Whether the task has finished (or was cancelled).
    pub fn is_finished(&self) -> bool {
        self.task.is_finished()
    }
}

impl<T> fmt::Debug for TaskHandle<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TaskHandle")
            .field("finished", &self.is_finished())
            .finish()
    }
}

impl<T> Future for TaskHandle<T> {
    type Output = Result<T, Cancelled>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        self.task.poll_join(cx)
    }
}
