//! COM1 as a bare debug output for reports from code that may have interrupted the
//! console's owner (panics, CPU exceptions): no lock, so a report never deadlocks on the
//! console's lock; its bytes may interleave with a line that was being written.
//!
//! The console itself (locked output, input) is the UART driver, `drivers::uart16550`;
//! both address the same port, and this is the one documented second user.

use core::fmt::{self, Write};

use uart_16550::SerialPort;

const COM1: u16 = 0x3f8;

/// Writes formatted text to COM1 without any lock.
pub fn print(args: fmt::Arguments<'_>) {
    // SAFETY: a second handle to COM1 may interleave bytes with a writer that held the
    // console's lock when the failure struck; interleaving is the accepted cost of never
    // deadlocking a failure report. The port was initialised by the console driver (or is
    // at worst in its power-on state, which still transmits under QEMU).
    let mut port = unsafe { SerialPort::new(COM1) };
    let _ = port.write_fmt(args);
}
