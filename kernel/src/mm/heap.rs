//! The kernel heap: the `talc` allocator over every usable region of physical memory,
//! behind an [`IrqSpinLock`](crate::arch::IrqSpinLock). It is the one owner of physical
//! memory: kernel stacks and page tables are heap blocks too, and go back to it.
//!
//! The interrupt-disabling lock is what makes allocation safe under preemption: the timer
//! cannot switch threads (or run a handler that allocates) while the heap is locked, so
//! the classic "preempted while holding the allocator lock" deadlock cannot happen.
//! Allocation failure is reported as a null pointer, as `GlobalAlloc` requires; fallible
//! APIs (`try_reserve`, `Box::try_new`) turn it into an error value. Before reporting a
//! failure the heap asks every cache (stacks, small blocks) to give back what it holds,
//! and tries again.
//!
//! Small blocks (`small`) are served from a per-CPU cache in front of the lock, so that
//! spawning and joining on several CPUs at once does not meet on it.
//!
//! **Where memory may be allocated.** Only in thread context: never in an interrupt
//! handler (debug builds check this on every allocation and panic naming the rule).
//! Blocking, waking, timers and the scheduler never allocate: their data structures are
//! intrusive, so a full heap cannot turn a wait into a panic.
//!
//! (Host unit tests use the host's allocator; this one is the kernel target's.)
#![cfg_attr(not(target_os = "none"), allow(dead_code))]

use core::{
    alloc::{GlobalAlloc, Layout},
    ops::Range,
    ptr::NonNull,
};

use talc::{ErrOnOom, Span, Talc};
use x86_64::VirtAddr;

use super::small::{self, Class};
use crate::arch::cpu_local;

static TALC: small::Heap = Talc::new(ErrOnOom).lock();

/// How often an allocation or free found the heap's lock taken (see `arch::contention`).
pub(super) fn lock_contention() -> u32 {
    let guard = TALC.lock();
    crate::arch::contention(lock_api::MutexGuard::mutex(&guard))
}

/// The global allocator: `talc`, the allocation rules, and the stack cache as a reserve.
struct KernelHeap;

#[cfg_attr(target_os = "none", global_allocator)]
static HEAP: KernelHeap = KernelHeap;

// SAFETY: a layout with a size class is always allocated from and freed to `talc` with
// the class's layout (which holds it: at least as large, as aligned), whether through the
// per-CPU lists or not (`small`'s invariant); any other layout is forwarded to `talc`'s
// `GlobalAlloc` as it is. A retry after reclaiming is just a second, independent call.
unsafe impl GlobalAlloc for KernelHeap {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        check_allocation_context();
        match Class::of(layout) {
            Some(class) => retry_after_reclaim(|| small::alloc(&TALC, class)),
            // SAFETY: forwarded from the caller.
            None => retry_after_reclaim(|| unsafe { TALC.alloc(layout) }),
        }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        check_allocation_context();
        match Class::of(layout) {
            Some(class) => {
                let block = retry_after_reclaim(|| small::alloc(&TALC, class));
                if !block.is_null() {
                    // SAFETY: a fresh block of at least `layout.size()` bytes.
                    unsafe { block.write_bytes(0, layout.size()) };
                }
                block
            }
            // SAFETY: forwarded from the caller.
            None => retry_after_reclaim(|| unsafe { TALC.alloc_zeroed(layout) }),
        }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        check_allocation_context();
        // SAFETY: `GlobalAlloc::realloc`'s contract: the new size, rounded up to the
        // alignment, does not overflow.
        let new_layout = unsafe { Layout::from_size_align_unchecked(new_size, layout.align()) };
        if Class::of(layout).is_some() || Class::of(new_layout).is_some() {
            // A class's block cannot change size in place: move it (this also keeps a
            // block out of `talc.realloc`, which would keep talc's layout for it).
            // SAFETY: forwarded from the caller; `alloc` and `dealloc` above keep the
            // classes' invariant.
            let block = unsafe { self.alloc(new_layout) };
            if !block.is_null() {
                // SAFETY: both blocks hold the smaller of the two sizes and are distinct;
                // `ptr` is the caller's block of `layout`, not used after this.
                unsafe {
                    block.copy_from_nonoverlapping(ptr, layout.size().min(new_size));
                    self.dealloc(ptr, layout);
                }
            }
            return block;
        }
        // SAFETY: forwarded from the caller; a failed realloc leaves `ptr` untouched, so
        // the retry sees the same block.
        retry_after_reclaim(|| unsafe { TALC.realloc(ptr, layout, new_size) })
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        match (Class::of(layout), NonNull::new(ptr)) {
            // SAFETY: forwarded from the caller: a block of this layout, so of this class.
            (Some(class), Some(block)) => unsafe { small::free(&TALC, class, block) },
            // SAFETY: forwarded from the caller.
            _ => unsafe { TALC.dealloc(ptr, layout) },
        }
    }
}

/// Panics (in debug builds) if memory is being allocated in an interrupt handler.
fn check_allocation_context() {
    debug_assert!(
        !cpu_local::in_interrupt(),
        "memory allocated in interrupt context"
    );
}

/// Runs `allocate`; if it fails and a cache gave memory back, runs it again.
fn retry_after_reclaim(allocate: impl Fn() -> *mut u8) -> *mut u8 {
    let block = allocate();
    if block.is_null() && release_caches() > 0 {
        allocate()
    } else {
        block
    }
}

/// Gives what every cache holds back to the heap (stacks first: they are the larger
/// part); returns how many blocks and stacks came back.
pub(super) fn release_caches() -> usize {
    super::stack::release_cache() + small::release(&TALC)
}

/// Small blocks in the per-CPU caches, and their bytes (allocated, for the heap).
pub(super) fn cached_small() -> (usize, usize) {
    small::cached()
}

/// A snapshot of the heap's counters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HeapStats {
    /// Bytes handed out and not yet freed.
    pub allocated_bytes: usize,
    /// Live allocations.
    pub allocation_count: usize,
    /// Bytes still free.
    pub available_bytes: usize,
    /// Allocations made since boot.
    pub total_allocation_count: u64,
}

/// Gives the heap every region in `regions`, zeroed.
///
/// Zeroing costs a fraction of a second of emulated boot and buys predictable speed under
/// QEMU's TCG: firmware and bootloader code ran from some of these pages, and TCG keeps a
/// page that still holds translated code on its self-modifying-code slow path, where every
/// write is checked (measured: a thread whose stack landed on such a page ran ~100x
/// slower). Overwriting every byte retires that stale code once and for all.
pub(super) fn init(regions: impl Iterator<Item = Range<VirtAddr>>) {
    let mut heap = TALC.lock();
    for region in regions {
        // SAFETY: the region is usable RAM from the bootloader's memory map, seen through
        // the physical-memory window, and nothing references it yet.
        unsafe {
            region
                .start
                .as_mut_ptr::<u8>()
                .write_bytes(0, (region.end - region.start) as usize)
        };
        let span = Span::new(region.start.as_mut_ptr(), region.end.as_mut_ptr());
        // SAFETY: the region is usable RAM from the bootloader's memory map, seen through
        // the physical-memory window; nothing else uses it, and each region is claimed
        // once. A region too small to hold talc's metadata is refused (Err) and skipped.
        let _ = unsafe { heap.claim(span) };
    }
}

/// The heap's counters right now.
pub fn stats() -> HeapStats {
    let heap = TALC.lock();
    let counters = heap.get_counters();
    HeapStats {
        allocated_bytes: counters.allocated_bytes,
        allocation_count: counters.allocation_count,
        available_bytes: counters.available_bytes,
        total_allocation_count: counters.total_allocation_count,
    }
}
