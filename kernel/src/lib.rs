//! Spindle: an x86_64 kernel where stackful kernel threads host async executors.
//!
//! The library holds the whole kernel; an application is a `no_std` binary crate over it
//! that names its main function with [`main!`] and takes what it uses from
//! [`prelude`]:
//!
//! ```ignore
//! #![no_std]
//! #![no_main]
//!
//! use spindle::prelude::*;
//!
//! spindle::main!(app);
//!
//! fn app() {
//!     let (sender, receiver) = sync::channel::bounded(4);
//!     let host = ExecutorThread::start("tasks", 16).expect("a thread for the executor");
//!     let task = host
//!         .spawn(async move { receiver.recv_async().await.unwrap_or(0) * 2 })
//!         .expect("room for a task");
//!     sender.send(21).unwrap(); // a thread wakes the task
//!     println!("{}", executor::block_on(task).unwrap());
//! } // returning ends the run with success
//! ```
//!
//! The default `kernel` binary, every test kernel and every benchmark kernel are thin
//! entry points over it too. The modules are layers, listed from
//! the bottom: each uses only the ones above it in this table (a host test,
//! `tests/layers.rs`, fails on an upward reference).
//!
//! | layer | module      | owns                                                            |
//! |------:|-------------|-----------------------------------------------------------------|
//! | 0     | `atomics`   | the atomics and spin hint of the cross-CPU handshakes: `core`'s, or the model checker's |
//! | 1     | `intrusive` | intrusive lists and the lock-free inbox: data structures only   |
//! | 2     | `arch`      | the CPU: traps, contexts, per-CPU data, interrupt controllers, timers, the spinlock |
//! | 3     | `time`, `mm`, `trace` | the clock; heap, page tables, stacks; the trace recorder |
//! | 4     | `thread`, `acpi` | kernel threads, the scheduler, wait queues, timers, sleeping; the firmware's CPUs and I/O APICs |
//! | 5     | `sync`      | mutex, condition variable, semaphore, event, channels           |
//! | 6     | `executor`  | async executors hosted by threads, tasks, wakers, async time    |
//! | 7     | `drivers`   | devices: the UART, the PS/2 controller, IRQ-to-waker queues, PCI, virtio-net |
//! | 8     | `input`, `net` | serial and keyboard input as async streams; TCP/IP over the network device |
//! | 9     | `logger`, `panic` | the `log` backend, the panic report                     |
//! | 10    | `tracing`, `smp` | turning the schedule trace on and off; starting the other CPUs |
//! | 11    | `boot`      | bring-up: calls every layer in order                            |
//! | 12    | `app`       | the application's entry ([`main!`]), its exit status            |
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
#![cfg_attr(target_os = "none", feature(panic_can_unwind, alloc_error_handler))]

extern crate alloc;

#[allow(unsafe_code)]
pub mod acpi;
pub mod app;
#[allow(unsafe_code)]
pub mod arch;
mod atomics;
pub mod boot;
#[allow(unsafe_code)]
pub mod drivers;
pub mod input;
pub mod intrusive;
pub mod logger;
#[allow(unsafe_code)]
pub mod mm;
pub mod net;
mod panic;
#[allow(unsafe_code)]
pub mod smp;
mod task;
#[cfg(test)]
mod testing;
#[cfg(test)]
use testing::litmus;
pub mod time;
pub mod trace;
pub mod tracing;

pub use app::{ExitCode, Termination, exit};
pub use boot::{BOOTLOADER_CONFIG, Config, init, init_with};
pub use log;
pub use task::{executor, sync, thread};

/// What an application usually needs, in one `use spindle::prelude::*;`: the tasking
/// modules and their main types, time, printing and logging, the exit, and `alloc`'s
/// everyday types.
///
/// Blocking and async functions of the same name stay behind their module, so the call
/// site says which it is: `thread::sleep` blocks the thread, `executor::sleep(..).await`
/// suspends the task.
pub mod prelude {
    pub use alloc::{
        borrow::ToOwned,
        boxed::Box,
        format,
        string::{String, ToString},
        sync::Arc,
        vec,
        vec::Vec,
    };
    pub use core::time::Duration;

    pub use log::{debug, error, info, trace, warn};

    pub use crate::{
        ExitCode,
        executor::{self, Executor, ExecutorThread, Spawner},
        exit, print, println,
        sync::{self, Mutex, channel, oneshot},
        thread,
        time::{self, Instant},
    };
}
