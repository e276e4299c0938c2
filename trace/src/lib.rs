//! Spindle's schedule trace.
//!
//! The kernel records scheduling events (switches, wakes, interrupts, task polls, ...)
//! into per-CPU rings of fixed-size [`Record`]s and streams them to the host through
//! QEMU's debug console port; the host decodes the stream and draws it. This crate is
//! both halves' contract: the format (`no_std`, used by the kernel) and, with the `std`
//! feature, the host side.
//!
//! **Stream.** A stream is one or more *segments*, each a [`Header`] followed by records:
//!
//! ```text
//!   Header (32 bytes): magic "SPINTRC\0", version, record size, CPU count, TSC Hz
//!   Record (32 bytes) × n, per CPU in time order; CPUs may interleave
//! ```
//!
//! All integers are little-endian. A ring that overflowed says so with a
//! [`Kind::Dropped`] record (how many were lost) before what it kept.
//!
//! **Host side** (feature `std`): [`decode()`] turns a stream into a [`Trace`] ([`load()`]
//! reads it from a file first, and [`summary`] says in a line what it holds);
//! [`check()`] tests the scheduler's invariants on it; [`Timeline`] pairs its events
//! into runs, polls and wakes; [`write_perfetto`] and [`write_svg`] draw it (for
//! ui.perfetto.dev, and as a picture), [`write_files`] writes both all-or-nothing. The
//! `spindle-trace` binary wraps these for the command line:
//!
//! ```text
//!   spindle-trace convert TRACE.bin OUT.json [--svg OUT.svg] [--window START_US..END_US]
//!                         [--from-mark TEXT]   (the window counted from a tracing::mark)
//!   spindle-trace check TRACE.bin        (exit status 1 if an invariant is broken)
//! ```
//!
//! To look at the pictures the tests draw (a simulated two-CPU run, and the small
//! hand-written trace), run `SPINDLE_TRACE_PREVIEW=/some/dir cargo test -p
//! spindle-trace --test svg` and open the SVGs there (or convert them with
//! `rsvg-convert`).

#![cfg_attr(not(feature = "std"), no_std)]

#[cfg(feature = "std")]
mod check;
#[cfg(feature = "std")]
mod decode;
#[cfg(feature = "std")]
mod files;
mod format;
#[cfg(feature = "std")]
mod json;
#[cfg(feature = "std")]
mod load;
#[cfg(feature = "std")]
mod perfetto;
#[cfg(feature = "std")]
mod svg;
#[cfg(feature = "std")]
mod timeline;

#[cfg(feature = "std")]
pub use check::{Rule, Violation, check, kind_name};
#[cfg(feature = "std")]
pub use decode::{DecodeError, Event, ExecutorId, TaskId, ThreadId, Trace, Waker, What, decode};
#[cfg(feature = "std")]
pub use files::{write_file_atomically, write_files};
pub use format::{
    HEADER_SIZE, Header, Kind, MAGIC, NAME_BYTES, RECORD_SIZE, Record, SwitchReason, VERSION,
    WakeSource,
};
#[cfg(feature = "std")]
pub use load::{LoadError, load, summary};
#[cfg(feature = "std")]
pub use perfetto::write_perfetto;
#[cfg(feature = "std")]
pub use svg::{SvgOptions, write_svg};
#[cfg(feature = "std")]
pub use timeline::{
    Halt, Instant, InstantKind, Irq, Poll, Run, RunEnd, Timeline, Wake, WakeTarget, irq_label,
    reason_name, vector_name,
};
