//! The async `Mutex` and `Semaphore` under contention: tasks on an executor per CPU and
//! plain threads share one mutex (exact totals, never two holders), and tasks whose
//! acquires time out (cancelled futures) leave the semaphore's permits intact.
//@ smp: 1 4
//@ timeout: 120
#![no_std]
#![no_main]

extern crate alloc;

use alloc::vec::Vec;
use core::{
    sync::atomic::{AtomicUsize, Ordering},
    time::Duration,
};

use spindle::{
    executor::{self, Workers},
    sync::{Mutex, Semaphore},
    thread,
};

spindle_test::test_kernel!(
    tasks_and_threads_share_an_async_mutex,
    timed_out_acquires_leave_the_permits_intact
);

const TASKS: usize = 32;
const TASK_ROUNDS: u64 = 100;
const THREADS: usize = 2;
const THREAD_ROUNDS: u64 = 300;

/// Who is inside the critical section right now (must never exceed 1).
static INSIDE: AtomicUsize = AtomicUsize::new(0);

fn enter() {
    assert_eq!(
        INSIDE.fetch_add(1, Ordering::SeqCst),
        0,
        "two holders at once"
    );
}

fn leave() {
    INSIDE.fetch_sub(1, Ordering::SeqCst);
}

fn tasks_and_threads_share_an_async_mutex() {
    static TOTAL: Mutex<u64> = Mutex::new(0);
    let workers = Workers::start("mutex", 64).expect("workers");
    let tasks: Vec<_> = (0..TASKS)
        .map(|_| {
            workers.spawn(async {
                for _ in 0..TASK_ROUNDS {
                    let mut total = TOTAL.lock_async().await;
                    enter();
                    let seen = *total;
                    executor::yield_now().await; // held across an await: others queue
                    *total = seen + 1;
                    leave();
                }
            })
        })
        .collect();
    let threads: Vec<_> = (0..THREADS)
        .map(|_| {
            thread::spawn(|| {
                for round in 0..THREAD_ROUNDS {
                    let mut total = TOTAL.lock();
                    enter();
                    *total += 1;
                    leave();
                    drop(total);
                    if round % 16 == 0 {
                        thread::yield_now();
                    }
                }
            })
        })
        .collect();
    executor::block_on(async {
        for task in tasks {
            task.await.expect("a mutex task finished");
        }
    });
    threads.into_iter().for_each(thread::JoinHandle::join);
    workers.stop();
    let expected = TASKS as u64 * TASK_ROUNDS + THREADS as u64 * THREAD_ROUNDS;
    assert_eq!(*TOTAL.lock(), expected);
}

fn timed_out_acquires_leave_the_permits_intact() {
    const PERMITS: usize = 3;
    static SEMAPHORE: Semaphore = Semaphore::new(PERMITS);
    static HOLDING: AtomicUsize = AtomicUsize::new(0);
    static MOST: AtomicUsize = AtomicUsize::new(0);
    static TAKEN: AtomicUsize = AtomicUsize::new(0);
    static TIMED_OUT: AtomicUsize = AtomicUsize::new(0);
    const TASKS: usize = 24;
    const ROUNDS: usize = 40;
    let workers = Workers::start("permits", 64).expect("workers");
    let tasks: Vec<_> = (0..TASKS)
        .map(|index| {
            workers.spawn(async move {
                for round in 0..ROUNDS {
                    // Some waits are short enough to time out while others hold every
                    // permit: their futures are dropped mid-wait, some after a wake-up.
                    let patience = Duration::from_micros(((index + round) % 5) as u64 * 300);
                    match executor::timeout(patience, SEMAPHORE.acquire_async()).await {
                        Ok(permit) => {
                            let holding = HOLDING.fetch_add(1, Ordering::SeqCst) + 1;
                            MOST.fetch_max(holding, Ordering::SeqCst);
                            executor::sleep(Duration::from_micros(200)).await;
                            HOLDING.fetch_sub(1, Ordering::SeqCst);
                            TAKEN.fetch_add(1, Ordering::Relaxed);
                            drop(permit);
                        }
                        Err(_elapsed) => _ = TIMED_OUT.fetch_add(1, Ordering::Relaxed),
                    }
                }
            })
        })
        .collect();
    executor::block_on(async {
        for task in tasks {
            task.await.expect("a semaphore task finished");
        }
    });
    workers.stop();
    let (taken, timed_out) = (
        TAKEN.load(Ordering::Relaxed),
        TIMED_OUT.load(Ordering::Relaxed),
    );
    assert_eq!(taken + timed_out, TASKS * ROUNDS);
    assert!(
        taken > 0 && timed_out > 0,
        "taken {taken}, timed out {timed_out}"
    );
    assert!(
        MOST.load(Ordering::SeqCst) <= PERMITS,
        "more holders than permits"
    );
    assert_eq!(SEMAPHORE.available(), PERMITS, "a permit leaked");
    // Every permit can still be taken at once, and none more.
    let permits: Vec<_> = (0..PERMITS)
        .map(|_| SEMAPHORE.try_acquire_permit().expect("a permit"))
        .collect();
    assert!(SEMAPHORE.try_acquire_permit().is_none());
    drop(permits);
    assert_eq!(SEMAPHORE.available(), PERMITS);
}
