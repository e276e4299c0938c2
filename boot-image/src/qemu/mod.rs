//! Everything about running QEMU: finding it, building its command line,
//! running it and decoding how it exited. The runner, the test harness and
//! the benchmarks all go through here, so they agree on what a kernel's
//! success looks like.

mod command;
mod limit;
mod locate;
mod options;
mod outcome;
mod run;
mod signals;

pub use command::{command, machine_args, net_args};
pub use limit::{Hang, TimeLimit, Usage};
pub use locate::{KvmUnavailable, locate_qemu};
pub use options::{QemuOptions, minimum_memory_mib};
pub use outcome::{EXIT_FAILURE_VALUE, EXIT_SUCCESS_VALUE, Outcome};
pub use run::{
    Captured, Drive, Driver, SerialInput, run_captured, run_driven, run_forwarding, run_interactive,
};
