//! The executor and its run loop: a task table owned by the thread that runs it, a
//! lock-free ready queue that wakers push to, and an inbox of tasks spawned from
//! elsewhere.
//!
//! ```text
//!  Spawner::spawn (any thread) ──► inbox ─────┐
//!                                             ▼
//!  waker (any thread, IRQ) ──► ready queue ──► run loop (host thread) ──► poll
//!                               │  empty?                 │
//!                               └────────── host.wait() ◄─┘  (parks the thread)
//! ```
//!
//! Dropping the executor closes the inbox: later spawns fail with
//! [`TaskSpawnError::Closed`], and the tasks it held are dropped, their handles resolving to
//! [`TaskError::Cancelled`](super::TaskError::Cancelled).

use alloc::{string::String, sync::Arc};
use core::{
    cell::RefCell,
    fmt,
    future::Future,
    marker::PhantomData,
    sync::atomic::Ordering,
    task::{Context, Poll, Waker},
};

use super::{
    cell::Polling,
    host::{Host, ThreadHost},
    join::TaskHandle,
    registry,
    shared::Shared,
    spawner::{Spawner, TaskSpawnError},
    table::TaskTable,
};

/// Tasks an executor holds at most unless told otherwise.
pub const DEFAULT_CAPACITY: usize = 1024;

/// Runs futures on the thread that owns it. See the module docs.
///
/// ```no_run
/// # use spindle::{executor::Executor, thread};
/// let worker = thread::spawn(|| {
///     let executor = Executor::new("worker", 64); // hosted by this thread
///     let task = executor.spawn(async { 1 + 1 });
///     executor.block_on(task) // runs the tasks; parks the thread while none is ready
/// });
/// assert_eq!(worker.join(), Ok(2));
/// ```
///
/// An executor stays on the thread that hosts it (it is not `Send`): wakes made there
/// take a list that only that thread touches (`ready_queue`).
pub struct Executor<H: Host = ThreadHost> {
    shared: Arc<Shared<H>>,
    pub(super) table: RefCell<TaskTable<H>>,
    _on_host: PhantomData<*const ()>,
}

impl Executor<ThreadHost> {
    /// An executor hosted by the calling kernel thread, for up to `capacity` tasks.
    ///
    /// # Panics
    /// If the heap cannot provide its ready queue (`capacity` slots).
    pub fn new(name: &str, capacity: usize) -> Self {
        Self::with_host(name, capacity, ThreadHost::current())
    }
}

impl<H: Host> Executor<H> {
    /// An executor for up to `capacity` tasks, run by the thread behind `host`.
    ///
    /// # Panics
    /// If the heap cannot provide its ready queue (`capacity` slots).
    pub fn with_host(name: &str, capacity: usize, host: H) -> Self {
        let shared = Arc::new(Shared::new(name, capacity, host));
        registry::register(&shared);
        log::debug!(
            "executor {} '{name}' created, for up to {capacity} tasks",
            shared.id
        );
        Self {
            shared,
            table: RefCell::new(TaskTable::new(capacity)),
            _on_host: PhantomData,
        }
    }

    /// The executor's name.
    pub fn name(&self) -> &str {
        &self.shared.name
    }

    /// A handle that spawns onto this executor from anywhere.
    pub fn spawner(&self) -> Spawner<H> {
        Spawner {
            shared: Arc::clone(&self.shared),
        }
    }

    /// Spawns `future` onto this executor (see [`Spawner::spawn`]).
    ///
    /// # Panics
    /// If the task cannot be spawned (see [`try_spawn`](Self::try_spawn)).
    #[track_caller]
    pub fn spawn<F>(&self, future: F) -> TaskHandle<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        self.spawner().spawn(future)
    }

    /// Spawns `future` onto this executor as a task called `name` (listings, traces,
    /// reports; see [`Spawner::spawn_named`]).
    ///
    /// # Panics
    /// If the task cannot be spawned (see [`Spawner::try_spawn_named`]).
    #[track_caller]
    pub fn spawn_named<F>(&self, name: Option<String>, future: F) -> TaskHandle<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        self.spawner().spawn_named(name, future)
    }

    /// Spawns `future` onto this executor, or says why it cannot (see
    /// [`Spawner::try_spawn`]).
    ///
    /// # Errors
    /// [`TaskSpawnError::Full`] when the executor holds as many tasks as its capacity;
    /// [`TaskSpawnError::OutOfMemory`] when the task cannot be allocated.
    pub fn try_spawn<F>(&self, future: F) -> Result<TaskHandle<F::Output>, TaskSpawnError>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        self.spawner().try_spawn(future)
    }

    /// Runs tasks until the host thread is asked to stop (`Thread::request_stop` in the
    /// kernel); parks the thread whenever nothing is ready.
    pub fn run(&self) {
        let host_stop = || self.shared.ready.host_should_stop();
        let executor = self.polling();
        while !host_stop() {
            self.poll_ready_tasks(&executor);
            self.shared
                .ready
                .sleep_unless(|| !self.shared.inbox.is_empty() || host_stop());
        }
    }

    /// Polls ready tasks until none is ready, without ever blocking; returns how many
    /// polls it made.
    pub fn run_until_stalled(&self) -> usize {
        let executor = self.polling();
        let mut polls = 0;
        loop {
            let round = self.poll_ready_tasks(&executor);
            if round == 0 {
                return polls;
            }
            polls += round;
        }
    }

    /// Runs `future` to completion on this thread, running this executor's tasks while
    /// it waits; parks the thread when neither has anything to do.
    ///
    /// # Panics
    /// If called from inside one of this executor's own tasks (the executor is already
    /// running on this thread).
    pub fn block_on<F: Future>(&self, future: F) -> F::Output {
        let mut future = core::pin::pin!(future);
        let main_woken = &self.shared.main_woken;
        main_woken.store(true, Ordering::Relaxed);
        let waker = Waker::from(Arc::clone(&self.shared));
        let mut context = Context::from_waker(&waker);
        let executor = self.polling();
        loop {
            if main_woken.swap(false, Ordering::AcqRel)
                && let Poll::Ready(output) = future.as_mut().poll(&mut context)
            {
                return output;
            }
            self.poll_ready_tasks(&executor);
            self.shared.ready.sleep_unless(|| {
                main_woken.load(Ordering::Acquire) || !self.shared.inbox.is_empty()
            });
        }
    }

    /// Takes in newly spawned tasks, then polls every task that was ready when this
    /// round started, and tasks woken meanwhile while the round has made fewer polls than
    /// the executor's capacity (so a task that keeps waking itself cannot starve the
    /// others, nor the inbox and `block_on`'s own future). Returns the number of polls.
    fn poll_ready_tasks(&self, executor: &Polling<'_>) -> usize {
        let mut table = self
            .table
            .try_borrow_mut()
            .expect("an executor was run from inside one of its own tasks");
        // The spawned tasks go behind every wake that came before their spawn: those
        // in the lock-free queue are gathered first (`ReadyQueue::begin_round`). At most
        // a capacity of polls, so all that was ready when the round started.
        let mut spawned = self.shared.inbox.take_all().peekable();
        let ready = &self.shared.ready;
        ready.begin_round(spawned.peek().is_some());
        for task in spawned {
            table.insert(&self.shared, task.into_inner());
        }
        let mut polls = 0;
        for _ in 0..ready.capacity() {
            let Some(slot) = ready.pop() else {
                break;
            };
            polls += usize::from(table.poll(slot, &self.shared, executor));
        }
        ready.end_round();
        polls
    }
}

impl<H: Host> Executor<H> {
    /// What polls need to know of the executor. Made once per call of `run`,
    /// `run_until_stalled` or `block_on`, not once a round: whether the caller runs on
    /// the host thread (polls publish the task they poll there) does not change while
    /// they run.
    fn polling(&self) -> Polling<'_> {
        Polling {
            id: self.shared.id,
            name: &self.shared.name,
            on_host: self.shared.ready.host().on_thread(),
            tasks: &self.shared.tasks,
        }
    }
}

impl<H: Host> Drop for Executor<H> {
    /// Closes the executor to new spawns and drops every unfinished task; awaiting their
    /// handles yields `TaskError::Cancelled`.
    fn drop(&mut self) {
        log::debug!(
            "executor {} '{}' stops (tasks dropped with it: {})",
            self.shared.id,
            self.shared.name,
            self.shared.tasks.load(Ordering::Relaxed)
        );
        registry::unregister(&self.shared);
        drop(self.shared.inbox.close());
        let table = self.table.get_mut();
        for slot in 0..table.len() {
            table.remove(slot, &self.shared);
        }
    }
}

impl<H: Host> fmt::Debug for Executor<H> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Executor")
            .field("name", &self.shared.name)
            .finish_non_exhaustive()
    }
}
