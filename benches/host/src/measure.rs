//! Timing batches of operations, and summarising the per-operation figures.
//!
//! One sample is one batch of operations timed as a whole: timing single operations of a
//! few nanoseconds would mostly measure the clock. Each batch is timed twice, with
//! [`Instant`] (the monotonic clock, nanoseconds) and with the TSC fenced on both sides
//! (`lfence; rdtsc` before, `rdtscp; lfence` after), so the figures can be set beside the
//! kernel's own, which are in TSC ticks.

use std::time::Instant;

use rustix::thread::{CpuSet, sched_getaffinity, sched_setaffinity};
use spindle::arch::tsc;

/// How many batches to run, and how big they are.
#[derive(Debug, Clone, Copy)]
pub struct Plan {
    /// Batches run first and thrown away: caches, branch predictors, lazy allocation.
    pub warmup: usize,
    /// Batches timed.
    pub samples: usize,
    /// Operations per batch.
    pub ops_per_sample: u32,
}

impl Plan {
    /// Operations timed in all.
    pub fn timed_ops(&self) -> u64 {
        self.samples as u64 * u64::from(self.ops_per_sample)
    }
}

/// One batch's cost per operation.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Sample {
    /// Nanoseconds per operation, by [`Instant`].
    pub nanos: f64,
    /// TSC ticks per operation.
    pub ticks: f64,
}

/// A running timer for one batch.
#[derive(Debug)]
pub struct Stopwatch {
    instant: Instant,
    tsc: u64,
}

impl Stopwatch {
    /// Starts timing.
    pub fn start() -> Self {
        let instant = Instant::now();
        Self {
            instant,
            tsc: tsc::read_start(),
        }
    }

    /// Stops timing a batch of `ops` operations.
    pub fn stop(self, ops: u32) -> Sample {
        let tsc = tsc::read_end();
        let nanos = self.instant.elapsed().as_nanos() as f64;
        let ops = f64::from(ops);
        Sample {
            nanos: nanos / ops,
            ticks: tsc.wrapping_sub(self.tsc) as f64 / ops,
        }
    }
}

/// Runs `batch` (which must perform `plan.ops_per_sample` operations) `plan.warmup`
/// times untimed, then `plan.samples` times timed.
pub fn sample(plan: Plan, mut batch: impl FnMut()) -> Vec<Sample> {
    for _ in 0..plan.warmup {
        batch();
    }
    (0..plan.samples)
        .map(|_| {
            let stopwatch = Stopwatch::start();
            batch();
            stopwatch.stop(plan.ops_per_sample)
        })
        .collect()
}

/// Minimum, median, 99th percentile and maximum of a set of values.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Summary {
    /// The smallest value: the best case, closest to the cost of the code alone.
    pub min: f64,
    /// The median.
    pub median: f64,
    /// The 99th percentile (nearest rank).
    pub p99: f64,
    /// The largest value: often an interrupt or a preemption by the hypervisor.
    pub max: f64,
}

impl Summary {
    /// Summarises `values`.
    ///
    /// # Panics
    /// If `values` is empty.
    pub fn of(values: impl IntoIterator<Item = f64>) -> Self {
        let mut values: Vec<f64> = values.into_iter().collect();
        assert!(!values.is_empty(), "no values to summarise");
        values.sort_by(f64::total_cmp);
        let rank = |fraction: f64| {
            let rank = (fraction * values.len() as f64).ceil() as usize;
            values[rank.clamp(1, values.len()) - 1]
        };
        Self {
            min: values[0],
            median: rank(0.5),
            p99: rank(0.99),
            max: values[values.len() - 1],
        }
    }
}

/// The CPU this thread is running on.
pub fn current_cpu() -> u32 {
    rustix::thread::sched_getcpu() as u32
}

/// Runs `work` with this thread pinned to `cpu`, then gives the thread back the CPUs it
/// was allowed before.
///
/// Pinned, a figure's batches all run on one CPU, with its caches and branch predictors,
/// instead of wherever Linux moves the thread. Only for work confined to this thread:
/// threads it spawned would inherit the pin.
///
/// # Errors
/// If the affinity cannot be read or set (a `cpu` this process may not use, say).
pub fn pinned<R>(cpu: u32, work: impl FnOnce() -> R) -> rustix::io::Result<R> {
    let allowed = sched_getaffinity(None)?;
    let mut only = CpuSet::new();
    only.set(cpu as usize);
    sched_setaffinity(None, &only)?;
    let result = work();
    sched_setaffinity(None, &allowed)?;
    Ok(result)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn summary_uses_nearest_ranks() {
        let summary = Summary::of((1..=200).rev().map(f64::from));
        assert_eq!(
            summary,
            Summary {
                min: 1.0,
                median: 100.0,
                p99: 198.0,
                max: 200.0
            }
        );
        let single = Summary::of([7.0]);
        assert_eq!(
            (single.min, single.median, single.p99, single.max),
            (7.0, 7.0, 7.0, 7.0)
        );
    }

    #[test]
    fn pinning_holds_while_working_and_is_undone() {
        let before = sched_getaffinity(None).expect("affinity").count();
        let cpu = current_cpu();
        let ran_on = pinned(cpu, || {
            let allowed = sched_getaffinity(None).expect("affinity");
            (allowed.count(), current_cpu())
        });
        assert_eq!(ran_on.expect("pinning to this CPU"), (1, cpu));
        assert_eq!(sched_getaffinity(None).expect("affinity").count(), before);
    }

    #[test]
    fn samples_are_per_operation_and_counted() {
        let plan = Plan {
            warmup: 2,
            samples: 5,
            ops_per_sample: 10,
        };
        let mut batches = 0;
        let samples = sample(plan, || {
            batches += 1;
            std::thread::sleep(std::time::Duration::from_micros(100));
        });
        assert_eq!(batches, 7);
        assert_eq!(samples.len(), 5);
        // 100 µs over 10 operations: at least 10 µs each.
        assert!(samples.iter().all(|s| s.nanos >= 10_000.0 && s.ticks > 0.0));
        assert_eq!(plan.timed_ops(), 50);
    }
}
