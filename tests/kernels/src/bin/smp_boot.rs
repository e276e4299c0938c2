//! Several CPUs: they all come up, tick, run pinned threads, and take threads that move
//! between them. Booted with two and four CPUs under both firmwares (the harness checks
//! the boot line says all of them came up).
//@ firmware: bios uefi
//@ smp: 2 4
//@ timeout: 120
#![no_std]
#![no_main]

extern crate alloc;

use alloc::vec::Vec;

use spindle::thread::{self, Builder, CpuSet, SpawnError};

spindle_test::test_kernel!(
    every_listed_cpu_comes_online,
    every_cpu_ticks,
    a_pinned_thread_runs_only_on_its_cpu,
    set_affinity_moves_the_caller_to_each_cpu_in_turn,
    pinning_to_a_cpu_that_is_not_online_is_refused,
    sixty_four_threads_made_on_one_cpu_spread_over_every_cpu,
);

fn cpus() -> u32 {
    thread::cpu_count()
}

/// CPUs are numbered 0 to n-1, with no gap.
fn every_listed_cpu_comes_online() {
    assert!(cpus() >= 2, "booted with several CPUs");
    let stats = thread::cpu_stats();
    assert_eq!(
        stats.iter().map(|cpu| cpu.cpu).collect::<Vec<_>>(),
        (0..cpus()).collect::<Vec<_>>()
    );
}

/// Every CPU's own timer interrupts it: a thread pinned there that sleeps is woken by
/// that CPU's timer interrupt.
fn every_cpu_ticks() {
    let interrupts = || -> Vec<u64> {
        thread::cpu_stats()
            .iter()
            .map(|cpu| cpu.timer_interrupts)
            .collect()
    };
    let before = interrupts();
    let sleepers: Vec<_> = (0..cpus())
        .map(|cpu| {
            Builder::new()
                .cpu(cpu)
                .spawn(|| thread::sleep(core::time::Duration::from_millis(2)))
                .expect("spawn pinned")
        })
        .collect();
    sleepers.into_iter().for_each(thread::JoinHandle::join);
    let after = interrupts();
    for (cpu, (after, before)) in after.iter().zip(&before).enumerate() {
        assert!(after > before, "CPU {cpu} took no timer interrupt");
    }
}

/// Threads pinned to each CPU see only that CPU, across yields, sleeps and blocking.
fn a_pinned_thread_runs_only_on_its_cpu() {
    let threads: Vec<_> = (0..cpus())
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
    for (cpu, handle) in (0..cpus()).zip(threads) {
        assert_eq!(handle.thread().affinity(), CpuSet::single(cpu));
        assert_eq!(handle.join(), cpu);
    }
}

fn set_affinity_moves_the_caller_to_each_cpu_in_turn() {
    let handle = Builder::new()
        .spawn(|| {
            for round in 0..20 {
                for cpu in (0..cpus()).rev() {
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
    let refused = Builder::new().cpu(cpus()).spawn(|| ());
    assert_eq!(refused.err(), Some(SpawnError::NoCpuInSet));
    let refused = Builder::new().affinity(CpuSet::EMPTY).spawn(|| ());
    assert_eq!(refused.err(), Some(SpawnError::NoCpuInSet));
    assert!(thread::set_affinity(CpuSet::single(63)).is_err());
    assert!(thread::set_affinity(CpuSet::EMPTY).is_err());
    assert_eq!(thread::current().affinity(), CpuSet::ALL, "unchanged");
}

/// 64 busy threads all made on CPU 0 (pinned there, then released) end up spread: every
/// CPU runs some of them, even the one this thread keeps busy by yielding in a loop (it
/// is not idle, so only periodic balancing brings it work), and each CPU's share ends up
/// within a few threads of the others'.
fn sixty_four_threads_made_on_one_cpu_spread_over_every_cpu() {
    use core::sync::atomic::{AtomicBool, AtomicU64, Ordering};
    static STOP: AtomicBool = AtomicBool::new(false);
    static SEEN_ON: AtomicU64 = AtomicU64::new(0);
    STOP.store(false, Ordering::SeqCst);
    SEEN_ON.store(0, Ordering::SeqCst);
    let workers: Vec<_> = (0..64)
        .map(|_| {
            Builder::new()
                .cpu(0)
                .spawn(|| {
                    thread::current().set_affinity(CpuSet::ALL).unwrap();
                    while !STOP.load(Ordering::Relaxed) {
                        SEEN_ON.fetch_or(1 << thread::current_cpu(), Ordering::Relaxed);
                        core::hint::spin_loop();
                    }
                })
                .unwrap()
        })
        .collect();
    while SEEN_ON.load(Ordering::Relaxed) != (1 << cpus()) - 1 || !balanced(&workers) {
        thread::yield_now();
    }
    STOP.store(true, Ordering::SeqCst);
    workers.into_iter().for_each(|worker| worker.join());
}

/// Whether the workers are spread with at most 4 more on one CPU than on another.
fn balanced(workers: &[thread::JoinHandle<()>]) -> bool {
    let mut per_cpu = [0u32; 64];
    for worker in workers {
        per_cpu[worker.thread().cpu() as usize] += 1;
    }
    let per_cpu = &per_cpu[..cpus() as usize];
    per_cpu.iter().max().unwrap() - per_cpu.iter().min().unwrap() <= 4
}
