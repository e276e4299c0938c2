//! The PS/2 keyboard's interrupt (IRQ 1): its handler and the queue of raw scancodes it
//! fills, which `input::Keyboard` reads and decodes.

use super::{
    irq_queue::{InputStats, IrqQueue, OpenError, Reader},
    ps2,
};
use crate::arch::{TrapFrame, interrupts};

/// A keyboard cannot be told to wait: a full queue drops (and counts) scancodes.
static SOURCE: IrqQueue = IrqQueue::new(|| {});

/// Queues a set-1 scancode as if the keyboard had sent it, and wakes the reader: the one
/// entry point of keyboard input, used by the IRQ 1 handler for every byte the
/// controller delivers. Callable from any thread or handler; never blocks or allocates.
/// A scancode that finds the queue full, or comes before the first open
/// created it, is dropped and counted in [`stats`].
pub fn inject_scancode(scancode: u8) {
    SOURCE.push(scancode);
}

/// Counters for the keyboard since boot (`received` includes injected scancodes).
pub fn stats() -> InputStats {
    SOURCE.stats()
}

/// Opens the queue of scancodes for its one reader; the first open ever sets the
/// controller up and routes IRQ 1.
///
/// # Errors
/// [`OpenError::InUse`] while another reader is open.
pub fn open() -> Result<Reader, OpenError> {
    SOURCE.open(start_device)
}

/// Routes IRQ 1, then lets the controller interrupt: a scancode waiting from then on
/// raises an edge on an unmasked line (an I/O APIC forgets one that came while its input
/// was masked, which would leave the controller's output buffer full for good).
fn start_device() -> u8 {
    let vector = interrupts::route_legacy_irq(ps2::KEYBOARD_IRQ, on_interrupt);
    if ps2::enable_keyboard_interrupt().is_err() {
        log::warn!("no PS/2 controller answered: the keyboard gets injected scancodes only");
    }
    vector
}

fn on_interrupt(_frame: &mut TrapFrame) {
    if let Some(scancode) = ps2::try_read_keyboard() {
        inject_scancode(scancode);
    }
}
