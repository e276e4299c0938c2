//! One executor per CPU, each run by a kernel thread pinned to its CPU: the shape of a
//! multi-threaded async runtime (tokio's workers), built from the pieces above.
//!
//! Tasks do not move between workers: a task runs on the CPU of the worker it was
//! spawned on, so its data stays in that CPU's cache, and spreading work is the
//! spawner's choice ([`Workers::spawn`] deals tasks out in turn, [`Workers::on`] picks a
//! CPU). Wakes cross CPUs as every wake does.

use alloc::{format, vec::Vec};
use core::{
    future::Future,
    sync::atomic::{AtomicUsize, Ordering},
};

use super::{ExecutorThread, Spawner, TaskHandle, TaskSpawnError};
use crate::thread;

/// A worker thread per online CPU, each running an executor.
///
/// ```no_run
/// # extern crate alloc;
/// # use alloc::vec::Vec;
/// # use spindle::executor::{self, Workers};
/// let workers = Workers::start("worker", 1024)?;
/// let handles: Vec<_> = (0..8u64).map(|n| workers.spawn(async move { n * n })).collect();
/// let sum: u64 = executor::block_on(async {
///     let mut sum = 0;
///     for handle in handles {
///         sum += handle.await.unwrap();
///     }
///     sum
/// });
/// assert_eq!(sum, 140);
/// workers.stop();
/// # Ok::<(), spindle::thread::SpawnError>(())
/// ```
#[derive(Debug)]
pub struct Workers {
    workers: Vec<Worker>,
    /// The worker the next [`Workers::spawn`] goes to.
    next: AtomicUsize,
}

#[derive(Debug)]
struct Worker {
    cpu: u32,
    host: ExecutorThread,
}

impl Workers {
    /// Starts a worker on every online CPU: a thread named `{name}/{cpu}` pinned there,
    /// running an executor for up to `capacity` tasks.
    ///
    /// # Errors
    /// [`thread::SpawnError`] if a worker thread cannot be created (the workers started
    /// until then are stopped again).
    ///
    /// # Panics
    /// If the heap cannot provide a worker's executor (see [`Executor::new`](super::Executor::new)).
    pub fn start(name: &str, capacity: usize) -> Result<Self, thread::SpawnError> {
        let mut workers = Workers {
            workers: Vec::new(),
            next: AtomicUsize::new(0),
        };
        for cpu in 0..thread::cpu_count() {
            match ExecutorThread::start_on(format!("{name}/{cpu}"), Some(cpu), capacity) {
                Ok(host) => workers.workers.push(Worker { cpu, host }),
                Err(error) => {
                    workers.stop();
                    return Err(error);
                }
            }
        }
        Ok(workers)
    }

    /// How many workers there are (one per CPU).
    pub fn len(&self) -> usize {
        self.workers.len()
    }

    /// Whether there are none (never: there is always a CPU).
    pub fn is_empty(&self) -> bool {
        self.workers.is_empty()
    }

    /// The spawner of the worker on CPU `cpu`, if there is one.
    pub fn on(&self, cpu: u32) -> Option<&Spawner> {
        self.workers
            .iter()
            .find(|worker| worker.cpu == cpu)
            .map(|worker| worker.host.spawner())
    }

    /// Spawns `future` on the next worker in turn.
    ///
    /// # Panics
    /// If that worker cannot take the task (see [`try_spawn`](Self::try_spawn)).
    #[track_caller]
    pub fn spawn<F>(&self, future: F) -> TaskHandle<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        self.next_worker().spawn(future)
    }

    /// Spawns `future` on the next worker in turn, or says why it cannot.
    ///
    /// # Errors
    /// As [`Spawner::try_spawn`]: that worker is full, out of memory, or stopped.
    pub fn try_spawn<F>(&self, future: F) -> Result<TaskHandle<F::Output>, TaskSpawnError>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        self.next_worker().try_spawn(future)
    }

    fn next_worker(&self) -> &Spawner {
        let turn = self.next.fetch_add(1, Ordering::Relaxed) % self.workers.len();
        self.workers[turn].host.spawner()
    }

    /// Stops every worker and waits for their threads: tasks still pending are dropped
    /// with their executor (their handles report [`TaskError::Cancelled`](super::TaskError::Cancelled)).
    ///
    /// # Panics
    /// As [`ExecutorThread::stop`](super::ExecutorThread::stop).
    pub fn stop(self) {
        for worker in &self.workers {
            worker.host.thread().request_stop();
        }
        for worker in self.workers {
            worker.host.stop();
        }
    }
}
