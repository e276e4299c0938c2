//! x86_64 support: descriptor tables, the trap path, thread contexts, interrupt
//! controllers and timers, FPU state, legacy devices.

pub mod apic;
pub mod context;
pub mod cpu;
pub mod cpu_local;
mod exception;
pub mod fpu;
mod gdt;
mod idt;
pub mod interrupts;
mod pic;
mod pit;
pub mod ps2;
pub mod qemu;
pub mod serial;
pub mod timer;
mod trap;
mod trap_entry;
pub mod tsc;

pub use exception::{FaultReporter, set_fault_reporter};
pub use trap::{TrapFrame, last_interrupt_entry_tsc, trap_count};

/// Brings up this CPU: its per-CPU block (spinlocks count themselves in it), the serial
/// console (so anything later can report), then the GDT
/// with its TSS and IST stack, the IDT covering all 256 vectors, the 8259 pair remapped
/// away from the exception vectors and masked, and SSE enabled but not yet allowed.
///
/// Interrupts stay disabled.
pub fn init() {
    cpu_local::init_boot_cpu();
    serial::init();
    gdt::init();
    idt::init(gdt::selectors().code);
    pic::init_masked();
    fpu::init();
}
