//! Architecture support. Only x86_64 exists; the rest of the kernel reaches the hardware
//! through the items re-exported here and nothing else:
//!
//! - [`init`]: descriptor tables, trap vectors, legacy interrupt controller, serial, SSE;
//! - [`context`]: the naked switch routine and the faked first frames of a new thread;
//! - [`cpu`]: interrupt flag save/restore, halting;
//! - [`cpu_local`]: the per-CPU data pointer (GS base);
//! - [`interrupts`]: routing hardware interrupt vectors (and legacy IRQ lines) to handlers;
//! - [`apic`], [`timer`]: finding the local APIC, calibrating and starting the tick;
//! - [`fpu`]: x87/SSE state for threads that opt in;
//! - [`serial`]: the console and the `print!`/`println!` macros, and its receive side;
//! - [`ps2`]: the PS/2 controller's keyboard port;
//! - [`tsc`]: reading the time-stamp counter;
//! - [`qemu`]: leaving QEMU with a success or failure status;
//! - [`TrapFrame`], [`trap_count`], [`set_fault_reporter`]: the interrupted context, how
//!   often each vector fired, and a hook that adds the current thread to fault reports.

mod x86_64;

pub use self::x86_64::{
    FaultReporter, TrapFrame, apic, context, cpu, cpu_local, fpu, init, interrupts,
    last_interrupt_entry_tsc, ps2, qemu, serial, set_fault_reporter, timer, trap_count, tsc,
};
