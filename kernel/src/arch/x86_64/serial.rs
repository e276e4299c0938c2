//! The serial console on COM1, where all kernel output goes (QEMU puts it on stdio).
//!
//! Normal output takes the port's lock, which also disables interrupts, so a line written
//! by a thread is never split by an interrupt handler's line. Panic and exception reports
//! use [`emergency_print`], which skips the lock: the code that failed may hold it.

use core::fmt::{self, Write};

use uart_16550::SerialPort;

use crate::sync::IrqSpinLock;

const COM1: u16 = 0x3f8;

// SAFETY: COM1 is the standard PC serial port at 0x3f8; this is its only owner apart from
// the documented lock-free emergency path.
static PORT: IrqSpinLock<SerialPort> = IrqSpinLock::new(unsafe { SerialPort::new(COM1) });

/// Programs the UART (baud rate, 8N1, FIFOs).
pub(super) fn init() {
    PORT.lock().init();
}

/// Writes formatted text under the port lock. Used by [`print!`](crate::print) and
/// [`println!`](crate::println).
pub fn print(args: fmt::Arguments<'_>) {
    // The UART never fails a write; fmt errors can only come from a Display impl.
    let _ = PORT.lock().write_fmt(args);
}

/// Writes formatted text without taking the lock: only for reports from code that may
/// have interrupted a holder of the lock (panics, CPU exceptions).
pub fn emergency_print(args: fmt::Arguments<'_>) {
    // SAFETY: a second handle to COM1 may interleave bytes with a writer that held the
    // lock when the failure struck; interleaving is the accepted cost of never
    // deadlocking a failure report. The port was initialised by `init` (or is at worst
    // in its power-on state, which still transmits under QEMU).
    let mut port = unsafe { SerialPort::new(COM1) };
    let _ = port.write_fmt(args);
}

/// Prints to the serial console.
#[macro_export]
macro_rules! print {
    ($($arg:tt)*) => ($crate::arch::serial::print(format_args!($($arg)*)));
}

/// Prints a line to the serial console.
#[macro_export]
macro_rules! println {
    () => ($crate::print!("\n"));
    ($($arg:tt)*) => ($crate::arch::serial::print(format_args!("{}\n", format_args!($($arg)*))));
}
