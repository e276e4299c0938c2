//! Hostile waits: absurd timeouts, a task filling its own executor, thousands of waiters
//! on one event, and a condvar storm; every waiter must come back exactly once.
//@ timeout: 40
//@ smp: 2 4
#![no_std]
#![no_main]

extern crate alloc;

use alloc::{sync::Arc, vec::Vec};
use core::{
    sync::atomic::{AtomicUsize, Ordering},
    time::Duration,
};

use spindle::{
    executor::{self, Elapsed, Executor, ExecutorThread, TaskSpawnError},
    sync::{Condvar, Event, Mutex},
    thread,
};

spindle_test::test_kernel!(
    absurd_durations_saturate,
    a_task_fills_its_own_executor,
    thousands_wait_on_one_event,
    condvar_storm_counts_exactly,
);

fn absurd_durations_saturate() {
    assert_eq!(
        executor::block_on(executor::timeout(
            Duration::from_millis(2),
            executor::sleep(Duration::MAX)
        )),
        Err(Elapsed)
    );
    assert_eq!(
        executor::block_on(executor::timeout(Duration::MAX, async { 4 })),
        Ok(4)
    );
    assert_eq!(
        executor::block_on(executor::timeout(
            Duration::ZERO,
            core::future::pending::<()>()
        )),
        Err(Elapsed)
    );
    thread::sleep(Duration::ZERO);
    thread::sleep_until(spindle::time::now());
}

fn a_task_fills_its_own_executor() {
    let executor = Executor::new("self-fill", 8);
    let spawner = executor.spawner();
    let n = executor.block_on(executor.spawn(async move {
        let mut handles = Vec::new();
        loop {
            match spawner.try_spawn(async {
                executor::yield_now().await;
                1u32
            }) {
                Ok(h) => handles.push(h),
                Err(e) => {
                    assert_eq!(e, TaskSpawnError::Full);
                    break;
                }
            }
        }
        let mut sum = 0;
        for h in handles {
            sum += h.await.unwrap();
        }
        sum
    }));
    assert_eq!(n.unwrap(), 7);
}

fn thousands_wait_on_one_event() {
    static DONE: AtomicUsize = AtomicUsize::new(0);
    let event = Arc::new(Event::new());
    let hosts: Vec<ExecutorThread> = (0..2)
        .map(|_| ExecutorThread::start("waiters", 1500).unwrap())
        .collect();
    let mut handles = Vec::new();
    for host in &hosts {
        for _ in 0..1500 {
            let event = Arc::clone(&event);
            handles.push(host.spawn(async move {
                event.wait_async().await;
                DONE.fetch_add(1, Ordering::SeqCst);
            }));
        }
    }
    let threads: Vec<_> = (0..40)
        .map(|_| {
            let event = Arc::clone(&event);
            thread::spawn(move || {
                event.wait();
                DONE.fetch_add(1, Ordering::SeqCst);
            })
        })
        .collect();
    thread::sleep(Duration::from_millis(20));
    event.set();
    for t in threads {
        t.join();
    }
    executor::block_on(async move {
        for h in handles {
            h.await.unwrap();
        }
    });
    assert_eq!(DONE.load(Ordering::SeqCst), 3040);
    for h in hosts {
        h.stop();
    }
}

fn condvar_storm_counts_exactly() {
    const THREADS: usize = 12;
    const ROUNDS: usize = 400;
    struct State {
        turn: usize,
        count: usize,
    }
    let shared = Arc::new((Mutex::new(State { turn: 0, count: 0 }), Condvar::new()));
    let threads: Vec<_> = (0..THREADS)
        .map(|me| {
            let shared = Arc::clone(&shared);
            thread::spawn(move || {
                let (lock, cond) = &*shared;
                for _ in 0..ROUNDS {
                    let mut state = cond.wait_while(lock.lock(), |s| s.turn % THREADS != me);
                    state.turn += 1;
                    state.count += 1;
                    drop(state);
                    cond.notify_all();
                }
            })
        })
        .collect();
    for t in threads {
        t.join();
    }
    let state = shared.0.lock();
    assert_eq!(state.count, THREADS * ROUNDS);
    assert_eq!(state.turn, THREADS * ROUNDS);
}
