//! API misuse from a hostile user: every case must give the documented error value,
//! not a panic, a hang or a leak.
//!
//! Regression: `Executor::new(name, 0)` accepted one task (the ready queue, which
//! cannot have 0 slots, was made with 1 and its size taken as the capacity), though
//! `spawn` documents `Full` when the executor holds as many tasks as its capacity.
//@ timeout: 40
//@ smp: 2 4
#![no_std]
#![no_main]

extern crate alloc;

use alloc::vec::Vec;
use core::{
    sync::atomic::{AtomicUsize, Ordering},
    time::Duration,
};

use spindle::{
    executor::{self, Executor, TaskSpawnError},
    sync::Mutex,
    thread::{self, Builder, CpuSet, JoinError, SpawnError},
};

spindle_test::test_kernel!(
    join_self_is_an_error,
    join_an_exited_thread_is_an_error,
    affinity_to_offline_cpus_is_refused,
    a_huge_closure_is_an_invalid_stack_size,
    tiny_stacks_are_refused_or_work,
    executor_capacity_is_reusable,
    executor_of_capacity_zero_refuses,
    many_async_timers_fire_exactly_once,
    many_sleeping_threads_wake,
);

fn join_self_is_an_error() {
    // Simpler: a thread that gets its own handle through a Mutex.
    static SLOT: Mutex<Option<thread::JoinHandle<u32>>> = Mutex::new(None);
    static RESULT: AtomicUsize = AtomicUsize::new(0);
    let ready = thread::spawn(|| {
        loop {
            if let Some(me) = SLOT.lock().take() {
                let r = me.try_join();
                RESULT.store(
                    if r == Err(JoinError::JoinSelf) { 1 } else { 2 },
                    Ordering::SeqCst,
                );
                return 7;
            }
            thread::yield_now();
        }
    });
    let watcher = ready.thread().clone();
    *SLOT.lock() = Some(ready);
    while !watcher.has_exited() {
        thread::sleep(Duration::from_millis(1));
    }
    assert_eq!(RESULT.load(Ordering::SeqCst), 1);
}

fn join_an_exited_thread_is_an_error() {
    let handle = thread::spawn(|| -> u32 { thread::exit() });
    assert_eq!(handle.try_join(), Err(JoinError::Exited));
}

fn affinity_to_offline_cpus_is_refused() {
    // The first CPU index past the online ones (2 or 4: the kernel boots both ways).
    let offline = thread::cpu_count();
    for cpu in [offline, 63, 64, 1000, u32::MAX] {
        let r = Builder::new().cpu(cpu).spawn(|| ());
        assert_eq!(r.err(), Some(SpawnError::NoCpuInSet), "cpu {cpu}");
    }
    let r = Builder::new().affinity(CpuSet::EMPTY).spawn(|| ());
    assert_eq!(r.err(), Some(SpawnError::NoCpuInSet));
    assert!(thread::set_affinity(CpuSet::EMPTY).is_err());
    assert!(thread::set_affinity(CpuSet::EMPTY.with(40)).is_err());
    // a thread pinned to CPU 1 runs on CPU 1
    let h = Builder::new().cpu(1).spawn(thread::current_cpu).unwrap();
    assert_eq!(h.join(), 1);
    // moving myself to CPU 1 and back
    thread::set_affinity(CpuSet::EMPTY.with(1)).unwrap();
    assert_eq!(thread::current_cpu(), 1);
    thread::set_affinity(CpuSet::ALL).unwrap();
}

fn a_huge_closure_is_an_invalid_stack_size() {
    Builder::new()
        .stack_size(1024 * 1024)
        .spawn(huge_closure)
        .unwrap()
        .join();
}

fn huge_closure() {
    let big = [7u8; 128 * 1024];
    spindle::mm::reclaim(); // compared with the caches empty: the attempt may fill them
    let before = spindle::mm::usage();
    let r = Builder::new().spawn(move || big.iter().map(|&b| b as usize).sum::<usize>());
    assert_eq!(r.err(), Some(SpawnError::InvalidStackSize));
    spindle::mm::reclaim();
    assert_eq!(spindle::mm::usage(), before);
    // with a big enough stack it works
    let big = [1u8; 128 * 1024];
    let h = Builder::new()
        .stack_size(512 * 1024)
        .spawn(move || big.iter().map(|&b| b as usize).sum::<usize>())
        .unwrap();
    assert_eq!(h.join(), 128 * 1024);
}

fn tiny_stacks_are_refused_or_work() {
    for size in [1usize, 100, 4095, 4096, 8192, 12288, 16384] {
        match Builder::new().stack_size(size).spawn(|| 5u32) {
            Ok(h) => assert_eq!(h.join(), 5, "size {size}"),
            Err(e) => assert_eq!(e, SpawnError::InvalidStackSize, "size {size}"),
        }
    }
}

fn executor_capacity_is_reusable() {
    let executor = Executor::new("cap", 4);
    for round in 0..50 {
        let mut handles = Vec::new();
        for i in 0..4u32 {
            handles.push(executor.try_spawn(async move { i + round }).unwrap());
        }
        assert_eq!(
            executor.try_spawn(async { 0 }).err(),
            Some(TaskSpawnError::Full),
            "round {round}"
        );
        let sum = executor.block_on(async move {
            let mut s = 0;
            for h in handles {
                s += h.await.unwrap();
            }
            s
        });
        assert_eq!(sum, 6 + 4 * round);
    }
    // handles dropped before completion: the slots still come back
    for _ in 0..20 {
        for _ in 0..4 {
            drop(
                executor
                    .try_spawn(async { executor::yield_now().await })
                    .unwrap(),
            );
        }
        executor.run_until_stalled();
    }
    for _ in 0..4 {
        drop(executor.try_spawn(async {}).unwrap());
    }
}

fn executor_of_capacity_zero_refuses() {
    let executor = Executor::new("zero", 0);
    assert_eq!(
        executor.try_spawn(async {}).err(),
        Some(TaskSpawnError::Full)
    );
    assert_eq!(executor.block_on(async { 3 }), 3);
}

fn many_async_timers_fire_exactly_once() {
    static FIRED: AtomicUsize = AtomicUsize::new(0);
    const N: usize = 3000;
    let executor = Executor::new("timers", N);
    let mut handles = Vec::new();
    for i in 0..N {
        handles.push(executor.spawn(async move {
            executor::sleep(Duration::from_micros((i as u64 * 37) % 5000)).await;
            FIRED.fetch_add(1, Ordering::SeqCst);
        }));
    }
    executor.block_on(async move {
        for h in handles {
            h.await.unwrap();
        }
    });
    assert_eq!(FIRED.load(Ordering::SeqCst), N);
}

fn many_sleeping_threads_wake() {
    static WOKE: AtomicUsize = AtomicUsize::new(0);
    let mut handles = Vec::new();
    for i in 0..200u64 {
        handles.push(
            Builder::new()
                .stack_size(16 * 1024)
                .spawn(move || {
                    for _ in 0..5 {
                        thread::sleep(Duration::from_micros(i * 13 % 2000));
                    }
                    WOKE.fetch_add(1, Ordering::SeqCst);
                })
                .unwrap(),
        );
    }
    for h in handles {
        h.join();
    }
    assert_eq!(WOKE.load(Ordering::SeqCst), 200);
}
