//! Spindle: an x86_64 kernel where stackful kernel threads host async executors.
//!
//! The library holds the whole kernel; the `kernel` binary, every test kernel and every
//! benchmark kernel are thin `entry_point!`s over it. The modules are layers, listed from
//! the bottom: each uses only the ones above it in this table (a host test,
//! `tests/layers.rs`, fails on an upward reference).
//!
//! | layer | module      | owns                                                            |
//! |------:|-------------|-----------------------------------------------------------------|
//! | 0     | `intrusive` | intrusive lists and the lock-free inbox: data structures only   |
//! | 1     | `arch`      | the CPU: traps, contexts, per-CPU data, interrupt controllers, timers, the spinlock |
//! | 2     | `time`, `mm`, `trace` | the clock; heap, page tables, stacks; the trace recorder |
//! | 3     | `thread`, `acpi` | kernel threads, the scheduler, wait queues, timers, sleeping; the firmware's CPUs and I/O APICs |
//! | 4     | `sync`      | mutex, condition variable, semaphore, event, channels           |
//! | 5     | `executor`  | async executors hosted by threads, tasks, wakers, async time    |
//! | 6     | `drivers`   | devices: the UART, the PS/2 controller, IRQ-to-waker queues     |
//! | 7     | `input`     | serial and keyboard input as async streams                      |
//! | 8     | `logger`, `panic` | the `log` backend, the panic report                     |
//! | 9     | `tracing`, `smp` | turning the schedule trace on and off; starting the other CPUs |
//! | 10    | `boot`      | bring-up: calls every layer in order                            |
//!
//! `thread`, `sync` and `executor` live together under `task/`, the tasking subsystem.
//! Lower layers call higher ones only through slots they are given at run time: `arch`'s
//! interrupt handlers, preemption hook and fault reporter.
//!
//! `unsafe` is denied crate-wide and allowed only in the modules that touch hardware or
//! raw memory, or link intrusive nodes; see the README ("unsafe").
#![cfg_attr(not(test), no_std)]
#![deny(unsafe_code)]
#![feature(allocator_ext)]

extern crate alloc;

#[allow(unsafe_code)]
pub mod acpi;
#[allow(unsafe_code)]
pub mod arch;
pub mod boot;
#[allow(unsafe_code)]
pub mod drivers;
pub mod input;
pub mod intrusive;
#[cfg(test)]
mod litmus;
pub mod logger;
#[allow(unsafe_code)]
pub mod mm;
mod panic;
#[allow(unsafe_code)]
pub mod smp;
mod task;
pub mod time;
pub mod trace;
pub mod tracing;

pub use boot::{BOOTLOADER_CONFIG, Config, init, init_with};
pub use task::{executor, sync, thread};
