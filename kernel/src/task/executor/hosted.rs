//! A kernel thread of its own running an executor: the usual way to give tasks a home
//! next to the threads that feed them. [`Workers`](super::Workers) starts one per CPU.

use alloc::{string::String, sync::Arc};
use core::future::Future;

use super::{Executor, Spawner, TaskHandle, TaskSpawnError};
use crate::{
    sync::oneshot,
    thread::{self, Builder, Thread},
};

/// A kernel thread that runs an [`Executor`] until it is stopped, and the executor's
/// [`Spawner`].
///
/// ```no_run
/// use spindle::executor::{self, ExecutorThread};
/// use core::time::Duration;
///
/// let host = ExecutorThread::start("worker", 64).expect("a thread for the executor");
/// let answer = host.spawn(async {
///     executor::sleep(Duration::from_millis(10)).await;
///     42
/// });
/// assert_eq!(executor::block_on(answer).unwrap(), 42); // any thread can wait for a task
/// host.stop(); // pending tasks are dropped; the thread ends
/// ```
#[derive(Debug)]
pub struct ExecutorThread {
    spawner: Spawner,
    thread: thread::JoinHandle<()>,
}

impl ExecutorThread {
    /// Starts a thread named `name` running an executor (also named `name`) for up to
    /// `capacity` tasks, and returns once the executor is ready to take them.
    ///
    /// # Errors
    /// [`thread::SpawnError`] if the thread cannot be created.
    ///
    /// # Panics
    /// If the heap cannot provide the executor (see [`Executor::new`]).
    pub fn start(name: &str, capacity: usize) -> Result<Self, thread::SpawnError> {
        Self::start_on(name.into(), None, capacity)
    }

    /// As [`ExecutorThread::start`], with the thread pinned to `cpu` if one is given.
    pub(super) fn start_on(
        name: String,
        cpu: Option<u32>,
        capacity: usize,
    ) -> Result<Self, thread::SpawnError> {
        let (sender, receiver) = oneshot::channel();
        let executor_name = name.clone();
        let mut builder = Builder::new().name(name);
        if let Some(cpu) = cpu {
            builder = builder.cpu(cpu);
        }
        let thread = builder.spawn(move || {
            let executor = Executor::new(&executor_name, capacity);
            // The starter waits for this; if it is gone, nobody can spawn here anyway.
            let _ = sender.send(executor.spawner());
            executor.run();
        })?;
        let spawner = receiver
            .recv()
            .expect("an executor thread sends its spawner first");
        Ok(Self { spawner, thread })
    }

    /// Spawns `future` as a task on this thread's executor.
    ///
    /// # Panics
    /// If the executor cannot take it (see [`try_spawn`](Self::try_spawn)).
    #[track_caller]
    pub fn spawn<F>(&self, future: F) -> TaskHandle<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        self.spawner.spawn(future)
    }

    /// Spawns `future` as a task on this thread's executor, or says why it cannot.
    ///
    /// # Errors
    /// As [`Spawner::try_spawn`]: the executor is full, out of memory, or stopped.
    pub fn try_spawn<F>(&self, future: F) -> Result<TaskHandle<F::Output>, TaskSpawnError>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        self.spawner.try_spawn(future)
    }

    /// The executor's spawner: clone it to spawn from other threads and tasks.
    pub fn spawner(&self) -> &Spawner {
        &self.spawner
    }

    /// The thread that runs the executor.
    pub fn thread(&self) -> &Arc<Thread> {
        self.thread.thread()
    }

    /// Asks the thread to stop and waits for it: its executor's [`Executor::run`]
    /// returns, and tasks still pending are dropped with the executor (their handles
    /// report [`TaskError::Cancelled`](super::TaskError::Cancelled)).
    ///
    /// # Panics
    /// If the executor's thread itself ended by a panic (one outside any task's poll,
    /// which tasks' panics never are): its report is passed on, as `JoinHandle::join`
    /// does.
    pub fn stop(self) {
        self.thread.thread().request_stop();
        self.thread.join();
    }
}
