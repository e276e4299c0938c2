//! [`JoinSet`]: a group of tasks whose results are taken in the order they finish.
//!
//! Each task of the set is spawned wrapped with a [`Finished`] marker that lives inside
//! its future: when the future ends (returning, or dropped because it was aborted or its
//! executor went away) the marker's drop pushes the task's index onto the set's
//! completion queue and wakes the set's waker. [`JoinSet::join_next`] pops indices in
//! that order and awaits the matching handle, which is ready then or a moment later (the
//! marker drops just before the executor stores the output; the handle's own waker
//! covers the gap). The completion queue's room is reserved when a task is spawned, so
//! finishing never allocates.

use alloc::{collections::VecDeque, sync::Arc, vec::Vec};
use core::{
    fmt,
    future::{Future, poll_fn},
    pin::Pin,
    task::{Context, Poll},
};

use futures_util::task::AtomicWaker;

use super::{Host, Spawner, TaskError, TaskHandle, TaskSpawnError};
use crate::sync::IrqSpinLock;

/// A group of tasks, possibly on several executors, joined in the order they finish;
/// dropping the set aborts the tasks still in it.
///
/// ```no_run
/// # extern crate alloc;
/// # use alloc::vec::Vec;
/// # use core::time::Duration;
/// # use spindle::executor::{self, Executor, JoinSet};
/// let executor = Executor::new("main", 64);
/// let spawner = executor.spawner();
/// executor.block_on(async move {
///     let mut set = JoinSet::new();
///     for millis in [30, 10, 20] {
///         set.spawn(&spawner, async move {
///             executor::sleep(Duration::from_millis(millis)).await;
///             millis
///         });
///     }
///     let mut order = Vec::new();
///     while let Some(result) = set.join_next().await {
///         order.push(result.unwrap());
///     }
///     assert_eq!(order, [10, 20, 30]); // completion order
/// });
/// ```
pub struct JoinSet<T> {
    /// The members' handles by index; `None` for a free index.
    tasks: Vec<Option<TaskHandle<T>>>,
    free: Vec<usize>,
    len: usize,
    /// The index `join_next` popped and is waiting on (its output not stored yet).
    next: Option<usize>,
    finished: Arc<Completions>,
}

/// The indices of the members whose futures ended, in that order, and who to tell.
#[derive(Default)]
struct Completions {
    order: IrqSpinLock<VecDeque<usize>>,
    waker: AtomicWaker,
}

/// Lives inside a member's future; its drop reports the member finished.
struct Finished {
    finished: Arc<Completions>,
    index: usize,
}

impl Drop for Finished {
    fn drop(&mut self) {
        // Room reserved at spawn: never allocates. Push, then wake (the `AtomicWaker`
        // orders the two: a `register` that comes after sees the index).
        self.finished.order.lock().push_back(self.index);
        self.finished.waker.wake();
    }
}

impl<T: Send + 'static> JoinSet<T> {
    /// An empty set.
    pub fn new() -> Self {
        Self {
            tasks: Vec::new(),
            free: Vec::new(),
            len: 0,
            next: None,
            finished: Arc::default(),
        }
    }

    /// Spawns `future` through `spawner` as a member of the set.
    ///
    /// # Panics
    /// If it cannot be spawned (see [`try_spawn`](Self::try_spawn)).
    #[track_caller]
    pub fn spawn<F, H>(&mut self, spawner: &Spawner<H>, future: F)
    where
        F: Future<Output = T> + Send + 'static,
        H: Host,
    {
        if let Err(error) = self.try_spawn(spawner, future) {
            panic!(
                "JoinSet: spawning a task on executor '{}' failed: {error}",
                spawner.executor_name()
            );
        }
    }

    /// Spawns `future` through `spawner` as a member of the set, or says why it cannot.
    ///
    /// # Errors
    /// As [`Spawner::try_spawn`]; [`TaskSpawnError::OutOfMemory`] also when the set
    /// cannot grow. The future is dropped then, and the set is unchanged.
    pub fn try_spawn<F, H>(&mut self, spawner: &Spawner<H>, future: F) -> Result<(), TaskSpawnError>
    where
        F: Future<Output = T> + Send + 'static,
        H: Host,
    {
        let oom = |_| TaskSpawnError::OutOfMemory;
        let index = match self.free.pop() {
            Some(index) => index,
            None => {
                self.tasks.try_reserve(1).map_err(oom)?;
                self.free.try_reserve(self.tasks.len() + 1).map_err(oom)?;
                self.tasks.push(None);
                self.tasks.len() - 1
            }
        };
        let reserved = {
            // Room for every member's index: completions never outnumber the members.
            let mut order = self.finished.order.lock();
            let additional = (self.len + 1).saturating_sub(order.len());
            order.try_reserve(additional)
        };
        if reserved.is_err() {
            self.free.push(index);
            return Err(TaskSpawnError::OutOfMemory);
        }
        let marker = Finished {
            finished: Arc::clone(&self.finished),
            index,
        };
        let spawned = spawner.try_spawn(async move {
            let _marker = marker;
            future.await
        });
        match spawned {
            Ok(handle) => {
                self.tasks[index] = Some(handle);
                self.len += 1;
                Ok(())
            }
            Err(error) => {
                // The marker was dropped with the future and reported the index: take
                // it back out.
                self.finished.order.lock().retain(|&done| done != index);
                self.free.push(index);
                Err(error)
            }
        }
    }

    /// The next member to finish: its result ([`TaskError::Cancelled`] if it was aborted
    /// or its executor went away, [`TaskError::Panicked`] if it panicked), or `None` once
    /// the set is empty.
    pub async fn join_next(&mut self) -> Option<Result<T, TaskError>> {
        poll_fn(|cx| self.poll_join_next(cx)).await
    }

    /// How many members have not been joined yet.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether every member has been joined.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Aborts every member ([`TaskHandle::abort`]); they stay in the set, and
    /// [`join_next`](Self::join_next) yields them (as [`TaskError::Cancelled`] unless they
    /// finished first).
    pub fn abort_all(&self) {
        self.tasks.iter().flatten().for_each(TaskHandle::abort);
    }

    fn poll_join_next(&mut self, cx: &mut Context<'_>) -> Poll<Option<Result<T, TaskError>>> {
        if self.len == 0 {
            return Poll::Ready(None);
        }
        let index = match self.next {
            Some(index) => index,
            None => {
                let mut popped = self.finished.order.lock().pop_front();
                if popped.is_none() {
                    self.finished.waker.register(cx.waker());
                    popped = self.finished.order.lock().pop_front();
                }
                let Some(index) = popped else {
                    return Poll::Pending;
                };
                self.next = Some(index);
                index
            }
        };
        let Some(handle) = self.tasks.get_mut(index).and_then(Option::as_mut) else {
            unreachable!("a finished index names a member");
        };
        let result = core::task::ready!(Pin::new(handle).poll(cx));
        self.tasks[index] = None;
        self.free.push(index); // room reserved when the index was made
        self.len -= 1;
        self.next = None;
        Poll::Ready(Some(result))
    }
}

impl<T: Send + 'static> Default for JoinSet<T> {
    fn default() -> Self {
        Self::new()
    }
}

impl<T> Drop for JoinSet<T> {
    /// Aborts the members that have not been joined.
    fn drop(&mut self) {
        self.tasks.iter().flatten().for_each(TaskHandle::abort);
    }
}

impl<T> fmt::Debug for JoinSet<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JoinSet").field("len", &self.len).finish()
    }
}
