//! Hardware interrupt handlers: a table from vector to handler, filled by the layers
//! above (the scheduler's timer tick, device drivers).
//!
//! **The end-of-interrupt** is sent before the exit hook, which may switch threads (the
//! timer tick preempts): the interrupted thread may not run again for a while, and an
//! EOI left pending until then would block every further interrupt. For an
//! edge-triggered source it is sent *before* the handler, so that an edge the device
//! raises while its handler drains it is a fresh interrupt. For a line the I/O APIC
//! takes as level-triggered (the MADT makes QEMU's PCI lines so) it is sent *after* the
//! handler: the EOI clears the line's remote IRR, and a line still asserted then is
//! delivered again. Sent before the handler lowered the line (by reading its device's
//! status), it would bring one more interrupt with nothing to do; sent after, the line
//! comes back only if a device raised it again, which is a real interrupt. (The 8259
//! path keeps the early EOI for every line.)
//!
//! **Legacy (ISA) IRQ lines.** [`route_legacy_irq`] connects one line to a handler, by
//! one of two paths, chosen at boot:
//!
//! - the I/O APIC ([`ioapic`], set up when the MADT lists one and the local APIC is on):
//!   the line interrupts on [`vectors::IO_APIC_FIRST`]` + line`, acknowledged at the
//!   local APIC, on the CPU [`set_irq_cpu`] picked (the boot CPU unless told otherwise);
//!   the 8259 stays fully masked;
//! - the 8259 otherwise: [`vectors::PIC_FIRST`]` + line`, acknowledged at the 8259,
//!   straight to the CPU when it has no local APIC, or through the boot CPU's LINT0 pin,
//!   which [`apic`] programs as ExtINT (the "virtual wire"). On this path only the
//!   boot CPU takes device interrupts.
//!
//! **One handler per line at a time, on any number of CPUs.** A line the I/O APIC routes
//! can move to another CPU ([`set_irq_cpu`]) while its handler runs on the old one, and
//! the next interrupt of the line may then start the handler on the new CPU beside it.
//! Drivers assume one handler at a time (the serial handler reads the UART under the
//! port's lock and queues each byte after releasing it: two of them dropped and swapped
//! bytes). The design's choices, in order:
//!
//! 1. Not "mask the line, wait for its handler in flight, retarget, unmask". An I/O
//!    APIC drops an edge that arrives while its input is masked (82093AA datasheet; QEMU
//!    alike), so every driver would need a hook that looks at its device again after a
//!    move (the UART could re-raise its line by toggling its interrupt enable; the PS/2
//!    controller cannot without discarding the byte it holds). And a wait for the
//!    handler in flight only sees handlers that started: an interrupt the old CPU's
//!    local APIC accepted while that CPU had interrupts off runs its handler after the
//!    move, beside the new CPU's.
//! 2. Instead the dispatcher holds a lock per I/O APIC line around the line's handler
//!    (`LINE_HANDLERS`): whatever a move's timing, two CPUs never run one line's
//!    handler at once, a driver keeps a single drainer, and the move stays one register
//!    write that never masks the line, so no edge is lost and no driver needs a hook.
//!    (The 8259's lines reach only the boot CPU: nothing to lock.)
//! 3. Why the wait is short and cannot deadlock: a CPU waits for the lock only on
//!    interrupt entry, so it had interrupts on, holds no spinlock (every one disables
//!    interrupts) and runs no handler; the holder runs a handler with interrupts off
//!    that takes only such spinlocks and never blocks or switches threads (the exit hook
//!    switches, after the lock is released). So the wait is a handler run or two, and
//!    it happens only around a move: a line that stays put interrupts one CPU, which
//!    takes its interrupts one at a time.
//! 4. Orderings: the lock's acquire and release order everything one handler did
//!    (bytes read from the device and queued) before everything the line's next handler
//!    does, on whichever CPU. The device's registers are port I/O or uncached MMIO,
//!    which the CPU keeps in program order.

use core::sync::atomic::{AtomicU16, Ordering};

use super::{
    TrapFrame, apic, cpu_local,
    fn_slot::{self, FnSlot},
    ioapic, pic,
    spinlock::IrqSpinLock,
    vectors,
};

/// A hardware interrupt handler. It runs with interrupts disabled, on the interrupted
/// thread's stack; it must not block or switch threads (the exit hook that follows it
/// does the switching).
pub type Handler = fn(&mut TrapFrame);

// SAFETY: a function pointer type.
unsafe impl fn_slot::FnPointer for Handler {}

static HANDLERS: [FnSlot<Handler>; 256] = [const { FnSlot::empty() }; 256];

/// Runs after every hardware interrupt handler: where the scheduler preempts.
static EXIT_HOOK: FnSlot<fn()> = FnSlot::empty();

/// Told when a handler starts and ends (the trace installs it while it records): the
/// vector and whether the handler is starting.
static OBSERVER: FnSlot<Observer> = FnSlot::empty();

/// Watches interrupt handlers: `(vector, starting)`.
pub type Observer = fn(u8, bool);

// SAFETY: a function pointer type.
unsafe impl fn_slot::FnPointer for Observer {}

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

/// Routes legacy IRQ `line` to `handler` and unmasks the line; returns the vector the
/// handler runs on (whose [`trap_count`] counts the interrupts): [`vectors::IO_APIC_FIRST`]
/// ` + line` through the I/O APIC, on the CPU [`set_irq_cpu`] chose, or
/// [`vectors::PIC_FIRST`]` + line` through the 8259, on the boot CPU (see the module
/// docs). An edge-triggered line's handler runs after the EOI, so a device that raises
/// its line again while the handler drains it gives a fresh edge and a fresh interrupt;
/// a level-triggered one's runs before it (see the module docs).
///
/// An edge that came while the line was masked is delivered on unmasking by the 8259 but
/// lost by an I/O APIC: a driver routes the line first and then lets its device
/// interrupt, so that input waiting in the device raises a fresh edge.
///
/// [`trap_count`]: super::trap_count
///
/// # Panics
/// If `line` is not 0-15, or is 2 (the slave's cascade), or 7 or 15: those two are taken
/// as the 8259's spurious interrupts (the rule holds for both paths, so a driver works
/// on either).
pub fn route_legacy_irq(line: u8, handler: Handler) -> u8 {
    assert_routable(line);
    if !ioapic::is_active() {
        let vector = vectors::PIC_FIRST + line;
        set_handler(vector, handler);
        pic::unmask(line);
        log::debug!("ISA line {line} -> vector {vector:#x} through the 8259, to CPU 0");
        return vector;
    }
    let vector = vectors::IO_APIC_FIRST + line;
    set_handler(vector, handler);
    if ioapic::isa_trigger(line) == ioapic::Trigger::Level {
        LEVEL_LINES.fetch_or(1 << line, Ordering::Relaxed);
    }
    let mut lines = LEGACY_LINES.lock();
    let (cpu, apic_id) = (lines.cpu[usize::from(line)], lines.apic_id(line));
    ioapic::route_isa(line, vector, apic_id);
    lines.routed |= 1 << line;
    drop(lines); // logged without the lock
    log::debug!(
        "ISA line {line} -> vector {vector:#x} through the I/O APIC, to CPU {cpu} (APIC ID {apic_id})"
    );
    vector
}

/// Makes CPU `cpu` (an index, as `thread::current_cpu` counts them) take the interrupts
/// of legacy IRQ `line`: at once if the line is routed, else once it is. A handler of
/// the line still running on its old CPU finishes before the new CPU runs the line's
/// next one, and the line is never masked, so no interrupt is lost (see the module
/// docs, "One handler per line at a time"). Spreading
/// devices over CPUs keeps their handlers off the CPUs that run latency-sensitive
/// threads; a handler's wake-ups still reach threads on any CPU.
///
/// # Errors
/// [`IrqCpuError::NoIoApic`] for any CPU but 0 when the 8259 routes legacy IRQs;
/// [`IrqCpuError::NotOnline`] if that CPU is not running.
///
/// # Panics
/// If `line` cannot be routed (see [`route_legacy_irq`]).
pub fn set_irq_cpu(line: u8, cpu: u32) -> Result<(), IrqCpuError> {
    assert_routable(line);
    if !ioapic::is_active() {
        return if cpu == 0 {
            Ok(())
        } else {
            Err(IrqCpuError::NoIoApic)
        };
    }
    let apic_id = apic::id_of_cpu(cpu).ok_or(IrqCpuError::NotOnline)?;
    let mut lines = LEGACY_LINES.lock();
    lines.cpu[usize::from(line)] = cpu;
    let routed = lines.routed & (1 << line) != 0;
    if routed {
        ioapic::set_destination(line, apic_id);
    }
    drop(lines); // logged without the lock
    log::debug!(
        "ISA line {line} moved to CPU {cpu} (APIC ID {apic_id}){}",
        if routed { "" } else { ", once it is routed" }
    );
    Ok(())
}

/// Why [`set_irq_cpu`] refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IrqCpuError {
    /// There is no I/O APIC in use: legacy IRQs reach the boot CPU only.
    NoIoApic,
    /// The CPU is not online.
    NotOnline,
}

impl core::fmt::Display for IrqCpuError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(match self {
            Self::NoIoApic => "legacy IRQs go through the 8259, to the boot CPU only",
            Self::NotOnline => "that CPU is not online",
        })
    }
}

/// Which CPU each legacy line interrupts through the I/O APIC, and which lines are routed.
/// The lock keeps a route and a move of the same line from crossing.
struct LegacyLines {
    /// CPU index per line (0, the boot CPU, until [`set_irq_cpu`]).
    cpu: [u32; 16],
    /// Bit `n`: line `n` is routed.
    routed: u16,
}

impl LegacyLines {
    /// The APIC ID of the CPU `line` goes to.
    fn apic_id(&self, line: u8) -> u32 {
        let cpu = self.cpu[usize::from(line)];
        // `set_irq_cpu` checked the CPU was online, and CPUs never leave; the boot CPU
        // enabled its APIC before the I/O APIC was set up.
        apic::id_of_cpu(cpu).expect("an IRQ's CPU has its APIC on")
    }
}

static LEGACY_LINES: IrqSpinLock<LegacyLines> = IrqSpinLock::new(LegacyLines {
    cpu: [0; 16],
    routed: 0,
});

/// Bit `n`: ISA line `n` is level-triggered at the I/O APIC (its EOI follows its
/// handler: see the module docs). Set before the line is unmasked (`route_legacy_irq`),
/// read when it interrupts: x86 makes stores visible in program order, so the bit is
/// visible before the unmasking store, and the line interrupts only after that.
static LEVEL_LINES: AtomicU16 = AtomicU16::new(0);

/// Held around the handler of each ISA line the I/O APIC delivers, by the CPU running
/// it: one handler per line at a time (see the module docs).
static LINE_HANDLERS: [IrqSpinLock<()>; 16] = [const { IrqSpinLock::new(()) }; 16];

/// The ISA line whose handler runs on `vector` through the I/O APIC, if it is one.
fn io_apic_line(vector: u8) -> Option<usize> {
    let line = vector.checked_sub(vectors::IO_APIC_FIRST)?;
    (usize::from(line) < LINE_HANDLERS.len()).then_some(usize::from(line))
}

fn assert_routable(line: u8) {
    assert!(
        line < 16 && !matches!(line, 2 | 7 | 15),
        "IRQ {line} cannot be routed to a handler"
    );
}

/// Acknowledges and handles a hardware interrupt; `false` if no handler is registered.
pub(super) fn dispatch(frame: &mut TrapFrame, vector: u8) -> bool {
    let Some(handler) = HANDLERS[usize::from(vector)].get() else {
        return false;
    };
    let line = io_apic_line(vector);
    let level = line.is_some_and(|line| LEVEL_LINES.load(Ordering::Relaxed) & (1 << line) != 0);
    if !level {
        end_of_interrupt(vector);
    }
    // The handler is interrupt context (it must not allocate or block); the exit hook
    // that follows is not: it may switch to another thread, which resumes in thread
    // context, so the depth is back to zero before it runs.
    cpu_local::enter_interrupt();
    // The trace's entry and exit records go inside the line's lock, so that it never
    // shows a line's handler running on two CPUs at once.
    let one_at_a_time = line.map(|line| LINE_HANDLERS[line].lock());
    if cpu_local::tracing() {
        observe(vector, true);
    }
    handler(frame);
    if cpu_local::tracing() {
        observe(vector, false);
    }
    drop(one_at_a_time);
    if level {
        // After the handler's device access, which is uncached and so done by now: the
        // line is low unless the device raised it again (see the module docs).
        end_of_interrupt(vector);
    }
    cpu_local::leave_interrupt();
    if let Some(hook) = EXIT_HOOK.get() {
        hook();
    }
    true
}

/// Acknowledges `vector`: the 8259's at the 8259 (the virtual wire bypasses the local
/// APIC's in-service logic), everything else, the I/O APIC's included, at the local APIC.
fn end_of_interrupt(vector: u8) {
    if vector < vectors::APIC_FIRST {
        pic::end_of_interrupt(vector);
    } else {
        apic::end_of_interrupt();
    }
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
