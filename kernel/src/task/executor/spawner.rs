//! Spawning: a [`Spawner`] allocates the task (one block: header, future, result; see
//! `cell`) in the spawning thread, so running out of memory is a [`SpawnError`], and
//! hands it to the executor's inbox.

use alloc::{boxed::Box, string::String, sync::Arc};
use core::{fmt, future::Future, sync::atomic::Ordering};

use super::{
    cell::{self, Slot},
    host::{Host, ThreadHost},
    join::JoinHandle,
    shared::Shared,
    task::TaskHeader,
};
use crate::intrusive::InboxNode;

/// Why a task could not be spawned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SpawnError {
    /// The executor already holds as many tasks as its capacity.
    Full,
    /// The executor was dropped: nothing will ever run the task.
    Closed,
    /// No memory for the task.
    OutOfMemory,
}

impl fmt::Display for SpawnError {
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
    /// # Errors
    /// [`SpawnError::Full`] when the executor holds as many tasks as its capacity,
    /// [`SpawnError::Closed`] when the executor was dropped, [`SpawnError::OutOfMemory`]
    /// when the task cannot be allocated. The future is dropped in every case.
    pub fn spawn<F>(&self, future: F) -> Result<JoinHandle<F::Output>, SpawnError>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        self.spawn_named(None, future)
    }

    /// Spawns `future` as a new task called `name` (listings).
    ///
    /// # Errors
    /// As for [`spawn`](Self::spawn).
    pub fn spawn_named<F>(
        &self,
        name: Option<String>,
        future: F,
    ) -> Result<JoinHandle<F::Output>, SpawnError>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        let shared = &self.shared;
        if shared.inbox.is_closed() {
            return Err(SpawnError::Closed);
        }
        let reserved = shared.tasks.fetch_add(1, Ordering::AcqRel);
        if reserved >= shared.ready.capacity() {
            shared.tasks.fetch_sub(1, Ordering::AcqRel);
            return Err(SpawnError::Full);
        }
        let (node, handle) = new_task(shared, name, future).inspect_err(|_| {
            shared.tasks.fetch_sub(1, Ordering::AcqRel);
        })?;
        if shared.inbox.push(node).is_err() {
            // Closed meanwhile: dropping the node drops the future (cancelling the
            // handle, which is dropped too).
            shared.tasks.fetch_sub(1, Ordering::AcqRel);
            return Err(SpawnError::Closed);
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
type Allocated<H, T> = (Box<InboxNode<Slot<H>>>, JoinHandle<T>);

/// Allocates a task for `future` (its block, its name if it has one, and the inbox node
/// that carries it to the executor); `OutOfMemory` if an allocation fails.
fn new_task<H: Host, F>(
    shared: &Shared<H>,
    name: Option<String>,
    future: F,
) -> Result<Allocated<H, F::Output>, SpawnError>
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    let oom = |_| SpawnError::OutOfMemory;
    let name = name.map(Box::try_new).transpose().map_err(oom)?;
    let header = TaskHeader::new(name, Arc::clone(&shared.ready));
    let (slot, handle) = cell::new_task(header, future).map_err(oom)?;
    // Failing here drops the slot, which cancels the task (its handle is dropped too).
    let node = Box::try_new(InboxNode::new(slot)).map_err(oom)?;
    Ok((node, handle))
}
