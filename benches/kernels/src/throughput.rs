//! Throughput of independent work on one CPU and on N (every CPU of the boot), in the
//! same boot: pairs of threads that never touch each other's data, all on CPU 0 or one
//! pair per CPU. N times the CPUs should give N times the operations; what falls short
//! is emulation (N vCPUs on a host with fewer free cores) or a lock every CPU takes (for
//! spawn + join: the heap, the thread table, the stack slots).
//!
//! The two placements take turns, one interval each, with the same threads (they move
//! between the intervals): a host whose load changes from second to second then weighs
//! on both alike, and the ratio of their medians is a fair one.
//!
//! Two workloads are there to tell the causes apart: `compute` (a counting loop, no
//! kernel call) is the ceiling the host gives N vCPUs in this boot, and `rdtsc` (a loop
//! reading the TSC) shows the emulator's own serialisation: QEMU takes one global lock
//! per `rdtsc` under TCG (`cpu_get_ticks`). A figure's scaling means something only
//! divided by `compute`'s of the same boot.
//!
//! One more pair of placements splits one ping-pong pair across CPU 0 and CPU 1 against
//! keeping it on CPU 0: every hand-off of the split pair is a cross-CPU wake.
//!
//! Used by the `smp_throughput*` kernels (booted under MTTCG only, several times).

use alloc::{format, string::String, sync::Arc, vec, vec::Vec};
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

use crate::report_rates;

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

/// Where the workers run: a name for the figures and, per worker, its CPU (workers
/// `2 * i` and `2 * i + 1` are pair `i`).
struct Placement {
    name: String,
    cpus: Vec<u32>,
}

/// What the measuring thread tells every worker: the two placements, which one holds,
/// and when to stop.
struct Control {
    placements: [Placement; 2],
    placement: AtomicUsize,
    stop: AtomicBool,
}

/// One worker thread's view: the control, its index, where it counts, and the placement
/// it last moved for.
pub struct Worker {
    control: Arc<Control>,
    index: usize,
    ops: Arc<Counter>,
    placed: Cell<usize>,
}

impl Worker {
    /// The CPU this worker belongs on now.
    fn cpu(&self) -> u32 {
        self.cpu_in(self.control.placement.load(Ordering::Relaxed))
    }

    /// The CPU this worker belongs on in placement `placement`.
    fn cpu_in(&self, placement: usize) -> u32 {
        self.control.placements[placement].cpus[self.index]
    }

    /// Whether to go on; first moves to the pair's CPU if the placement changed (a load
    /// and a compare otherwise).
    fn running(&self) -> bool {
        let placement = self.control.placement.load(Ordering::Relaxed);
        if placement != self.placed.get() {
            self.placed.set(placement);
            let cpu = self.cpu_in(placement);
            thread::set_affinity(CpuSet::single(cpu)).expect("the CPU is online");
        }
        !self.control.stop.load(Ordering::Relaxed)
    }
}

/// Starts one pair of worker threads where they belong now.
type SpawnPair = fn(workers: [Worker; 2]) -> [JoinHandle<()>; 2];

/// Pairs of threads counting in a loop, nothing else (the tick time-slices them): the
/// most the CPUs can give here, which on a shared host is less than N times one CPU.
pub fn compute_pairs() {
    measure_scaling("smp_compute", |workers| {
        workers.map(|worker| {
            spawn_worker(worker, |worker| {
                while worker.running() {
                    worker.ops.add_one();
                }
            })
        })
    });
}

/// Pairs of threads reading the TSC in a loop: under TCG each read takes a lock global to
/// the emulator.
pub fn rdtsc_pairs() {
    measure_scaling("smp_rdtsc", |workers| {
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

/// Pairs of threads yielding the CPU to each other (to every thread on it): one operation
/// is one `yield_now`.
pub fn yield_pairs() {
    measure_scaling("smp_yield", |workers| {
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

/// Pairs of threads passing one permit between two semaphores, each blocking until the
/// other gives it back (a ping-pong): one operation is one hand-off.
pub fn semaphore_pairs() {
    measure_scaling("smp_semaphore_pairs", ping_pong);
}

/// One ping-pong pair on CPU 0 against the same pair split across CPU 0 and CPU 1:
/// every hand-off of the split pair wakes a thread on the other CPU.
pub fn split_pair() {
    measure(
        "smp_ping_pong",
        [
            placement("same_cpu", vec![0, 0]),
            placement("split", vec![0, 1]),
        ],
        ping_pong,
    );
}

/// Starts the two players of a semaphore ping-pong.
fn ping_pong([first, second]: [Worker; 2]) -> [JoinHandle<()>; 2] {
    {
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
    }
}

/// Pairs of threads each spawning a thread (on their own CPU) that returns at once, and
/// joining it: one operation is one spawn + join.
pub fn spawn_join_pairs() {
    measure_scaling("smp_spawn_join", |workers| {
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

fn placement(name: &str, cpus: Vec<u32>) -> Placement {
    Placement {
        name: name.into(),
        cpus,
    }
}

/// Measures `spawn_pair`'s work with one pair per CPU, all pairs on CPU 0 (`<prefix>_1_cpu`)
/// against one pair on each CPU (`<prefix>_<N>_cpus`). Figure names are unique across
/// kernels, so with more than two CPUs the prefix says how many pairs
/// (`smp_compute_4_pairs_1_cpu`); two pairs keep the names they always had.
fn measure_scaling(prefix: &str, spawn_pair: SpawnPair) {
    let cpus = thread::cpu_count();
    let each = (0..cpus).flat_map(|cpu| [cpu, cpu]).collect();
    let prefix = match cpus {
        2 => prefix.into(),
        _ => format!("{prefix}_{cpus}_pairs"),
    };
    measure(
        &prefix,
        [
            placement("1_cpu", vec![0; 2 * cpus as usize]),
            placement(&format!("{cpus}_cpus"), each),
        ],
        spawn_pair,
    );
}

/// Runs `spawn_pair`'s work with the placements taking turns and reports
/// `<prefix>_<placement>` for each. The measuring thread stays on CPU 0 throughout (it
/// sleeps between readings), so it disturbs both placements alike.
fn measure(prefix: &str, placements: [Placement; 2], spawn_pair: SpawnPair) {
    thread::set_affinity(CpuSet::single(0)).expect("CPU 0 is online");
    let names = placements
        .each_ref()
        .map(|placement| placement.name.clone());
    let rates = throughput(placements, spawn_pair);
    for (name, mut rates) in names.into_iter().zip(rates) {
        report_rates(&format!("{prefix}_{name}"), &mut rates);
    }
    thread::set_affinity(CpuSet::ALL).expect("CPU 0 is online");
}

/// Runs the pairs, switching placement after every interval, and returns per placement
/// the operations per second of all threads together, one rate per interval.
fn throughput(placements: [Placement; 2], spawn_pair: SpawnPair) -> [Vec<u64>; 2] {
    let pairs = placements[0].cpus.len() / 2;
    let control = Arc::new(Control {
        placements,
        placement: AtomicUsize::new(0),
        stop: AtomicBool::new(false),
    });
    let counters: Vec<Arc<Counter>> = (0..2 * pairs).map(|_| Arc::default()).collect();
    let worker = |index: usize| Worker {
        control: Arc::clone(&control),
        index,
        ops: Arc::clone(&counters[index]),
        placed: Cell::new(0),
    };
    let handles: Vec<JoinHandle<()>> = (0..pairs)
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
