//! The active page tables: queries, and mappings in the kernel's own virtual area.
//!
//! The bootloader's mappings (kernel image, boot stack, physical-memory window) are left
//! alone. Everything Spindle maps itself lives in one unused 512 GiB slot of the level-4
//! table, the *kernel area*, so it never meets a huge page and never collides with what
//! the bootloader placed:
//!
//! ```text
//!   kernel area + 0        stack slots: 2 MiB each, one level-1 table per slot
//!   kernel area + 256 GiB  device registers (MMIO), each mapping on pages of its own
//! ```
//!
//! A stack slot is exactly the span of one level-1 table, so mapping a stack is filling a
//! fresh table and writing one level-2 entry, and unmapping it is clearing that entry and
//! freeing the table: no page-by-page walks, and every page table of a stack goes back to
//! the heap with it.
//!
//! **The level-2 tables above the slots are made once, at `init`, in one block,** for as
//! many slots as the heap could ever hold stacks at once (`stack_slots`); mapping a stack
//! never allocates one. Why: a table made on demand would sit wherever the heap happened to
//! be filled to when the slot count first crossed a multiple of 512, and stay there, a
//! 4 KiB island in free memory. After a spawn/exit churn that filled the heap, such tables
//! cut it into runs of 512 threads' worth of memory each: on 4 CPUs in 512 MiB, with
//! 506 MiB free, no allocation above 32-48 MiB succeeded (`memory_after_churn`). Made at
//! boot, the block lands at the bottom of the heap with the other boot-time allocations,
//! and once a churn's threads are gone nothing of it remains in the heap. The price:
//! 4 KiB of tables per 4 MiB of heap (0.1 %: 504 KiB in 512 MiB; 1 MiB at most, the
//! whole stack area's).
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

/// Stack slots in the first half of the kernel area: how many there can be at most (those
/// in use are the first [`stack_slots`]).
pub(crate) const STACK_SLOTS: usize = (LEVEL_4_ENTRY_SPAN / 2 / STACK_SLOT_SIZE) as usize;

/// Entries in a page table.
const ENTRIES: usize = 512;

/// The least heap a mapped stack holds: one page of stack and its slot's level-1 table.
const MIN_STACK_FOOTPRINT: usize = 2 * PAGE_SIZE as usize;

struct PageTables {
    mapper: OffsetPageTable<'static>,
    /// The level-3 table of the kernel area.
    kernel_level_3: PhysAddr,
}

static PAGE_TABLES: Once<IrqSpinLock<PageTables>> = Once::new();

/// The start of the kernel area, fixed at `init`.
static KERNEL_AREA: Once<VirtAddr> = Once::new();

/// How many stack slots have a level-2 table, fixed at `init`.
static STACK_SLOTS_MAPPABLE: Once<usize> = Once::new();

/// Why a mapping could not be made.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MapError {
    /// The heap had no memory left for a page table.
    OutOfMemory,
    /// Something is already mapped there.
    AlreadyMapped,
}

/// Takes ownership of the page tables the bootloader left active, claims a free level-4
/// slot in the upper half as the kernel area, and gives it the level-2 tables of the
/// stack slots that a heap of `heap_bytes` can fill ([`level_2_tables_for`]). Needs the
/// heap (for those tables and the level-3 one).
///
/// # Panics
/// If every upper-half level-4 entry is in use, or the heap cannot spare the tables.
pub(super) fn init(heap_bytes: usize) {
    PAGE_TABLES.call_once(|| {
        let level_3 = PageBlock::new(1, true)
            .expect("no memory for the kernel area's page table")
            .into_phys();
        let level_2_tables = level_2_tables_for(heap_bytes);
        let level_2 = PageBlock::new(level_2_tables, true)
            .expect("no memory for the stack slots' page tables")
            .into_phys();
        // SAFETY: the level-3 table is fresh and not reachable from the active tables yet.
        let entries = unsafe { table_at(level_3) }.iter_mut();
        for (index, entry) in entries.take(level_2_tables).enumerate() {
            entry.set_addr(level_2 + index as u64 * PAGE_SIZE, table_flags());
        }
        STACK_SLOTS_MAPPABLE.call_once(|| level_2_tables * ENTRIES);
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

/// Level-2 tables for the stack slots of a heap of `heap_bytes`: enough for as many stacks
/// as it can hold at once (each holds at least [`MIN_STACK_FOOTPRINT`]); at least one
/// table, at most the whole stack area's. Slots can then run out before memory only while
/// freed ones wait out their quarantine (`stack`) in numbers: a thread holds at least three
/// pages (its smallest stack is two), so threads alone leave a third of the slots to it.
fn level_2_tables_for(heap_bytes: usize) -> usize {
    (heap_bytes / MIN_STACK_FOOTPRINT)
        .div_ceil(ENTRIES)
        .clamp(1, STACK_SLOTS / ENTRIES)
}

/// How many stack slots can be mapped: slots `0..stack_slots()`, those with a level-2
/// table (see the module documentation).
pub(crate) fn stack_slots() -> usize {
    *STACK_SLOTS_MAPPABLE.get().expect("mm::init has not run")
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

/// Maps the `pages` pages at physical `phys` at the top of stack slot `slot` (one of the
/// first [`stack_slots`]), leaving the rest of the slot unmapped (the guard). The slot must
/// be unmapped.
///
/// # Errors
/// [`MapError::OutOfMemory`] if the heap has no page for the slot's table; nothing changed.
pub(crate) fn map_stack(slot: usize, phys: PhysAddr, pages: usize) -> Result<(), MapError> {
    assert!(
        (1..ENTRIES).contains(&pages),
        "a stack slot holds 1 to 511 pages"
    );
    assert!(
        slot < stack_slots(),
        "stack slot {slot} has no level-2 table"
    );
    let level_1 = PageBlock::new(1, true).ok_or(MapError::OutOfMemory)?;
    // SAFETY: the table is fresh and not reachable from the active tables yet.
    let table = unsafe { table_at(level_1.phys()) };
    for (index, entry) in table.iter_mut().skip(ENTRIES - pages).enumerate() {
        let frame = phys + index as u64 * PAGE_SIZE;
        entry.set_addr(frame, data_flags());
    }
    let tables = tables().lock();
    // SAFETY: the slot is below `stack_slots()` (checked above); used under the lock.
    let entry = &mut unsafe { level_2_of(&tables, slot) }[slot % ENTRIES];
    assert!(entry.is_unused(), "stack slot {slot} is still mapped");
    entry.set_addr(level_1.into_phys(), table_flags());
    drop(tables);
    // No TLB flush: the slot was not present, and x86 caches no not-present entries.
    Ok(())
}

/// The level-2 table above stack slot `slot`.
///
/// # Safety
/// `slot` must be below [`stack_slots`], and the table used only while `tables`' guard
/// is held.
unsafe fn level_2_of<'a>(tables: &PageTables, slot: usize) -> &'a mut PageTable {
    debug_assert!(slot < stack_slots());
    // SAFETY: the kernel area's level-3 table; the caller holds the lock.
    let level_3 = unsafe { table_at(tables.kernel_level_3) };
    // SAFETY: every slot below `stack_slots()` has had its level-2 table since `init`, and
    // keeps it; the caller holds the lock.
    unsafe { table_at(level_3[slot / ENTRIES].addr()) }
}

/// Unmaps stack slot `slot` (mapped with `pages` pages by [`map_stack`]), flushes this
/// CPU's TLB for it and frees its level-1 table.
pub(crate) fn unmap_stack(slot: usize, pages: usize) {
    let level_1 = {
        let tables = tables().lock();
        // SAFETY: a mapped slot is below `stack_slots()`; used under the lock.
        let entry = &mut unsafe { level_2_of(&tables, slot) }[slot % ENTRIES];
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

/// Maps the 4 KiB of device registers at `physical` (uncached) into the second half of
/// the kernel area and returns their virtual address.
///
/// # Errors
/// [`MapError::OutOfMemory`] if the heap cannot provide the page tables.
pub(crate) fn map_mmio(physical: PhysAddr) -> Result<VirtAddr, MapError> {
    map_mmio_range(physical, 1)
}

/// Maps the `bytes` of device registers from `physical` on (uncached, on consecutive
/// pages of the kernel area's second half) and returns the virtual address of
/// `physical`: a device's BAR, or the part of one a driver uses.
///
/// # Errors
/// [`MapError::OutOfMemory`] if the heap cannot provide the page tables; the pages
/// mapped before stay mapped (device memory: mapping it twice harms nothing).
pub(crate) fn map_mmio_range(physical: PhysAddr, bytes: u64) -> Result<VirtAddr, MapError> {
    use core::sync::atomic::{AtomicU64, Ordering};
    /// Pages handed out so far from the MMIO half of the kernel area.
    static NEXT_PAGE: AtomicU64 = AtomicU64::new(0);
    let first_frame = physical.align_down(PAGE_SIZE);
    let pages = (physical.as_u64() + bytes.max(1) - first_frame.as_u64()).div_ceil(PAGE_SIZE);
    let first_index = NEXT_PAGE.fetch_add(pages, Ordering::Relaxed);
    let mmio_area = kernel_area() + LEVEL_4_ENTRY_SPAN / 2;
    for page in 0..pages {
        map_device_page(
            Page::containing_address(mmio_area + (first_index + page) * PAGE_SIZE),
            PhysFrame::containing_address(first_frame + page * PAGE_SIZE),
        )?;
    }
    Ok(mmio_area + first_index * PAGE_SIZE + (physical.as_u64() % PAGE_SIZE))
}

/// Maps one page of device registers, uncached.
fn map_device_page(page: Page<Size4KiB>, frame: PhysFrame) -> Result<(), MapError> {
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
    drop(spares); // the unused ones go back to the heap, after the lock
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_level_2_table_per_four_mib_of_heap_rounded_up() {
        const MIB: usize = 1 << 20;
        assert_eq!(level_2_tables_for(4 * MIB), 1);
        assert_eq!(level_2_tables_for(4 * MIB + MIN_STACK_FOOTPRINT), 2);
        assert_eq!(level_2_tables_for(506 * MIB), 127);
    }

    #[test]
    fn at_least_one_level_2_table_and_at_most_the_stack_area() {
        assert_eq!(level_2_tables_for(0), 1);
        assert_eq!(level_2_tables_for(1 << 40), STACK_SLOTS / ENTRIES);
    }
}
