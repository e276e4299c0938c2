//! The UART's receive interrupt (COM1, IRQ 4): its handler and the queue it fills, which
//! `input::SerialInput` reads as a stream.
//!
//! The UART interrupts on IRQ 4 when its receive FIFO reaches its trigger level or has
//! held bytes for a few character times. The handler moves bytes into the queue until
//! the FIFO is empty, which lowers the UART's interrupt line: the interrupt controller
//! (I/O APIC or 8259) only sees edges, so a handler that left bytes behind with the line
//! still up would not be called again. The handler runs on whichever CPU the IRQ is
//! routed to (`arch::interrupts::set_irq_cpu`) and wakes the reader wherever it runs;
//! while the IRQ moves, the dispatcher still runs one handler at a time (its per-line
//! lock), so there is only ever one drain, and bytes are queued in the order read.
//!
//! **Back-pressure instead of loss.** A sender can be faster than the reader (QEMU
//! refills the FIFO from its input pipe as fast as the handler empties it, so one
//! interrupt could bring any number of bytes). When the queue is full the handler stops
//! reading and turns the UART's receive interrupt off; the bytes wait in the FIFO, and
//! behind it the sender waits (QEMU reads its pipe only when the FIFO has room). The
//! reader's next pop turns the interrupt back on, which raises the line again if bytes
//! wait. So serial input is never dropped here; on real hardware a sender that outruns
//! the FIFO meanwhile loses bytes in the UART (an overrun), which this driver does not
//! count.

use super::{
    irq_queue::{InputStats, IrqQueue, OpenError, Reader},
    uart16550,
};
use crate::arch::{TrapFrame, interrupts};

static SOURCE: IrqQueue = IrqQueue::new(uart16550::enable_receive_interrupt);

/// Opens the queue of received bytes for its one reader. The first open ever turns on
/// the UART's receive interrupt and routes IRQ 4; bytes the UART held already are kept,
/// and so are bytes that arrive between two readers (up to the queue's capacity).
///
/// # Errors
/// [`OpenError::InUse`] while another reader is open.
pub fn open() -> Result<Reader, OpenError> {
    SOURCE.open(start_device)
}

/// Counters for the serial input since boot.
pub fn stats() -> InputStats {
    SOURCE.stats()
}

/// Routes IRQ 4 with the UART's interrupt off, then turns it on: bytes the UART holds
/// already raise a fresh edge then (an I/O APIC forgets one that came while its input
/// was masked), and the handler, on the CPU the IRQ goes to, stays the only reader of
/// the FIFO, so the bytes stay in order.
fn start_device() -> u8 {
    uart16550::disable_receive_interrupt();
    let vector = interrupts::route_legacy_irq(uart16550::IRQ, on_interrupt);
    uart16550::enable_receive_interrupt();
    vector
}

fn on_interrupt(_frame: &mut TrapFrame) {
    drain();
}

/// Moves bytes from the UART to the queue while the queue has room (the handler is the
/// only pusher, and never runs twice at once, so room seen is room kept), holding the
/// rest back in the UART.
fn drain() {
    loop {
        if !SOURCE.has_room() {
            uart16550::disable_receive_interrupt();
            if SOURCE.hold_back() {
                return;
            }
            uart16550::enable_receive_interrupt();
        }
        match uart16550::try_read_byte() {
            Some(byte) => SOURCE.push(byte),
            None => return,
        }
    }
}
