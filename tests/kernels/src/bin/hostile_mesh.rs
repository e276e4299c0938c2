//! Threads and tasks on two executors pass tokens to each other at random across CPUs,
//! touching a Mutex, a Semaphore and timers on the way; every hop is counted and the
//! totals must be exact (no lost or duplicated wake-up, no lost value).
//@ timeout: 60
//@ smp: 2 4
#![no_std]
#![no_main]

extern crate alloc;

use alloc::vec::Vec;
use core::{
    sync::atomic::{AtomicU64, Ordering},
    time::Duration,
};

use spindle::{
    executor::{self, ExecutorThread},
    sync::{Mutex, Semaphore, channel},
    thread::{self, Builder},
};

spindle_test::test_kernel!(tokens_wander_between_threads_and_tasks);

const THREADS: usize = 6;
const TASKS_PER_EXECUTOR: usize = 5;
const EXECUTORS: usize = 2;
const ENDPOINTS: usize = THREADS + TASKS_PER_EXECUTOR * EXECUTORS;
const TOKENS: u64 = 24;
const HOPS_PER_TOKEN: u64 = 2500;
const STOP: u64 = u64::MAX;

static HOPS: AtomicU64 = AtomicU64::new(0);
static LOCKED: Mutex<u64> = Mutex::new(0);
static PERMITS: Semaphore = Semaphore::new(3);

/// A token: (seed << 20) | remaining hops.
fn next(token: u64) -> (u64, usize) {
    let mut x = token >> 20;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    x &= (1 << 40) - 1;
    let remaining = (token & 0xfffff) - 1;
    ((x << 20) | remaining, (x % ENDPOINTS as u64) as usize)
}

fn tokens_wander_between_threads_and_tasks() {
    let mut senders = Vec::new();
    let mut receivers = Vec::new();
    for _ in 0..ENDPOINTS {
        let (s, r) = channel::bounded::<u64>(TOKENS as usize + 1);
        senders.push(s);
        receivers.push(r);
    }
    let (done_tx, done_rx) = channel::bounded::<u64>(TOKENS as usize + 1);
    let mut threads = Vec::new();
    let mut tasks = Vec::new();
    let executors: Vec<ExecutorThread> = (0..EXECUTORS)
        .map(|i| ExecutorThread::start(if i == 0 { "ex0" } else { "ex1" }, 64).unwrap())
        .collect();
    for (index, receiver) in receivers.into_iter().enumerate() {
        let senders = senders.clone();
        let done = done_tx.clone();
        if index < THREADS {
            threads.push(
                Builder::new()
                    .name("mesh")
                    .spawn(move || {
                        let mut mine = 0u64;
                        loop {
                            let token = receiver.recv().unwrap();
                            if token == STOP {
                                return mine;
                            }
                            mine += 1;
                            HOPS.fetch_add(1, Ordering::Relaxed);
                            *LOCKED.lock() += 1;
                            if token % 31 == 0 {
                                PERMITS.acquire();
                                thread::yield_now();
                                PERMITS.release();
                            }
                            if token % 97 == 0 {
                                thread::sleep(Duration::from_micros(50));
                            }
                            let (token, to) = next(token);
                            if token & 0xfffff == 0 {
                                done.send(token).unwrap();
                            } else {
                                senders[to].send(token).unwrap();
                            }
                        }
                    })
                    .unwrap(),
            );
        } else {
            let executor = &executors[(index - THREADS) % EXECUTORS];
            tasks.push(executor.spawn(async move {
                let mut mine = 0u64;
                loop {
                    let token = receiver.recv_async().await.unwrap();
                    if token == STOP {
                        return mine;
                    }
                    mine += 1;
                    HOPS.fetch_add(1, Ordering::Relaxed);
                    *LOCKED.lock_async().await += 1;
                    if token % 89 == 0 {
                        executor::sleep(Duration::from_micros(30)).await;
                    }
                    if token % 13 == 0 {
                        executor::yield_now().await;
                    }
                    let (token, to) = next(token);
                    if token & 0xfffff == 0 {
                        done.send_async(token).await.unwrap();
                    } else {
                        senders[to].send_async(token).await.unwrap();
                    }
                }
            }));
        }
    }
    for t in 0..TOKENS {
        let seed = 0x9e37_79b9u64.wrapping_mul(t + 1) & ((1 << 40) - 1) | 1;
        senders[(t as usize) % ENDPOINTS]
            .send((seed << 20) | HOPS_PER_TOKEN)
            .unwrap();
    }
    for _ in 0..TOKENS {
        done_rx.recv().unwrap();
    }
    assert_eq!(HOPS.load(Ordering::SeqCst), TOKENS * HOPS_PER_TOKEN);
    for s in &senders {
        s.send(STOP).unwrap();
    }
    let mut total = 0;
    for t in threads {
        total += t.join();
    }
    let tasks_total = executor::block_on(async move {
        let mut sum = 0;
        for t in tasks {
            sum += t.await.unwrap();
        }
        sum
    });
    total += tasks_total;
    assert_eq!(total, TOKENS * HOPS_PER_TOKEN);
    assert_eq!(*LOCKED.lock(), TOKENS * HOPS_PER_TOKEN);
    assert_eq!(PERMITS.available(), 3);
    for e in executors {
        e.stop();
    }
    log::info!("hops: {}", total);
}
