//! Scheduler counters, for `stats` listings and benchmarks: per CPU, and summed.

use alloc::vec::Vec;
use core::{
    sync::atomic::{AtomicU64, Ordering},
    time::Duration,
};

use super::per_cpu::{Cpu, online, online_cpu, this_cpu};

/// One CPU's counters since it came up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CpuStats {
    /// Its index.
    pub cpu: u32,
    /// Timer ticks.
    pub ticks: u64,
    /// Thread switches.
    pub switches: u64,
    /// Blocked threads it made runnable (a wake counts on the waking CPU).
    pub wakes: u64,
    /// Threads it took from another CPU's queue while idle.
    pub steals: u64,
    /// Reschedule IPIs it sent to other CPUs.
    pub ipis_sent: u64,
    /// Reschedule IPIs it received.
    pub ipis_received: u64,
    /// Time it spent in its idle loop (counted by its timer, as threads' CPU time is).
    pub idle: Duration,
    /// Threads waiting in its run queue now.
    pub queued: u32,
}

/// The counters of every online CPU, by index.
pub fn cpu_stats() -> Vec<CpuStats> {
    online()
        .iter()
        .map(|index| {
            let cpu = online_cpu(index);
            let count = |counter: &AtomicU64| counter.load(Ordering::Relaxed);
            CpuStats {
                cpu: index,
                ticks: count(&cpu.ticks),
                switches: count(&cpu.switches),
                wakes: count(&cpu.wakes),
                steals: count(&cpu.steals),
                ipis_sent: count(&cpu.ipis_sent),
                ipis_received: count(&cpu.ipis_received),
                idle: cpu.idle.cpu_time(),
                queued: cpu.load().queued,
            }
        })
        .collect()
}

/// `counter` summed over the online CPUs (no allocation: benchmarks read these).
fn sum(counter: impl Fn(&Cpu) -> &AtomicU64) -> u64 {
    online()
        .iter()
        .map(|index| counter(online_cpu(index)).load(Ordering::Relaxed))
        .sum()
}

/// Timer ticks on the calling CPU since the scheduler started there (every CPU ticks at
/// the same rate, so this is the time since boot in ticks).
pub fn ticks() -> u64 {
    this_cpu().ticks.load(Ordering::Relaxed)
}

/// Blocked threads made runnable by a wake-up since boot, on all CPUs.
pub fn wake_count() -> u64 {
    sum(|cpu| &cpu.wakes)
}

/// `ticks` timer periods.
pub(super) fn ticks_to_duration(ticks: u64) -> Duration {
    match u64::from(tick_hz()) {
        0 => Duration::ZERO,
        hz => Duration::from_nanos(ticks.saturating_mul(1_000_000_000) / hz),
    }
}

/// The tick rate the scheduler runs at (0 before it started).
pub fn tick_hz() -> u32 {
    super::scheduler::tick_hz()
}

/// Thread switches since boot, on all CPUs.
pub fn switch_count() -> u64 {
    sum(|cpu| &cpu.switches)
}
