//! Throughput of independent work on one CPU and on two, in the same boot: pairs of
//! threads that never touch each other's data, first all on CPU 0, then one pair per CPU.
//! Twice the CPUs should give twice the operations; what falls short is emulation (two
//! vCPUs on a 2-core host that also runs other work) or a lock every CPU takes (for
//! spawn + join: the heap, the thread table, the stack slots).
//!
//! Two workloads are there to tell those apart: `compute` (a counting loop, no kernel
//! call) is the ceiling the host gives two vCPUs in this boot, and `rdtsc` (a loop
//! reading the TSC, as every switch does) shows the emulator's own serialisation: QEMU
//! takes one global lock per `rdtsc` under TCG (`cpu_get_ticks`).
//!
//! Booted under MTTCG only, several times: see `smp_latency`.
//@ smp: 2
//@ ratio: smp_compute_2_cpus / smp_compute_1_cpu
//@ ratio: smp_rdtsc_2_cpus / smp_rdtsc_1_cpu
//@ ratio: smp_yield_2_cpus / smp_yield_1_cpu
//@ ratio: smp_semaphore_pairs_2_cpus / smp_semaphore_pairs_1_cpu
//@ ratio: smp_spawn_join_2_cpus / smp_spawn_join_1_cpu
#![no_std]
#![no_main]

extern crate alloc;

use alloc::{format, sync::Arc, vec::Vec};
use core::{
    sync::atomic::{AtomicBool, AtomicU64, Ordering},
    time::Duration,
};

use kernel::{
    arch::tsc,
    sync::Semaphore,
    thread::{self, Builder, CpuSet, JoinHandle},
    time,
};
use spindle_bench::report_rates;

spindle_bench::bench_kernel!(
    compute_pairs,
    rdtsc_pairs,
    yield_pairs,
    semaphore_pairs,
    spawn_join_pairs
);

/// Pairs of threads; pair `i` runs on CPU `placement[i]`.
const PAIRS: usize = 2;
/// Every pair on CPU 0, then one pair per CPU.
const PLACEMENTS: [(&str, [u32; PAIRS]); 2] = [("1_cpu", [0, 0]), ("2_cpus", [0, 1])];
/// One sample is the rate over one interval: long enough that the host's scheduling
/// noise (milliseconds) averages out within it, short enough for a spread of samples.
const INTERVAL: Duration = Duration::from_millis(50);
/// Samples per figure, after one interval of warm-up.
const INTERVALS: usize = 20;

/// An operation count on a cache line of its own, written by one thread only, so that
/// counting costs no traffic between CPUs (no `lock` prefix either).
#[repr(align(64))]
#[derive(Default)]
struct Counter(AtomicU64);

impl Counter {
    fn add_one(&self) {
        self.0
            .store(self.0.load(Ordering::Relaxed) + 1, Ordering::Relaxed);
    }

    fn get(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }
}

/// What one worker thread gets: when to stop, and where to count.
#[derive(Clone)]
struct Worker {
    stop: Arc<AtomicBool>,
    ops: Arc<Counter>,
}

impl Worker {
    fn running(&self) -> bool {
        !self.stop.load(Ordering::Relaxed)
    }
}

/// Starts one pair of worker threads on `cpu`.
type SpawnPair = fn(cpu: u32, workers: [Worker; 2]) -> [JoinHandle<()>; 2];

/// Two threads counting in a loop, nothing else (the tick time-slices them): the most two
/// CPUs can give here, which on a shared host is less than twice one CPU.
fn compute_pairs() {
    measure_placements("smp_compute", |cpu, workers| {
        workers.map(|worker| {
            pinned(cpu, move || {
                while worker.running() {
                    worker.ops.add_one();
                }
            })
        })
    });
}

/// Two threads reading the TSC in a loop: every switch reads it too (CPU-time
/// accounting), and under TCG each read takes a lock global to the emulator.
fn rdtsc_pairs() {
    measure_placements("smp_rdtsc", |cpu, workers| {
        workers.map(|worker| {
            pinned(cpu, move || {
                while worker.running() {
                    core::hint::black_box(tsc::read());
                    worker.ops.add_one();
                }
            })
        })
    });
}

/// Two threads yielding the CPU to each other (to every thread on it): one operation is
/// one `yield_now`.
fn yield_pairs() {
    measure_placements("smp_yield", |cpu, workers| {
        workers.map(|worker| {
            pinned(cpu, move || {
                while worker.running() {
                    thread::yield_now();
                    worker.ops.add_one();
                }
            })
        })
    });
}

/// Two threads passing one permit between two semaphores, each blocking until the other
/// gives it back: one operation is one hand-off.
fn semaphore_pairs() {
    measure_placements("smp_semaphore_pairs", |cpu, [first, second]| {
        let semaphores = Arc::new([Semaphore::new(1), Semaphore::new(0)]);
        let player = |me: usize, worker: Worker| {
            let semaphores = Arc::clone(&semaphores);
            pinned(cpu, move || {
                while worker.running() {
                    semaphores[me].acquire();
                    worker.ops.add_one();
                    semaphores[1 - me].release();
                }
                // The partner may be waiting for a permit that will not come otherwise.
                semaphores[1 - me].release();
            })
        };
        [player(0, first), player(1, second)]
    });
}

/// Two threads each spawning a thread (pinned to their CPU) that returns at once, and
/// joining it: one operation is one spawn + join.
fn spawn_join_pairs() {
    measure_placements("smp_spawn_join", |cpu, workers| {
        workers.map(|worker| {
            pinned(cpu, move || {
                while worker.running() {
                    pinned(cpu, || ()).join();
                    worker.ops.add_one();
                }
            })
        })
    });
}

/// Spawns `main` on `cpu`.
fn pinned(cpu: u32, main: impl FnOnce() + Send + 'static) -> JoinHandle<()> {
    Builder::new()
        .cpu(cpu)
        .spawn(main)
        .expect("memory for a thread")
}

/// Measures `spawn_pair`'s work under every placement, reporting `<prefix>_<placement>`.
/// The measuring thread stays on CPU 0 throughout (it sleeps between readings), so it
/// disturbs both placements alike.
fn measure_placements(prefix: &str, spawn_pair: SpawnPair) {
    thread::set_affinity(CpuSet::single(0)).expect("CPU 0 is online");
    for (suffix, placement) in PLACEMENTS {
        let mut rates = throughput(placement, spawn_pair);
        report_rates(&format!("{prefix}_{suffix}"), &mut rates);
    }
    thread::set_affinity(CpuSet::ALL).expect("CPU 0 is online");
}

/// Runs one pair per entry of `placement` and returns the operations per second of all
/// of them together, one rate per interval.
fn throughput(placement: [u32; PAIRS], spawn_pair: SpawnPair) -> Vec<u64> {
    let stop = Arc::new(AtomicBool::new(false));
    let counters: Vec<Arc<Counter>> = (0..2 * PAIRS).map(|_| Arc::default()).collect();
    let worker = |index: usize| Worker {
        stop: Arc::clone(&stop),
        ops: Arc::clone(&counters[index]),
    };
    let handles: Vec<JoinHandle<()>> = placement
        .iter()
        .enumerate()
        .flat_map(|(pair, &cpu)| spawn_pair(cpu, [worker(2 * pair), worker(2 * pair + 1)]))
        .collect();
    let total = || counters.iter().map(|counter| counter.get()).sum::<u64>();
    thread::sleep(INTERVAL);
    let mut rates = Vec::with_capacity(INTERVALS);
    let (mut last_ops, mut last_tsc) = (total(), tsc::read());
    for _ in 0..INTERVALS {
        thread::sleep(INTERVAL);
        let (ops, now) = (total(), tsc::read());
        rates.push(per_second(ops - last_ops, now - last_tsc));
        (last_ops, last_tsc) = (ops, now);
    }
    stop.store(true, Ordering::Relaxed);
    handles.into_iter().for_each(JoinHandle::join);
    rates
}

/// `ops` operations in `ticks` TSC ticks, as operations per second.
fn per_second(ops: u64, ticks: u64) -> u64 {
    let rate = u128::from(ops) * u128::from(time::tsc_frequency()) / u128::from(ticks.max(1));
    u64::try_from(rate).unwrap_or(u64::MAX)
}
