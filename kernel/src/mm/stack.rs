//! Kernel stacks with guard pages.
//!
//! Each stack gets a 2 MiB *slot* of the kernel area. Its pages are mapped at the top of
//! the slot and everything below them stays unmapped, so running off the bottom of a
//! stack faults on a guard page at least 4 KiB deep (the double-fault handler then
//! names the thread). The memory itself is an ordinary page-aligned heap block, mapped a
//! second time into the slot; freeing a stack unmaps it and returns both.

use core::{alloc::Layout, ptr::NonNull};

use x86_64::{
    VirtAddr,
    structures::paging::{Page, PageTableFlags, PhysFrame},
};

use super::{
    paging::{self, MapError, PAGE_SIZE},
    virt_to_phys,
};
use crate::sync::IrqSpinLock;

/// Virtual space per stack, guard included.
const SLOT_SIZE: u64 = 2 << 20;

/// The largest stack a slot can hold while keeping at least one guard page.
pub const MAX_STACK_SIZE: usize = (SLOT_SIZE - PAGE_SIZE) as usize;

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

/// A mapped kernel stack; dropping it unmaps and frees it.
#[derive(Debug)]
pub struct KernelStack {
    slot: usize,
    memory: NonNull<u8>,
    size: usize,
    /// Pages of the slot mapped so far (all of them once `new` succeeded).
    mapped_pages: usize,
}

// SAFETY: a KernelStack is plain ownership of a memory block and a slot number.
unsafe impl Send for KernelStack {}
// SAFETY: shared access only reads the immutable fields.
unsafe impl Sync for KernelStack {}

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
        let size = size.next_multiple_of(PAGE_SIZE as usize);
        let layout = Layout::from_size_align(size, PAGE_SIZE as usize)
            .map_err(|_| StackError::InvalidSize)?;
        // SAFETY: the layout has a non-zero size.
        let memory =
            NonNull::new(unsafe { alloc::alloc::alloc(layout) }).ok_or(StackError::OutOfMemory)?;
        let mut stack = match take_slot() {
            Ok(slot) => KernelStack {
                slot,
                memory,
                size,
                mapped_pages: 0,
            },
            Err(error) => {
                // SAFETY: `memory` was allocated just above with `layout`.
                unsafe { alloc::alloc::dealloc(memory.as_ptr(), layout) };
                return Err(error);
            }
        };
        // On failure, dropping `stack` unmaps the pages mapped so far and frees the rest.
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

    fn pages(&self) -> impl Iterator<Item = Page> {
        let first = Page::containing_address(self.bottom());
        (0..(self.size as u64 / PAGE_SIZE)).map(move |index| first + index)
    }

    fn map_pages(&mut self) -> Result<(), StackError> {
        let memory = VirtAddr::from_ptr(self.memory.as_ptr());
        let first = Page::containing_address(self.bottom());
        while self.mapped_pages < self.size / PAGE_SIZE as usize {
            let offset = self.mapped_pages as u64 * PAGE_SIZE;
            let page = first + self.mapped_pages as u64;
            let frame = PhysFrame::containing_address(virt_to_phys(memory + offset));
            paging::map(page, frame, PageTableFlags::empty()).map_err(|error| match error {
                MapError::OutOfMemory => StackError::OutOfMemory,
                MapError::AlreadyMapped => {
                    unreachable!("stack slot {} was still mapped", self.slot)
                }
            })?;
            self.mapped_pages += 1;
        }
        Ok(())
    }
}

impl Drop for KernelStack {
    fn drop(&mut self) {
        self.pages().take(self.mapped_pages).for_each(paging::unmap);
        let layout =
            Layout::from_size_align(self.size, PAGE_SIZE as usize).expect("valid at allocation");
        // SAFETY: `memory` was allocated in `new` with this layout and is no longer mapped
        // anywhere but the physical-memory window.
        unsafe { alloc::alloc::dealloc(self.memory.as_ptr(), layout) };
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
