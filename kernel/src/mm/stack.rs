//! Kernel stacks with guard pages.
//!
//! Each stack gets a 2 MiB *slot* of the kernel area. Its pages (frames from
//! [`super::frames`], not necessarily contiguous) are mapped at the top of the slot and
//! everything below them stays unmapped, so running off the bottom of a stack faults on
//! a guard page at least 4 KiB deep (the double-fault handler then names the thread).

use x86_64::{
    VirtAddr,
    structures::paging::{Page, PageTableFlags},
};

use super::{
    frames,
    paging::{self, MapError, PAGE_SIZE},
};
use crate::sync::IrqSpinLock;

/// Virtual space per stack, guard included.
const SLOT_SIZE: u64 = 2 << 20;

/// The largest stack a slot can hold while keeping at least one guard page.
pub const MAX_STACK_SIZE: usize = (SLOT_SIZE - PAGE_SIZE) as usize;

/// Page tables a new mapping may need below the level-4 table.
const PAGE_TABLE_LEVELS: usize = 3;

/// Slots fit in the first half of the kernel area.
const MAX_SLOTS: usize = (1 << 38) / SLOT_SIZE as usize;

/// Why a stack could not be made.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StackError {
    /// No memory for the stack or its page tables.
    OutOfMemory,
    /// Every stack slot is taken.
    NoFreeSlot,
    /// The size is zero or above [`MAX_STACK_SIZE`].
    InvalidSize,
}

/// A mapped kernel stack; dropping it unmaps it and frees its frames.
#[derive(Debug)]
pub struct KernelStack {
    slot: usize,
    size: usize,
    /// Pages of the slot mapped so far (all of them once `new` succeeded).
    mapped_pages: usize,
}

/// Which slots are free: the ones below `next_unused` that are on `free`.
struct Slots {
    free: alloc::vec::Vec<usize>,
    next_unused: usize,
}

static SLOTS: IrqSpinLock<Slots> = IrqSpinLock::new(Slots {
    free: alloc::vec::Vec::new(),
    next_unused: 0,
});

impl KernelStack {
    /// Allocates and maps a stack of at least `size` bytes (rounded up to whole pages).
    ///
    /// # Errors
    /// [`StackError`] when memory, slots or the size do not allow it; nothing is leaked.
    pub fn new(size: usize) -> Result<Self, StackError> {
        if size == 0 || size > MAX_STACK_SIZE {
            return Err(StackError::InvalidSize);
        }
        // Secure the frames (and a few for page tables) before touching anything, so that
        // running out of memory leaves no trace, not even a new page table.
        let size = size.next_multiple_of(PAGE_SIZE as usize);
        if !frames::ensure_free(size / PAGE_SIZE as usize + PAGE_TABLE_LEVELS) {
            return Err(StackError::OutOfMemory);
        }
        let mut stack = KernelStack {
            slot: take_slot()?,
            size,
            mapped_pages: 0,
        };
        // On failure, dropping `stack` unmaps and frees the pages mapped so far.
        stack.map_pages()?;
        Ok(stack)
    }

    /// One past the highest byte: the initial stack pointer (16-byte aligned).
    pub fn top(&self) -> VirtAddr {
        slot_base(self.slot) + SLOT_SIZE
    }

    /// The lowest mapped byte.
    pub fn bottom(&self) -> VirtAddr {
        self.top() - self.size as u64
    }

    /// Usable bytes.
    pub fn size(&self) -> usize {
        self.size
    }

    /// Whether `addr` lies in the unmapped guard part of this stack's slot.
    pub fn guard_contains(&self, addr: VirtAddr) -> bool {
        (slot_base(self.slot)..self.bottom()).contains(&addr)
    }

    fn page(&self, index: usize) -> Page {
        Page::containing_address(self.bottom()) + index as u64
    }

    fn map_pages(&mut self) -> Result<(), StackError> {
        while self.mapped_pages < self.size / PAGE_SIZE as usize {
            let frame = frames::allocate().ok_or(StackError::OutOfMemory)?;
            if let Err(error) =
                paging::map(self.page(self.mapped_pages), frame, PageTableFlags::empty())
            {
                // SAFETY: the frame was just allocated and never mapped.
                unsafe { frames::free(frame) };
                return Err(match error {
                    MapError::OutOfMemory => StackError::OutOfMemory,
                    MapError::AlreadyMapped => {
                        unreachable!("stack slot {} was still mapped", self.slot)
                    }
                });
            }
            self.mapped_pages += 1;
        }
        Ok(())
    }
}

impl Drop for KernelStack {
    fn drop(&mut self) {
        for index in 0..self.mapped_pages {
            let frame = paging::unmap(self.page(index));
            // SAFETY: the frame backed this stack page, which is now unmapped, and no
            // context runs on a stack that is being dropped.
            unsafe { frames::free(frame) };
        }
        // Capacity for every slot ever handed out was reserved in `take_slot`: no allocation.
        SLOTS.lock().free.push(self.slot);
    }
}

fn slot_base(slot: usize) -> VirtAddr {
    paging::kernel_area() + slot as u64 * SLOT_SIZE
}

fn take_slot() -> Result<usize, StackError> {
    let mut slots = SLOTS.lock();
    if let Some(slot) = slots.free.pop() {
        return Ok(slot);
    }
    if slots.next_unused == MAX_SLOTS {
        return Err(StackError::NoFreeSlot);
    }
    // Make room on the free list for this slot's eventual return, so `drop` never allocates.
    let additional = slots.next_unused + 1 - slots.free.len();
    slots
        .free
        .try_reserve(additional)
        .map_err(|_| StackError::OutOfMemory)?;
    slots.next_unused += 1;
    Ok(slots.next_unused - 1)
}
