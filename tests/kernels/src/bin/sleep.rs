//! Sleeping: never early, at most two ticks late, and sleepers wake in deadline order.
//!
//! Runs under `-icount shift=0,sleep=off`: the guest clock advances one nanosecond per
//! instruction and jumps straight to the next timer when the guest halts, so "late"
//! measures the scheduler's logic, not how busy the host happened to be. (With the default
//! `sleep=on`, an idle guest's clock follows host time, and a loaded host made a 100 µs
//! sleep look 2 ms long.)
//@ qemu-args: -icount shift=0,sleep=off
#![no_std]
#![no_main]

extern crate alloc;

use alloc::vec::Vec;
use core::{
    sync::atomic::{AtomicUsize, Ordering},
    time::Duration,
};

use spindle::{sync::IrqSpinLock, thread, time};

spindle_test::test_kernel!(
    sleep_is_never_early_and_at_most_two_ticks_late,
    sleepers_wake_in_deadline_order,
    a_deadline_in_the_past_returns_at_once,
);

fn tick() -> Duration {
    Duration::from_secs(1) / thread::tick_hz()
}

fn sleep_is_never_early_and_at_most_two_ticks_late() {
    for micros in [100, 999, 1000, 2500, 7000, 20_000, 40_000] {
        let duration = Duration::from_micros(micros);
        let start = time::now();
        thread::sleep(duration);
        let slept = start.elapsed();
        assert!(
            slept >= duration,
            "woke early: asked {duration:?}, slept {slept:?}"
        );
        assert!(
            slept <= duration + 2 * tick(),
            "woke late: asked {duration:?}, slept {slept:?}"
        );
    }
}

/// Twenty threads sleep for durations given in scrambled order; they must wake sorted.
fn sleepers_wake_in_deadline_order() {
    static WAKE_ORDER: IrqSpinLock<Vec<u64>> = IrqSpinLock::new(Vec::new());
    static STARTED: AtomicUsize = AtomicUsize::new(0);
    let base = time::now() + Duration::from_millis(5);
    let handles: Vec<_> = (0..20u64)
        .map(|i| (i * 7) % 20) // a permutation of 0..20
        .map(|slot| {
            thread::spawn(move || {
                STARTED.fetch_add(1, Ordering::SeqCst);
                thread::sleep_until(base + Duration::from_micros(1500 * slot));
                WAKE_ORDER.lock().push(slot);
            })
        })
        .collect();
    handles.into_iter().for_each(thread::JoinHandle::join);
    assert_eq!(STARTED.load(Ordering::SeqCst), 20);
    let order = WAKE_ORDER.lock().clone();
    assert_eq!(order, (0..20).collect::<Vec<u64>>());
}

fn a_deadline_in_the_past_returns_at_once() {
    let switches = thread::current().info().switches;
    thread::sleep_until(time::Instant::from_nanos(0));
    thread::sleep(Duration::ZERO);
    assert_eq!(
        thread::current().info().switches,
        switches,
        "returned without blocking"
    );
}
