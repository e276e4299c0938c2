//! The legacy 8259 interrupt controller pair.
//!
//! Firmware leaves it delivering IRQ 0-7 on vectors 8-15, where they would look like CPU
//! exceptions (the timer as a double fault). It is remapped to vectors 32-47 and every
//! line masked; the spurious vectors it can still raise are [`SPURIOUS_MASTER`] and
//! [`SPURIOUS_SLAVE`].

use pic8259::ChainedPics;

/// The vector of the master's IRQ 0.
const MASTER_OFFSET: u8 = 32;
/// The vector of the slave's IRQ 8.
const SLAVE_OFFSET: u8 = MASTER_OFFSET + 8;

/// IRQ 7 arrives spuriously when a masked line glitches; it needs no EOI.
pub(super) const SPURIOUS_MASTER: u8 = MASTER_OFFSET + 7;
/// IRQ 15, the slave's spurious vector.
pub(super) const SPURIOUS_SLAVE: u8 = SLAVE_OFFSET + 7;

/// Remaps both controllers and masks all sixteen lines.
pub(super) fn init_masked() {
    // SAFETY: the offsets point the 8259s at vectors 32-47, which the IDT covers and
    // which no exception uses; interrupts are disabled while they are reprogrammed.
    unsafe {
        let mut pics = ChainedPics::new(MASTER_OFFSET, SLAVE_OFFSET);
        pics.initialize();
        pics.write_masks(0xff, 0xff);
    }
}

/// Handles a spurious vector: the master's needs nothing; the slave's still needs an EOI
/// at the master, which did see the cascade line fire.
pub(super) fn acknowledge_spurious(vector: u8) {
    const MASTER_COMMAND: u16 = 0x20;
    const END_OF_INTERRUPT: u8 = 0x20;
    if vector == SPURIOUS_SLAVE {
        let mut master = x86_64::instructions::port::Port::<u8>::new(MASTER_COMMAND);
        // SAFETY: a non-specific EOI to the master's command port only clears its
        // in-service bit for the cascade line, which the spurious slave IRQ set.
        unsafe { master.write(END_OF_INTERRUPT) };
    }
}
