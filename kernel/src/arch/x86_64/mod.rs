//! x86_64 support: the CPU (interrupt flag, per-CPU block, descriptor tables), the trap
//! path, thread contexts, the interrupt controllers and timers, FPU state, the TSC, the
//! spinlock everything below the threads uses, and a lock-free debug port for reports.
//! Devices have their drivers in `crate::drivers`.

pub mod apic;
pub mod backtrace;
mod calibration;
pub mod context;
pub mod cpu;
pub mod cpu_local;
pub mod debug_port;
pub mod debugcon;
mod exception;
mod exception_names;
#[cfg(target_os = "none")]
pub mod fault;
mod fn_slot;
pub mod fpu;
mod gdt;
mod idt;
mod image;
pub mod interrupts;
pub mod ioapic;
mod pic;
mod pit;
pub mod qemu;
pub mod smp;
mod spinlock;
mod stated_rates;
pub mod stop;
pub mod symbols;
pub mod timer;
mod trap;
mod trap_entry;
pub mod tsc;
pub mod unwind_tables;
pub mod vectors;

pub use cpu_local::trap_count;
pub use exception::{FaultReporter, set_fault_reporter};
pub use spinlock::{
    IrqSpinLock, IrqSpinLockGuard, IrqsOffGuard, RawIrqSpinLock, contention, lock_irqs_off,
    try_lock_irqs_off,
};
pub use trap::TrapFrame;
#[cfg(feature = "diag")]
pub use trap::last_interrupt_entry_tsc;

/// Brings up this CPU: its per-CPU block (spinlocks count themselves in it), the GDT
/// with its TSS and IST stack, the IDT covering all 256 vectors, the 8259 pair remapped
/// away from the exception vectors and masked, and SSE enabled but not yet allowed.
///
/// Interrupts stay disabled.
pub fn init() {
    cpu_local::init_boot_cpu();
    tsc::init_boot_cpu();
    gdt::init();
    idt::init(gdt::selectors().code);
    pic::init_masked();
    fpu::init();
}
