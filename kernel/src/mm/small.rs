//! Small heap blocks: size classes, and a per-CPU cache of free blocks in front of the
//! heap's global lock.
//!
//! An allocation of at most [`LARGEST`] bytes aligned to at most [`ALIGN`] belongs to a
//! size class: steps of 8 bytes up to [`FINE`] (the heap's own rounding, so the many
//! small blocks of tasks and threads cost no more than without classes),
//! then four classes per power of two (at most a quarter lost to rounding). Its block comes from the calling CPU's free list for the class and
//! a free goes to the list of the CPU it runs on. Lists are refilled from, and flushed
//! to, the heap [`BATCH`] blocks at a time under one acquisition of its lock: a CPU that
//! allocates and frees in a steady pattern (spawn + join: the control block and the
//! result slot) takes the global lock not at all, one that only frees (the consumer of
//! another CPU's allocations) once per `BATCH` blocks.
//!
//! **Invariant: a block of a class is always a heap block of the class's layout.** The
//! class depends only on the layout the caller passes, which `GlobalAlloc` guarantees is
//! the same at allocation and at free, so a block allocated through a list and freed
//! straight to the heap (a flush) or the other way round always meets the heap with the
//! layout it was allocated with.
//!
//! **Accounting.** For the heap a cached block is allocated; [`cached`] gives what the
//! caches hold, so that `mm::usage` leaves it out, and [`release`] gives it all back
//! (`mm::reclaim`, and the heap before it reports running out).
#![cfg_attr(not(target_os = "none"), allow(dead_code))]

use core::{alloc::Layout, ptr::NonNull};

use talc::{ErrOnOom, Talck};

use super::local::{self, MAX_CPUS, PerCpu};
use crate::arch::{IrqSpinLock, RawIrqSpinLock};

/// The heap the classes' blocks come from and go back to.
pub(super) type Heap = Talck<RawIrqSpinLock, ErrOnOom>;

/// The largest size served by a class.
pub(super) const LARGEST: usize = 2048;
/// Every class's blocks are aligned to this (and serve any smaller alignment).
pub(super) const ALIGN: usize = 8;
/// Blocks moved between a list and the heap per acquisition of the heap's lock.
pub(super) const BATCH: usize = 8;
/// Blocks a list holds at most: a free to a full list first flushes `BATCH` of them.
pub(super) const LIMIT: usize = 2 * BATCH;

/// Classes in steps of [`ALIGN`] bytes up to this size.
pub(super) const FINE: usize = 512;
/// Classes of `FINE`, then four per power of two up to [`LARGEST`].
const FINE_CLASSES: usize = FINE / ALIGN;
const LOG_FINE: usize = FINE.trailing_zeros() as usize;
const CLASSES: usize =
    FINE_CLASSES + 4 * (LARGEST.trailing_zeros() - FINE.trailing_zeros()) as usize;

/// A size class.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Class(usize);

impl Class {
    /// The class serving `layout`, if a class does.
    pub(super) fn of(layout: Layout) -> Option<Self> {
        let size = layout.size();
        if size > LARGEST || layout.align() > ALIGN {
            return None;
        }
        let size = size.max(1) - 1;
        if size < FINE {
            return Some(Self(size / ALIGN));
        }
        // 2^k <= size < 2^(k+1), so the class size is in (2^k, 2^(k+1)], in quarters.
        let k = (usize::BITS - 1 - size.leading_zeros()) as usize;
        let quarter = (size - (1 << k)) >> (k - 2);
        Some(Self(FINE_CLASSES + 4 * (k - LOG_FINE) + quarter))
    }

    /// The bytes of every block of this class.
    pub(super) fn size(self) -> usize {
        if self.0 < FINE_CLASSES {
            return (self.0 + 1) * ALIGN;
        }
        let coarse = self.0 - FINE_CLASSES;
        let (k, quarter) = (LOG_FINE + coarse / 4, coarse % 4);
        (1 << k) + ((quarter + 1) << (k - 2))
    }

    /// The layout every block of this class is allocated from the heap with.
    pub(super) fn layout(self) -> Layout {
        // The size is a multiple of `ALIGN` and at most `LARGEST`: always a valid layout.
        Layout::from_size_align(self.size(), ALIGN).expect("a class's layout")
    }
}

/// A free block, linking to the next one of its list (every class holds a pointer).
struct FreeBlock {
    next: Option<NonNull<FreeBlock>>,
}

/// One CPU's free lists, one per class.
struct Lists {
    heads: [Option<NonNull<FreeBlock>>; CLASSES],
    counts: [u8; CLASSES],
}

// SAFETY: the lists own the free blocks they link (memory that nothing else refers to
// until it is popped), so handing them to another CPU (which `reclaim` and `usage` do,
// under the lock) hands over that ownership and nothing else.
unsafe impl Send for Lists {}

impl Lists {
    const EMPTY: Lists = Lists {
        heads: [None; CLASSES],
        counts: [0; CLASSES],
    };

    fn pop(&mut self, class: Class) -> Option<NonNull<u8>> {
        let block = self.heads[class.0]?;
        // SAFETY: a listed block is a free block of this class, written by `push`, and
        // owned by the list.
        self.heads[class.0] = unsafe { block.as_ref().next };
        self.counts[class.0] -= 1;
        Some(block.cast())
    }

    /// # Safety
    /// `block` is a heap block of `class`'s layout that nothing refers to any more.
    unsafe fn push(&mut self, class: Class, block: NonNull<u8>) {
        let block = block.cast::<FreeBlock>();
        // SAFETY: the block is at least 8 bytes, 8-aligned and unused (the caller's
        // contract): room for the link.
        unsafe {
            block.write(FreeBlock {
                next: self.heads[class.0],
            })
        };
        self.heads[class.0] = Some(block);
        self.counts[class.0] += 1;
    }

    /// Gives every block back to `heap`; returns how many.
    fn release_to(&mut self, heap: &Heap) -> usize {
        let mut released = 0;
        let mut talc = heap.lock();
        for index in 0..CLASSES {
            let class = Class(index);
            while let Some(block) = self.pop(class) {
                // SAFETY: a listed block is a heap block of the class's layout (module
                // invariant) that nothing refers to.
                unsafe { talc.free(block, class.layout()) };
                released += 1;
            }
        }
        released
    }
}

/// Free blocks, one set of lists per CPU.
static CACHES: PerCpu<Lists> = [const { IrqSpinLock::new(Lists::EMPTY) }; MAX_CPUS];

/// A block of `class` from this CPU's list, refilling the list from `heap` when it is
/// empty; null when the heap has no block of the class's layout.
pub(super) fn alloc(heap: &Heap, class: Class) -> *mut u8 {
    let mut lists = local::lock_local(&CACHES);
    if let Some(block) = lists.pop(class) {
        return block.as_ptr();
    }
    // Lock order: a CPU's lists, then the heap (never the other way round).
    let mut talc = heap.lock();
    let layout = class.layout();
    // SAFETY: a non-zero-sized layout; the block is the caller's.
    let Ok(block) = (unsafe { talc.malloc(layout) }) else {
        return core::ptr::null_mut();
    };
    for _ in 1..BATCH {
        // SAFETY: as above; the block becomes the list's.
        match unsafe { talc.malloc(layout) } {
            // SAFETY: a fresh heap block of the class's layout.
            Ok(spare) => unsafe { lists.push(class, spare) },
            Err(()) => break,
        }
    }
    block.as_ptr()
}

/// Frees `block` (of `class`) to this CPU's list, first flushing [`BATCH`] blocks to
/// `heap` if the list is full.
///
/// # Safety
/// `block` was allocated with a layout of `class` and is not used any more.
pub(super) unsafe fn free(heap: &Heap, class: Class, block: NonNull<u8>) {
    let mut lists = local::lock_local(&CACHES);
    if usize::from(lists.counts[class.0]) == LIMIT {
        let mut talc = heap.lock();
        for _ in 0..BATCH {
            let spare = lists.pop(class).expect("a full list");
            // SAFETY: a listed block is a heap block of the class's layout that nothing
            // refers to.
            unsafe { talc.free(spare, class.layout()) };
        }
    }
    // SAFETY: the caller's contract, and the class's invariant.
    unsafe { lists.push(class, block) };
}

/// Gives every CPU's cached blocks back to `heap`; returns how many.
///
/// Callable from an allocation that failed, possibly while this CPU holds its own
/// lists' lock: each CPU's lock is only tried, and lists whose lock is taken are passed
/// over.
pub(super) fn release(heap: &Heap) -> usize {
    CACHES
        .iter()
        .filter_map(IrqSpinLock::try_lock)
        .map(|mut lists| lists.release_to(heap))
        .sum()
}

/// The blocks every CPU's lists hold, and their bytes (for the heap, allocated).
///
/// Each CPU's lists are read under their lock, one after the other: exact when nothing
/// is allocated or freed meanwhile (what a leak check measures).
pub(super) fn cached() -> (usize, usize) {
    CACHES.iter().fold((0, 0), |(blocks, bytes), lists| {
        let lists = lists.lock();
        lists
            .counts
            .iter()
            .enumerate()
            .fold((blocks, bytes), |(blocks, bytes), (index, &count)| {
                let count = usize::from(count);
                (blocks + count, bytes + count * Class(index).size())
            })
    })
}

/// How often a CPU's lists' lock was found taken (all CPUs together).
pub(super) fn lock_contention() -> u32 {
    local::contention(&CACHES)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn class(size: usize) -> Option<Class> {
        Class::of(Layout::from_size_align(size, 8).unwrap())
    }

    #[test]
    fn every_size_gets_the_smallest_class_that_holds_it() {
        for size in 0..=LARGEST {
            let class = class(size).unwrap();
            assert!(class.size() >= size.max(1), "size {size}");
            assert!(class.0 < CLASSES, "size {size}");
            if class.0 > 0 {
                assert!(Class(class.0 - 1).size() < size, "size {size}");
            }
        }
        assert_eq!(class(LARGEST).unwrap().0, CLASSES - 1);
    }

    #[test]
    fn class_sizes_step_by_8_bytes_then_by_quarters() {
        for index in 1..CLASSES {
            let (smaller, size) = (Class(index - 1).size(), Class(index).size());
            assert!(size > smaller && size % ALIGN == 0);
            // Above `FINE`, a quarter of the power of two below the size.
            let floor = 1 << (usize::BITS - 1 - (size - 1).leading_zeros());
            let step = if size <= FINE { ALIGN } else { floor / 4 };
            assert_eq!(size - smaller, step, "class {index}");
        }
    }

    #[test]
    fn large_or_overaligned_layouts_have_no_class() {
        assert_eq!(class(LARGEST + 1), None);
        assert_eq!(Class::of(Layout::from_size_align(64, 16).unwrap()), None);
        assert_eq!(
            Class::of(Layout::from_size_align(64, 4).unwrap()),
            class(64)
        );
    }
}
