//! A task's header: identity, statistics, the `queued` flag, and waking.
//!
//! The header is the first part of the task's one heap block (see `cell`, which also
//! holds the join state and the future). Everything a waker or a listing needs lives
//! here; a waker is an `Arc` of the whole block (cloning one bumps a count, it never
//! allocates), and waking it calls [`TaskHeader::wake`].
//!
//! Duplicate wakes are coalesced by the `queued` flag: a wake pushes the task's slot only
//! if it flips `queued` from false to true; the executor clears it just before it reads
//! the join state and polls, so a wake during the poll queues the task again (and an
//! abort is seen: see `cell`). A finished task keeps `queued` set for good, so a late
//! wake is a no-op.
//!
//! **The `queued` handshake.** The executor clears `queued` and then polls (the future
//! reads its condition); a waker changes the condition and then sets `queued`. Each side
//! writes one location and reads the other: the store-buffering shape, where on x86 a
//! plain store followed by a load can be reordered and both sides miss each other. So the
//! executor clears the flag with a read-modify-write (`swap`), not a store. Both sides'
//! read-modify-writes of `queued` are totally ordered: if the waker's comes second it
//! reads `false` and queues the task; if it comes first, the executor's swap reads its
//! `true` (Acquire from the waker's Release), which makes the waker's change of the
//! condition visible to the poll that follows. The host test `queued_handshake_litmus`
//! runs both sides on two threads.
//!
//! A task is allocated when it is spawned, so running out of memory is a spawn error,
//! not a panic in the executor.

use alloc::{boxed::Box, string::String, sync::Arc};
use core::task::Poll;

use super::{cell::JoinState, host::Host, ready_queue::ReadyQueue};
use crate::{
    arch::{cpu::InterruptsDisabled, tsc},
    atomics::{AtomicBool, AtomicU8, AtomicU32, AtomicU64, Ordering},
    thread, trace,
};

/// A task's name for display: its own, or `task-<id>`.
pub(super) struct TaskLabel<'a>(TaskId, Option<&'a str>);

impl core::fmt::Display for TaskLabel<'_> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self.1 {
            Some(name) => f.write_str(name),
            None => write!(f, "task-{}", self.0),
        }
    }
}

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
    /// The time spent inside its polls (measured with the TSC around each).
    pub cpu_time: core::time::Duration,
}

/// The `queued` flag and its handshake (see the module docs).
pub(super) struct Queued(AtomicBool);

impl Queued {
    /// The executor's half, just before a poll: clear it with a read-modify-write.
    #[inline]
    pub(super) fn clear_for_poll(&self) {
        self.0.swap(false, Ordering::AcqRel);
    }

    /// The waker's half, after changing what the task waits for: set it; `true` if it was
    /// clear, so this wake must queue the task.
    #[inline]
    pub(super) fn mark(&self) -> bool {
        !self.0.swap(true, Ordering::AcqRel)
    }

    /// Whether a wake came since the poll began.
    #[inline]
    pub(super) fn is_set(&self) -> bool {
        self.0.load(Ordering::Acquire)
    }
}

/// A task's name, boxed once more so that it takes one word in every task's header
/// (most tasks have none) instead of a `String`'s three.
pub(super) type TaskName = Option<Box<String>>;

/// What a poll (or the pop of a finished task's slot) leaves for the task table to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Polled {
    /// Polled; it waits for a wake-up (or was woken during the poll and is queued).
    Pending,
    /// Polled to completion: the slot can be freed.
    Done,
    /// Polled to completion, but a wake during the poll queued its slot: the slot stays
    /// a tombstone until that index is popped.
    DoneQueued,
    /// A tombstone's last queued index was popped (no poll): the slot can be freed.
    Tombstone,
}

/// The part of a task that wakers, the table and the listing read.
pub(super) struct TaskHeader<H: Host> {
    pub(super) id: TaskId,
    /// `None`: listed as `task-<id>` (formatted only when listed).
    name: TaskName,
    pub(super) ready: Arc<ReadyQueue<H>>,
    polls: AtomicU64,
    /// TSC ticks spent inside its polls.
    poll_tsc: AtomicU64,
    /// Its slot in the executor's task table, set when it enters the table (before its
    /// first wake can read it: see `TaskTable::insert`).
    slot: AtomicU32,
    pub(super) queued: Queued,
    state: AtomicU8,
    /// Whether it finished, and who owns its future or output (see `cell`). Kept here,
    /// beside the other small fields, so that it costs no padding of its own.
    pub(super) join: JoinState,
}

impl<H: Host> TaskHeader<H> {
    pub(super) fn new(name: TaskName, ready: Arc<ReadyQueue<H>>) -> Self {
        Self {
            id: TaskId::next(),
            name,
            ready,
            polls: AtomicU64::new(0),
            poll_tsc: AtomicU64::new(0),
            slot: AtomicU32::new(u32::MAX),
            // A new task is queued (or about to be) for its first poll.
            queued: Queued(AtomicBool::new(true)),
            state: AtomicU8::new(TaskState::Ready as u8),
            join: JoinState::new(),
        }
    }

    /// Records the task's table slot. Happens before any wake pushes it: wakes are no-ops
    /// until the executor first clears `queued`, which it does after this (and the clear
    /// is the Release the waker's Acquire of `queued` pairs with).
    pub(super) fn set_slot(&self, slot: u32) {
        self.slot.store(slot, Ordering::Relaxed);
    }

    pub(super) fn state(&self) -> TaskState {
        match self.state.load(Ordering::Relaxed) {
            0 => TaskState::Waiting,
            1 => TaskState::Ready,
            2 => TaskState::Running,
            _ => TaskState::Done,
        }
    }

    fn set_state(&self, state: TaskState) {
        self.state.store(state as u8, Ordering::Relaxed);
    }

    /// The executor's bookkeeping just before a poll (executor `executor`, for the trace),
    /// once it cleared `queued` (`Queued::clear_for_poll`, a read-modify-write, not a
    /// store: see "The `queued` handshake" above). Returns the TSC at the poll's start,
    /// for [`end_poll`](Self::end_poll).
    #[inline]
    pub(super) fn begin_poll(&self, executor: u64) -> u64 {
        self.set_state(TaskState::Running);
        // Only the task's slot polls it, on one thread at a time (the slot moves whole
        // between threads): a plain increment, no locked instruction; listings read it
        // relaxed, a count that may be one poll behind.
        let polls = self.polls.load(Ordering::Relaxed);
        self.polls.store(polls + 1, Ordering::Relaxed);
        if trace::enabled() {
            let host = thread::current_id().as_u64();
            trace::record_poll(self.id.as_u64(), executor, host, true, false);
        }
        tsc::read()
    }

    /// The executor's bookkeeping just after a poll that returned `poll`, begun at TSC
    /// `started`. The time inside the poll is charged as the poll count is: plainly, by
    /// the one thread polling (a host thread moved to another CPU mid-poll reads another
    /// counter at the end: the CPUs' counters agree to the offset measured at start-up).
    #[inline]
    pub(super) fn end_poll(&self, executor: u64, poll: Poll<()>, started: u64) -> Polled {
        let spent = tsc::read().saturating_sub(started);
        let total = self.poll_tsc.load(Ordering::Relaxed);
        self.poll_tsc.store(total + spent, Ordering::Relaxed);
        if trace::enabled() {
            let host = thread::current_id().as_u64();
            trace::record_poll(self.id.as_u64(), executor, host, false, poll.is_ready());
        }
        if poll.is_pending() {
            if !self.queued.is_set() {
                self.set_state(TaskState::Waiting);
            }
            return Polled::Pending;
        }
        self.finished()
    }

    /// The task finished: sets `queued` for good, so late wakes do nothing; if a wake
    /// since the poll began queued the slot, it stays a tombstone until that index is
    /// popped.
    fn finished(&self) -> Polled {
        self.set_state(TaskState::Done);
        if self.queued.mark() {
            Polled::Done
        } else {
            Polled::DoneQueued
        }
    }

    /// The name it was given, if any.
    pub(super) fn name(&self) -> Option<&str> {
        self.name.as_deref().map(String::as_str)
    }

    /// The executor's bookkeeping when it cancels an aborted task instead of polling it
    /// (after clearing `queued`, as for a poll).
    pub(super) fn end_aborted(&self) -> Polled {
        self.finished()
    }

    /// Its name, or `task-<id>`: for traces and listings.
    pub(super) fn label(&self) -> TaskLabel<'_> {
        TaskLabel(self.id, self.name.as_deref().map(String::as_str))
    }

    /// A snapshot for the listing; the task runs on the executor called `executor`.
    pub(super) fn info(&self, executor: &str) -> TaskInfo {
        TaskInfo {
            id: self.id,
            name: alloc::format!("{}", self.label()),
            executor: String::from(executor),
            state: self.state(),
            polls: self.polls.load(Ordering::Relaxed),
            cpu_time: crate::time::tsc_ticks_to_duration(self.poll_tsc.load(Ordering::Relaxed)),
        }
    }

    /// Queues the task unless it is queued already (or finished). Lock-free,
    /// allocation-free, callable from interrupt handlers: what the task's wakers call.
    #[inline]
    pub(super) fn wake(&self) {
        if trace::enabled() {
            return self.wake_traced();
        }
        if self.queued.mark() {
            self.enqueue();
        }
    }

    /// [`wake`](Self::wake) while tracing: the wake is stamped before `queued` is marked
    /// and recorded only if this wake queued the task, so the record never follows in
    /// time what the wake caused (a poll on another CPU, the task's end). Out of line, so
    /// that a wake while tracing is off pays only for the test of the flag.
    #[cold]
    #[inline(never)]
    fn wake_traced(&self) {
        let irq = InterruptsDisabled::new();
        let stamp = trace::stamp(&irq);
        if self.queued.mark() {
            if let Some(stamp) = stamp {
                let (source, id) = thread::wake_source();
                trace::record_task_wake_at(stamp, self.id.as_u64(), source, id);
            }
            self.enqueue();
        }
    }

    /// Puts the task (marked `queued` by this wake) in its executor's ready queue.
    #[inline]
    fn enqueue(&self) {
        self.set_state(TaskState::Ready);
        self.ready.wake(self.slot.load(Ordering::Relaxed));
    }
}

#[cfg(test)]
mod tests {
    use super::Queued;
    use crate::{
        atomics::{AtomicBool, Ordering},
        litmus::litmus,
    };

    /// A task being polled and what it waits for.
    struct Polled {
        queued: Queued,
        condition: AtomicBool,
    }

    /// The executor clearing `queued` and polling (the future finds its condition unmet
    /// and returns `Pending`) against a waker meeting the condition and marking the task:
    /// never both missing each other.
    #[test]
    fn queued_handshake_litmus() {
        let tasks = (0..10_000)
            .map(|_| Polled {
                queued: Queued(AtomicBool::new(true)),
                condition: AtomicBool::new(false),
            })
            .collect();
        let missed = litmus(
            tasks,
            200,
            |task| {
                task.queued.clear_for_poll();
                !task.condition.load(Ordering::Acquire)
            },
            |task| {
                task.condition.store(true, Ordering::Release);
                task.queued.mark()
            },
            |task| {
                task.queued.0.store(true, Ordering::Relaxed);
                task.condition.store(false, Ordering::Relaxed);
            },
        );
        assert_eq!(missed, 0, "lost wake-ups");
    }
}
