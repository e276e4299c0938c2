//! The local ready list: task slots woken by code running on the executor's own host
//! thread, in a ring only that thread touches.
//!
//! A wake made on the host thread itself (a task waking itself with `yield_now`, or
//! another task of its executor) needs none of the ready queue's cross-thread protocol:
//! no compare-and-swap, no `SeqCst` fence, no look at `sleeping` (the host is running,
//! so it is not asleep). It appends the slot here with plain loads and stores, and the
//! run loop, on the same thread, pops it.
//!
//! **Who may touch it.** Only code running on the host thread with interrupts enabled
//! (`ReadyQueue::wake`'s test, `Host::runs_here`), and the run loop, which runs on the
//! host thread (an executor is not `Send`). An interrupt handler that wakes a task runs
//! with interrupts disabled (every gate in the IDT is an interrupt gate, and no handler
//! enables them), so it takes the lock-free queue, even when it interrupted the host
//! thread in the middle of a push or a pop here: the ring is never used by two execution
//! contexts that can interleave. The host thread moving to another CPU between two
//! operations is a context switch, which orders everything before it on the old CPU
//! before everything after it on the new one.
//!
//! The atomics are only there to make this shared structure `Sync` without `unsafe`:
//! every access is a `Relaxed` load or store (a plain `mov` on x86), never a locked
//! instruction.
//!
//! **It never overflows.** A slot is here or in the lock-free queue at most once (its
//! `queued` flag: see `task`), and an executor holds at most its capacity of tasks; the
//! ring has one entry more than that capacity, so that full and empty differ.

use alloc::boxed::Box;

use crate::atomics::{AtomicU32, Ordering};

/// Ready slots woken on the host thread, oldest first (module docs).
pub(super) struct LocalQueue {
    ring: Box<[AtomicU32]>,
    /// The next entry to pop.
    head: AtomicU32,
    /// The next entry to fill.
    tail: AtomicU32,
}

impl LocalQueue {
    /// A ring for up to `capacity` slots.
    pub(super) fn new(capacity: usize) -> Self {
        Self {
            ring: (0..=capacity).map(|_| AtomicU32::new(0)).collect(),
            head: AtomicU32::new(0),
            tail: AtomicU32::new(0),
        }
    }

    /// The ring entry after `entry`.
    #[inline(always)]
    fn after(&self, entry: u32) -> u32 {
        let next = entry + 1;
        if next as usize == self.ring.len() {
            0
        } else {
            next
        }
    }

    /// Appends `slot` (on the host thread: module docs).
    #[inline]
    pub(super) fn push(&self, slot: u32) {
        let tail = self.tail.load(Ordering::Relaxed);
        if let Some(entry) = self.ring.get(tail as usize) {
            entry.store(slot, Ordering::Relaxed);
        }
        let next = self.after(tail);
        debug_assert!(
            next != self.head.load(Ordering::Relaxed),
            "local ready list overflow: more queued slots than tasks"
        );
        self.tail.store(next, Ordering::Relaxed);
    }

    /// The oldest slot, now taken (on the host thread: module docs).
    #[inline]
    pub(super) fn pop(&self) -> Option<u32> {
        let head = self.head.load(Ordering::Relaxed);
        if head == self.tail.load(Ordering::Relaxed) {
            return None;
        }
        let slot = self.ring.get(head as usize)?.load(Ordering::Relaxed);
        self.head.store(self.after(head), Ordering::Relaxed);
        Some(slot)
    }

    /// Whether nothing waits here.
    #[inline]
    pub(super) fn is_empty(&self) -> bool {
        self.head.load(Ordering::Relaxed) == self.tail.load(Ordering::Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use super::LocalQueue;

    /// First in, first out, across the wrap of the ring, up to its capacity.
    #[test]
    fn keeps_the_order_across_the_wrap() {
        let queue = LocalQueue::new(3);
        for round in 0..5 {
            for slot in 0..3 {
                queue.push(round * 10 + slot);
            }
            for slot in 0..3 {
                assert_eq!(queue.pop(), Some(round * 10 + slot));
            }
            assert!(queue.is_empty());
            assert_eq!(queue.pop(), None);
        }
    }
}
