//! The thread table: every thread that has not been reaped, for lookups by the
//! scheduler and for the thread listing.
//!
//! A slab (slots plus a free list) so insertion and removal are O(1); both vectors are
//! grown with `try_reserve` at spawn time, so a spawn that cannot get memory fails
//! cleanly and removal never allocates.

use alloc::{sync::Arc, vec::Vec};
use core::sync::atomic::Ordering;

use super::{Thread, ThreadInfo};
use crate::sync::IrqSpinLock;

struct Table {
    slots: Vec<Option<Arc<Thread>>>,
    free: Vec<usize>,
    live: usize,
}

static TABLE: IrqSpinLock<Table> = IrqSpinLock::new(Table {
    slots: Vec::new(),
    free: Vec::new(),
    live: 0,
});

/// No room in the table (the heap is exhausted).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct TableFull;

/// Adds `thread`; returns how many threads are now live.
pub(super) fn insert(thread: &Arc<Thread>) -> Result<usize, TableFull> {
    let mut table = TABLE.lock();
    let slot = match table.free.pop() {
        Some(slot) => slot,
        None => {
            let slot = table.slots.len();
            // Room for the slot, and for the free list to take every slot back later.
            table.slots.try_reserve(1).map_err(|_| TableFull)?;
            let needed = (slot + 1).saturating_sub(table.free.len());
            table.free.try_reserve(needed).map_err(|_| TableFull)?;
            table.slots.push(None);
            slot
        }
    };
    thread.table_slot.store(slot, Ordering::Relaxed);
    table.slots[slot] = Some(Arc::clone(thread));
    table.live += 1;
    Ok(table.live)
}

/// The table's `Arc` for `thread`, if it is still in the table.
pub(super) fn get(thread: &Thread) -> Option<Arc<Thread>> {
    let slot = thread.table_slot.load(Ordering::Relaxed);
    let table = TABLE.lock();
    let entry = table.slots.get(slot)?.as_ref()?;
    core::ptr::eq(Arc::as_ptr(entry), thread).then(|| Arc::clone(entry))
}

/// Removes a dead thread and frees its stack.
pub(super) fn reap(thread: &Arc<Thread>) {
    thread.release_stack();
    let slot = thread.table_slot.load(Ordering::Relaxed);
    let removed = {
        let mut table = TABLE.lock();
        let removed = table.slots.get_mut(slot).and_then(Option::take);
        if removed.is_some() {
            table.live -= 1;
            table.free.push(slot); // capacity reserved in `insert`
        }
        removed
    };
    drop(removed);
}

/// Removes a thread that never ran (its spawn failed after it was inserted).
pub(super) fn remove_unstarted(thread: &Arc<Thread>) {
    reap(thread);
}

/// A snapshot of every thread, by id.
pub fn threads() -> Vec<ThreadInfo> {
    let handles: Vec<Arc<Thread>> = TABLE.lock().slots.iter().flatten().cloned().collect();
    let mut list: Vec<ThreadInfo> = handles.iter().map(|thread| thread.info()).collect();
    list.sort_by_key(|info| info.id);
    list
}

/// How many threads exist (not yet reaped).
pub fn thread_count() -> usize {
    TABLE.lock().live
}
