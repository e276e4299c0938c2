//! The interrupt descriptor table: all 256 vectors point at their `trap_entry` stub.
//!
//! Spindle builds its own gate table instead of using the `x86_64` crate's typed IDT,
//! because every vector takes the same path (one stub per vector, one dispatcher) and the
//! typed table is organised around one handler function per exception.

use core::mem::size_of;

use spin::Once;
use x86_64::{
    VirtAddr, instructions::tables::lidt, registers::segmentation::SegmentSelector,
    structures::DescriptorTablePointer,
};

use super::{gdt::DOUBLE_FAULT_IST_INDEX, trap_entry};

const DOUBLE_FAULT_VECTOR: u8 = 8;

/// Present, ring 0, 64-bit interrupt gate (interrupts are disabled on entry).
const INTERRUPT_GATE: u8 = 0x8e;

/// One 16-byte IDT entry, as the CPU reads it.
#[repr(C)]
#[derive(Clone, Copy)]
struct Gate {
    offset_low: u16,
    selector: u16,
    /// IST slot + 1 in bits 0-2 (0 = stay on the current stack).
    ist: u8,
    attributes: u8,
    offset_middle: u16,
    offset_high: u32,
    reserved: u32,
}

const _: () = assert!(size_of::<Gate>() == 16, "the CPU reads 16-byte gates");

impl Gate {
    fn new(handler: u64, selector: SegmentSelector, ist_slot: Option<u16>) -> Self {
        Self {
            offset_low: handler as u16,
            selector: selector.0,
            ist: ist_slot.map_or(0, |slot| slot as u8 + 1),
            attributes: INTERRUPT_GATE,
            offset_middle: (handler >> 16) as u16,
            offset_high: (handler >> 32) as u32,
            reserved: 0,
        }
    }
}

#[repr(C, align(16))]
struct Idt([Gate; 256]);

static IDT: Once<Idt> = Once::new();

/// Builds the IDT (double fault on its IST stack) and loads it.
pub(super) fn init(code_selector: SegmentSelector) {
    IDT.call_once(|| {
        Idt(core::array::from_fn(|vector| {
            let vector = vector as u8;
            let ist = (vector == DOUBLE_FAULT_VECTOR).then_some(DOUBLE_FAULT_IST_INDEX);
            Gate::new(trap_entry::stub_address(vector), code_selector, ist)
        }))
    });
    load();
}

/// Loads the IDT (built by [`init`]) on this CPU: every CPU shares it.
pub(super) fn load() {
    let idt = IDT.get().expect("the IDT is built before any CPU loads it");
    let pointer = DescriptorTablePointer {
        limit: (size_of::<Idt>() - 1) as u16,
        base: VirtAddr::from_ptr(idt),
    };
    // SAFETY: the table lives forever in a static and every gate points at an entry stub
    // of `trap_entry`, which builds a complete trap frame before calling Rust.
    unsafe { lidt(&pointer) };
}
