//! Scheduler counters, for `stats` listings and benchmarks: per CPU, and summed.

use alloc::vec::Vec;
use core::{
    sync::atomic::{AtomicU64, Ordering},
    time::Duration,
};

use super::per_cpu::{Cpu, online, online_cpu};

/// One CPU's counters since it came up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CpuStats {
    /// Its index.
    pub cpu: u32,
    /// Timer interrupts it took (one per thing due: a timer, a slice end; none while it
    /// idles with nothing due).
    pub timer_interrupts: u64,
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
    /// Time it spent in its idle loop (its idle thread's CPU time: polling and halted).
    pub idle: Duration,
    /// Time it spent halted (`hlt`), waiting for an interrupt.
    pub halted: Duration,
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
                timer_interrupts: count(&cpu.timer_interrupts),
                switches: count(&cpu.switches),
                wakes: count(&cpu.wakes),
                steals: count(&cpu.steals),
                ipis_sent: count(&cpu.ipis_sent),
                ipis_received: count(&cpu.ipis_received),
                idle: cpu.idle.cpu_time(),
                halted: crate::time::tsc_ticks_to_duration(halted_tsc(cpu)),
                queued: cpu.load().queued,
            }
        })
        .collect()
}

/// TSC ticks `cpu` spent halted, the halt going on now included (as far as this CPU's
/// counter tells).
fn halted_tsc(cpu: &Cpu) -> u64 {
    let done = cpu.halted_tsc.load(Ordering::Relaxed);
    match cpu.halted_since.load(Ordering::Relaxed) {
        0 => done,
        since => done + crate::arch::tsc::read().saturating_sub(since),
    }
}

/// `counter` summed over the online CPUs (no allocation: benchmarks read these).
fn sum(counter: impl Fn(&Cpu) -> &AtomicU64) -> u64 {
    online()
        .iter()
        .map(|index| counter(online_cpu(index)).load(Ordering::Relaxed))
        .sum()
}

/// Tick periods (`1 / tick_hz` seconds, the unit of time slices) since boot, read from
/// the clock: the count goes on whether or not timer interrupts come.
pub fn ticks() -> u64 {
    match u64::from(tick_hz()) {
        0 => 0,
        hz => crate::time::now().as_nanos() / (1_000_000_000 / hz).max(1),
    }
}

/// Timer interrupts taken by every CPU since boot.
pub fn timer_interrupts() -> u64 {
    sum(|cpu| &cpu.timer_interrupts)
}

/// TSC ticks the thread running on CPU `index` has run since its switch in (or its last
/// charge), as a listing sees it from this CPU: 0 if that CPU is not online.
pub(super) fn running_share(index: u32) -> u64 {
    let Some(cpu) = super::per_cpu::cpu(index) else {
        return 0;
    };
    crate::arch::tsc::read().saturating_sub(cpu.switched_at.load(Ordering::Relaxed))
}

/// Blocked threads made runnable by a wake-up since boot, on all CPUs.
pub fn wake_count() -> u64 {
    sum(|cpu| &cpu.wakes)
}

/// The tick rate the scheduler runs at (0 before it started).
pub fn tick_hz() -> u32 {
    super::scheduler::tick_hz()
}

/// Thread switches since boot, on all CPUs.
pub fn switch_count() -> u64 {
    sum(|cpu| &cpu.switches)
}
