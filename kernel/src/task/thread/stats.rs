//! Scheduler counters, for `stats` listings and benchmarks.

use core::sync::atomic::Ordering;

use super::{per_cpu::this_cpu, scheduler};

/// Timer ticks on this CPU since the scheduler started.
pub fn ticks() -> u64 {
    this_cpu().ticks.load(Ordering::Relaxed)
}

/// Blocked threads made runnable by a wake-up on this CPU since boot.
pub fn wake_count() -> u64 {
    this_cpu().wakes.load(Ordering::Relaxed)
}

/// The tick rate the scheduler runs at (0 before it started).
pub fn tick_hz() -> u32 {
    scheduler::tick_hz()
}

/// Thread switches on this CPU since boot.
pub fn switch_count() -> u64 {
    this_cpu().switches.load(Ordering::Relaxed)
}
