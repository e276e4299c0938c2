//! The thread table: every thread that has not been reaped (or ended by panic and has not
//! been joined), for the thread listing.
//!
//! An intrusive list through each thread's `table_links`, holding one strong reference
//! per thread: inserting and removing are O(1) and never allocate, so admitting a thread
//! cannot fail half-way. Nothing on the scheduling paths looks threads up here (every
//! waker already holds the thread it wakes).
#![allow(unsafe_code)]

use alloc::{sync::Arc, vec::Vec};
use core::ptr::NonNull;

use super::{Thread, ThreadInfo, control_block::TableEntry};
use crate::{arch::IrqSpinLock, intrusive::List};

static TABLE: IrqSpinLock<List<TableEntry>> = IrqSpinLock::new(List::new());

/// Adds `thread`, which must not be in the table already (a new thread).
pub(super) fn insert(thread: &Arc<Thread>) {
    let entry = entry_of(Arc::clone(thread));
    // SAFETY: the table owns the reference just taken, so the thread stays alive while
    // linked; a new thread is in no table; the table's lock is held.
    unsafe { TABLE.lock().push_back(entry) };
}

/// Frees the stack of `thread` (dead, switched away from for good) and removes it, unless
/// it ended by panic and its join handle may still take the report: then it stays listed
/// until the handle does, or goes ([`unlist`]).
pub(super) fn reap(thread: &Thread) {
    thread.release_stack();
    if !thread.panic.stays_listed() {
        unlist(thread);
    }
}

/// Removes `thread`: at its reaping, or, if it ended by panic and stayed listed then,
/// when its join handle took the report or was dropped (`unwind::Outcome::unlist`).
pub(super) fn unlist(thread: &Thread) {
    let entry = NonNull::from(thread).cast::<TableEntry>();
    // SAFETY: every thread is inserted once, at admission, and removed once: by its
    // reaper, or after that by its join handle, as the panic record's outcome word
    // decides (exactly one of them).
    unsafe { TABLE.lock().remove(entry) };
    // SAFETY: the reference `insert` took with `Arc::into_raw`, given back once.
    drop(unsafe { Arc::from_raw(entry.cast::<Thread>().as_ptr()) });
}

fn entry_of(thread: Arc<Thread>) -> NonNull<TableEntry> {
    NonNull::new(Arc::into_raw(thread).cast_mut())
        .expect("Arc::into_raw is never null")
        .cast::<TableEntry>()
}

/// A snapshot of every thread, by id.
pub fn threads() -> Vec<ThreadInfo> {
    let mut list: Vec<ThreadInfo> = all().iter().map(|thread| thread.info()).collect();
    list.sort_by_key(|info| info.id);
    list
}

/// A reference to every live thread, in table order.
pub(super) fn all() -> Vec<Arc<Thread>> {
    let mut handles: Vec<Arc<Thread>> = Vec::new();
    loop {
        // Room first, then copy the references under the lock (nothing allocates there),
        // and start over if threads were added meanwhile.
        let needed = thread_count();
        handles.reserve(needed);
        let table = TABLE.lock();
        if table.len() > handles.capacity() {
            continue;
        }
        // SAFETY: linked entries are live threads (the table holds a reference to each),
        // and the lock keeps them linked while their references are cloned.
        handles.extend(table.iter().map(|entry| unsafe {
            Arc::increment_strong_count(entry.as_ptr().cast::<Thread>());
            Arc::from_raw(entry.as_ptr().cast::<Thread>())
        }));
        return handles;
    }
}

/// How often the thread table's lock (taken at every spawn, reap and listing) was found
/// taken and had to be waited for, since boot.
pub fn table_contention() -> u32 {
    crate::arch::contention(&TABLE)
}

/// How many threads exist (not yet reaped).
pub fn thread_count() -> usize {
    TABLE.lock().len()
}
