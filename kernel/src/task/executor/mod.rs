//! Async executors hosted by kernel threads.
//!
//! An [`Executor`] is an ordinary value that a kernel thread runs: [`Executor::run`]
//! (until the thread is asked to stop) or [`Executor::block_on`]. Tasks are futures with
//! an id and a name; [`Spawner`]s (`Send + Clone`) spawn onto an executor from any
//! thread, task or other executor, and every spawn returns a [`TaskHandle`] that is itself
//! a future.
//!
//! **How a wake travels.** A task is one heap block (its header, its join state, its
//! future; see `cell`), and its waker is an `Arc` of that block. Waking flips the
//! header's `queued` flag and, if it was clear, pushes the task's slot into the
//! executor's lock-free ready queue — no lock, no allocation, so it works from another
//! thread, another executor or an interrupt handler; a wake made by the executor's own
//! thread (a task waking itself or a sibling) appends to a local list instead, with
//! plain loads and stores. If the executor's thread is parked
//! (nothing was ready), the waker unparks it; the scheduler makes it runnable and it
//! polls the task. An executor with nothing to do therefore blocks its thread and costs
//! nothing; a long `poll` is still preempted by the timer like any other thread code.
//!
//! **What a task costs.** Beyond its future, 160 bytes of the executor's: 80 in the
//! task's block (header with its poll time, join waker, the stage's tag), 24 of
//! reference counts and heap tag, and 56 of places in the table, the listing, the free
//! list and the two ready lists (the host test
//! `a_task_costs_the_executor_at_most_160_bytes` adds them up). The
//! table and the listing grow in fixed blocks (`chunks`), never by doubling.
//!
//! Also here: [`ExecutorThread`] (a thread of its own running an executor), [`block_on()`]
//! for any thread, [`yield_now`], async time ([`sleep`],
//! [`timeout`], [`interval`]), [`spawn_blocking`], [`Workers`] (an executor per CPU, on
//! pinned threads), and the task listing ([`tasks`]).
//!
//! **Groups, cancellation and panics.** [`TaskHandle::abort`] cancels a task (its future
//! is dropped at its next turn on its executor; its handle yields
//! [`TaskError::Cancelled`]); a task whose `poll` panics ends alone (its future is
//! dropped, its handle yields [`TaskError::Panicked`], the executor goes on); a
//! [`JoinSet`] spawns many tasks and joins them in the order they finish, aborting the
//! rest when dropped. A task awaits a kernel thread with
//! [`thread::JoinHandle::join_async`](crate::thread::JoinHandle::join_async).
//!
//! **Waiting for several futures.** [`join!`] polls futures concurrently until all are
//! done; [`select_biased!`] waits for the first of several and drops the others
//! (re-exported from `futures-util`, with [`FutureExt`] for the `.fuse()` it asks for;
//! its randomised `select!` needs `std`, so Spindle offers the biased one, which polls
//! the branches in the order written):
//!
//! ```no_run
//! use core::{pin::pin, time::Duration};
//! use spindle::{executor::{self, FutureExt, select_biased}, sync::channel};
//!
//! # async fn example(values: channel::Receiver<u32>) {
//! let (a, b) = executor::join!(async { 1 }, async { 2 });
//! assert_eq!(a + b, 3);
//! let mut value = pin!(values.recv_async().fuse());
//! let mut timer = pin!(executor::sleep(Duration::from_millis(10)).fuse());
//! let got = select_biased! {
//!     value = value => value.ok(),
//!     () = timer => None, // the receive is dropped (cancelled) with the select
//! };
//! # }
//! ```
//!
//! Files: `run_loop` (the `Executor`), `spawner`, `shared` (what spawners, wakers and the
//! listing share with it), `cell` (a task's one heap block, and the executor's only
//! `unsafe`), `table` and `chunks` (the host thread's tasks), `task` (a task's header:
//! waking and poll bookkeeping), `ready_queue` (where wakers queue tasks),
//! `local_queue` (the host thread's own list), `host` (what an executor needs from its thread), `join`, `block_on`, `blocking`,
//! `time`, `hosted` (`ExecutorThread`), `workers`, `registry` (listing).
//!
//! **Checked by:** host tests in `tests.rs`, `task.rs`, `chunks.rs`, `ready_queue.rs`,
//! models in `models.rs`; test kernels `executor`, `executor_drop`, `abort_first_poll`,
//! `poll_note`, `task_groups`, `task_memory`, `task_panic`, `blocking_in_task`,
//! `embassy_time`, `hostile_aborts`, `hostile_cancellation`, `hostile_mesh`.

mod block_on;
mod blocking;
mod cell;
mod chunks;
#[cfg(feature = "embassy-time")]
mod embassy_time;
mod host;
mod hosted;
mod join;
mod join_set;
mod local_queue;
#[cfg(all(test, feature = "model"))]
mod models;
mod ready_queue;
mod registry;
mod run_loop;
mod shared;
mod spawner;
mod table;
mod task;
mod time;
mod workers;

pub use block_on::{block_on, yield_now};
pub use blocking::{BlockingHandle, spawn_blocking, try_spawn_blocking};
/// `.fuse()` and the other future combinators of `futures-util`.
pub use futures_util::future::FutureExt;
/// Waits for several futures concurrently, returning all their outputs (re-exported
/// from `futures-util`; see the module docs).
pub use futures_util::join;
/// Waits for the first of several fused futures, polling the branches in the order
/// written (re-exported from `futures-util`; see the module docs).
pub use futures_util::select_biased;
/// [`join!`] for futures of `Result`s: stops at the first error.
pub use futures_util::try_join;
pub use host::{Host, ThreadHost};
pub use hosted::ExecutorThread;
pub use join::{TaskError, TaskHandle};
pub use join_set::JoinSet;
pub use registry::{tasks, trace_names};
pub use run_loop::{DEFAULT_CAPACITY, Executor};
pub use spawner::{Spawner, TaskSpawnError};
pub use task::{TaskId, TaskInfo, TaskState};
pub use time::{Elapsed, Interval, Sleep, Timeout, interval, sleep, sleep_until, timeout};
pub use workers::Workers;

#[cfg(test)]
mod tests;
