//! The 16550 UART on COM1: the kernel console, where all output goes (QEMU puts it on
//! stdio), and serial input.
//!
//! Output takes the port's lock, which also disables interrupts, so a line written by a
//! thread is never split by an interrupt handler's line. (Panic and exception reports go
//! through `arch::debug_port` instead, which skips the lock: the code that failed may
//! hold it.)
//!
//! **The input line.** A program reading a line at a prompt (the console) registers an
//! [`InputLine`]: other output then never tears the line being typed. Each [`print`]
//! erases the prompt and the partial line, writes, and draws them again below, all under
//! the port lock, so the three are one unit to every other writer. Output that stops
//! mid-row leaves the line erased (drawing it there would glue it to that text) until
//! output ends a row, or the owner writes ([`write_input_line`]), which starts a fresh row.
//! The owner's hooks run wherever `print!` does, interrupt handlers included, so they
//! must not allocate or block.
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

static PORT: IrqSpinLock<Console<SerialPort>> = IrqSpinLock::new(Console::new(
    // SAFETY: COM1 is the standard PC serial port at 0x3f8; this is its only owner apart
    // from the documented lock-free emergency path.
    unsafe { SerialPort::new(COM1) },
));

/// The hooks of a program that keeps a line being typed on screen (a prompt and what
/// follows it). Both are called under the port lock, with interrupts off.
#[derive(Debug, Clone, Copy)]
pub struct InputLine {
    /// Erases the prompt and the line, leaving the cursor at the start of their row.
    pub erase: fn(&mut dyn Write),
    /// Draws the prompt and the line, with the cursor in place, from the start of a row.
    pub draw: fn(&mut dyn Write),
}

/// Makes `owner` the input line's owner (`None`: no one). The caller draws its line
/// afterwards, with [`write_input_line`].
pub fn set_input_line(owner: Option<InputLine>) {
    let mut console = PORT.lock();
    console.owner = owner;
    console.line_shown = true;
}

/// Runs `write` under the port lock to change the input line on screen (echo, edits):
/// the owner's own output, which goes around nothing. If other output left the line
/// erased mid-row, a fresh row starts and the line is drawn there first.
pub fn write_input_line<R>(write: impl FnOnce(&mut dyn Write) -> R) -> R {
    PORT.lock().write_input_line(write)
}

/// Programs the UART (baud rate, 8N1, FIFOs). Before this, output still appears under
/// QEMU (the port's power-on state transmits).
pub fn init() {
    PORT.lock().port.init();
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
    let _console = PORT.lock();
    // SAFETY: the IER of COM1, written under the port lock like every other register
    // access (so it cannot interleave with a transmission); `init` left the divisor
    // latch off, so offset 1 is the IER. Which interrupts are enabled has no other effect.
    unsafe { Port::<u8>::new(INTERRUPT_ENABLE).write(sources) };
}

/// One received byte, if the UART holds any; never waits. Takes the port lock (which
/// disables interrupts while held), so it is callable from interrupt handlers too.
pub fn try_read_byte() -> Option<u8> {
    PORT.lock().port.try_receive().ok()
}

/// Writes formatted text under the port lock, around the [input line](InputLine) if one
/// is registered. Used by [`print!`](crate::print) and [`println!`](crate::println).
pub fn print(args: fmt::Arguments<'_>) {
    PORT.lock().print(args);
}

/// An output device and the input line kept on it. Generic so that the protocol is
/// host-tested over a `String`.
struct Console<W> {
    port: W,
    owner: Option<InputLine>,
    /// The owner's line is on screen (or there is no owner to draw).
    line_shown: bool,
}

impl<W: Write> Console<W> {
    const fn new(port: W) -> Self {
        Self {
            port,
            owner: None,
            line_shown: true,
        }
    }

    fn print(&mut self, args: fmt::Arguments<'_>) {
        let Some(owner) = self.owner else {
            // The UART never fails a write; fmt errors can only come from a Display impl.
            let _ = self.port.write_fmt(args);
            return;
        };
        if self.line_shown {
            (owner.erase)(&mut self.port);
        }
        let mut tracked = LastByte {
            out: &mut self.port,
            last: None,
        };
        let _ = tracked.write_fmt(args);
        // Empty output changes nothing: the line returns if it was there.
        self.line_shown = tracked.last.map_or(self.line_shown, |last| last == b'\n');
        if self.line_shown {
            (owner.draw)(&mut self.port);
        }
    }

    fn write_input_line<R>(&mut self, write: impl FnOnce(&mut dyn Write) -> R) -> R {
        if let Some(owner) = self.owner
            && !self.line_shown
        {
            let _ = self.port.write_str("\n");
            (owner.draw)(&mut self.port);
            self.line_shown = true;
        }
        write(&mut self.port)
    }
}

/// A writer that remembers the last byte through it: whether output ended a row.
struct LastByte<'a, W> {
    out: &'a mut W,
    last: Option<u8>,
}

impl<W: Write> Write for LastByte<'_, W> {
    fn write_str(&mut self, text: &str) -> fmt::Result {
        if let Some(&last) = text.as_bytes().last() {
            self.last = Some(last);
        }
        self.out.write_str(text)
    }
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

#[cfg(test)]
mod tests {
    use std::string::String;

    use super::*;

    fn erase(out: &mut dyn Write) {
        let _ = out.write_str("<erase>");
    }

    fn draw(out: &mut dyn Write) {
        let _ = out.write_str("<draw>");
    }

    fn console() -> Console<String> {
        let mut console = Console::new(String::new());
        console.owner = Some(InputLine { erase, draw });
        console
    }

    #[test]
    fn without_an_owner_output_is_plain() {
        let mut console = Console::new(String::new());
        console.print(format_args!("a\n"));
        console.write_input_line(|out| out.write_str("b").unwrap());
        assert_eq!(console.port, "a\nb");
    }

    #[test]
    fn whole_rows_go_between_erase_and_draw() {
        let mut console = console();
        console.write_input_line(|out| out.write_str("> ps").unwrap());
        console.print(format_args!("log {}\n", 1));
        console.print(format_args!("two\nrows\n"));
        assert_eq!(
            console.port,
            "> ps<erase>log 1\n<draw><erase>two\nrows\n<draw>"
        );
    }

    #[test]
    fn a_partial_row_keeps_the_line_erased_until_a_row_ends() {
        let mut console = console();
        console.print(format_args!("counting: "));
        console.print(format_args!(""));
        console.print(format_args!("1 2 3\n"));
        assert_eq!(console.port, "<erase>counting: 1 2 3\n<draw>");
    }

    #[test]
    fn the_owner_writing_after_a_partial_row_starts_a_fresh_one() {
        let mut console = console();
        console.print(format_args!("half"));
        console.write_input_line(|out| out.write_str("s").unwrap());
        console.write_input_line(|out| out.write_str("t").unwrap());
        assert_eq!(console.port, "<erase>half\n<draw>st");
    }

    #[test]
    fn empty_output_brings_the_line_back() {
        let mut console = console();
        console.print(format_args!(""));
        assert_eq!(console.port, "<erase><draw>");
    }
}
