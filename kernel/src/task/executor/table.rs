//! The host thread's table of tasks: slot index to future, waker and header. Only the
//! thread running the executor touches it, so polling takes no lock.

use alloc::{sync::Arc, vec::Vec};
use core::{
    sync::atomic::Ordering,
    task::{Context, Poll, Waker},
};

use super::{
    host::Host,
    shared::Shared,
    spawner::{BoxedTask, NewTask},
    task::{TaskHeader, TaskState},
};
use crate::{
    thread,
    trace::{self, Kind},
};

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

impl<H: Host> TaskTable<H> {
    pub(super) const fn new() -> Self {
        Self {
            entries: Vec::new(),
            free: Vec::new(),
        }
    }

    /// Puts a spawned task in a free slot and queues its first poll. If the table cannot
    /// grow (no memory), the task is dropped: its handle resolves to `Cancelled`.
    pub(super) fn insert(&mut self, shared: &Shared<H>, task: NewTask<H>) {
        let Some(slot) = self.free.pop().or_else(|| self.grow(shared)) else {
            shared.tasks.fetch_sub(1, Ordering::AcqRel);
            return;
        };
        let header = task.header;
        header.set_slot(slot);
        if trace::enabled() {
            trace::record_name(Kind::TaskName, header.id.as_u64(), &header.label());
        }
        shared.listing.lock()[slot] = Some(Arc::clone(&header));
        let waker = Waker::from(Arc::clone(&header));
        self.entries[slot] = Some(Entry {
            header,
            waker,
            future: Some(task.future),
        });
        // New tasks start queued (see `TaskHeader::new`): this is their first wake.
        shared.ready.push(slot);
    }

    /// A new slot at the end, with room for the free list and the listing to take it:
    /// after this, nothing about the slot allocates. `None` without memory.
    fn grow(&mut self, shared: &Shared<H>) -> Option<usize> {
        let slot = self.entries.len();
        self.entries.try_reserve(1).ok()?;
        self.free.try_reserve(slot + 1).ok()?;
        let mut listing = shared.listing.lock();
        listing.try_reserve(1).ok()?;
        listing.push(None);
        self.entries.push(None);
        Some(slot)
    }

    /// Polls the task in `slot`; returns whether a poll happened.
    pub(super) fn poll(&mut self, slot: usize, shared: &Shared<H>) -> bool {
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
        if trace::enabled() {
            let host = thread::current_id().as_u64();
            trace::record_poll(entry.header.id.as_u64(), shared.id, host, true, false);
        }
        let poll = future.as_mut().poll(&mut Context::from_waker(&entry.waker));
        if trace::enabled() {
            let (task, host) = (entry.header.id.as_u64(), thread::current_id().as_u64());
            trace::record_poll(task, shared.id, host, false, poll.is_ready());
        }
        match poll {
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
    pub(super) fn remove(&mut self, slot: usize, shared: &Shared<H>) {
        let Some(entry) = self.entries[slot].take() else {
            return;
        };
        let listed = shared.listing.lock()[slot].take();
        self.free.push(slot); // room reserved when the slot was created
        shared.tasks.fetch_sub(1, Ordering::AcqRel);
        drop(listed);
        drop(entry); // after the listing's lock: dropping a future runs arbitrary code
    }
}
