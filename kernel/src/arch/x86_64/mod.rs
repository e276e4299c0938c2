//! x86_64 support: descriptor tables, the trap path, legacy devices, the TSC.

pub mod cpu;
mod exception;
mod gdt;
mod idt;
mod pic;
mod pit;
pub mod qemu;
pub mod serial;
mod trap;
mod trap_entry;
pub mod tsc;

pub use trap::{TrapFrame, trap_count};

/// Brings up this CPU: serial console first (so anything later can report), then the GDT
/// with its TSS and IST stacks, the IDT covering all 256 vectors, and the 8259 pair
/// remapped away from the exception vectors and masked.
///
/// Interrupts stay disabled; nothing here needs them.
pub fn init() {
    serial::init();
    gdt::init();
    idt::init(gdt::selectors().code);
    pic::init_masked();
}
