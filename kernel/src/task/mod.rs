//! The tasking subsystem: everything that runs code, in three layers, each using only the
//! ones before it.
//!
//! | module       | what                                                              |
//! |--------------|-------------------------------------------------------------------|
//! | [`thread`]   | kernel threads: creation, the scheduler, wait queues, sleeping    |
//! | [`sync`]     | blocking primitives built on wait queues: mutex, channels, ...    |
//! | [`executor`] | async executors hosted by threads, their tasks and wakers         |
//!
//! All three are re-exported at the crate root (`spindle::thread`, `spindle::sync`,
//! `spindle::executor`); this module only groups them. In names, *thread* is a kernel
//! thread and *task* is always an async task (a future on an executor).

pub mod executor;
pub mod sync;
pub mod thread;
