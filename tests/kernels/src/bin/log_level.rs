//! The log level changes at run time (`spindle::logger::set_level`, the console's `log`
//! command): debug records (thread spawns and exits, executors) appear once it is raised,
//! and not before; `off` silences even warnings.
//@ reject-output: quiet-thread
//@ reject-output: quiet-executor
//@ expect-output: 'chatty-thread' spawned by thread 1: priority 3, 16 KiB stack
//@ expect-output: 'chatty-thread' exits after
//@ expect-output: 'chatty-executor' created, for up to 4 tasks
//@ expect-output: 'chatty-executor' stops (tasks dropped with it: 1)
//@ reject-output: a warning nobody sees
//@ expect-output: a warning everybody sees
#![no_std]
#![no_main]

extern crate alloc;

use core::future;

use log::LevelFilter;
use spindle::{
    executor::Executor,
    logger,
    thread::{self, Builder},
};

spindle_test::test_kernel!(
    info_hides_debug_records,
    debug_shows_them,
    off_silences_warnings
);

/// A thread that runs to its end, and an executor dropped with a task that never ends:
/// each logs at debug level when it starts and when it ends.
fn thread_and_executor(name: &str) {
    Builder::new()
        .name(alloc::format!("{name}-thread"))
        .stack_size(16 * 1024)
        .spawn(thread::yield_now)
        .expect("a thread")
        .join();
    let executor = Executor::new(&alloc::format!("{name}-executor"), 4);
    let task = executor.spawn(future::pending::<()>());
    assert_eq!(executor.run_until_stalled(), 1);
    drop(executor);
    drop(task);
}

fn info_hides_debug_records() {
    logger::set_level(LevelFilter::Info);
    assert_eq!(logger::level(), LevelFilter::Info);
    thread_and_executor("quiet");
}

fn debug_shows_them() {
    logger::set_level(LevelFilter::Debug);
    assert_eq!(logger::level(), LevelFilter::Debug);
    thread_and_executor("chatty");
    logger::set_level(LevelFilter::Info);
}

fn off_silences_warnings() {
    logger::set_level(LevelFilter::Off);
    log::warn!("a warning nobody sees");
    logger::set_level(LevelFilter::Warn);
    log::warn!("a warning everybody sees");
    logger::set_level(LevelFilter::Info);
}
