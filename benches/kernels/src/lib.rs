//! The in-kernel half of Spindle's benchmarks.
//!
//! A benchmark kernel is one file in `src/bin/`: a list of functions handed to
//! [`bench_kernel!`]. Each function measures one or more figures and reports each with
//! [`report`], which prints one line the host runner (`benches/src`) parses:
//!
//! ```text
//! bench-result name=thread_yield unit=cycles samples=100000 min=.. median=.. p99=.. max=.. overhead=..
//! ```
//!
//! Method: the TSC is read with `lfence; rdtsc` before and `rdtscp; lfence` after the
//! measured code ([`start`], [`end`]); the median cost of an empty measurement (the
//! *overhead*) is subtracted from every sample; [`WARMUP`] samples are taken and thrown
//! away first; [`SAMPLES`] are kept. Under `-icount shift=0` the TSC advances one tick per
//! instruction, so figures are instruction counts and repeat exactly.
//!
//! SMP kernels (a `//@ smp: N` line in the source; the host runner boots them under MTTCG
//! only, several times) use the same lines, with fewer samples
//! ([`Recorder::with_samples`]) and, for throughput, rates ([`report_rates`]).
#![no_std]

extern crate alloc;

use alloc::vec::Vec;
use core::sync::atomic::{AtomicU64, Ordering};

pub mod throughput;

pub use bootloader_api;
pub use spindle;
use spindle::{
    arch::{
        qemu::{self, ExitCode},
        tsc,
    },
    println,
    sync::IrqSpinLock,
};

/// Samples kept per figure.
pub const SAMPLES: usize = 100_000;
/// Samples taken and discarded first (caches, TLB, lazily grown structures).
pub const WARMUP: usize = 10_000;

/// Declares the benchmark kernel's entry point and the functions it runs, in order;
/// optionally with a `spindle::Config` (`bench_kernel!(config = CONFIG; a, b)`).
#[macro_export]
macro_rules! bench_kernel {
    (config = $config:expr; $($bench:ident),+ $(,)?) => {
        $crate::bootloader_api::entry_point!(bench_kernel_main, config = &$crate::spindle::BOOTLOADER_CONFIG);

        fn bench_kernel_main(boot_info: &'static mut $crate::bootloader_api::BootInfo) -> ! {
            $crate::spindle::init_with(boot_info, $config);
            $crate::run(&[$($bench),+])
        }
    };
    ($($bench:ident),+ $(,)?) => {
        $crate::bench_kernel!(config = $crate::spindle::Config::default(); $($bench),+);
    };
}

/// Runs every benchmark, then leaves QEMU with success.
pub fn run(benches: &[fn()]) -> ! {
    benches.iter().for_each(|bench| bench());
    println!("bench-done");
    qemu::exit(ExitCode::Success)
}

/// The TSC at the start of a measured region.
#[inline(always)]
pub fn start() -> u64 {
    tsc::read_start()
}

/// The TSC at the end of a measured region.
#[inline(always)]
pub fn end() -> u64 {
    tsc::read_end()
}

/// The median cost of an empty measurement.
pub fn overhead() -> u64 {
    let mut samples: Vec<u64> = (0..10_000)
        .map(|_| {
            let begin = start();
            end() - begin
        })
        .collect();
    samples.sort_unstable();
    samples[samples.len() / 2]
}

/// Sorts `raw` (TSC ticks per sample), subtracts `overhead` from each, divides by `per`
/// (operations per sample), and prints the figure's line.
pub fn report(name: &str, raw: &mut [u64], overhead: u64, per: u64) {
    for sample in raw.iter_mut() {
        *sample = sample.saturating_sub(overhead) / per;
    }
    print_figure(name, "cycles", raw, overhead);
}

/// Prints a throughput figure: `rates` are operations per second, one per measured
/// interval. Nothing is subtracted: an interval is long enough that reading the clock
/// costs nothing measurable.
pub fn report_rates(name: &str, rates: &mut [u64]) {
    print_figure(name, "ops_per_second", rates, 0);
}

/// Prints a figure of lateness: `nanos` are how long after their deadline things
/// happened, in nanoseconds of the kernel's clock (nothing subtracted).
pub fn report_lateness(name: &str, nanos: &mut [u64]) {
    print_figure(name, "late_ns", nanos, 0);
}

/// Sorts `values` and prints their statistics as one `bench-result` line.
fn print_figure(name: &str, unit: &str, values: &mut [u64], overhead: u64) {
    assert!(!values.is_empty(), "{name}: no samples");
    values.sort_unstable();
    let at = |fraction: f64| values[((values.len() - 1) as f64 * fraction) as usize];
    println!(
        "bench-result name={name} unit={unit} samples={} min={} median={} p99={} max={} overhead={overhead}",
        values.len(),
        values[0],
        at(0.5),
        at(0.99),
        values[values.len() - 1]
    );
}

/// Collects samples from several threads: a preallocated buffer, so recording never
/// allocates, and a shared "measurement started" timestamp for figures that start in one
/// thread and end in another (a switch).
#[derive(Debug)]
pub struct Recorder {
    samples: IrqSpinLock<Vec<u64>>,
    capacity: usize,
    warmup: usize,
    started: AtomicU64,
}

impl Recorder {
    /// Room for `WARMUP + SAMPLES` samples.
    pub fn new() -> Self {
        Self::with_samples(WARMUP, SAMPLES)
    }

    /// Room for `warmup + samples` samples, the first `warmup` of them thrown away: for
    /// figures too slow for the default counts (the SMP kernels: a cross-CPU hand-off
    /// under MTTCG costs about ten microseconds).
    pub fn with_samples(warmup: usize, samples: usize) -> Self {
        let capacity = warmup + samples;
        Self {
            samples: IrqSpinLock::new(Vec::with_capacity(capacity)),
            capacity,
            warmup,
            started: AtomicU64::new(0),
        }
    }

    /// Marks the start of a measurement that another thread may end.
    #[inline(always)]
    pub fn mark_start(&self) {
        self.started.store(start(), Ordering::Relaxed);
    }

    /// Ends the measurement started by the last [`mark_start`](Self::mark_start).
    #[inline(always)]
    pub fn mark_end(&self) {
        let now = end();
        self.push(now.wrapping_sub(self.started.load(Ordering::Relaxed)));
    }

    /// Records one sample (ignored once full).
    pub fn push(&self, sample: u64) {
        let mut samples = self.samples.lock();
        if samples.len() < self.capacity {
            samples.push(sample);
        }
    }

    /// Whether all samples are in.
    pub fn is_full(&self) -> bool {
        self.samples.lock().len() >= self.capacity
    }

    /// Reports the samples after the warm-up.
    pub fn report(&self, name: &str, overhead: u64, per: u64) {
        let mut samples = self.samples.lock();
        let warmup = self.warmup;
        report(name, &mut samples[warmup..], overhead, per);
    }
}

impl Default for Recorder {
    fn default() -> Self {
        Self::new()
    }
}
