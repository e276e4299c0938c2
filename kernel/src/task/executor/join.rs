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

use crate::thread::PanicReport;

/// Why a task has no output.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TaskError {
    /// The task was dropped before it finished: it was aborted ([`TaskHandle::abort`]), or
    /// its executor went away.
    Cancelled,
    /// Its `poll` panicked: the panic unwound the poll (the destructors of its frames ran),
    /// the executor dropped the future and went on with its other tasks.
    Panicked(PanicReport),
}

impl fmt::Display for TaskError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Cancelled => f.write_str("the task was cancelled"),
            Self::Panicked(report) => report.fmt(f),
        }
    }
}

/// A task's result, seen from its handle (implemented by the task's block in `cell`).
pub(super) trait JoinSlot<T>: Send + Sync {
    /// Whether the task finished or was cancelled.
    fn is_finished(&self) -> bool;

    /// Asks for the task to be cancelled at its next turn on its executor.
    fn abort(&self);

    /// The handle is gone: an output nobody will take is dropped now if the task has
    /// finished, else by the executor when it does.
    fn detach(&self);

    /// The result once there is one (registering `cx`'s waker until then).
    ///
    /// # Panics
    /// When the result was already taken.
    fn poll_join(&self, cx: &mut Context<'_>) -> Poll<Result<T, TaskError>>;
}

/// Owns a spawned task's result. Awaiting it yields the result once the task finished
/// (or [`TaskError`] if it was cancelled or panicked); dropping it detaches the task,
/// which runs on regardless.
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

    /// Cancels the task: its executor drops the future at the task's next turn (its
    /// `poll` is never called again), and awaiting this handle then yields
    /// [`TaskError::Cancelled`]. Does nothing if the task has finished already (awaiting the handle
    /// still yields its output). Callable from any thread or task; never blocks.
    ///
    /// ```no_run
    /// # use spindle::executor::{self, Executor, TaskError};
    /// let executor = Executor::new("main", 8);
    /// let forever = executor.spawn(core::future::pending::<()>());
    /// forever.abort();
    /// assert_eq!(executor.block_on(forever), Err(TaskError::Cancelled));
    /// ```
    pub fn abort(&self) {
        self.task.abort();
    }
}

impl<T> Drop for TaskHandle<T> {
    /// Detaches the task: it runs on, and its output, which nobody will take, is dropped
    /// as soon as it is there (here if it is already; else by the executor).
    fn drop(&mut self) {
        self.task.detach();
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
    type Output = Result<T, TaskError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        self.task.poll_join(cx)
    }
}
