//! The GDT and TSS: kernel code and data segments, and the interrupt stack table that gives
//! the double fault a stack of its own.
//!
//! A kernel-stack overflow hits the guard page below the stack; the CPU then cannot push
//! the page-fault frame on that same stack and raises a double fault. Only a double
//! fault handler running on a known-good IST stack can report it; without one the
//! machine triple-faults and resets silently.

use alloc::boxed::Box;

use spin::Once;
use x86_64::{
    VirtAddr,
    instructions::{
        segmentation::{CS, DS, ES, SS, Segment},
        tables::load_tss,
    },
    registers::segmentation::SegmentSelector,
    structures::{
        gdt::{Descriptor, GlobalDescriptorTable},
        tss::TaskStateSegment,
    },
};

/// The IST slot (0-based, as the TSS counts) holding the double-fault stack.
pub(super) const DOUBLE_FAULT_IST_INDEX: u16 = 0;

const IST_STACK_SIZE: usize = 16 * 1024;

/// Memory the CPU switches to on a double fault. It must be writable (a `static mut`, not
/// a `static` the linker may put in read-only pages) and 16-byte aligned like any stack.
#[repr(C, align(16))]
struct IstStack([u8; IST_STACK_SIZE]);

static mut DOUBLE_FAULT_STACK: IstStack = IstStack([0; IST_STACK_SIZE]);

/// The segment selectors the rest of the arch code needs (trap frames for new threads
/// carry the code and stack segments).
#[derive(Debug, Clone, Copy)]
pub(super) struct Selectors {
    pub(super) code: SegmentSelector,
    pub(super) data: SegmentSelector,
    tss: SegmentSelector,
}

static TSS: Once<TaskStateSegment> = Once::new();
static GDT: Once<(GlobalDescriptorTable, Selectors)> = Once::new();

/// Loads the boot CPU's GDT and TSS (static: there is no heap yet) and reloads every
/// segment register from it.
pub(super) fn init() {
    let tss = TSS.call_once(|| tss_with_stack(VirtAddr::from_ptr(&raw const DOUBLE_FAULT_STACK)));
    let (gdt, selectors) = GDT.call_once(|| build(tss));
    load(gdt, selectors);
}

/// Another CPU's descriptor tables: a GDT with the boot CPU's layout (so the selectors
/// baked into every thread's first frame are valid on every CPU), a TSS (one TSS cannot
/// be loaded by two CPUs: `ltr` marks it busy) and a double-fault stack. Made by the boot
/// CPU from the heap and never freed: a CPU, once up, stays up.
#[derive(Debug)]
pub(super) struct CpuTables {
    gdt: GlobalDescriptorTable,
    selectors: Selectors,
}

impl CpuTables {
    pub(super) fn new() -> &'static CpuTables {
        let stack: &'static mut IstStack = Box::leak(Box::new(IstStack([0; IST_STACK_SIZE])));
        let tss: &'static TaskStateSegment =
            Box::leak(Box::new(tss_with_stack(VirtAddr::from_ptr(stack))));
        let (gdt, selectors) = build(tss);
        let boot = self::selectors();
        assert!(
            selectors.code == boot.code && selectors.data == boot.data && selectors.tss == boot.tss,
            "every CPU's GDT has the boot CPU's layout"
        );
        Box::leak(Box::new(CpuTables { gdt, selectors }))
    }

    /// Loads them on this CPU.
    pub(super) fn load(&'static self) {
        load(&self.gdt, &self.selectors);
    }
}

fn tss_with_stack(stack: VirtAddr) -> TaskStateSegment {
    let mut tss = TaskStateSegment::new();
    tss.interrupt_stack_table[usize::from(DOUBLE_FAULT_IST_INDEX)] = stack + IST_STACK_SIZE as u64;
    tss
}

fn build(tss: &'static TaskStateSegment) -> (GlobalDescriptorTable, Selectors) {
    let mut gdt = GlobalDescriptorTable::new();
    let code = gdt.append(Descriptor::kernel_code_segment());
    let data = gdt.append(Descriptor::kernel_data_segment());
    let tss = gdt.append(Descriptor::tss_segment(tss));
    (gdt, Selectors { code, data, tss })
}

fn load(gdt: &'static GlobalDescriptorTable, selectors: &Selectors) {
    gdt.load();
    // SAFETY: the selectors index the GDT just loaded, which lives forever (a static or a
    // leaked box); code is a 64-bit ring-0 code segment, data a writable ring-0 data
    // segment, and the TSS descriptor points at a TSS that also lives forever.
    unsafe {
        CS::set_reg(selectors.code);
        SS::set_reg(selectors.data);
        DS::set_reg(selectors.data);
        ES::set_reg(selectors.data);
        load_tss(selectors.tss);
    }
}

/// The selectors of the loaded GDT.
///
/// # Panics
/// If called before [`init`].
pub(super) fn selectors() -> &'static Selectors {
    &GDT.get().expect("GDT not initialised").1
}
