//! The kernel heap: the `talc` allocator over every usable region of physical memory,
//! behind an [`IrqSpinLock`](crate::sync::IrqSpinLock).
//!
//! The interrupt-disabling lock is what makes allocation safe under preemption: the timer
//! cannot switch threads (or run a handler that allocates) while the heap is locked, so
//! the classic "preempted while holding the allocator lock" deadlock cannot happen.
//! Allocation failure is reported as a null pointer, as `GlobalAlloc` requires; fallible
//! APIs (`try_reserve`, `Box::try_new`) turn it into an error value.

use core::ops::Range;

use talc::{ErrOnOom, Span, Talc, Talck};
use x86_64::VirtAddr;

use crate::sync::RawIrqSpinLock;

#[cfg_attr(target_os = "none", global_allocator)]
static HEAP: Talck<RawIrqSpinLock, ErrOnOom> = Talc::new(ErrOnOom).lock();

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
    let mut heap = HEAP.lock();
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
    let heap = HEAP.lock();
    let counters = heap.get_counters();
    HeapStats {
        allocated_bytes: counters.allocated_bytes,
        allocation_count: counters.allocation_count,
        available_bytes: counters.available_bytes,
        total_allocation_count: counters.total_allocation_count,
    }
}
