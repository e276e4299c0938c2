//! Spindle: an x86_64 kernel where stackful kernel threads host async executors.
//!
//! The library holds the whole kernel; the `kernel` binary, every test kernel and every
//! benchmark kernel are thin `entry_point!`s over it. The module list is the architecture:
//!
//! | module   | owns                                                                  |
//! |----------|-----------------------------------------------------------------------|
//! | `arch`   | everything x86-specific: traps, descriptor tables, serial, PIT, TSC   |
//! | `task`   | kernel threads: creation, the scheduler, wait queues, sleeping        |
//! | `executor` | async executors hosted by threads, wakers, async time, bridges      |
//! | `input`  | interrupt-driven serial and keyboard input as async streams           |
//! | `console`| the serial console of the default kernel                              |
//! | `sync`   | spinlocks, and the blocking primitives built on wait queues           |
//! | `mm`     | the heap over the bootloader's memory map, page-table queries         |
//! | `time`   | the monotonic clock                                                   |
//! | `logger` | the `log` backend over serial                                         |
//! | `boot`   | bootloader configuration and the bring-up sequence                    |
//! | `panic`  | the panic report                                                      |
//!
//! `unsafe` is denied crate-wide and allowed only in the modules that must touch hardware
//! or raw memory (`arch`, `sync`, `mm`); each block there states its invariant.
#![cfg_attr(not(test), no_std)]
#![deny(unsafe_code)]
#![feature(allocator_ext)]

extern crate alloc;

#[allow(unsafe_code)]
pub mod arch;
pub mod boot;
pub mod console;
#[allow(unsafe_code)]
pub mod executor;
pub mod input;
pub mod intrusive;
#[cfg(test)]
mod litmus;
mod logger;
#[allow(unsafe_code)]
pub mod mm;
mod panic;
#[allow(unsafe_code)]
pub mod sync;
pub mod task;
pub mod time;

pub use boot::{BOOTLOADER_CONFIG, Config, init, init_with};
