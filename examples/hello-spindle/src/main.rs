//! hello-spindle: a kernel of its own on Spindle. `cargo run` in this directory builds
//! it, puts it on a disk image and boots it in QEMU; it prints what it did and powers
//! off with success.
#![no_std]
#![no_main]

use spindle::prelude::*;

spindle::main!(app);

/// Runs as thread `main` once Spindle is up; returning `Ok` ends the run with success,
/// `Err` (or a panic) with failure.
fn app() -> Result<(), hello_spindle::Error> {
    info!("hello-spindle starts on {} CPUs", thread::cpu_count());
    let summary = hello_spindle::run(20)?;
    println!(
        "a thread sent {} readings to a task, which added them up to {}; \
         meanwhile another task slept {} times",
        summary.readings, summary.sum, summary.ticks
    );
    let timed_out = hello_spindle::times_out(Duration::from_millis(5), Duration::from_secs(10));
    println!("a 5 ms timeout on a 10 s sleep fired: {timed_out}");
    println!("hello-spindle: done");
    Ok(())
}
