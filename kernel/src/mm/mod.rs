//! Memory management.
//!
//! The bootloader maps all of physical memory at one offset ([`phys_to_virt`]); the heap
//! is made of the usable parts of that window, and page tables are walked through it.

use core::ops::Range;

use spin::Once;
use x86_64::{PhysAddr, VirtAddr};

mod frames;
pub mod heap;
pub mod paging;
pub mod stack;

/// Physical memory below 1 MiB stays out of the heap: firmware structures live there, and
/// application processors will need a page there to start in real mode.
const LOW_MEMORY_END: u64 = 0x10_0000;

static PHYSICAL_MEMORY_OFFSET: Once<u64> = Once::new();

/// Records where physical memory is mapped, then builds the heap from the `usable`
/// physical ranges of the memory map.
pub fn init(physical_memory_offset: u64, usable: impl Iterator<Item = Range<u64>>) {
    PHYSICAL_MEMORY_OFFSET.call_once(|| physical_memory_offset);
    paging::init();
    heap::init(usable.filter_map(|range| {
        let start = range.start.max(LOW_MEMORY_END);
        (start < range.end)
            .then(|| phys_to_virt(PhysAddr::new(start))..phys_to_virt(PhysAddr::new(range.end)))
    }));
}

/// The physical address behind `addr`, an address inside the physical-memory window
/// (such as any heap address).
pub fn virt_to_phys(addr: VirtAddr) -> PhysAddr {
    let offset = PHYSICAL_MEMORY_OFFSET.get().expect("mm::init has not run");
    PhysAddr::new(addr.as_u64() - offset)
}

/// The virtual address at which physical address `addr` is mapped.
///
/// # Panics
/// If called before [`init`].
pub fn phys_to_virt(addr: PhysAddr) -> VirtAddr {
    let offset = PHYSICAL_MEMORY_OFFSET.get().expect("mm::init has not run");
    VirtAddr::new(offset + addr.as_u64())
}

/// Memory in use by the kernel: heap allocations, not counting frames that the frame
/// pool holds free for reuse. What leak checks compare.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Usage {
    /// Bytes allocated and not free for reuse.
    pub bytes: usize,
    /// Live allocations (the frame pool's chunks excluded).
    pub allocations: usize,
}

/// The kernel's memory in use right now.
pub fn usage() -> Usage {
    let (free_frames, chunks) = frames::pool_state();
    let heap = heap::stats();
    Usage {
        bytes: heap.allocated_bytes - free_frames * paging::PAGE_SIZE as usize,
        allocations: heap.allocation_count - chunks,
    }
}
