//! Spindle's context switch and run queue measured on the host CPU, beside the usual
//! alternatives: a stackful coroutine crate, OS threads and an async runtime.
//!
//! Why on the host: inside QEMU under TCG every instruction is emulated, so the kernel's
//! own benchmarks can compare Spindle with itself but say little about real silicon. The
//! switch routine is an ordinary `extern "sysv64"` function that only touches registers
//! and the stack, and the run queue is portable code, so the host can run the *same*
//! machine code the kernel runs: [`spindle::PingPong`] switches with
//! `spindle::arch::context::switch` between two stacks, starting the second one with
//! `spindle::arch::context::prepare_switch_frame`.
//!
//! The workloads are in [`workloads`], the timing and statistics in [`measure`]; the
//! `host` bench (`cargo bench -p spindle-host-bench`) runs them and writes the report.
//! Unit tests here (`cargo test`) check that the workloads do what they claim with a few
//! operations each; they never time anything.

pub mod measure;
pub mod spindle;
pub mod workloads;
