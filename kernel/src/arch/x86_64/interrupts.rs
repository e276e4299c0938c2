//! Hardware interrupt handlers: a table from vector to handler, filled by the layers
//! above (the scheduler's timer tick, device drivers).
//!
//! The end-of-interrupt is sent *before* the handler runs: a handler may switch threads
//! (the timer tick preempts), and the interrupted thread may not run again for a while;
//! an EOI left pending until then would block every further interrupt. All of Spindle's
//! interrupt sources are edge-triggered, for which an early EOI is correct.
//!
//! Legacy devices interrupt through the 8259 on [`vectors::PIC_FIRST`]` + line`: straight
//! to the CPU when it has no local APIC, otherwise through the APIC's LINT0 pin, which
//! [`apic`] programs as ExtINT (the "virtual wire"), so those interrupts are acknowledged
//! at the 8259 only. [`route_legacy_irq`] connects one line to a handler.

use super::{TrapFrame, apic, cpu_local, fn_slot::FnSlot, pic, vectors};

/// A hardware interrupt handler. It runs with interrupts disabled, on the interrupted
/// thread's stack, and may switch threads.
pub type Handler = fn(&mut TrapFrame);

static HANDLERS: [FnSlot<Handler>; 256] = [const { FnSlot::empty() }; 256];

/// Runs after every hardware interrupt handler: where the scheduler preempts.
static EXIT_HOOK: FnSlot<fn()> = FnSlot::empty();

/// Told when a handler starts and ends (the trace installs it while it records): the
/// vector and whether the handler is starting.
static OBSERVER: FnSlot<Observer> = FnSlot::empty();

/// Watches interrupt handlers: `(vector, starting)`.
pub type Observer = fn(u8, bool);

/// Installs (or, with `None`, removes) the function told when each interrupt handler
/// starts and ends, while this CPU traces (`cpu_local::tracing`): otherwise the cost is
/// one test per interrupt.
pub fn set_observer(observer: Option<Observer>) {
    match observer {
        Some(observer) => OBSERVER.set(observer),
        None => OBSERVER.clear(),
    }
}

/// Installs the function run after every hardware interrupt handler (the scheduler's
/// preemption point), still on the interrupted thread's stack with interrupts disabled.
pub fn set_exit_hook(hook: fn()) {
    EXIT_HOOK.set(hook);
}

/// Routes `vector` to `handler`.
pub fn set_handler(vector: u8, handler: Handler) {
    HANDLERS[usize::from(vector)].set(handler);
}

/// Routes IRQ `line` of the 8259 to `handler` and unmasks the line; returns the vector
/// the handler runs on, [`vectors::PIC_FIRST`]` + line` (whose [`trap_count`] counts the
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
    let vector = vectors::PIC_FIRST + line;
    set_handler(vector, handler);
    pic::unmask(line);
    vector
}

/// Acknowledges and handles a hardware interrupt; `false` if no handler is registered.
pub(super) fn dispatch(frame: &mut TrapFrame, vector: u8) -> bool {
    let Some(handler) = HANDLERS[usize::from(vector)].get() else {
        return false;
    };
    if vector >= vectors::APIC_FIRST {
        apic::end_of_interrupt();
    } else {
        pic::end_of_interrupt(vector);
    }
    // The handler is interrupt context (it must not allocate or block); the exit hook
    // that follows is not: it may switch to another thread, which resumes in thread
    // context, so the depth is back to zero before it runs.
    cpu_local::enter_interrupt();
    if cpu_local::tracing() {
        observe(vector, true);
    }
    handler(frame);
    if cpu_local::tracing() {
        observe(vector, false);
    }
    cpu_local::leave_interrupt();
    if let Some(hook) = EXIT_HOOK.get() {
        hook();
    }
    true
}

/// Tells the observer (out of line: only while tracing) and notes the vector for the
/// trace's wake records.
#[cold]
#[inline(never)]
fn observe(vector: u8, starting: bool) {
    if starting {
        cpu_local::set_interrupt_vector(vector);
    }
    if let Some(observer) = OBSERVER.get() {
        observer(vector, starting);
    }
}

/// Raises interrupt `VECTOR` in software (`int VECTOR`): it takes the same trap path as a
/// hardware interrupt. For measuring that path and for tests.
pub fn raise<const VECTOR: u8>() {
    // SAFETY: every vector has an IDT gate leading to the trap path, which saves and
    // restores all registers; a vector without a handler is reported as unexpected.
    unsafe { core::arch::asm!("int {vector}", vector = const VECTOR) };
}
