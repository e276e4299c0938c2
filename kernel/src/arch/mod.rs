//! Architecture support. Only x86_64 exists; the rest of the kernel reaches the hardware
//! through the items re-exported here and nothing else:
//!
//! - [`init`]: descriptor tables, trap vectors, legacy interrupt controller, serial;
//! - [`cpu`]: interrupt flag save/restore, halting;
//! - [`serial`]: the console and the `print!`/`println!` macros;
//! - [`tsc`]: reading and calibrating the time-stamp counter;
//! - [`qemu`]: leaving QEMU with a success or failure status;
//! - [`TrapFrame`]: the registers of an interrupted context;
//! - [`trap_count`]: how often each vector was taken.

mod x86_64;

pub use self::x86_64::{TrapFrame, cpu, init, qemu, serial, trap_count, tsc};
