//! Physical page frames for kernel stacks and page tables.
//!
//! Page-granular memory does not come straight from the heap: every page-aligned block
//! carves an alignment gap out of it, and a stack mapped page by page needs no physically
//! contiguous block at all. So frames come from this pool, which takes memory from the
//! heap in 2 MiB chunks (one gap per chunk at most) and keeps freed frames on a free list
//! for reuse. A chunk is never given back to the heap; [`super::usage`] counts the free
//! frames as free memory.
//!
//! The free list is intrusive: each free frame holds the physical address of the next
//! one, written through the physical-memory window, so the pool never allocates to
//! track frames.

use core::alloc::Layout;

use x86_64::{PhysAddr, structures::paging::PhysFrame};

use super::{paging::PAGE_SIZE, phys_to_virt, virt_to_phys};
use crate::sync::IrqSpinLock;

/// Chunk sizes tried when the pool is empty, largest first: the smaller ones let the
/// last megabytes of a nearly full heap still be used.
const CHUNK_SIZES: [usize; 3] = [2 << 20, 64 << 10, PAGE_SIZE as usize];

struct Pool {
    /// The first free frame; each free frame stores the address of the next (0 ends it).
    head: u64,
    free_frames: usize,
    chunks: usize,
}

static POOL: IrqSpinLock<Pool> = IrqSpinLock::new(Pool {
    head: 0,
    free_frames: 0,
    chunks: 0,
});

/// A frame's worth of memory, zeroed, or `None` when the heap is exhausted.
pub(crate) fn allocate_zeroed() -> Option<PhysFrame> {
    let frame = allocate()?;
    // SAFETY: the frame was just taken off the free list, so nothing else uses it; the
    // physical-memory window maps it.
    unsafe {
        phys_to_virt(frame.start_address())
            .as_mut_ptr::<u8>()
            .write_bytes(0, PAGE_SIZE as usize)
    };
    Some(frame)
}

/// A frame (contents undefined), or `None` when the heap is exhausted.
pub(crate) fn allocate() -> Option<PhysFrame> {
    let mut pool = POOL.lock();
    if pool.head == 0 {
        pool.refill()?;
    }
    let frame = pool.head;
    // SAFETY: `frame` is on the free list, whose frames hold the next address in their
    // first word.
    pool.head = unsafe { phys_to_virt(PhysAddr::new(frame)).as_ptr::<u64>().read() };
    pool.free_frames -= 1;
    Some(PhysFrame::containing_address(PhysAddr::new(frame)))
}

/// Makes sure the pool holds at least `count` free frames, taking chunks from the heap
/// as needed; `false` if the heap cannot provide them. Either way nothing is lost:
/// frames taken stay free in the pool.
pub(crate) fn ensure_free(count: usize) -> bool {
    let mut pool = POOL.lock();
    while pool.free_frames < count {
        if pool.refill().is_none() {
            return false;
        }
    }
    true
}

/// Returns `frame` to the pool.
///
/// # Safety
/// `frame` must have come from [`allocate`] and must no longer be used or mapped.
pub(crate) unsafe fn free(frame: PhysFrame) {
    let mut pool = POOL.lock();
    pool.push(frame.start_address().as_u64());
}

/// Free frames held by the pool, and chunks taken from the heap.
pub(crate) fn pool_state() -> (usize, usize) {
    let pool = POOL.lock();
    (pool.free_frames, pool.chunks)
}

impl Pool {
    fn push(&mut self, frame: u64) {
        // SAFETY: the frame is free (the caller's obligation) and mapped by the window.
        unsafe {
            phys_to_virt(PhysAddr::new(frame))
                .as_mut_ptr::<u64>()
                .write(self.head)
        };
        self.head = frame;
        self.free_frames += 1;
    }

    /// Takes a chunk from the heap and puts its frames on the free list.
    fn refill(&mut self) -> Option<()> {
        let (chunk, size) = CHUNK_SIZES.iter().find_map(|&size| {
            let layout = Layout::from_size_align(size, PAGE_SIZE as usize).ok()?;
            // SAFETY: the layout has a non-zero size.
            let block = unsafe { alloc::alloc::alloc(layout) };
            (!block.is_null()).then_some((block, size))
        })?;
        let base = virt_to_phys(x86_64::VirtAddr::from_ptr(chunk)).as_u64();
        (0..size as u64 / PAGE_SIZE)
            .rev()
            .for_each(|index| self.push(base + index * PAGE_SIZE));
        self.chunks += 1;
        Some(())
    }
}
