//! The legacy 8259 interrupt controller pair.
//!
//! Firmware leaves it delivering IRQ 0-7 on vectors 8-15, where they would look like CPU
//! exceptions (the timer as a double fault). It is remapped to vectors 32-47 with every
//! line masked; a line is unmasked only when a driver (the PIT tick fallback, or a device
//! on a machine without an I/O APIC) asks. The spurious vectors it can still raise are
//! `PIC_SPURIOUS_MASTER` and `PIC_SPURIOUS_SLAVE` (see `vectors`).

use pic8259::ChainedPics;

use super::{
    spinlock::IrqSpinLock,
    vectors::{PIC_FIRST, PIC_SPURIOUS_SLAVE},
};

/// The vector of the slave's IRQ 8.
const SLAVE_OFFSET: u8 = PIC_FIRST + 8;

// SAFETY: the offsets point the 8259s at vectors 32-47, which the IDT covers and which no
// exception uses.
static PICS: IrqSpinLock<ChainedPics> =
    IrqSpinLock::new(unsafe { ChainedPics::new(PIC_FIRST, SLAVE_OFFSET) });

/// Remaps both controllers and masks all sixteen lines.
pub(super) fn init_masked() {
    let mut pics = PICS.lock();
    // SAFETY: reprogramming the 8259s with interrupts disabled (the lock disables them)
    // cannot race with an interrupt; all lines end up masked.
    unsafe {
        pics.initialize();
        pics.write_masks(0xff, 0xff);
    }
}

/// Masks all sixteen lines again: the I/O APIC takes over the devices, and the same ISA
/// lines reach the 8259 too (and would reach the boot CPU through LINT0).
pub(super) fn mask_all() {
    // SAFETY: masking lines only stops interrupts from reaching the CPU.
    unsafe { PICS.lock().write_masks(0xff, 0xff) };
}

/// Lets IRQ `line` (0-15) through.
pub(super) fn unmask(line: u8) {
    let mut pics = PICS.lock();
    // SAFETY: reading and writing the mask registers only changes which lines reach the
    // CPU; every vector they map to has an IDT entry.
    unsafe {
        let [master, slave] = pics.read_masks();
        let (master, slave) = match line {
            0..8 => (master & !(1 << line), slave),
            _ => (master & !(1 << 2), slave & !(1 << (line - 8))),
        };
        pics.write_masks(master, slave);
    }
}

/// Acknowledges the IRQ behind `vector`.
pub(super) fn end_of_interrupt(vector: u8) {
    // SAFETY: `vector` is one of the PIC's, being handled right now.
    unsafe { PICS.lock().notify_end_of_interrupt(vector) };
}

/// Handles a spurious vector: the master's needs nothing; the slave's still needs an EOI
/// at the master, which did see the cascade line fire.
pub(super) fn acknowledge_spurious(vector: u8) {
    if vector == PIC_SPURIOUS_SLAVE {
        // The cascade line is IRQ 2; an EOI for any master vector is a non-specific EOI
        // to the master only.
        end_of_interrupt(PIC_FIRST + 2);
    }
}
