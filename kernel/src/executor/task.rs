//! A task's shared header: identity, statistics, and the waker.
//!
//! The future itself is owned by its executor's task table; everything a waker or a
//! listing needs lives here, behind an `Arc`, so a waker is just that `Arc` (cloning one
//! bumps a count, it never allocates).
//!
//! Duplicate wakes are coalesced by the `queued` flag: a wake pushes the task's slot only
//! if it flips `queued` from false to true; the executor clears it just before polling,
//! so a wake during the poll queues the task again. A finished task keeps `queued` set
//! for good, so a late wake is a no-op.

use alloc::{string::String, sync::Arc, task::Wake};
use core::sync::atomic::{AtomicBool, AtomicU8, AtomicU64, Ordering};

use super::{host::Host, ready_queue::ReadyQueue};

/// A task's unique number.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct TaskId(u64);

impl TaskId {
    fn next() -> Self {
        static NEXT: AtomicU64 = AtomicU64::new(1);
        Self(NEXT.fetch_add(1, Ordering::Relaxed))
    }

    /// The number.
    pub fn as_u64(self) -> u64 {
        self.0
    }
}

impl core::fmt::Display for TaskId {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        self.0.fmt(f)
    }
}

/// Where a task is, for listings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum TaskState {
    /// Waiting for a wake-up.
    Waiting,
    /// Woken, in its executor's ready queue.
    Ready,
    /// Being polled.
    Running,
    /// Finished.
    Done,
}

/// One row of the task listing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TaskInfo {
    /// The task's id.
    pub id: TaskId,
    /// Its name (`task-<id>` if none was given).
    pub name: String,
    /// The name of the executor it runs on.
    pub executor: String,
    /// Its state when the listing was taken.
    pub state: TaskState,
    /// How many times it was polled.
    pub polls: u64,
}

impl TaskInfo {
    /// Column headings matching the `Display` rows.
    pub const HEADER: &'static str =
        "   ID  NAME              EXECUTOR          STATE        POLLS";
}

impl core::fmt::Display for TaskInfo {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        let state = alloc::format!("{:?}", self.state);
        write!(
            f,
            "{:>5}  {:<16}  {:<16}  {:<8}  {:>8}",
            self.id, self.name, self.executor, state, self.polls
        )
    }
}

/// The shared part of a task.
pub(super) struct TaskHeader<H: Host> {
    pub(super) id: TaskId,
    pub(super) name: String,
    pub(super) executor_name: Arc<str>,
    /// Its slot in the executor's task table.
    pub(super) slot: usize,
    pub(super) queued: AtomicBool,
    state: AtomicU8,
    pub(super) polls: AtomicU64,
    pub(super) ready: Arc<ReadyQueue<H>>,
}

impl<H: Host> TaskHeader<H> {
    pub(super) fn new(
        name: Option<String>,
        executor_name: Arc<str>,
        slot: usize,
        ready: Arc<ReadyQueue<H>>,
    ) -> Self {
        let id = TaskId::next();
        Self {
            id,
            name: name.unwrap_or_else(|| alloc::format!("task-{id}")),
            executor_name,
            slot,
            // A new task is queued (or about to be) for its first poll.
            queued: AtomicBool::new(true),
            state: AtomicU8::new(TaskState::Ready as u8),
            polls: AtomicU64::new(0),
            ready,
        }
    }

    pub(super) fn state(&self) -> TaskState {
        match self.state.load(Ordering::Relaxed) {
            0 => TaskState::Waiting,
            1 => TaskState::Ready,
            2 => TaskState::Running,
            _ => TaskState::Done,
        }
    }

    pub(super) fn set_state(&self, state: TaskState) {
        self.state.store(state as u8, Ordering::Relaxed);
    }

    /// A snapshot for the listing.
    pub(super) fn info(&self) -> TaskInfo {
        TaskInfo {
            id: self.id,
            name: self.name.clone(),
            executor: String::from(&*self.executor_name),
            state: self.state(),
            polls: self.polls.load(Ordering::Relaxed),
        }
    }
}

impl<H: Host> Wake for TaskHeader<H> {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    /// Queues the task unless it is queued already (or finished). Lock-free,
    /// allocation-free, callable from interrupt handlers.
    fn wake_by_ref(self: &Arc<Self>) {
        if !self.queued.swap(true, Ordering::AcqRel) {
            self.set_state(TaskState::Ready);
            self.ready.push(self.slot);
        }
    }
}
