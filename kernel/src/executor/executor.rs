//! The executor: a task table owned by the thread that runs it, a lock-free ready queue
//! that wakers push to, and an inbox of tasks spawned from elsewhere.
//!
//! ```text
//!  Spawner::spawn (any thread) ──► inbox ─────┐
//!                                             ▼
//!  waker (any thread, IRQ) ──► ready queue ──► run loop (host thread) ──► poll
//!                               │  empty?                 │
//!                               └────────── host.wait() ◄─┘  (parks the thread)
//! ```
//!
//! Only the host thread touches the task table, so polling takes no lock. A spawn
//! allocates everything its task needs (header, future, result slot) in the spawning
//! thread, so running out of memory is a [`SpawnError`], and hands the task over through
//! `inbox`, which the run loop drains. Dropping the executor closes the inbox: later
//! spawns fail with [`SpawnError::Closed`], and the tasks it held are dropped, their
//! handles resolving to [`Cancelled`](super::Cancelled).

use alloc::{
    boxed::Box,
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
    ptr::NonNull,
    sync::atomic::{AtomicBool, AtomicUsize, Ordering},
    task::{Context, Poll, Waker},
};

use super::{
    host::{Host, ThreadHost},
    join::{JoinHandle, JoinState},
    ready_queue::ReadyQueue,
    task::{TaskHeader, TaskInfo, TaskState},
};
use crate::{
    intrusive::{Inbox, InboxNode, List},
    sync::IrqSpinLock,
};

/// Tasks an executor holds at most unless told otherwise.
pub const DEFAULT_CAPACITY: usize = 1024;

type BoxedTask = Pin<Box<dyn Future<Output = ()> + Send + 'static>>;

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

/// A task on its way from a spawner to the run loop.
struct NewTask<H: Host> {
    header: Arc<TaskHeader<H>>,
    future: BoxedTask,
}

/// What spawners, wakers and listings share with the executor.
struct Shared<H: Host> {
    name: Arc<str>,
    ready: Arc<ReadyQueue<H>>,
    inbox: Inbox<NewTask<H>>,
    /// Tasks spawned and not yet removed from the table (reserved at spawn time).
    tasks: AtomicUsize,
    /// Headers of the tasks in the table, for listings only (never touched when polling
    /// or waking). The table's `Arc`s keep them alive while linked.
    listing: IrqSpinLock<List<TaskHeader<H>>>,
    /// Set when `block_on`'s own future is woken (this `Shared` is its waker, so
    /// `block_on` allocates nothing).
    main_woken: AtomicBool,
}

impl<H: Host> Wake for Shared<H> {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    /// Wakes `block_on`'s own future: a flag plus a nudge to the host.
    fn wake_by_ref(self: &Arc<Self>) {
        self.main_woken.store(true, Ordering::Release);
        self.ready.notify_host();
    }
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
    ///
    /// # Panics
    /// If the heap cannot provide its ready queue (`capacity` slots).
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
            inbox: Inbox::new(),
            tasks: AtomicUsize::new(0),
            listing: IrqSpinLock::new(List::new()),
            main_woken: AtomicBool::new(false),
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
    /// [`SpawnError::Full`] when the executor holds as many tasks as its capacity;
    /// [`SpawnError::OutOfMemory`] when the task cannot be allocated.
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
                .sleep_unless(|| !self.shared.inbox.is_empty() || host_stop());
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
        let main_woken = &self.shared.main_woken;
        main_woken.store(true, Ordering::Relaxed);
        let waker = Waker::from(Arc::clone(&self.shared));
        let mut context = Context::from_waker(&waker);
        loop {
            if main_woken.swap(false, Ordering::AcqRel)
                && let Poll::Ready(output) = future.as_mut().poll(&mut context)
            {
                return output;
            }
            self.poll_ready_tasks();
            self.shared.ready.sleep_unless(|| {
                main_woken.load(Ordering::Acquire) || !self.shared.inbox.is_empty()
            });
        }
    }

    /// Takes in newly spawned tasks, then polls every task that was ready when this
    /// round started (tasks woken meanwhile wait for the next round: a task that keeps
    /// waking itself cannot starve the others). Returns the number of polls.
    fn poll_ready_tasks(&self) -> usize {
        let mut table = self
            .table
            .try_borrow_mut()
            .expect("an executor was run from inside one of its own tasks");
        for task in self.shared.inbox.take_all() {
            table.insert(&self.shared, task.into_inner());
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
    /// Closes the executor to new spawns and drops every unfinished task; awaiting their
    /// handles yields `Cancelled`.
    fn drop(&mut self) {
        drop(self.shared.inbox.close());
        let table = self.table.get_mut();
        for slot in 0..table.entries.len() {
            if table.entries[slot].is_some() {
                table.remove(slot, &self.shared);
            }
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
        let task = new_task(shared, name, future).inspect_err(|_| {
            shared.tasks.fetch_sub(1, Ordering::AcqRel);
        })?;
        let (node, handle) = task;
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

/// Allocates a task for `future`: its header, its boxed future (which completes the join
/// state), and the join state; `OutOfMemory` if any allocation fails.
type Allocated<H, T> = (Box<InboxNode<NewTask<H>>>, JoinHandle<T>);

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
    let state = Arc::try_new(JoinState::new()).map_err(oom)?;
    let completion = CompleteOnDrop {
        state: Arc::clone(&state),
        finished: false,
    };
    let future: BoxedTask = Box::into_pin(
        Box::try_new(async move {
            let mut completion = completion;
            let output = future.await;
            completion.finished = true;
            completion.state.complete(output);
        })
        .map_err(oom)?,
    );
    let header = Arc::try_new(TaskHeader::new(
        name,
        Arc::clone(&shared.name),
        Arc::clone(&shared.ready),
    ))
    .map_err(oom)?;
    let node = Box::try_new(InboxNode::new(NewTask { header, future })).map_err(oom)?;
    Ok((node, JoinHandle::new(state)))
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
    /// Puts a spawned task in a free slot and queues its first poll. If the table cannot
    /// grow (no memory), the task is dropped: its handle resolves to `Cancelled`.
    fn insert(&mut self, shared: &Shared<H>, task: NewTask<H>) {
        let slot = match self.free.pop() {
            Some(slot) => slot,
            None => {
                // Room for the slot, and for the free list to take every slot back.
                let grown = self.entries.try_reserve(1).is_ok()
                    && self.free.try_reserve(self.entries.len() + 1).is_ok();
                if !grown {
                    shared.tasks.fetch_sub(1, Ordering::AcqRel);
                    return;
                }
                self.entries.push(None);
                self.entries.len() - 1
            }
        };
        let header = task.header;
        header.set_slot(slot);
        // SAFETY: a new header is in no listing; the table's `Arc` (stored just below)
        // keeps it alive until `remove` unlinks it; the listing's lock is held.
        unsafe { shared.listing.lock().push_back(NonNull::from(&*header)) };
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
        // A read-modify-write, not a store: see "The `queued` handshake" in `task`.
        entry.header.queued.clear_for_poll();
        entry.header.set_state(TaskState::Running);
        entry.header.polls.fetch_add(1, Ordering::Relaxed);
        match future.as_mut().poll(&mut Context::from_waker(&entry.waker)) {
            Poll::Pending => {
                if !entry.header.queued.is_set() {
                    entry.header.set_state(TaskState::Waiting);
                }
            }
            Poll::Ready(()) => {
                entry.header.set_state(TaskState::Done);
                entry.future = None;
                // Set `queued` for good so late wakes do nothing; if a wake during the
                // poll queued the slot, it stays a tombstone until that index is popped.
                if entry.header.queued.mark() {
                    self.remove(slot, shared);
                }
            }
        }
        true
    }

    /// Empties `slot`: unlists its task and drops it (its future too, if unfinished).
    fn remove(&mut self, slot: usize, shared: &Shared<H>) {
        let Some(entry) = self.entries[slot].take() else {
            return;
        };
        // SAFETY: every entry's header was linked by `insert` and is unlinked only here,
        // once; the listing's lock is held.
        unsafe { shared.listing.lock().remove(NonNull::from(&*entry.header)) };
        self.free.push(slot); // room reserved when the slot was created
        shared.tasks.fetch_sub(1, Ordering::AcqRel);
        drop(entry); // after the listing's lock: dropping a future runs arbitrary code
    }
}

/// Every executor, for the task listing. (A sleeping lock is not available at this
/// layer; this one is only taken to register an executor or list tasks, never by wakes.)
static EXECUTORS: spin::Mutex<Vec<Weak<dyn ListTasks>>> = spin::Mutex::new(Vec::new());

trait ListTasks: Send + Sync {
    fn list(&self, into: &mut Vec<TaskInfo>);
}

impl<H: Host> ListTasks for Shared<H> {
    fn list(&self, into: &mut Vec<TaskInfo>) {
        let mut headers: Vec<Arc<TaskHeader<H>>> = Vec::new();
        loop {
            // No allocation under the listing's lock: make room first, start over if
            // tasks arrived meanwhile.
            let needed = self.listing.lock().len();
            headers.reserve(needed);
            let listing = self.listing.lock();
            if listing.len() > headers.capacity() {
                continue;
            }
            for header in listing.iter() {
                // SAFETY: a listed header is kept alive by its table entry's `Arc`, and
                // stays listed while the lock is held; the pointer came from that `Arc`.
                headers.push(unsafe {
                    Arc::increment_strong_count(header.as_ptr());
                    Arc::from_raw(header.as_ptr())
                });
            }
            break;
        }
        into.extend(headers.iter().map(|header| header.info()));
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
