//! embassy-time on Spindle (the `embassy-time` feature): `embassy_time::Timer`, `Ticker`
//! and `with_timeout` in tasks on Spindle's executors, beside Spindle's own sleeps, all
//! woken by Spindle's timer interrupt. None returns early: each checks the clock it
//! waited on. Nothing here depends on how long anything takes beyond "not before".
//@ smp: 1 2
#![no_std]
#![no_main]

extern crate alloc;

use alloc::vec::Vec;
use core::time::Duration;

use spindle::{
    executor::{self, Executor, Workers},
    sync::{IrqSpinLock, oneshot},
    thread, time,
};

spindle_test::test_kernel!(
    embassy_clock_is_spindles_clock,
    timers_wake_beside_spindle_sleeps_never_early,
    a_ticker_ticks_at_its_period,
    with_timeout_times_out_and_passes_what_comes_first,
    timers_on_executors_on_every_cpu,
);

/// `embassy_time::Instant::now` reads Spindle's clock, in microseconds.
fn embassy_clock_is_spindles_clock() {
    let before = time::now().as_nanos() / 1000;
    let embassy = embassy_time::Instant::now().as_micros();
    let after = time::now().as_nanos() / 1000;
    assert!(
        (before..=after).contains(&embassy),
        "{before} <= {embassy} <= {after}"
    );
    assert_eq!(embassy_time::TICK_HZ, 1_000_000);
}

/// Embassy timers and Spindle sleeps in one executor, deadlines interleaved: all
/// complete, none early. (Not necessarily in deadline order: when the host delivers the
/// timer interrupt late, embassy's queue wakes everything due in its own order.)
fn timers_wake_beside_spindle_sleeps_never_early() {
    static ORDER: IrqSpinLock<Vec<u64>> = IrqSpinLock::new(Vec::new());
    let executor = Executor::new("mixed", 16);
    let start = time::now();
    let handles: Vec<_> = [
        (12u64, true),
        (3, false),
        (9, true),
        (6, false),
        (15, false),
    ]
    .into_iter()
    .map(|(millis, embassy)| {
        executor.spawn(async move {
            // Deadlines from one instant: their order must not depend on how far apart
            // the executor happens to poll the five tasks the first time.
            let duration = Duration::from_millis(millis);
            match embassy {
                true => {
                    // Rounded up: embassy counts whole microseconds.
                    let start = embassy_time::Instant::from_micros(start.as_nanos().div_ceil(1000));
                    embassy_time::Timer::at(start + embassy_time::Duration::from_millis(millis))
                        .await;
                }
                false => executor::sleep_until(start + duration).await,
            }
            assert!(start.elapsed() >= duration, "woke early");
            ORDER.lock().push(millis);
        })
    })
    .collect();
    executor.block_on(async {
        for handle in handles {
            handle.await.unwrap();
        }
    });
    let mut completed = ORDER.lock().clone();
    completed.sort_unstable();
    assert_eq!(completed, [3, 6, 9, 12, 15]);
}

/// A `Ticker` of 2 ms ticks five times, each tick at or after its due time.
fn a_ticker_ticks_at_its_period() {
    executor::block_on(async {
        let start = embassy_time::Instant::now();
        let mut ticker = embassy_time::Ticker::every(embassy_time::Duration::from_millis(2));
        for tick in 1..=5u64 {
            ticker.next().await;
            let elapsed = start.elapsed().as_micros();
            assert!(elapsed >= tick * 2000, "tick {tick} at {elapsed} µs");
        }
    });
}

/// `with_timeout` gives up on a future that never completes, and passes on the value of
/// one that does.
fn with_timeout_times_out_and_passes_what_comes_first() {
    let executor = Executor::new("timeouts", 4);
    let (_keep, never) = oneshot::channel::<u32>();
    let timed_out = executor.spawn(async move {
        let start = time::now();
        let result =
            embassy_time::with_timeout(embassy_time::Duration::from_millis(5), never).await;
        assert!(
            start.elapsed() >= Duration::from_millis(5),
            "timed out early"
        );
        result.is_err()
    });
    let passed = executor.spawn(async {
        embassy_time::with_timeout(embassy_time::Duration::from_secs(5), async {
            executor::sleep(Duration::from_millis(1)).await;
            7
        })
        .await
    });
    executor.block_on(async {
        assert!(timed_out.await.unwrap(), "the timeout fired");
        assert_eq!(passed.await.unwrap(), Ok(7));
    });
}

/// Tasks on an executor per CPU wait on embassy timers at once (the alarm moves between
/// CPUs' timer wheels as they arm it) and all complete, none early.
fn timers_on_executors_on_every_cpu() {
    let workers = Workers::start("embassy", 16).expect("an executor per CPU");
    let handles: Vec<_> = (0..4 * thread::cpu_count())
        .map(|i| {
            let millis = 1 + u64::from(i % 7);
            workers.spawn(async move {
                let start = embassy_time::Instant::now();
                embassy_time::Timer::after_millis(millis).await;
                assert!(start.elapsed().as_millis() >= millis, "woke early");
            })
        })
        .collect();
    executor::block_on(async {
        for handle in handles {
            handle.await.unwrap();
        }
    });
    workers.stop();
}
