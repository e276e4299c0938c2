//! Leaving QEMU with a status through the `isa-debug-exit` device (port 0xf4).
//!
//! QEMU exits with `(value << 1) | 1`, so success is 33 and failure 35; the host side
//! (`boot-image`'s `qemu` module) decodes the same two values. Without the device (real
//! hardware, or QEMU started by hand) the write does nothing and the CPU halts.

use x86_64::instructions::port::Port;

use super::{cpu, fn_slot::FnSlot};

/// Runs just before the session ends (the trace flushes what it holds).
static SHUTDOWN_HOOK: FnSlot<fn()> = FnSlot::empty();

/// Installs the function run just before [`exit`] ends the session. It runs on every
/// exit, panics and fatal exceptions included, so it must not rely on locks the failing
/// code may hold.
pub fn set_shutdown_hook(hook: fn()) {
    SHUTDOWN_HOOK.set(hook);
}

const DEBUG_EXIT_PORT: u16 = 0xf4;

/// The value written to the debug-exit port.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u32)]
pub enum ExitCode {
    /// The kernel finished what it was asked to do.
    Success = 0x10,
    /// A test failed, the kernel panicked or the CPU raised a fatal exception.
    Failure = 0x11,
}

/// Ends the QEMU session with `code`; halts if there is no debug-exit device.
///
/// Callable from any thread or task, at any time: the whole machine stops at once
/// (other threads are not joined; the schedule trace, if recording, is streamed first).
/// The runner (`cargo run`) exits with status 0 for [`ExitCode::Success`] and 1 for
/// [`ExitCode::Failure`]. An application built with [`main!`](crate::main) calls it
/// when its main function returns; also reachable as `spindle::exit`.
///
/// ```no_run
/// use spindle::{ExitCode, exit};
///
/// let all_good = true;
/// exit(if all_good { ExitCode::Success } else { ExitCode::Failure })
/// ```
pub fn exit(code: ExitCode) -> ! {
    if let Some(hook) = SHUTDOWN_HOOK.get() {
        hook();
    }
    let mut port = Port::<u32>::new(DEBUG_EXIT_PORT);
    // SAFETY: port 0xf4 is the debug-exit device that every Spindle QEMU command line
    // adds; on a machine without it, an I/O write to an unclaimed port is ignored.
    unsafe { port.write(code as u32) };
    cpu::halt_forever()
}
