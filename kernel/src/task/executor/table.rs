//! The host thread's table of tasks: slot index to task. Only the thread running the
//! executor touches it, so polling takes no lock.
//!
//! Three arrays grow together, a block of `chunks::CHUNK` slots at a time and never
//! beyond the executor's capacity: the table's [`Slot`]s, the listing's references
//! (`Shared::listing`) and the free list. Once a slot exists, filling it, polling it and
//! freeing it never allocate.

use alloc::{collections::TryReserveError, sync::Arc};
use core::sync::atomic::Ordering;

use super::{
    cell::{Polling, Slot, Task},
    chunks::{CHUNK, Chunks},
    host::Host,
    shared::Shared,
    task::Polled,
};
use crate::trace::{self, Kind};

/// The host thread's table of tasks.
pub(super) struct TaskTable<H: Host> {
    slots: Chunks<Slot<H>>,
    /// Free slot indices, a stack: `free_len` of them, with room for every slot.
    free: Chunks<u32>,
    free_len: usize,
}

impl<H: Host> TaskTable<H> {
    pub(super) const fn new() -> Self {
        Self {
            slots: Chunks::new(),
            free: Chunks::new(),
            free_len: 0,
        }
    }

    /// How many slots the table has (used or not).
    pub(super) fn len(&self) -> usize {
        self.slots.len()
    }

    /// Puts a spawned task in a free slot and queues its first poll. If the table cannot
    /// grow (no memory), the task is dropped: its handle resolves to `TaskError::Cancelled`. Out of
    /// line, like `remove`: once per task, they would only crowd the poll loop they are
    /// called from (which then no longer inlines the ready queue's pop).
    #[inline(never)]
    pub(super) fn insert(&mut self, shared: &Shared<H>, mut task: Slot<H>) {
        let Some(slot) = self.free_slot(shared) else {
            shared.tasks.fetch_sub(1, Ordering::AcqRel);
            return;
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
        // New tasks start queued (see `TaskHeader::new`): this is their first wake.
        shared.ready.push(slot);
    }

    /// A free slot's index, growing the table if none is free; `None` without memory.
    fn free_slot(&mut self, shared: &Shared<H>) -> Option<usize> {
        if self.free_len == 0 {
            self.grow(shared).ok()?;
        }
        self.free_len -= 1;
        self.free.get(self.free_len).map(|&slot| slot as usize)
    }

    /// A block of new slots (at most up to the executor's capacity), with the listing
    /// and the free list grown to match (all or nothing), and all the new slots free.
    fn grow(&mut self, shared: &Shared<H>) -> Result<(), TryReserveError> {
        let start = self.slots.len();
        let count = CHUNK
            .min(shared.ready.capacity().saturating_sub(start))
            .max(1);
        let slots = Chunks::new_block(count, || Slot::EMPTY)?;
        let listed = Chunks::new_block(count, || None)?;
        let free = Chunks::new_block(count, || 0)?;
        self.slots.reserve_block()?;
        self.free.reserve_block()?;
        let mut listing = shared.listing.lock();
        listing.reserve_block()?;
        listing.push_block(listed);
        drop(listing);
        self.slots.push_block(slots);
        self.free.push_block(free);
        // The free stack was empty: its first `count` places take the new slots, the
        // lowest on top, so that slots fill from the bottom.
        for place in 0..count {
            if let Some(free) = self.free.get_mut(place) {
                *free = (start + count - 1 - place) as u32;
            }
        }
        self.free_len = count;
        Ok(())
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
        if polled != Polled::DoneQueued {
            self.remove(slot, shared);
        }
        polled != Polled::Tombstone
    }

    /// Empties `slot`: unlists its task and drops it (cancelling it if unfinished).
    #[inline(never)]
    pub(super) fn remove(&mut self, slot: usize, shared: &Shared<H>) {
        let Some(task) = self.slots.get_mut(slot).map(Slot::take) else {
            return;
        };
        if task.header().is_none() {
            return;
        }
        let listed: Option<Arc<dyn Task<H>>> =
            shared.listing.lock().get_mut(slot).and_then(Option::take);
        if let Some(free) = self.free.get_mut(self.free_len) {
            *free = slot as u32; // room for every slot: made when the slot was
            self.free_len += 1;
        }
        shared.tasks.fetch_sub(1, Ordering::AcqRel);
        drop(listed);
        drop(task); // after the listing's lock: dropping a future runs arbitrary code
    }
}
