//! Page-granular memory from the heap: page-aligned blocks of whole pages, for stacks and
//! page tables.
//!
//! There is no separate frame pool: the heap owns all physical memory, and a
//! [`PageBlock`] is just a page-aligned heap allocation, seen through the physical-memory
//! window, whose physical address is known. Dropping it gives the memory back to the heap,
//! where any allocation can use it again.

use core::{alloc::Layout, ptr::NonNull};

use x86_64::{PhysAddr, VirtAddr};

use super::{PAGE_SIZE, phys_to_virt, virt_to_phys};

/// `pages` physically contiguous, page-aligned pages from the heap; freed on drop.
#[derive(Debug)]
pub(crate) struct PageBlock {
    start: NonNull<u8>,
    pages: usize,
}

// SAFETY: a `PageBlock` owns its memory exclusively, like a `Box<[u8]>`.
unsafe impl Send for PageBlock {}
// SAFETY: `&PageBlock` gives access to addresses only, not to the memory.
unsafe impl Sync for PageBlock {}

impl PageBlock {
    /// A block of `pages` pages, zeroed if `zeroed`; `None` if the heap cannot provide it.
    pub(crate) fn new(pages: usize, zeroed: bool) -> Option<Self> {
        let layout = Self::layout(pages)?;
        // SAFETY: the layout has a non-zero size (`layout` refuses zero pages).
        let start = unsafe {
            if zeroed {
                alloc::alloc::alloc_zeroed(layout)
            } else {
                alloc::alloc::alloc(layout)
            }
        };
        Some(Self {
            start: NonNull::new(start)?,
            pages,
        })
    }

    fn layout(pages: usize) -> Option<Layout> {
        let size = pages
            .checked_mul(PAGE_SIZE as usize)
            .filter(|&size| size > 0)?;
        Layout::from_size_align(size, PAGE_SIZE as usize).ok()
    }

    /// The physical address of the first page.
    pub(crate) fn phys(&self) -> PhysAddr {
        virt_to_phys(VirtAddr::from_ptr(self.start.as_ptr()))
    }

    /// Gives up ownership: the memory now belongs to whatever the physical address was
    /// written into (a page table entry). [`PageBlock::from_phys`] takes it back.
    pub(crate) fn into_phys(self) -> PhysAddr {
        let phys = self.phys();
        core::mem::forget(self);
        phys
    }

    /// Takes back a block given up with [`PageBlock::into_phys`].
    ///
    /// # Safety
    /// `phys` and `pages` must come from one `into_phys` of a block of `pages` pages, and
    /// nothing may use the memory any more (no mapping, no table entry points at it).
    pub(crate) unsafe fn from_phys(phys: PhysAddr, pages: usize) -> Self {
        let start = phys_to_virt(phys).as_mut_ptr::<u8>();
        Self {
            // SAFETY: a heap block's address in the physical-memory window is not null.
            start: unsafe { NonNull::new_unchecked(start) },
            pages,
        }
    }
}

impl Drop for PageBlock {
    fn drop(&mut self) {
        let layout = Self::layout(self.pages).expect("a block's layout was valid when made");
        // SAFETY: the block was allocated in `new` with this layout and is owned here.
        unsafe { alloc::alloc::dealloc(self.start.as_ptr(), layout) };
    }
}
