//! The executor: a task table owned by the thread that runs it, a lock-free ready queue
//! that wakers push to, and a queue of tasks spawned from elsewhere.
//!
//! ```text
//!  Spawner::spawn (any thread) ──► incoming ──┐
//!                                             ▼
//!  waker (any thread, IRQ) ──► ready queue ──► run loop (host thread) ──► poll
//!                               │  empty?                 │
//!                               └────────── host.wait() ◄─┘  (parks the thread)
//! ```
//!
//! Only the host thread touches the task table, so polling takes no lock. A spawn from
//! another thread (or from a task) goes through `incoming`, a lock-free queue the run
//! loop drains, and notifies the host like a wake does.

use alloc::{
    boxed::Box,
    collections::BTreeMap,
    string::String,
    sync::{Arc, Weak},
    task::Wake,
    vec::Vec,
};
use core::{
    cell::RefCell,
    fmt,
    future::Future,
    pin::Pin,
    sync::atomic::{AtomicBool, AtomicUsize, Ordering},
    task::{Context, Poll, Waker},
};

use crossbeam_queue::SegQueue;

use super::{
    host::{Host, ThreadHost},
    join::{JoinHandle, JoinState},
    ready_queue::ReadyQueue,
    task::{TaskHeader, TaskInfo, TaskState},
};

/// Tasks an executor holds at most unless told otherwise.
pub const DEFAULT_CAPACITY: usize = 1024;

type BoxedTask = Pin<Box<dyn Future<Output = ()> + Send + 'static>>;

/// Why a task could not be spawned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SpawnError {
    /// The executor already holds as many tasks as its capacity.
    Full,
}

impl fmt::Display for SpawnError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("the executor is at its task capacity")
    }
}

/// A task on its way from a spawner to the run loop.
struct NewTask {
    name: Option<String>,
    future: BoxedTask,
}

/// What spawners, wakers and listings share with the executor.
struct Shared<H: Host> {
    name: Arc<str>,
    ready: Arc<ReadyQueue<H>>,
    incoming: SegQueue<NewTask>,
    /// Tasks spawned and not yet removed from the table (reserved at spawn time).
    tasks: AtomicUsize,
    /// Live task headers, for listings only (never touched when polling or waking).
    listing: spin::Mutex<BTreeMap<u64, Arc<TaskHeader<H>>>>,
}

/// One slot of the task table.
pub(super) struct Entry<H: Host> {
    header: Arc<TaskHeader<H>>,
    waker: Waker,
    /// `None` once finished: a tombstone that keeps the slot until its last queued
    /// index has been popped.
    future: Option<BoxedTask>,
}

/// The host thread's table of tasks.
pub(super) struct TaskTable<H: Host> {
    pub(super) entries: Vec<Option<Entry<H>>>,
    free: Vec<usize>,
}

/// Runs futures on the thread that owns it. See the module docs.
pub struct Executor<H: Host = ThreadHost> {
    shared: Arc<Shared<H>>,
    pub(super) table: RefCell<TaskTable<H>>,
}

/// Spawns tasks onto an executor from any thread, task or executor.
pub struct Spawner<H: Host = ThreadHost> {
    shared: Arc<Shared<H>>,
}

impl Executor<ThreadHost> {
    /// An executor hosted by the calling kernel thread, for up to `capacity` tasks.
    pub fn new(name: &str, capacity: usize) -> Self {
        Self::with_host(name, capacity, ThreadHost::current())
    }
}

impl<H: Host> Executor<H> {
    /// An executor for up to `capacity` tasks, run by the thread behind `host`.
    pub fn with_host(name: &str, capacity: usize, host: H) -> Self {
        let shared = Arc::new(Shared {
            name: Arc::from(name),
            ready: Arc::new(ReadyQueue::new(capacity, host)),
            incoming: SegQueue::new(),
            tasks: AtomicUsize::new(0),
            listing: spin::Mutex::new(BTreeMap::new()),
        });
        register(&shared);
        Self {
            shared,
            table: RefCell::new(TaskTable {
                entries: Vec::new(),
                free: Vec::new(),
            }),
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
    /// # Errors
    /// [`SpawnError::Full`] when the executor holds as many tasks as its capacity.
    pub fn spawn<F>(&self, future: F) -> Result<JoinHandle<F::Output>, SpawnError>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        self.spawner().spawn(future)
    }

    /// Runs tasks until the host thread is asked to stop (`Thread::request_stop` in the
    /// kernel); parks the thread whenever nothing is ready.
    pub fn run(&self) {
        let host_stop = || self.shared.ready.host_should_stop();
        while !host_stop() {
            self.poll_ready_tasks();
            self.shared
                .ready
                .sleep_unless(|| !self.shared.incoming.is_empty() || host_stop());
        }
    }

    /// Polls ready tasks until none is ready, without ever blocking; returns how many
    /// polls it made.
    pub fn run_until_stalled(&self) -> usize {
        let mut polls = 0;
        loop {
            let round = self.poll_ready_tasks();
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
        let main = Arc::new(MainWaker {
            woken: AtomicBool::new(true),
            ready: Arc::clone(&self.shared.ready),
        });
        let waker = Waker::from(Arc::clone(&main));
        let mut context = Context::from_waker(&waker);
        loop {
            if main.woken.swap(false, Ordering::AcqRel)
                && let Poll::Ready(output) = future.as_mut().poll(&mut context)
            {
                return output;
            }
            self.poll_ready_tasks();
            self.shared.ready.sleep_unless(|| {
                main.woken.load(Ordering::Acquire) || !self.shared.incoming.is_empty()
            });
        }
    }

    /// Takes in newly spawned tasks, then polls every task that was ready when this
    /// round started (tasks woken meanwhile wait for the next round: a task that keeps
    /// waking itself cannot starve the others). Returns the number of polls.
    fn poll_ready_tasks(&self) -> usize {
        let mut table = self.table.borrow_mut();
        while let Some(task) = self.shared.incoming.pop() {
            table.insert(&self.shared, task);
        }
        let mut polls = 0;
        for _ in 0..self.shared.ready.capacity() {
            let Some(slot) = self.shared.ready.pop() else {
                break;
            };
            polls += usize::from(table.poll(slot, &self.shared));
        }
        polls
    }
}

impl<H: Host> Drop for Executor<H> {
    /// Drops every unfinished task; awaiting their handles yields `Cancelled`.
    fn drop(&mut self) {
        while let Some(task) = self.shared.incoming.pop() {
            drop(task);
        }
        self.shared.listing.lock().clear();
    }
}

impl<H: Host> fmt::Debug for Executor<H> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Executor")
            .field("name", &self.shared.name)
            .finish_non_exhaustive()
    }
}

impl<H: Host> Spawner<H> {
    /// Spawns `future` as a new task of the executor.
    ///
    /// # Errors
    /// [`SpawnError::Full`] when the executor holds as many tasks as its capacity.
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
    /// [`SpawnError::Full`] when the executor holds as many tasks as its capacity.
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
        let reserved = shared.tasks.fetch_add(1, Ordering::AcqRel);
        if reserved >= shared.ready.capacity() {
            shared.tasks.fetch_sub(1, Ordering::AcqRel);
            return Err(SpawnError::Full);
        }
        let state = Arc::new(JoinState::new());
        let completion = CompleteOnDrop {
            state: Arc::clone(&state),
            finished: false,
        };
        let future = Box::pin(async move {
            let mut completion = completion;
            let output = future.await;
            completion.finished = true;
            completion.state.complete(output);
        });
        shared.incoming.push(NewTask { name, future });
        shared.ready.notify_host();
        Ok(JoinHandle::new(state))
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

/// Cancels the join state if the task's future is dropped before it finished.
struct CompleteOnDrop<T> {
    state: Arc<JoinState<T>>,
    finished: bool,
}

impl<T> Drop for CompleteOnDrop<T> {
    fn drop(&mut self) {
        if !self.finished {
            self.state.cancel();
        }
    }
}

impl<H: Host> TaskTable<H> {
    fn insert(&mut self, shared: &Arc<Shared<H>>, task: NewTask) {
        let slot = self.free.pop().unwrap_or_else(|| {
            self.entries.push(None);
            self.entries.len() - 1
        });
        let header = Arc::new(TaskHeader::new(
            task.name,
            Arc::clone(&shared.name),
            slot,
            Arc::clone(&shared.ready),
        ));
        shared
            .listing
            .lock()
            .insert(header.id.as_u64(), Arc::clone(&header));
        let waker = Waker::from(Arc::clone(&header));
        self.entries[slot] = Some(Entry {
            header,
            waker,
            future: Some(task.future),
        });
        // New tasks start queued (see `TaskHeader::new`): this is their first wake.
        shared.ready.push(slot);
    }

    /// Polls the task in `slot`; returns whether a poll happened.
    fn poll(&mut self, slot: usize, shared: &Shared<H>) -> bool {
        let Some(entry) = self.entries.get_mut(slot).and_then(Option::as_mut) else {
            return false;
        };
        let Some(future) = entry.future.as_mut() else {
            // A tombstone whose last queued index was just popped: free the slot now.
            self.remove(slot, shared);
            return false;
        };
        entry.header.queued.store(false, Ordering::Release);
        entry.header.set_state(TaskState::Running);
        entry.header.polls.fetch_add(1, Ordering::Relaxed);
        match future.as_mut().poll(&mut Context::from_waker(&entry.waker)) {
            Poll::Pending => {
                if !entry.header.queued.load(Ordering::Acquire) {
                    entry.header.set_state(TaskState::Waiting);
                }
            }
            Poll::Ready(()) => {
                entry.header.set_state(TaskState::Done);
                entry.future = None;
                shared.listing.lock().remove(&entry.header.id.as_u64());
                // Set `queued` for good so late wakes do nothing; if a wake during the
                // poll queued the slot, it stays a tombstone until that index is popped.
                if !entry.header.queued.swap(true, Ordering::AcqRel) {
                    self.remove(slot, shared);
                }
            }
        }
        true
    }

    fn remove(&mut self, slot: usize, shared: &Shared<H>) {
        self.entries[slot] = None;
        self.free.push(slot);
        shared.tasks.fetch_sub(1, Ordering::AcqRel);
    }
}

/// Wakes `block_on`'s own future: a flag plus a nudge to the host.
struct MainWaker<H: Host> {
    woken: AtomicBool,
    ready: Arc<ReadyQueue<H>>,
}

impl<H: Host> Wake for MainWaker<H> {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.woken.store(true, Ordering::Release);
        self.ready.notify_host();
    }
}

/// Every executor, for the task listing.
static EXECUTORS: spin::Mutex<Vec<Weak<dyn ListTasks>>> = spin::Mutex::new(Vec::new());

trait ListTasks: Send + Sync {
    fn list(&self, into: &mut Vec<TaskInfo>);
}

impl<H: Host> ListTasks for Shared<H> {
    fn list(&self, into: &mut Vec<TaskInfo>) {
        into.extend(self.listing.lock().values().map(|header| header.info()));
    }
}

fn register<H: Host>(shared: &Arc<Shared<H>>) {
    let weak: Weak<dyn ListTasks> = Arc::downgrade(shared) as Weak<dyn ListTasks>;
    let mut executors = EXECUTORS.lock();
    executors.retain(|executor| executor.strong_count() > 0);
    executors.push(weak);
}

/// A snapshot of every unfinished task of every executor, by id.
pub fn tasks() -> Vec<TaskInfo> {
    let executors: Vec<Arc<dyn ListTasks>> =
        EXECUTORS.lock().iter().filter_map(Weak::upgrade).collect();
    let mut list = Vec::new();
    executors
        .iter()
        .for_each(|executor| executor.list(&mut list));
    list.sort_by_key(|info| info.id);
    list
}
