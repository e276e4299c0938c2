//! Memory management.
//!
//! The bootloader maps all of physical memory at one offset ([`phys_to_virt`]); the heap
//! is made of the usable parts of that window and owns all of it: kernel stacks and page
//! tables are heap blocks of whole pages (`frames`), and go back to the heap when freed.
//! Page tables are walked and edited through the same window.
//!
//! **Checked by:** host tests in `paging.rs`; test kernels `heap`, `full_heap`,
//! `memory_returns`, `memory_after_churn`, `exit_leak`, `thread_stack_overflow`,
//! `stack_overflow`, `hostile_exhaustion`, `spawn_failure`.

use core::ops::Range;

use bootloader_api::{BootInfo, info::MemoryRegionKind};
use spin::Once;
use x86_64::{PhysAddr, VirtAddr};

pub(crate) mod frames;
pub mod heap;
mod local;
pub mod paging;
mod small;
pub mod stack;
pub mod tlb;

/// Bytes in a page.
pub const PAGE_SIZE: u64 = 4096;

/// Physical memory below 1 MiB stays out of the heap: firmware structures live there, and
/// application processors start in real mode from a page there (`arch::smp`).
const LOW_MEMORY_END: u64 = 0x10_0000;

static PHYSICAL_MEMORY_OFFSET: Once<u64> = Once::new();

/// Records where physical memory is mapped, then builds the heap from the `usable`
/// physical ranges of the memory map.
pub fn init(physical_memory_offset: u64, usable: impl Iterator<Item = Range<u64>>) {
    PHYSICAL_MEMORY_OFFSET.call_once(|| physical_memory_offset);
    heap::init(usable.filter_map(|range| {
        let start = range.start.max(LOW_MEMORY_END);
        (start < range.end)
            .then(|| phys_to_virt(PhysAddr::new(start))..phys_to_virt(PhysAddr::new(range.end)))
    }));
    paging::init(heap::stats().available_bytes);
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

/// The kernel's ELF file, which the bootloader read into memory and left there
/// (`BootInfo::kernel_addr`, `kernel_len`): what backtraces take function names from
/// (`arch::symbols`). Empty if the memory map does not keep it out of the heap.
///
/// # Panics
/// If called before [`init`].
pub fn kernel_file(boot_info: &BootInfo) -> &'static [u8] {
    let (start, len) = (boot_info.kernel_addr, boot_info.kernel_len);
    let kept = boot_info.memory_regions.iter().any(|region| {
        region.kind == MemoryRegionKind::Bootloader
            && region.start <= start
            && start.saturating_add(len) <= region.end
    });
    if !kept {
        return &[];
    }
    let address = phys_to_virt(PhysAddr::new(start));
    // SAFETY: the range lies in memory the bootloader keeps for itself (checked above): the
    // heap is made of `Usable` memory only and never hands it out, nothing writes it, and
    // the physical-memory window maps all of it.
    unsafe { core::slice::from_raw_parts(address.as_ptr(), len as usize) }
}

/// The kernel's memory: what is in use, and what a cache holds ready for reuse.
///
/// `bytes` and `allocations` leave the caches out (the stack caches and the small-block
/// caches, which give their memory back as soon as the heap runs short), so they return
/// to where they were once everything a piece of code allocated is freed: what leak
/// checks compare. The caches are per CPU and read one after the other, so the figures
/// are exact while nothing allocates or frees meanwhile.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Usage {
    /// Heap bytes allocated, the stack cache excluded.
    pub bytes: usize,
    /// Live heap allocations, the stack cache excluded.
    pub allocations: usize,
    /// Ready stacks in the stack cache.
    pub cached_stacks: usize,
    /// Heap bytes those stacks hold (their pages and page tables).
    pub cached_bytes: usize,
    /// Free small blocks in the per-CPU caches (`small`).
    pub cached_blocks: usize,
    /// Heap bytes those blocks hold.
    pub cached_block_bytes: usize,
    /// Heap bytes free.
    pub free_bytes: usize,
}

/// How often each global lock of memory management was found taken by another CPU (or
/// an interrupted holder) and had to be waited for, since boot (wrapping at 2^32).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LockContention {
    /// The heap (every allocation and free).
    pub heap: u32,
    /// The kernel area's page tables (mapping and unmapping stacks).
    pub page_tables: u32,
    /// The per-CPU caches of ready stacks (every spawn and exit), all CPUs together.
    pub stack_cache: u32,
    /// The per-CPU caches of small blocks (most allocations and frees), all CPUs
    /// together.
    pub small_blocks: u32,
    /// The stack slot map (a spawn or exit the cache does not serve).
    pub stack_slots: u32,
}

/// The contention of memory management's global locks.
pub fn lock_contention() -> LockContention {
    let (stack_cache, stack_slots) = stack::lock_contention();
    LockContention {
        heap: heap::lock_contention(),
        page_tables: paging::lock_contention(),
        stack_cache,
        small_blocks: small::lock_contention(),
        stack_slots,
    }
}

/// The kernel's memory right now.
pub fn usage() -> Usage {
    let (cached_stacks, cached_bytes) = stack::cached();
    let (cached_blocks, cached_block_bytes) = heap::cached_small();
    let heap = heap::stats();
    Usage {
        bytes: heap.allocated_bytes - cached_bytes - cached_block_bytes,
        // Each cached stack is two heap blocks: its pages and its page table.
        allocations: heap.allocation_count - 2 * cached_stacks - cached_blocks,
        cached_stacks,
        cached_bytes,
        cached_blocks,
        cached_block_bytes,
        free_bytes: heap.available_bytes,
    }
}

/// Gives every cache's memory back to the heap (the heap does this by itself before it
/// reports running out).
pub fn reclaim() {
    heap::release_caches();
}
