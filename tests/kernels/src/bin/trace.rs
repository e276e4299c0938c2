//! The schedule trace: a workload with every kind of event (preemption, blocking, sleeps
//! woken by the timer interrupt, threads waking threads, async tasks woken by threads and
//! timers, spawn and exit) runs while tracing, then the trace is streamed to the debug
//! console port. The harness (`trace: check`) decodes it and checks its invariants:
//! every thread that runs was switched in, a woken thread runs only after its wake,
//! nothing happens to a thread after its exit, per-CPU time never goes backwards.
//!
//! On four CPUs, short-lived threads start and end on other CPUs while their spawner
//! goes on. Regression: `Builder::spawn` recorded the spawn after admitting the thread,
//! so a child that ran and exited on another CPU first was "spawned after it exited"
//! (issue 18, defect 2).
//!
//! A thread and a task panic, contained: the trace records each panic on the thread that
//! was running (the checker holds it to that), and must hold them (`trace-holds`).
//@ trace: check
//@ trace-holds: panic timer
//@ smp: 1 4
#![no_std]
#![no_main]

extern crate alloc;

use alloc::vec::Vec;
use core::{
    sync::atomic::{AtomicBool, AtomicU64, Ordering},
    time::Duration,
};

use spindle::{
    executor,
    executor::ExecutorThread,
    sync::{Semaphore, channel},
    thread::{self, Builder},
    time, tracing,
};

spindle_test::test_kernel!(
    tracing_starts,
    spinners_are_preempted,
    threads_block_and_wake_each_other,
    sleepers_are_woken_by_the_timer,
    tasks_are_woken_by_threads_and_timers,
    short_lived_threads_spawn_and_exit,
    a_thread_and_a_task_panic,
    the_trace_is_streamed,
);

fn tracing_starts() {
    tracing::start().expect("memory for the trace rings");
    assert!(tracing::is_on());
    tracing::mark("cases start");
}

/// Two equal-priority threads that never yield: only the tick can switch them.
fn spinners_are_preempted() {
    static STOP: AtomicBool = AtomicBool::new(false);
    static SPINS: [AtomicU64; 2] = [const { AtomicU64::new(0) }; 2];
    let spinners: Vec<_> = (0..2)
        .map(|index| {
            Builder::new()
                .name(["spinner-a", "spinner-b"][index])
                .spawn(move || {
                    while !STOP.load(Ordering::Relaxed) {
                        SPINS[index].fetch_add(1, Ordering::Relaxed);
                    }
                })
                .expect("a spinner")
        })
        .collect();
    // Until both have spun: neither yields, so only preemption lets the second one (and
    // this thread, between its sleeps) run. Without it this loop never ends.
    thread::sleep(Duration::from_millis(15));
    while SPINS.iter().any(|spins| spins.load(Ordering::Relaxed) == 0) {
        thread::sleep(Duration::from_millis(1));
    }
    STOP.store(true, Ordering::Relaxed);
    spinners.into_iter().for_each(thread::JoinHandle::join);
}

/// A ping-pong through semaphores: each side blocks until the other wakes it.
fn threads_block_and_wake_each_other() {
    static PING: Semaphore = Semaphore::new(0);
    static PONG: Semaphore = Semaphore::new(0);
    const ROUNDS: usize = 50;
    let ponger = Builder::new()
        .name("ponger")
        .spawn(|| {
            for _ in 0..ROUNDS {
                PING.acquire();
                PONG.release();
            }
        })
        .expect("the ponger");
    for _ in 0..ROUNDS {
        PING.release();
        PONG.acquire();
    }
    ponger.join();
}

fn sleepers_are_woken_by_the_timer() {
    let sleepers: Vec<_> = (1..=3u64)
        .map(|millis| {
            Builder::new()
                .name("sleeper")
                .spawn(move || {
                    let start = time::now();
                    thread::sleep(Duration::from_millis(millis));
                    start.elapsed()
                })
                .expect("a sleeper")
        })
        .collect();
    for (slept, millis) in sleepers.into_iter().map(thread::JoinHandle::join).zip(1..) {
        assert!(slept >= Duration::from_millis(millis));
    }
}

/// A thread feeds a task through a channel; the task also sleeps on a timer.
fn tasks_are_woken_by_threads_and_timers() {
    let host = ExecutorThread::start("trace-executor", 8).unwrap();
    let (to_task, from_thread) = channel::bounded::<u32>(1);
    let sum = host
        .spawner()
        .spawn_named(Some("summer".into()), async move {
            let mut sum = 0;
            while let Ok(value) = from_thread.recv_async().await {
                executor::sleep(Duration::from_micros(500)).await;
                sum += value;
            }
            sum
        });
    for value in 1..=10 {
        to_task.send(value).expect("the task is receiving");
    }
    drop(to_task);
    assert_eq!(executor::block_on(sum), Ok(55));
    host.stop();
}

/// Threads that end as soon as they start: on several CPUs each is placed on an idle
/// CPU, where it may run and exit before its spawner has returned from `spawn`.
fn short_lived_threads_spawn_and_exit() {
    const THREADS: u64 = 200;
    let threads: Vec<_> = (0..THREADS)
        .map(|index| {
            Builder::new()
                .name("short-lived")
                .spawn(move || index)
                .expect("a short-lived thread")
        })
        .collect();
    let sum: u64 = threads.into_iter().map(thread::JoinHandle::join).sum();
    assert_eq!(sum, THREADS * (THREADS - 1) / 2);
}

fn a_thread_and_a_task_panic() {
    spindle_test::expect_contained_panics(2);
    let thread = Builder::new()
        .name("panicker")
        .spawn(|| -> u32 { panic!("traced") })
        .expect("a panicking thread");
    assert!(thread.try_join().is_err());
    let host = ExecutorThread::start("panicky", 4).unwrap();
    let task = host
        .spawner()
        .spawn_named(Some("doomed".into()), async { panic!("traced too") });
    assert!(executor::block_on(task).is_err());
    host.stop();
}

fn the_trace_is_streamed() {
    tracing::mark("cases end");
    tracing::stop();
    let records = tracing::dump();
    assert!(records > 100, "only {records} records were streamed");
}
