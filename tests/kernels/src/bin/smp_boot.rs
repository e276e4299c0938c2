//! Several CPUs: they all come up, tick, run pinned threads, and take threads that move
//! between them. Booted with four CPUs under both firmwares.
//@ firmware: bios uefi
//@ qemu-args: -smp 4 -accel tcg,thread=multi
//@ timeout: 120
#![no_std]
#![no_main]

extern crate alloc;

use alloc::vec::Vec;

use kernel::thread::{self, Builder, CpuSet, SpawnError};

spindle_test::test_kernel!(
    every_listed_cpu_comes_online,
    every_cpu_ticks,
    a_pinned_thread_runs_only_on_its_cpu,
    set_affinity_moves_the_caller_to_each_cpu_in_turn,
    pinning_to_a_cpu_that_is_not_online_is_refused,
    idle_cpus_take_work_queued_on_a_busy_one,
);

const CPUS: u32 = 4;

fn every_listed_cpu_comes_online() {
    assert_eq!(thread::cpu_count(), CPUS);
    let stats = thread::cpu_stats();
    assert_eq!(
        stats.iter().map(|cpu| cpu.cpu).collect::<Vec<_>>(),
        [0, 1, 2, 3]
    );
}

/// Every CPU's own timer interrupts it: its tick count keeps growing.
fn every_cpu_ticks() {
    let before: Vec<u64> = thread::cpu_stats().iter().map(|cpu| cpu.ticks).collect();
    loop {
        let now: Vec<u64> = thread::cpu_stats().iter().map(|cpu| cpu.ticks).collect();
        if now.iter().zip(&before).all(|(now, before)| now > before) {
            return;
        }
        thread::yield_now();
    }
}

/// Threads pinned to each CPU see only that CPU, across yields, sleeps and blocking.
fn a_pinned_thread_runs_only_on_its_cpu() {
    let threads: Vec<_> = (0..CPUS)
        .map(|cpu| {
            Builder::new()
                .cpu(cpu)
                .spawn(move || {
                    for round in 0..200 {
                        assert_eq!(thread::current_cpu(), cpu);
                        match round % 3 {
                            0 => thread::yield_now(),
                            1 => thread::sleep(core::time::Duration::from_micros(300)),
                            _ => core::hint::spin_loop(),
                        }
                    }
                    thread::current_cpu()
                })
                .expect("spawn pinned")
        })
        .collect();
    for (cpu, handle) in (0..CPUS).zip(threads) {
        assert_eq!(handle.thread().affinity(), CpuSet::single(cpu));
        assert_eq!(handle.join(), cpu);
    }
}

fn set_affinity_moves_the_caller_to_each_cpu_in_turn() {
    let handle = Builder::new()
        .spawn(|| {
            for round in 0..20 {
                for cpu in (0..CPUS).rev() {
                    thread::set_affinity(CpuSet::single(cpu)).unwrap();
                    assert_eq!(thread::current_cpu(), cpu, "round {round}");
                    thread::yield_now();
                    assert_eq!(thread::current_cpu(), cpu, "round {round}, after a yield");
                }
            }
            thread::set_affinity(CpuSet::ALL).unwrap();
        })
        .unwrap();
    handle.join();
}

fn pinning_to_a_cpu_that_is_not_online_is_refused() {
    let refused = Builder::new().cpu(CPUS).spawn(|| ());
    assert_eq!(refused.err(), Some(SpawnError::NoCpuInSet));
    let refused = Builder::new().affinity(CpuSet::EMPTY).spawn(|| ());
    assert_eq!(refused.err(), Some(SpawnError::NoCpuInSet));
    assert!(thread::set_affinity(CpuSet::single(63)).is_err());
    assert!(thread::set_affinity(CpuSet::EMPTY).is_err());
    assert_eq!(thread::current().affinity(), CpuSet::ALL, "unchanged");
}

/// Busy threads all made on CPU 0 (pinned there, then released) end up spread: every
/// CPU runs at least one of them, even the one this thread keeps busy by yielding in a
/// loop (it is not idle, so only periodic balancing brings it work).
fn idle_cpus_take_work_queued_on_a_busy_one() {
    use core::sync::atomic::{AtomicBool, AtomicU64, Ordering};
    static STOP: AtomicBool = AtomicBool::new(false);
    static SEEN_ON: AtomicU64 = AtomicU64::new(0);
    STOP.store(false, Ordering::SeqCst);
    SEEN_ON.store(0, Ordering::SeqCst);
    let workers: Vec<_> = (0..2 * CPUS)
        .map(|_| {
            Builder::new()
                .cpu(0)
                .spawn(|| {
                    thread::set_affinity(CpuSet::ALL).unwrap();
                    while !STOP.load(Ordering::Relaxed) {
                        SEEN_ON.fetch_or(1 << thread::current_cpu(), Ordering::Relaxed);
                        core::hint::spin_loop();
                    }
                })
                .unwrap()
        })
        .collect();
    while SEEN_ON.load(Ordering::Relaxed) != (1 << CPUS) - 1 {
        thread::yield_now();
    }
    STOP.store(true, Ordering::SeqCst);
    workers.into_iter().for_each(|worker| worker.join());
}
