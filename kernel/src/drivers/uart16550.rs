//! The 16550 UART on COM1: the kernel console, where all output goes (QEMU puts it on
//! stdio), and serial input.
//!
//! Output takes the port's lock, which also disables interrupts, so a line written by a
//! thread is never split by an interrupt handler's line. (Panic and exception reports go
//! through `arch::debug_port` instead, which skips the lock: the code that failed may
//! hold it.)
//!
//! Input: [`enable_receive_interrupt`] makes the UART raise [`IRQ`] when bytes arrive,
//! and [`try_read_byte`] takes one without waiting; `input::serial` routes the IRQ and
//! drains the receive FIFO from its handler.

use core::fmt::{self, Write};

use uart_16550::SerialPort;
use x86_64::instructions::port::Port;

use crate::arch::IrqSpinLock;

const COM1: u16 = 0x3f8;
/// Interrupt Enable Register (with the divisor latch off, which `init` leaves it).
const INTERRUPT_ENABLE: u16 = COM1 + 1;
/// IER bit 0: interrupt when received data is available (or the FIFO timed out).
const RECEIVED_DATA_AVAILABLE: u8 = 1 << 0;

/// The 8259 line COM1 interrupts on.
pub const IRQ: u8 = 4;

// SAFETY: COM1 is the standard PC serial port at 0x3f8; this is its only owner apart from
// the documented lock-free emergency path.
static PORT: IrqSpinLock<SerialPort> = IrqSpinLock::new(unsafe { SerialPort::new(COM1) });

/// Programs the UART (baud rate, 8N1, FIFOs). Before this, output still appears under
/// QEMU (the port's power-on state transmits).
pub fn init() {
    PORT.lock().init();
}

/// Makes the UART interrupt (on [`IRQ`]) when received bytes are waiting: once its FIFO
/// reaches the trigger level, or when bytes sat there for four character times. Only the
/// receive interrupt is on; transmission stays polled. The IRQ line itself is the
/// caller's to route and unmask.
///
/// Enabling it while bytes wait raises the line at once: that is also how a driver that
/// [disabled](disable_receive_interrupt) it to hold input back gets a fresh edge.
pub fn enable_receive_interrupt() {
    write_interrupt_enable(RECEIVED_DATA_AVAILABLE);
}

/// Stops the UART from interrupting on received bytes (and lowers its line); bytes keep
/// collecting in its FIFO, and past 16 the sender (QEMU: its input pipe) waits.
pub fn disable_receive_interrupt() {
    write_interrupt_enable(0);
}

fn write_interrupt_enable(sources: u8) {
    let _port = PORT.lock();
    // SAFETY: the IER of COM1, written under the port lock like every other register
    // access (so it cannot interleave with a transmission); `init` left the divisor
    // latch off, so offset 1 is the IER. Which interrupts are enabled has no other effect.
    unsafe { Port::<u8>::new(INTERRUPT_ENABLE).write(sources) };
}

/// One received byte, if the UART holds any; never waits. Takes the port lock (which
/// disables interrupts while held), so it is callable from interrupt handlers too.
pub fn try_read_byte() -> Option<u8> {
    PORT.lock().try_receive().ok()
}

/// Writes formatted text under the port lock. Used by [`print!`](crate::print) and
/// [`println!`](crate::println).
pub fn print(args: fmt::Arguments<'_>) {
    // The UART never fails a write; fmt errors can only come from a Display impl.
    let _ = PORT.lock().write_fmt(args);
}

/// Prints to the serial console.
#[macro_export]
macro_rules! print {
    ($($arg:tt)*) => ($crate::drivers::uart16550::print(format_args!($($arg)*)));
}

/// Prints a line to the serial console.
#[macro_export]
macro_rules! println {
    () => ($crate::print!("\n"));
    ($($arg:tt)*) => ($crate::drivers::uart16550::print(format_args!("{}\n", format_args!($($arg)*))));
}
