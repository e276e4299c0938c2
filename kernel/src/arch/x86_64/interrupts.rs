//! Hardware interrupt handlers: a table from vector to handler, filled by the layers
//! above (the scheduler's timer tick, device drivers).
//!
//! The end-of-interrupt is sent *before* the handler runs: a handler may switch threads
//! (the timer tick preempts), and the interrupted thread may not run again for a while;
//! an EOI left pending until then would block every further interrupt. All of Spindle's
//! interrupt sources are edge-triggered, for which an early EOI is correct.
//!
//! Legacy devices interrupt through the 8259 on [`PIC_FIRST_VECTOR`]` + line`: straight
//! to the CPU when it has no local APIC, otherwise through the APIC's LINT0 pin, which
//! [`apic`] programs as ExtINT (the "virtual wire"), so those interrupts are acknowledged
//! at the 8259 only. [`route_legacy_irq`] connects one line to a handler.

use core::sync::atomic::{AtomicUsize, Ordering};

use super::{TrapFrame, apic, cpu_local, pic};

/// A hardware interrupt handler. It runs with interrupts disabled, on the interrupted
/// thread's stack, and may switch threads.
pub type Handler = fn(&mut TrapFrame);

/// The first vector of the remapped 8259 PIC (IRQ 0).
pub const PIC_FIRST_VECTOR: u8 = 32;
/// The first vector past the 8259's 16 lines: local APIC sources live from here on.
pub const APIC_FIRST_VECTOR: u8 = PIC_FIRST_VECTOR + 16;

static HANDLERS: [AtomicUsize; 256] = [const { AtomicUsize::new(0) }; 256];

/// Runs after every hardware interrupt handler: where the scheduler preempts.
static EXIT_HOOK: AtomicUsize = AtomicUsize::new(0);

/// Installs the function run after every hardware interrupt handler (the scheduler's
/// preemption point), still on the interrupted thread's stack with interrupts disabled.
pub fn set_exit_hook(hook: fn()) {
    EXIT_HOOK.store(hook as usize, Ordering::Release);
}

/// Routes `vector` to `handler`.
pub fn set_handler(vector: u8, handler: Handler) {
    HANDLERS[usize::from(vector)].store(handler as usize, Ordering::Release);
}

/// Routes IRQ `line` of the 8259 to `handler` and unmasks the line; returns the vector
/// the handler runs on, [`PIC_FIRST_VECTOR`]` + line` (whose [`trap_count`] counts the
/// interrupts). The handler runs after the EOI, as every handler does, so a device that
/// raises its line again while the handler drains it gives a fresh edge and a fresh
/// interrupt. An edge that came while the line was masked is delivered on unmasking.
///
/// [`trap_count`]: super::trap_count
///
/// # Panics
/// If `line` is not 0-15, or is 2 (the slave's cascade), or 7 or 15: those two are taken
/// as the 8259's spurious interrupts and never reach a handler.
pub fn route_legacy_irq(line: u8, handler: Handler) -> u8 {
    assert!(
        line < 16 && !matches!(line, 2 | 7 | 15),
        "IRQ {line} cannot be routed to a handler"
    );
    let vector = PIC_FIRST_VECTOR + line;
    set_handler(vector, handler);
    pic::unmask(line);
    vector
}

/// Acknowledges and handles a hardware interrupt; `false` if no handler is registered.
pub(super) fn dispatch(frame: &mut TrapFrame, vector: u8) -> bool {
    let handler = HANDLERS[usize::from(vector)].load(Ordering::Acquire);
    if handler == 0 {
        return false;
    }
    if vector >= APIC_FIRST_VECTOR {
        apic::end_of_interrupt();
    } else {
        pic::end_of_interrupt(vector);
    }
    // SAFETY: non-zero entries are only ever stored by `set_handler`, from a `Handler`.
    let handler: Handler = unsafe { core::mem::transmute::<usize, Handler>(handler) };
    // The handler is interrupt context (it must not allocate or block); the exit hook
    // that follows is not: it may switch to another thread, which resumes in thread
    // context, so the depth is back to zero before it runs.
    cpu_local::enter_interrupt();
    handler(frame);
    cpu_local::leave_interrupt();
    let hook = EXIT_HOOK.load(Ordering::Acquire);
    if hook != 0 {
        // SAFETY: non-zero values are only stored by `set_exit_hook`, from a `fn()`.
        let hook = unsafe { core::mem::transmute::<usize, fn()>(hook) };
        hook();
    }
    true
}

/// Raises interrupt `VECTOR` in software (`int VECTOR`): it takes the same trap path as a
/// hardware interrupt. For measuring that path and for tests.
pub fn raise<const VECTOR: u8>() {
    // SAFETY: every vector has an IDT gate leading to the trap path, which saves and
    // restores all registers; a vector without a handler is reported as unexpected.
    unsafe { core::arch::asm!("int {vector}", vector = const VECTOR) };
}
