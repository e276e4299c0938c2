//! Architecture support: the bottom layer. Only x86_64 exists; the rest of the kernel
//! reaches the CPU through the items re-exported here and nothing else:
//!
//! - [`init`]: per-CPU block, descriptor tables, trap vectors, legacy interrupt
//!   controller, SSE;
//! - [`context`]: the naked switch routine and the faked first frames of a new thread;
//! - [`cpu`]: interrupt flag save/restore, halting; [`cpu_local`]: the per-CPU block
//!   (GS base) with its interrupt-depth and spinlock counts;
//! - [`IrqSpinLock`]: the interrupt-disabling spinlock every layer above uses;
//! - [`interrupts`], [`vectors`]: routing interrupt vectors (and legacy IRQ lines) to
//!   handlers, and the one table of vector numbers; [`ioapic`]: the I/O APIC, through
//!   which legacy IRQ lines reach any CPU;
//! - [`apic`], [`timer`]: finding the local APIC, calibrating and starting the tick;
//! - [`fpu`]: x87/SSE state for threads that opt in; [`tsc`]: the time-stamp counter;
//! - [`debug_port`]: lock-free output for panic and exception reports; [`debugcon`]:
//!   QEMU's debug console port, where the schedule trace goes;
//! - [`qemu`]: leaving QEMU with a success or failure status; [`stop`]: the first
//!   failing CPU stops the others before it reports;
//! - [`smp`]: starting the other CPUs;
//! - [`TrapFrame`], [`trap_count`], [`set_fault_reporter`]: the interrupted context, how
//!   often each vector fired, and a hook that adds the current thread to fault reports.
//!
//! `arch` calls upward only through slots it is given at run time: it depends on no
//! other kernel module. Every such hook, who installs it and when `arch` calls it:
//!
//! | hook (set with) | installed by | called |
//! |---|---|---|
//! | a vector's handler (`interrupts::set_handler`, `route_legacy_irq`) | the scheduler (reschedule IPI), `timer::start` (the thread layer's `on_timer`), drivers (`uart_input`, `ps2_input`, `virtio_net`) | on that vector, on the CPU it arrives at, interrupts off |
//! | the exit hook (`interrupts::set_exit_hook`) | the scheduler (`preempt_on_interrupt_exit`) | after every hardware interrupt's handler: where preemption happens |
//! | the observer (`interrupts::set_observer`) | the trace, while it records | as each handler starts and ends |
//! | the fault reporter ([`set_fault_reporter`]) | the thread layer | in a fatal exception report: adds the running thread |
//! | the containment rule (`fault::set_fault_containment`) | `panic` | on a CPU exception: whether it becomes a panic of the thread |
//! | the AP main (`smp::set_ap_main`) | `smp` (the kernel's) | on each started CPU, once its `arch` state is up |
//! | the shutdown hook (`qemu::set_shutdown_hook`) | the trace | just before QEMU is told to exit |
//!
//! Each is one atomic word (`x86_64/fn_slot.rs`): installing takes no lock, and an
//! interrupt path reads it with one load.
//!
//! **Checked by:** host tests in
//! `x86_64/{backtrace,timer,symbols,calibration,stated_rates}.rs`; test kernels `boot`,
//! `breakpoint`, `page_fault`, `fault_in_guard_page`, `fault_in_irq_handler`, `fpu`,
//! `fpu_denied`, `irq_routing`, `irq_block`, `clock`, `smp_boot`, `smp_panic`,
//! `stack_overflow`, `preemption_pit`, `serial_input_pit`, `keyboard_pit` (the 8259/PIT
//! path); `tests/layers.rs` (no upward reference).

mod x86_64;

#[cfg(target_os = "none")]
pub use self::x86_64::fault;
#[cfg(feature = "diag")]
pub use self::x86_64::last_interrupt_entry_tsc;
pub use self::x86_64::{
    FaultReporter, IrqSpinLock, IrqSpinLockGuard, IrqsOffGuard, RawIrqSpinLock, TrapFrame, apic,
    backtrace, contention, context, cpu, cpu_local, debug_port, debugcon, fpu, init, interrupts,
    ioapic, lock_irqs_off, qemu, set_fault_reporter, smp, stop, symbols, timer, trap_count,
    try_lock_irqs_off, tsc, unwind_tables, vectors,
};
