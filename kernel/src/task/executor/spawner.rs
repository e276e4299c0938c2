//! Spawning: a [`Spawner`] allocates the task (one block: header, future, result; see
//! `cell`) in the spawning thread, so running out of memory is a [`TaskSpawnError`], and
//! hands it to the executor's inbox.

use alloc::{boxed::Box, string::String, sync::Arc};
use core::{fmt, future::Future, sync::atomic::Ordering};

use super::{
    cell::{self, Slot},
    chunks::CHUNK,
    host::{Host, ThreadHost},
    join::TaskHandle,
    shared::Shared,
    table::SpareBlock,
    task::TaskHeader,
};
use crate::intrusive::InboxNode;

/// Why a task could not be spawned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TaskSpawnError {
    /// The executor already holds as many tasks as its capacity.
    Full,
    /// The executor was dropped: nothing will ever run the task.
    Closed,
    /// No memory for the task.
    OutOfMemory,
}

impl fmt::Display for TaskSpawnError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Full => "the executor is at its task capacity",
            Self::Closed => "the executor is gone",
            Self::OutOfMemory => "out of memory",
        })
    }
}

/// Spawns tasks onto an executor from any thread, task or executor.
pub struct Spawner<H: Host = ThreadHost> {
    pub(super) shared: Arc<Shared<H>>,
}

impl<H: Host> Spawner<H> {
    /// Spawns `future` as a new task of the executor.
    ///
    /// ```no_run
    /// # use spindle::executor::Executor;
    /// let executor = Executor::new("worker", 64);
    /// let spawner = executor.spawner(); // Send + Clone: hand it to other threads
    /// let answer = spawner.spawn(async { 6 * 7 });
    /// assert_eq!(executor.block_on(answer), Ok(42));
    /// ```
    ///
    /// # Panics
    /// If the task cannot be spawned (the executor is full or gone, or the heap is);
    /// [`try_spawn`](Self::try_spawn) returns the error instead.
    #[track_caller]
    pub fn spawn<F>(&self, future: F) -> TaskHandle<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        self.spawn_named(None, future)
    }

    /// Spawns `future` as a new task called `name` (listings, traces, reports).
    ///
    /// # Panics
    /// As [`spawn`](Self::spawn); [`try_spawn_named`](Self::try_spawn_named) returns the
    /// error instead.
    #[track_caller]
    pub fn spawn_named<F>(&self, name: Option<String>, future: F) -> TaskHandle<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        self.try_spawn_named(name, future).unwrap_or_else(|error| {
            panic!(
                "spawning a task on executor '{}' failed: {error}",
                self.shared.name
            )
        })
    }

    /// Spawns `future` as a new task of the executor, or says why it cannot.
    ///
    /// ```no_run
    /// # use spindle::executor::{Executor, TaskSpawnError};
    /// let executor = Executor::new("small", 1);
    /// let _first = executor.try_spawn(core::future::pending::<()>())?;
    /// assert_eq!(executor.try_spawn(async {}).err(), Some(TaskSpawnError::Full));
    /// # Ok::<(), TaskSpawnError>(())
    /// ```
    ///
    /// # Errors
    /// [`TaskSpawnError::Full`] when the executor holds as many tasks as its capacity,
    /// [`TaskSpawnError::Closed`] when the executor was dropped,
    /// [`TaskSpawnError::OutOfMemory`] when the task cannot be allocated. The future is
    /// dropped in every case.
    pub fn try_spawn<F>(&self, future: F) -> Result<TaskHandle<F::Output>, TaskSpawnError>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        self.try_spawn_named(None, future)
    }

    /// Spawns `future` as a new task called `name` (listings, traces, reports).
    ///
    /// # Errors
    /// As for [`try_spawn`](Self::try_spawn).
    pub fn try_spawn_named<F>(
        &self,
        name: Option<String>,
        future: F,
    ) -> Result<TaskHandle<F::Output>, TaskSpawnError>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        let shared = &self.shared;
        if shared.inbox.is_closed() {
            return Err(TaskSpawnError::Closed);
        }
        let reserved = shared.tasks.fetch_add(1, Ordering::AcqRel);
        if reserved >= shared.ready.capacity() {
            shared.tasks.fetch_sub(1, Ordering::AcqRel);
            return Err(TaskSpawnError::Full);
        }
        let (node, handle) = make_room(shared, reserved)
            .and_then(|()| new_task(shared, name, future))
            .inspect_err(|_| {
                shared.tasks.fetch_sub(1, Ordering::AcqRel);
            })?;
        if shared.inbox.push(node).is_err() {
            // Closed meanwhile: dropping the node drops the future (cancelling the
            // handle, which is dropped too).
            shared.tasks.fetch_sub(1, Ordering::AcqRel);
            return Err(TaskSpawnError::Closed);
        }
        shared.ready.notify_host();
        Ok(handle)
    }

    /// The executor's name.
    pub fn executor_name(&self) -> &str {
        &self.shared.name
    }
}

impl<H: Host> Clone for Spawner<H> {
    fn clone(&self) -> Self {
        Self {
            shared: Arc::clone(&self.shared),
        }
    }
}

impl<H: Host> fmt::Debug for Spawner<H> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Spawner")
            .field("executor", &self.shared.name)
            .finish()
    }
}

/// A task ready for the inbox, and its handle.
type Allocated<H, T> = (Box<InboxNode<Slot<H>>>, TaskHandle<T>);

/// Makes sure the executor's table has a slot, or a spare one, for the task that took
/// place `reserved` (counting from 0) of its capacity: if there is no room for it yet,
/// allocates the next block of slots and leaves it for the host (see `table`). Spawners
/// that find the same block missing each allocate one; the first to take the lock adds
/// its own, the others drop theirs.
///
/// # Errors
/// [`TaskSpawnError::OutOfMemory`] when the block cannot be allocated.
fn make_room<H: Host>(shared: &Shared<H>, reserved: usize) -> Result<(), TaskSpawnError> {
    loop {
        let room = shared.room.load(Ordering::Acquire);
        if reserved < room {
            return Ok(());
        }
        // `reserved` is below the capacity, so `room` is too: the block is not empty.
        let count = CHUNK.min(shared.ready.capacity() - room);
        let block = SpareBlock::new(count).map_err(|_| TaskSpawnError::OutOfMemory)?;
        let mut spare = shared.spare.lock();
        let unused = match shared.room.load(Ordering::Relaxed) == room {
            true => {
                spare.push(block); // never allocates: room for every block
                shared.room.store(room + count, Ordering::Release);
                None
            }
            false => Some(block), // another spawner made room meanwhile
        };
        drop(spare);
        drop(unused); // outside the lock
    }
}

/// Allocates a task for `future` (its block, its name if it has one, and the inbox node
/// that carries it to the executor); `OutOfMemory` if an allocation fails.
fn new_task<H: Host, F>(
    shared: &Shared<H>,
    name: Option<String>,
    future: F,
) -> Result<Allocated<H, F::Output>, TaskSpawnError>
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    let oom = |_| TaskSpawnError::OutOfMemory;
    let name = name.map(Box::try_new).transpose().map_err(oom)?;
    let header = TaskHeader::new(name, Arc::clone(&shared.ready));
    let (slot, handle) = cell::new_task(header, future).map_err(oom)?;
    // Failing here drops the slot, which cancels the task (its handle is dropped too).
    let node = Box::try_new(InboxNode::new(slot)).map_err(oom)?;
    Ok((node, handle))
}
