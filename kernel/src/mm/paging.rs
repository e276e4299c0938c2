//! Queries on the active page tables, walked through the physical-memory window.

use spin::Once;
use x86_64::{
    PhysAddr, VirtAddr,
    registers::control::Cr3,
    structures::paging::{OffsetPageTable, PageTable, Translate},
};

use super::phys_to_virt;
use crate::sync::IrqSpinLock;

static PAGE_TABLES: Once<IrqSpinLock<OffsetPageTable<'static>>> = Once::new();

/// Takes ownership of the page tables the bootloader left active.
pub(super) fn init() {
    PAGE_TABLES.call_once(|| {
        let (level_4_frame, _) = Cr3::read();
        let offset = phys_to_virt(PhysAddr::new(0));
        let level_4: *mut PageTable = phys_to_virt(level_4_frame.start_address()).as_mut_ptr();
        // SAFETY: CR3 names the live level-4 table and all of physical memory is mapped at
        // `offset`; the only reference to the table is the one inside this lock.
        IrqSpinLock::new(unsafe { OffsetPageTable::new(&mut *level_4, offset) })
    });
}

/// The physical address `addr` maps to, or `None` if it is not mapped.
///
/// # Panics
/// If called before `mm::init`.
pub fn translate(addr: VirtAddr) -> Option<PhysAddr> {
    PAGE_TABLES
        .get()
        .expect("mm::init has not run")
        .lock()
        .translate_addr(addr)
}
