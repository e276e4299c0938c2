//! The host thread's table of tasks: slot index to task. Only the thread running the
//! executor touches it, so polling takes no lock.
//!
//! Three arrays grow together, a block of `chunks::CHUNK` slots at a time and never
//! beyond the executor's capacity: the table's [`Slot`]s, the listing's references
//! (`Shared::listing`) and the free list. Once a slot exists, filling it, polling it and
//! freeing it never allocate.
//!
//! **Room is made by spawners.** A spawn that takes a place in the executor's capacity
//! beyond the slots there are (`Shared::room`) allocates the next block of all three
//! arrays itself, as a [`SpareBlock`] left in `Shared::spare` for the host to add when
//! it runs out of free slots. So a spawn that succeeded always finds a slot: running out
//! of memory is the spawner's `OutOfMemory`, never a task dropped by its executor. The
//! lists of blocks have room for the whole capacity from the start (a pointer per block),
//! so adding a block never allocates either.
//!
//! Why there is always a free or spare slot for a task taken from the inbox: every task
//! in the table (tombstones included) or in the inbox holds a place in `Shared::tasks`,
//! and a spawner takes its place before it makes room for it: the `n`-th place is only
//! used once `room` exceeds `n`. So the slots in the table plus the spare ones outnumber
//! the tasks in the table whenever one waits in the inbox. A spawner adds its block under
//! the `spare` lock before it raises `room` (Release) and pushes its task after; the host
//! takes the task from the inbox (Acquire) before it looks at `spare` under the lock.

use alloc::{boxed::Box, collections::TryReserveError, sync::Arc};
use core::sync::atomic::Ordering;

use super::{
    cell::{Polling, Slot, Task},
    chunks::Chunks,
    host::Host,
    shared::Shared,
    task::Polled,
};
use crate::{
    thread::unwind,
    trace::{self, Kind},
};

/// The host thread's table of tasks.
pub(super) struct TaskTable<H: Host> {
    slots: Chunks<Slot<H>>,
    /// Free slot indices, a stack: `free_len` of them, with room for every slot.
    free: Chunks<u32>,
    free_len: usize,
}

/// A block of new slots for all three arrays, made by a spawner (module docs).
pub(super) struct SpareBlock<H: Host> {
    slots: Box<[Slot<H>]>,
    listed: Box<[Option<Arc<dyn Task<H>>>]>,
    free: Box<[u32]>,
}

impl<H: Host> SpareBlock<H> {
    /// A block of `count` slots (at most `chunks::CHUNK`).
    ///
    /// # Errors
    /// When the heap has no room for it.
    pub(super) fn new(count: usize) -> Result<Self, TryReserveError> {
        Ok(Self {
            slots: Chunks::new_block(count, || Slot::EMPTY)?,
            listed: Chunks::new_block(count, || None)?,
            free: Chunks::new_block(count, || 0)?,
        })
    }

    /// How many slots it holds.
    pub(super) fn len(&self) -> usize {
        self.slots.len()
    }
}

impl<H: Host> TaskTable<H> {
    /// An empty table for up to `capacity` tasks.
    pub(super) fn new(capacity: usize) -> Self {
        Self {
            slots: Chunks::with_room_for(capacity),
            free: Chunks::with_room_for(capacity),
            free_len: 0,
        }
    }

    /// How many slots the table has (used or not).
    pub(super) fn len(&self) -> usize {
        self.slots.len()
    }

    /// Puts a spawned task in a free slot and queues its first poll. Out of line, like
    /// `free`: once per task, they would only crowd the poll loop they are called from
    /// (which then no longer inlines the ready queue's pop).
    #[inline(never)]
    pub(super) fn insert(&mut self, shared: &Shared<H>, mut task: Slot<H>) {
        if self.free_len == 0 {
            self.add_spare_blocks(shared);
        }
        let Some(slot) = self.free_slot() else {
            unreachable!("a spawned task always finds a free or spare slot (module docs)");
        };
        let (Some(header), Some(entry)) = (task.header(), self.slots.get_mut(slot)) else {
            unreachable!("a free index names a slot, and a new task is not empty");
        };
        header.set_slot(slot as u32);
        if trace::enabled() {
            trace::record_name(Kind::TaskName, header.id.as_u64(), &header.label());
        }
        if let Some(listed) = shared.listing.lock().get_mut(slot) {
            *listed = task.share();
        }
        *entry = task.take();
        // New tasks start queued (see `TaskHeader::new`): this is their first wake, made
        // by the run loop on the host thread.
        shared.ready.push_local(slot as u32);
    }

    /// A free slot's index, now taken.
    fn free_slot(&mut self) -> Option<usize> {
        self.free_len = self.free_len.checked_sub(1)?;
        self.free.get(self.free_len).map(|&slot| slot as usize)
    }

    /// Adds the blocks spawners made, in the order they were made (only the last block of
    /// an array may be short), with all their slots free. None of this allocates: the
    /// lists of blocks have room for the whole capacity.
    fn add_spare_blocks(&mut self, shared: &Shared<H>) {
        let oldest = || {
            let mut spare = shared.spare.lock();
            (!spare.is_empty()).then(|| spare.remove(0))
        };
        while let Some(block) = oldest() {
            let start = self.slots.len();
            let count = block.len();
            shared.listing.lock().push_block(block.listed);
            self.slots.push_block(block.slots);
            self.free.push_block(block.free);
            // The free stack was empty up to `free_len`: the new slots go on top of it,
            // the lowest on top, so that slots fill from the bottom.
            for place in 0..count {
                if let Some(free) = self.free.get_mut(self.free_len + place) {
                    *free = (start + count - 1 - place) as u32;
                }
            }
            self.free_len += count;
        }
    }

    /// Polls the task in `slot`; returns whether a poll happened.
    #[inline]
    pub(super) fn poll(&mut self, slot: usize, shared: &Shared<H>, executor: &Polling<'_>) -> bool {
        let Some(polled) = self
            .slots
            .get_mut(slot)
            .and_then(|task| task.poll(executor))
        else {
            return false;
        };
        // The common case first, as one comparison.
        if polled == Polled::Pending {
            return true;
        }
        match polled {
            // The poll gave the task's place in the capacity back already (`cell`'s
            // `publish`), before its handle could see it finish.
            Polled::Done => {
                self.free(slot, shared);
            }
            Polled::Tombstone => self.remove(slot, shared),
            Polled::Pending | Polled::DoneQueued => {}
        }
        polled != Polled::Tombstone
    }

    /// Empties `slot` and gives its task's place in the capacity back: unlists the task
    /// and drops it (cancelling it if unfinished).
    pub(super) fn remove(&mut self, slot: usize, shared: &Shared<H>) {
        if self.free(slot, shared) {
            shared.tasks.fetch_sub(1, Ordering::AcqRel);
        }
    }

    /// Empties `slot` (its task's place in the capacity is the caller's to give back):
    /// unlists the task and drops it. Returns whether there was a task.
    #[inline(never)]
    fn free(&mut self, slot: usize, shared: &Shared<H>) -> bool {
        let Some(task) = self.slots.get_mut(slot).map(Slot::take) else {
            return false;
        };
        if task.header().is_none() {
            return false;
        }
        let listed: Option<Arc<dyn Task<H>>> =
            shared.listing.lock().get_mut(slot).and_then(Option::take);
        if let Some(free) = self.free.get_mut(self.free_len) {
            *free = slot as u32; // room for every slot: made when the slot was
            self.free_len += 1;
        }
        // After the listing's lock: dropping a future (or, if nobody else holds the task,
        // its output) runs arbitrary code, whose panic is contained here and logged: the
        // executor goes on.
        if let Err(caught) = unwind::catch(move || {
            drop(listed);
            drop(task);
        }) {
            log::error!("{} (dropping a task's future or output)", caught.report());
        }
        true
    }
}
