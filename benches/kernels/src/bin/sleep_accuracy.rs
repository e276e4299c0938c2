//! Sleep accuracy: how late a sleeping thread and a sleeping task run again after their
//! deadline (never early: an early wake fails the boot). 1,000 sleeps each, of
//! pseudo-random lengths from 50 µs to 50 ms, one at a time on an otherwise idle
//! machine; the figure is the lateness in nanoseconds of the kernel's clock. Under
//! icount that is the instructions from the timer interrupt's deadline to the sleeper
//! running, plus the timer's own rounding; under TCG, host time.
#![no_std]
#![no_main]

extern crate alloc;

use alloc::vec::Vec;
use core::time::Duration;

use spindle::{executor, thread, time};
use spindle_bench::report_lateness;

spindle_bench::bench_kernel!(thread_sleep_late, task_sleep_late);

const SLEEPS: usize = 1_000;

/// Sleep lengths from 50 µs to 50 ms, the same every run (xorshift).
fn lengths() -> impl Iterator<Item = Duration> {
    let mut state: u64 = 0x9e37_79b9_7f4a_7c15;
    (0..SLEEPS).map(move |_| {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        Duration::from_micros(50 + state % 49_950)
    })
}

/// How late `now` is for `deadline`; panics if it is early.
fn lateness(deadline: time::Instant, now: time::Instant) -> u64 {
    assert!(
        now >= deadline,
        "woke {:?} early",
        deadline.saturating_duration_since(now)
    );
    now.as_nanos() - deadline.as_nanos()
}

fn thread_sleep_late() {
    let mut late: Vec<u64> = lengths()
        .map(|length| {
            let deadline = time::now() + length;
            thread::sleep_until(deadline);
            lateness(deadline, time::now())
        })
        .collect();
    report_lateness("thread_sleep_late", &mut late);
}

fn task_sleep_late() {
    let mut late: Vec<u64> = executor::block_on(async {
        let mut late = Vec::with_capacity(SLEEPS);
        for length in lengths() {
            let deadline = time::now() + length;
            executor::sleep_until(deadline).await;
            late.push(lateness(deadline, time::now()));
        }
        late
    });
    report_lateness("task_sleep_late", &mut late);
}
