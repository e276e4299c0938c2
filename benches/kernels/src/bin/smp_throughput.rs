//! Throughput of independent work on one CPU and on two, in the same boot: pairs of
//! threads that never touch each other's data, all on CPU 0 or one pair per CPU.
//! Twice the CPUs should give twice the operations; what falls short is emulation (two
//! vCPUs on a 2-core host that also runs other work) or a lock every CPU takes (for
//! spawn + join: the heap, the thread table, the stack slots).
//!
//! The two placements take turns, one interval each, with the same threads (they move
//! between the intervals): a host whose load changes from second to second then weighs
//! on both alike, and the ratio of their medians is a fair one.
//!
//! Two workloads are there to tell the causes apart: `compute` (a counting loop, no
//! kernel call) is the ceiling the host gives two vCPUs in this boot, and `rdtsc` (a loop
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
    cell::Cell,
    sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering},
    time::Duration,
};

use spindle::{
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

/// Pairs of threads; under placement `p`, pair `i` runs on CPU `PLACEMENTS[p].1[i]`.
const PAIRS: usize = 2;
/// Every pair on CPU 0, or one pair per CPU.
const PLACEMENTS: [(&str, [u32; PAIRS]); 2] = [("1_cpu", [0, 0]), ("2_cpus", [0, 1])];
/// One sample is the rate over one interval: long enough that the host's scheduling
/// noise (milliseconds) and a move between CPUs (microseconds) average out within it.
const INTERVAL: Duration = Duration::from_millis(50);
/// Samples per placement, after one interval of warm-up.
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

/// What the measuring thread tells every worker: which placement holds, and when to stop.
#[derive(Default)]
struct Control {
    placement: AtomicUsize,
    stop: AtomicBool,
}

/// One worker thread's view: the control, its pair, where it counts, and the placement it
/// last moved for.
struct Worker {
    control: Arc<Control>,
    pair: usize,
    ops: Arc<Counter>,
    placed: Cell<usize>,
}

impl Worker {
    /// The CPU this worker's pair belongs on now.
    fn cpu(&self) -> u32 {
        PLACEMENTS[self.control.placement.load(Ordering::Relaxed)].1[self.pair]
    }

    /// Whether to go on; first moves to the pair's CPU if the placement changed (a load
    /// and a compare otherwise).
    fn running(&self) -> bool {
        let placement = self.control.placement.load(Ordering::Relaxed);
        if placement != self.placed.get() {
            self.placed.set(placement);
            let cpu = PLACEMENTS[placement].1[self.pair];
            thread::set_affinity(CpuSet::single(cpu)).expect("the CPU is online");
        }
        !self.control.stop.load(Ordering::Relaxed)
    }
}

/// Starts one pair of worker threads where their pair belongs now.
type SpawnPair = fn(workers: [Worker; 2]) -> [JoinHandle<()>; 2];

/// Two threads counting in a loop, nothing else (the tick time-slices them): the most two
/// CPUs can give here, which on a shared host is less than twice one CPU.
fn compute_pairs() {
    measure("smp_compute", |workers| {
        workers.map(|worker| {
            spawn_worker(worker, |worker| {
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
    measure("smp_rdtsc", |workers| {
        workers.map(|worker| {
            spawn_worker(worker, |worker| {
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
    measure("smp_yield", |workers| {
        workers.map(|worker| {
            spawn_worker(worker, |worker| {
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
    measure("smp_semaphore_pairs", |[first, second]| {
        let semaphores = Arc::new([Semaphore::new(1), Semaphore::new(0)]);
        let player = |me: usize, worker: Worker| {
            let semaphores = Arc::clone(&semaphores);
            spawn_worker(worker, move |worker| {
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

/// Two threads each spawning a thread (on their own CPU) that returns at once, and
/// joining it: one operation is one spawn + join.
fn spawn_join_pairs() {
    measure("smp_spawn_join", |workers| {
        workers.map(|worker| {
            spawn_worker(worker, |worker| {
                while worker.running() {
                    Builder::new()
                        .cpu(worker.cpu())
                        .spawn(|| ())
                        .expect("memory for a thread")
                        .join();
                    worker.ops.add_one();
                }
            })
        })
    });
}

/// Spawns a thread running `main(worker)` on the worker's CPU.
fn spawn_worker(worker: Worker, main: impl FnOnce(Worker) + Send + 'static) -> JoinHandle<()> {
    Builder::new()
        .cpu(worker.cpu())
        .spawn(move || main(worker))
        .expect("memory for a thread")
}

/// Runs `spawn_pair`'s work with the placements taking turns and reports
/// `<prefix>_<placement>` for each. The measuring thread stays on CPU 0 throughout (it
/// sleeps between readings), so it disturbs both placements alike.
fn measure(prefix: &str, spawn_pair: SpawnPair) {
    thread::set_affinity(CpuSet::single(0)).expect("CPU 0 is online");
    let rates = throughput(spawn_pair);
    for ((suffix, _), mut rates) in PLACEMENTS.into_iter().zip(rates) {
        report_rates(&format!("{prefix}_{suffix}"), &mut rates);
    }
    thread::set_affinity(CpuSet::ALL).expect("CPU 0 is online");
}

/// Runs the pairs, switching placement after every interval, and returns per placement
/// the operations per second of all threads together, one rate per interval.
fn throughput(spawn_pair: SpawnPair) -> [Vec<u64>; 2] {
    let control = Arc::new(Control::default());
    let counters: Vec<Arc<Counter>> = (0..2 * PAIRS).map(|_| Arc::default()).collect();
    let worker = |index: usize| Worker {
        control: Arc::clone(&control),
        pair: index / 2,
        ops: Arc::clone(&counters[index]),
        placed: Cell::new(0),
    };
    let handles: Vec<JoinHandle<()>> = (0..PAIRS)
        .flat_map(|pair| spawn_pair([worker(2 * pair), worker(2 * pair + 1)]))
        .collect();
    let total = || counters.iter().map(|counter| counter.get()).sum::<u64>();
    thread::sleep(INTERVAL);
    let mut rates = [const { Vec::new() }; 2];
    for interval in 0..2 * INTERVALS {
        let placement = interval % 2;
        control.placement.store(placement, Ordering::Relaxed);
        let (ops, start) = (total(), tsc::read());
        thread::sleep(INTERVAL);
        rates[placement].push(per_second(total() - ops, tsc::read() - start));
    }
    control.stop.store(true, Ordering::Relaxed);
    handles.into_iter().for_each(JoinHandle::join);
    rates
}

/// `ops` operations in `ticks` TSC ticks, as operations per second.
fn per_second(ops: u64, ticks: u64) -> u64 {
    let rate = u128::from(ops) * u128::from(time::tsc_frequency()) / u128::from(ticks.max(1));
    u64::try_from(rate).unwrap_or(u64::MAX)
}
