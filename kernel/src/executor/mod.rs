//! Async executors hosted by kernel threads.
//!
//! An [`Executor`] is an ordinary value that a kernel thread runs: [`Executor::run`]
//! (until the thread is asked to stop) or [`Executor::block_on`]. Tasks are futures with
//! an id and a name; [`Spawner`]s (`Send + Clone`) spawn onto an executor from any
//! thread, task or other executor, and every spawn returns a [`JoinHandle`] that is itself
//! a future.
//!
//! **How a wake travels.** A task's waker is an `Arc` of its header. Waking flips the
//! header's `queued` flag and, if it was clear, pushes the task's slot into the
//! executor's lock-free ready queue — no lock, no allocation, so it works from another
//! thread, another executor or an interrupt handler. If the executor's thread is parked
//! (nothing was ready), the waker unparks it; the scheduler makes it runnable and it
//! polls the task. An executor with nothing to do therefore blocks its thread and costs
//! nothing; a long `poll` is still preempted by the timer like any other thread code.
//!
//! Also here: [`block_on`] for any thread, [`yield_now`], async time ([`sleep`],
//! [`timeout`], [`interval`]), [`spawn_blocking`], and the task listing ([`tasks`]).

mod block_on;
mod blocking;
#[allow(clippy::module_inception)]
mod executor;
mod host;
mod join;
mod ready_queue;
mod task;
mod time;

pub use block_on::{block_on, yield_now};
pub use blocking::{BlockingHandle, spawn_blocking};
pub use executor::{DEFAULT_CAPACITY, Executor, SpawnError, Spawner, tasks};
pub use host::{Host, ThreadHost};
pub use join::{Cancelled, JoinHandle};
pub use task::{TaskId, TaskInfo, TaskState};
pub use time::{Elapsed, Interval, Sleep, Timeout, interval, sleep, sleep_until, timeout};

#[cfg(test)]
mod tests;
