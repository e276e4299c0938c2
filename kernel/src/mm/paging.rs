//! The active page tables: queries, and mappings in the kernel's own virtual area.
//!
//! The bootloader's mappings (kernel image, boot stack, physical-memory window) are left
//! alone. Everything Spindle maps itself lives in one unused 512 GiB slot of the level-4
//! table (the *kernel area*), so it never meets a huge page and never collides with what
//! the bootloader placed. Page-table frames for it come from the frame pool.

use spin::Once;
use x86_64::{
    PhysAddr, VirtAddr,
    registers::control::Cr3,
    structures::paging::{
        FrameAllocator, Mapper, OffsetPageTable, Page, PageTable, PageTableFlags, PhysFrame,
        Size4KiB, Translate, mapper::MapToError,
    },
};

use super::phys_to_virt;
use crate::sync::IrqSpinLock;

/// Bytes in a page.
pub const PAGE_SIZE: u64 = 4096;

/// Bytes covered by one level-4 entry.
const LEVEL_4_ENTRY_SPAN: u64 = 1 << 39;

struct PageTables {
    mapper: OffsetPageTable<'static>,
    kernel_area: VirtAddr,
}

static PAGE_TABLES: Once<IrqSpinLock<PageTables>> = Once::new();

/// Why a mapping could not be made.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MapError {
    /// The heap had no frame left for a page table.
    OutOfMemory,
    /// Something is already mapped there.
    AlreadyMapped,
}

/// Takes ownership of the page tables the bootloader left active and claims a free
/// level-4 slot in the upper half as the kernel area.
///
/// # Panics
/// If every upper-half level-4 entry is in use.
pub(super) fn init() {
    PAGE_TABLES.call_once(|| {
        let (level_4_frame, _) = Cr3::read();
        let level_4: *mut PageTable = phys_to_virt(level_4_frame.start_address()).as_mut_ptr();
        // SAFETY: CR3 names the live level-4 table and all of physical memory is mapped at
        // the window offset; the only reference to the table is the one inside this lock.
        let mapper = unsafe { OffsetPageTable::new(&mut *level_4, phys_to_virt(PhysAddr::new(0))) };
        let free_slot = (256..512)
            .find(|&index| mapper.level_4_table()[index].is_unused())
            .expect("no free upper-half level-4 slot for the kernel area");
        let kernel_area = VirtAddr::new_truncate(free_slot as u64 * LEVEL_4_ENTRY_SPAN);
        IrqSpinLock::new(PageTables {
            mapper,
            kernel_area,
        })
    });
}

fn tables() -> &'static IrqSpinLock<PageTables> {
    PAGE_TABLES.get().expect("mm::init has not run")
}

/// The physical address `addr` maps to, or `None` if it is not mapped.
pub fn translate(addr: VirtAddr) -> Option<PhysAddr> {
    tables().lock().mapper.translate_addr(addr)
}

/// The start of the kernel area: 512 GiB of virtual space that only Spindle maps.
pub(crate) fn kernel_area() -> VirtAddr {
    tables().lock().kernel_area
}

/// Maps `page` of the kernel area to `frame`, present and writable with `extra` flags.
pub(crate) fn map(page: Page, frame: PhysFrame, extra: PageTableFlags) -> Result<(), MapError> {
    let flags =
        PageTableFlags::PRESENT | PageTableFlags::WRITABLE | PageTableFlags::NO_EXECUTE | extra;
    let mut tables = tables().lock();
    debug_assert!(
        in_kernel_area(&tables, page),
        "{page:?} is outside the kernel area"
    );
    // SAFETY: the page lies in the kernel area, which only this module maps, so no
    // existing reference can observe the change; callers own `frame`.
    let mapping = unsafe { tables.mapper.map_to(page, frame, flags, &mut PoolFrames) };
    match mapping {
        Ok(flush) => {
            flush.flush();
            Ok(())
        }
        Err(MapToError::FrameAllocationFailed) => Err(MapError::OutOfMemory),
        Err(MapToError::PageAlreadyMapped(_) | MapToError::ParentEntryHugePage) => {
            Err(MapError::AlreadyMapped)
        }
    }
}

/// Removes the mapping of `page` (a page of the kernel area mapped by [`map`]) and
/// returns the frame it mapped.
///
/// # Panics
/// If the page was not mapped: that is a bookkeeping bug in the caller.
pub(crate) fn unmap(page: Page) -> PhysFrame {
    let mut tables = tables().lock();
    debug_assert!(
        in_kernel_area(&tables, page),
        "{page:?} is outside the kernel area"
    );
    let (frame, flush) = tables
        .mapper
        .unmap(page)
        .expect("unmapping a page that is not mapped");
    // Single CPU for now: a local invalidation is enough. With SMP this needs a shootdown.
    flush.flush();
    frame
}

fn in_kernel_area(tables: &PageTables, page: Page) -> bool {
    let offset = page
        .start_address()
        .as_u64()
        .wrapping_sub(tables.kernel_area.as_u64());
    offset < LEVEL_4_ENTRY_SPAN
}

/// Page-table frames for the kernel area, from the frame pool (zeroed). They are never
/// returned: the tables are reused by later mappings.
struct PoolFrames;

// SAFETY: every frame handed out is fresh from the pool, zeroed, and referenced by
// nothing else (it becomes a page table).
unsafe impl FrameAllocator<Size4KiB> for PoolFrames {
    fn allocate_frame(&mut self) -> Option<PhysFrame> {
        super::frames::allocate_zeroed()
    }
}

/// Maps the 4 KiB of device registers at `physical` (uncached) into the upper half of the
/// kernel area and returns their virtual address.
pub(crate) fn map_mmio(physical: PhysAddr) -> Result<VirtAddr, MapError> {
    use core::sync::atomic::{AtomicU64, Ordering};
    /// Pages handed out so far from the MMIO half of the kernel area.
    static NEXT_PAGE: AtomicU64 = AtomicU64::new(0);
    let index = NEXT_PAGE.fetch_add(1, Ordering::Relaxed);
    let page = Page::containing_address(kernel_area() + LEVEL_4_ENTRY_SPAN / 2 + index * PAGE_SIZE);
    let frame = PhysFrame::containing_address(physical);
    map(
        page,
        frame,
        PageTableFlags::NO_CACHE | PageTableFlags::WRITE_THROUGH,
    )?;
    Ok(page.start_address() + (physical.as_u64() % PAGE_SIZE))
}
