//! Scale on four CPUs in 512 MiB: 10,000 threads and 1,000,000 async tasks (on one
//! executor per CPU) alive at once, all blocked on one event; setting it releases every
//! one of them, and each returns its own number.
//@ smp: 4
//@ qemu-args: -m 512M
//@ timeout: 600
#![no_std]
#![no_main]

extern crate alloc;

use alloc::{sync::Arc, vec::Vec};
use core::sync::atomic::{AtomicU64, Ordering};

use spindle::{
    executor::{self, Workers},
    mm, println,
    sync::Event,
    thread::{self, Builder},
};

spindle_test::test_kernel!(ten_thousand_threads_and_a_million_tasks_alive_at_once);

const THREADS: u64 = 10_000;
const TASKS: u64 = 1_000_000;

fn ten_thousand_threads_and_a_million_tasks_alive_at_once() {
    static WAITING: AtomicU64 = AtomicU64::new(0);
    let gate = Arc::new(Event::new());
    let threads: Vec<_> = (0..THREADS)
        .map(|n| {
            let gate = Arc::clone(&gate);
            Builder::new()
                .stack_size(8 * 1024)
                .spawn(move || {
                    WAITING.fetch_add(1, Ordering::Relaxed);
                    gate.wait();
                    n
                })
                .expect("a thread")
        })
        .collect();
    let per_cpu = TASKS.div_ceil(u64::from(thread::cpu_count())) as usize;
    let workers = Workers::start("scale", per_cpu).unwrap();
    let tasks: Vec<_> = (0..TASKS)
        .map(|n| {
            let gate = Arc::clone(&gate);
            workers.spawn(async move {
                WAITING.fetch_add(1, Ordering::Relaxed);
                gate.wait_async().await;
                n
            })
        })
        .collect();
    while WAITING.load(Ordering::Relaxed) < THREADS + TASKS {
        thread::yield_now();
    }
    let usage = mm::usage();
    println!(
        "scale: {} threads, {} tasks waiting; {} MiB in use, {} MiB free",
        thread::thread_count(),
        TASKS,
        usage.bytes >> 20,
        usage.free_bytes >> 20
    );
    assert!(
        thread::thread_count() as u64 > THREADS,
        "all threads alive at once"
    );
    gate.set();
    let thread_sum: u64 = threads.into_iter().map(|t| t.join()).sum();
    assert_eq!(thread_sum, THREADS * (THREADS - 1) / 2);
    let task_sum: u64 = tasks
        .into_iter()
        .map(|task| executor::block_on(task).unwrap())
        .sum();
    assert_eq!(task_sum, TASKS * (TASKS - 1) / 2);
    workers.stop();
}
