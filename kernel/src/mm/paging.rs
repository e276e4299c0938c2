//! The active page tables: queries, and mappings in the kernel's own virtual area.
//!
//! The bootloader's mappings (kernel image, boot stack, physical-memory window) are left
//! alone. Everything Spindle maps itself lives in one unused 512 GiB slot of the level-4
//! table, the *kernel area*, so it never meets a huge page and never collides with what
//! the bootloader placed:
//!
//! ```text
//!   kernel area + 0        stack slots: 2 MiB each, one level-1 table per slot
//!   kernel area + 256 GiB  device registers (MMIO), one page each
//! ```
//!
//! A stack slot is exactly the span of one level-1 table, so mapping a stack is filling a
//! fresh table and writing one level-2 entry, and unmapping it is clearing that entry and
//! freeing the table: no page-by-page walks, and every page table of a stack goes back to
//! the heap with it. The level-2 tables above the slots stay (one per 512 slots in use at
//! once; slots are handed out lowest first, so there are few).
//!
//! Every change to the tables happens under one lock; no memory is allocated under it
//! (tables are allocated first and handed in).

use spin::Once;
use x86_64::{
    PhysAddr, VirtAddr,
    instructions::tlb,
    registers::control::Cr3,
    structures::paging::{
        FrameAllocator, Mapper, OffsetPageTable, Page, PageTable, PageTableFlags, PhysFrame,
        Size4KiB, Translate, mapper::MapToError,
    },
};

use super::{PAGE_SIZE, frames::PageBlock, phys_to_virt};
use crate::arch::IrqSpinLock;

/// Bytes covered by one level-4 entry.
const LEVEL_4_ENTRY_SPAN: u64 = 1 << 39;

/// Bytes covered by one level-1 table: one stack slot.
pub(crate) const STACK_SLOT_SIZE: u64 = 2 << 20;

/// Stack slots in the first half of the kernel area.
pub(crate) const STACK_SLOTS: usize = (LEVEL_4_ENTRY_SPAN / 2 / STACK_SLOT_SIZE) as usize;

/// Entries in a page table.
const ENTRIES: usize = 512;

struct PageTables {
    mapper: OffsetPageTable<'static>,
    /// The level-3 table of the kernel area.
    kernel_level_3: PhysAddr,
}

static PAGE_TABLES: Once<IrqSpinLock<PageTables>> = Once::new();

/// The start of the kernel area, fixed at `init`.
static KERNEL_AREA: Once<VirtAddr> = Once::new();

/// Why a mapping could not be made.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MapError {
    /// The heap had no memory left for a page table.
    OutOfMemory,
    /// Something is already mapped there.
    AlreadyMapped,
}

/// Takes ownership of the page tables the bootloader left active and claims a free
/// level-4 slot in the upper half as the kernel area. Needs the heap (for its level-3
/// table).
///
/// # Panics
/// If every upper-half level-4 entry is in use, or the heap cannot spare one page.
pub(super) fn init() {
    PAGE_TABLES.call_once(|| {
        let level_3 = PageBlock::new(1, true)
            .expect("no memory for the kernel area's page table")
            .into_phys();
        let (level_4_frame, _) = Cr3::read();
        let level_4: *mut PageTable = phys_to_virt(level_4_frame.start_address()).as_mut_ptr();
        // SAFETY: CR3 names the live level-4 table and all of physical memory is mapped at
        // the window offset; the only reference to the table is the one inside this lock.
        let mut mapper =
            unsafe { OffsetPageTable::new(&mut *level_4, phys_to_virt(PhysAddr::new(0))) };
        let slot = (256..ENTRIES)
            .find(|&index| mapper.level_4_table()[index].is_unused())
            .expect("no free upper-half level-4 slot for the kernel area");
        mapper.level_4_table_mut()[slot].set_addr(level_3, table_flags());
        KERNEL_AREA.call_once(|| VirtAddr::new_truncate(slot as u64 * LEVEL_4_ENTRY_SPAN));
        IrqSpinLock::new(PageTables {
            mapper,
            kernel_level_3: level_3,
        })
    });
}

/// How often a mapping or unmapping found the page-table lock taken.
pub(super) fn lock_contention() -> u32 {
    PAGE_TABLES.get().map_or(0, crate::arch::contention)
}

fn tables() -> &'static IrqSpinLock<PageTables> {
    PAGE_TABLES.get().expect("mm::init has not run")
}

/// Flags of a table entry that points at a lower table: the leaf entries decide the rest.
fn table_flags() -> PageTableFlags {
    PageTableFlags::PRESENT | PageTableFlags::WRITABLE
}

/// Flags of a kernel data page: present, writable, never executed.
fn data_flags() -> PageTableFlags {
    PageTableFlags::PRESENT | PageTableFlags::WRITABLE | PageTableFlags::NO_EXECUTE
}

/// The table at physical address `phys`, through the physical-memory window.
///
/// # Safety
/// `phys` must be a page table of the kernel area, and the page-table lock must be held
/// (or the table not yet reachable from the active tables) for as long as the reference
/// is used.
unsafe fn table_at<'a>(phys: PhysAddr) -> &'a mut PageTable {
    // SAFETY: per the caller's contract, a page table visible through the window that
    // nothing else accesses meanwhile.
    unsafe { &mut *phys_to_virt(phys).as_mut_ptr::<PageTable>() }
}

/// The physical address `addr` maps to, or `None` if it is not mapped.
pub fn translate(addr: VirtAddr) -> Option<PhysAddr> {
    tables().lock().mapper.translate_addr(addr)
}

/// The start of the kernel area: 512 GiB of virtual space that only Spindle maps.
pub(crate) fn kernel_area() -> VirtAddr {
    *KERNEL_AREA.get().expect("mm::init has not run")
}

/// The lowest address of stack slot `slot`.
pub(crate) fn stack_slot_base(slot: usize) -> VirtAddr {
    debug_assert!(slot < STACK_SLOTS);
    kernel_area() + slot as u64 * STACK_SLOT_SIZE
}

/// Maps the `pages` pages at physical `phys` at the top of stack slot `slot`, leaving
/// the rest of the slot unmapped (the guard). The slot must be unmapped.
///
/// # Errors
/// [`MapError::OutOfMemory`] if the heap has no page for the slot's table; nothing changed.
pub(crate) fn map_stack(slot: usize, phys: PhysAddr, pages: usize) -> Result<(), MapError> {
    assert!(
        (1..ENTRIES).contains(&pages),
        "a stack slot holds 1 to 511 pages"
    );
    let level_1 = PageBlock::new(1, true).ok_or(MapError::OutOfMemory)?;
    // SAFETY: the table is fresh and not reachable from the active tables yet.
    let table = unsafe { table_at(level_1.phys()) };
    for (index, entry) in table.iter_mut().skip(ENTRIES - pages).enumerate() {
        let frame = phys + index as u64 * PAGE_SIZE;
        entry.set_addr(frame, data_flags());
    }
    let spare = level_2_table_of(slot)?;
    let mut tables = tables().lock();
    let (level_2, unused_spare) = install_level_2(&mut tables, slot, spare);
    // SAFETY: `level_2` is a table of the kernel area and the lock is held.
    let entry = &mut unsafe { table_at(level_2) }[slot % ENTRIES];
    assert!(entry.is_unused(), "stack slot {slot} is still mapped");
    entry.set_addr(level_1.into_phys(), table_flags());
    drop(tables);
    drop(unused_spare);
    // No TLB flush: the slot was not present, and x86 caches no not-present entries.
    Ok(())
}

/// Unmaps stack slot `slot` (mapped with `pages` pages by [`map_stack`]), flushes this
/// CPU's TLB for it and frees its level-1 table.
pub(crate) fn unmap_stack(slot: usize, pages: usize) {
    let level_1 = {
        let tables = tables().lock();
        // SAFETY: the kernel area's level-3 table, under the lock.
        let level_3 = unsafe { table_at(tables.kernel_level_3) };
        let level_2 = level_3[slot / ENTRIES].addr();
        // SAFETY: a table of the kernel area (present: the slot is mapped), under the lock.
        let entry = &mut unsafe { table_at(level_2) }[slot % ENTRIES];
        let level_1 = entry.addr();
        assert!(
            !entry.is_unused(),
            "unmapping stack slot {slot}, which is not mapped"
        );
        entry.set_unused();
        level_1
    };
    // This CPU's TLB: INVLPG also drops the paging-structure cache entries that led to
    // the old table. Other CPUs flush at their next tick; the slot is not reused before
    // (`stack`'s quarantine, `tlb`).
    let top = stack_slot_base(slot) + STACK_SLOT_SIZE;
    for page in 1..=pages as u64 {
        tlb::flush(top - page * PAGE_SIZE);
    }
    // SAFETY: the table came from `map_stack`'s `into_phys`, and no entry points at it any
    // more (and no TLB of this CPU remembers it).
    drop(unsafe { PageBlock::from_phys(level_1, 1) });
}

/// A fresh level-2 table for `slot`'s region if it has none yet (allocated before the
/// lock is taken; `install_level_2` uses it or it is dropped).
fn level_2_table_of(slot: usize) -> Result<Option<PageBlock>, MapError> {
    let present = {
        let tables = tables().lock();
        // SAFETY: the kernel area's level-3 table, under the lock.
        let level_3 = unsafe { table_at(tables.kernel_level_3) };
        !level_3[slot / ENTRIES].is_unused()
    };
    match present {
        true => Ok(None),
        false => PageBlock::new(1, true)
            .map(Some)
            .ok_or(MapError::OutOfMemory),
    }
}

/// The level-2 table above `slot`, installing `spare` if there is none; also returns the
/// spare if it turned out not to be needed (another mapping installed a table meanwhile),
/// for the caller to free once the lock is released.
fn install_level_2(
    tables: &mut PageTables,
    slot: usize,
    mut spare: Option<PageBlock>,
) -> (PhysAddr, Option<PageBlock>) {
    // SAFETY: the kernel area's level-3 table, under the lock (`tables` is the guarded
    // value).
    let entry = &mut unsafe { table_at(tables.kernel_level_3) }[slot / ENTRIES];
    if entry.is_unused() {
        let table = spare
            .take()
            .expect("a level-2 table was allocated for an empty entry");
        entry.set_addr(table.into_phys(), table_flags());
    }
    (entry.addr(), spare)
}

/// Maps the 4 KiB of device registers at `physical` (uncached) into the second half of
/// the kernel area and returns their virtual address.
///
/// # Errors
/// [`MapError::OutOfMemory`] if the heap cannot provide the page tables.
pub(crate) fn map_mmio(physical: PhysAddr) -> Result<VirtAddr, MapError> {
    use core::sync::atomic::{AtomicU64, Ordering};
    /// Pages handed out so far from the MMIO half of the kernel area.
    static NEXT_PAGE: AtomicU64 = AtomicU64::new(0);
    let index = NEXT_PAGE.fetch_add(1, Ordering::Relaxed);
    let page: Page<Size4KiB> =
        Page::containing_address(kernel_area() + LEVEL_4_ENTRY_SPAN / 2 + index * PAGE_SIZE);
    let frame = PhysFrame::containing_address(physical);
    let flags = data_flags() | PageTableFlags::NO_CACHE | PageTableFlags::WRITE_THROUGH;
    // At most three new tables below the level-4 entry; allocated before locking.
    let mut spares = Spares([
        PageBlock::new(1, true),
        PageBlock::new(1, true),
        PageBlock::new(1, true),
    ]);
    let mapping = {
        let mut tables = tables().lock();
        // SAFETY: the page lies in the kernel area, which only this module maps, so no
        // existing reference can observe the change; the frame is device memory.
        unsafe { tables.mapper.map_to(page, frame, flags, &mut spares) }
    };
    match mapping {
        Ok(flush) => flush.flush(),
        Err(MapToError::FrameAllocationFailed) => return Err(MapError::OutOfMemory),
        Err(MapToError::PageAlreadyMapped(_) | MapToError::ParentEntryHugePage) => {
            return Err(MapError::AlreadyMapped);
        }
    }
    drop(spares); // the unused ones go back to the heap, after the lock
    Ok(page.start_address() + (physical.as_u64() % PAGE_SIZE))
}

/// Maps the page at `physical` (below 1 MiB) at the same virtual address, writable and
/// executable: where other CPUs start (`arch::smp`). The bootloader's identity mappings
/// live in the same level-4 entry, so its tables are shared; a page it already mapped
/// there must map to itself.
///
/// # Errors
/// [`MapError::OutOfMemory`] without memory for a page table; [`MapError::AlreadyMapped`]
/// if the address maps elsewhere.
pub(crate) fn map_identity_low(physical: PhysAddr) -> Result<(), MapError> {
    assert!(physical.as_u64() < 1 << 20, "not low memory: {physical:?}");
    let page: Page<Size4KiB> = Page::containing_address(VirtAddr::new(physical.as_u64()));
    let frame = PhysFrame::containing_address(physical);
    let flags = PageTableFlags::PRESENT | PageTableFlags::WRITABLE;
    let mut spares = Spares([
        PageBlock::new(1, true),
        PageBlock::new(1, true),
        PageBlock::new(1, true),
    ]);
    let mut tables = tables().lock();
    // SAFETY: identity-mapping a low page that no Rust reference uses (the caller owns
    // it) changes nothing any existing reference observes.
    let mapping = unsafe {
        tables
            .mapper
            .map_to_with_table_flags(page, frame, flags, table_flags(), &mut spares)
    };
    let result = match mapping {
        Ok(flush) => {
            flush.flush();
            Ok(())
        }
        Err(MapToError::FrameAllocationFailed) => Err(MapError::OutOfMemory),
        Err(MapToError::PageAlreadyMapped(_) | MapToError::ParentEntryHugePage) => {
            match tables.mapper.translate_addr(page.start_address()) {
                Some(mapped) if mapped == physical.align_down(PAGE_SIZE) => {
                    // SAFETY: the page maps itself already; only its flags change (it
                    // becomes executable), for the same owner.
                    unsafe { tables.mapper.update_flags(page, flags) }
                        .map(|flush| flush.flush())
                        .map_err(|_| MapError::AlreadyMapped)
                }
                _ => Err(MapError::AlreadyMapped),
            }
        }
    };
    drop(tables);
    drop(spares); // the unused ones go back to the heap, after the lock
    result
}

/// Zeroed pages allocated ahead of a mapping, handed out as page tables.
struct Spares([Option<PageBlock>; 3]);

// SAFETY: every frame handed out is a fresh, zeroed heap page that nothing else
// references; ownership passes to the page table that receives it.
unsafe impl FrameAllocator<Size4KiB> for Spares {
    fn allocate_frame(&mut self) -> Option<PhysFrame> {
        let block = self.0.iter_mut().find_map(Option::take)?;
        Some(PhysFrame::containing_address(block.into_phys()))
    }
}
