//! The 8042 PS/2 controller, keyboard side only: make the keyboard interrupt on IRQ 1
//! with scancodes translated to set 1, and read what it sent.
//!
//! Multi-byte exchanges with the controller (a command, then its data or its answer)
//! happen under one lock that also disables interrupts, so the keyboard's interrupt
//! handler cannot take a controller answer for a scancode halfway through one.

use x86_64::instructions::port::Port;

use crate::arch::IrqSpinLock;

/// The 8259 line the keyboard interrupts on.
pub const KEYBOARD_IRQ: u8 = 1;

const DATA: u16 = 0x60;
/// Reads give the status register, writes are controller commands.
const STATUS_COMMAND: u16 = 0x64;

/// Status: a byte waits in the output buffer (port 0x60).
const OUTPUT_FULL: u8 = 1 << 0;
/// Status: the controller has not yet taken the last byte written to it.
const INPUT_FULL: u8 = 1 << 1;
/// Status: the waiting byte came from the auxiliary (mouse) port.
const AUX_DATA: u8 = 1 << 5;

const READ_CONFIG: u8 = 0x20;
const WRITE_CONFIG: u8 = 0x60;
const DISABLE_KEYBOARD_PORT: u8 = 0xad;
const ENABLE_KEYBOARD_PORT: u8 = 0xae;
/// The next data byte goes to the output buffer as if the keyboard had sent it.
const WRITE_KEYBOARD_OUTPUT: u8 = 0xd2;

/// Config: interrupt on IRQ 1 when the keyboard sent a byte.
const KEYBOARD_INTERRUPT: u8 = 1 << 0;
/// Config: interrupt on IRQ 12 for mouse bytes.
const AUX_INTERRUPT: u8 = 1 << 1;
/// Config: keyboard clock off (port disabled).
const KEYBOARD_DISABLED: u8 = 1 << 4;
/// Config: mouse clock off (port disabled).
const AUX_DISABLED: u8 = 1 << 5;
/// Config: translate the keyboard's scancodes to set 1.
const TRANSLATE: u8 = 1 << 6;

/// Polls of the status register before giving up on the controller (there may be none).
const PATIENCE: u32 = 100_000;

static CONTROLLER: IrqSpinLock<()> = IrqSpinLock::new(());

/// Why the controller could not be set up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NoController;

/// Makes the keyboard interrupt on [`KEYBOARD_IRQ`] with set-1 scancodes, whatever the
/// firmware left: keyboard port on with its interrupt and translation, mouse port off
/// (its bytes would otherwise sit in the shared output buffer and stall the keyboard).
/// Bytes already waiting are discarded. The IRQ line itself is the caller's to route.
///
/// # Errors
/// [`NoController`] if the controller does not answer (a machine without one).
pub fn enable_keyboard_interrupt() -> Result<(), NoController> {
    let _controller = CONTROLLER.lock();
    command(DISABLE_KEYBOARD_PORT)?;
    flush_output();
    command(READ_CONFIG)?;
    wait_for(|status| status & OUTPUT_FULL != 0)?;
    let config = read_port(DATA);
    let config = (config | KEYBOARD_INTERRUPT | TRANSLATE | AUX_DISABLED)
        & !(KEYBOARD_DISABLED | AUX_INTERRUPT);
    command(WRITE_CONFIG)?;
    write_data(config)?;
    command(ENABLE_KEYBOARD_PORT)
}

/// The byte the keyboard sent, if one waits in the controller's output buffer: what the
/// IRQ 1 handler calls. A mouse byte is read (so it does not block the buffer) and
/// dropped.
pub fn try_read_keyboard() -> Option<u8> {
    let _controller = CONTROLLER.lock();
    let status = read_port(STATUS_COMMAND);
    if status & OUTPUT_FULL == 0 {
        return None;
    }
    let byte = read_port(DATA);
    (status & AUX_DATA == 0).then_some(byte)
}

/// Test aid: asks the controller to hand `byte` back as if the keyboard had sent it
/// (command 0xD2), which raises IRQ 1 like a key press. Exercises the whole interrupt
/// path on machines that have no one to press keys (QEMU implements the command; not
/// every real controller does).
///
/// # Errors
/// [`NoController`] if the controller does not take the command.
pub fn echo_as_keyboard(byte: u8) -> Result<(), NoController> {
    let _controller = CONTROLLER.lock();
    command(WRITE_KEYBOARD_OUTPUT)?;
    write_data(byte)
}

fn command(byte: u8) -> Result<(), NoController> {
    wait_for(|status| status & INPUT_FULL == 0)?;
    write_port(STATUS_COMMAND, byte);
    Ok(())
}

fn write_data(byte: u8) -> Result<(), NoController> {
    wait_for(|status| status & INPUT_FULL == 0)?;
    write_port(DATA, byte);
    Ok(())
}

fn flush_output() {
    for _ in 0..PATIENCE {
        if read_port(STATUS_COMMAND) & OUTPUT_FULL == 0 {
            return;
        }
        read_port(DATA);
    }
}

fn wait_for(ready: impl Fn(u8) -> bool) -> Result<(), NoController> {
    (0..PATIENCE)
        .any(|_| ready(read_port(STATUS_COMMAND)))
        .then_some(())
        .ok_or(NoController)
}

fn read_port(port: u16) -> u8 {
    // SAFETY: ports 0x60 and 0x64 belong to the 8042, which this module owns; reading
    // them only consumes the controller's output byte or its status, and every caller
    // holds CONTROLLER, so no exchange with the controller is cut in two.
    unsafe { Port::<u8>::new(port).read() }
}

fn write_port(port: u16, byte: u8) {
    // SAFETY: as in `read_port`; commands and data written are the documented 8042
    // ones, and none of them resets the machine or touches the A20 gate.
    unsafe { Port::<u8>::new(port).write(byte) }
}
