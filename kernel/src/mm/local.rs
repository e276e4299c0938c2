//! Per-CPU caches in front of memory management's global locks: one lock per CPU, which
//! in the common case only that CPU takes, so its cache line stays with its CPU and no
//! two CPUs wait for each other. Other CPUs take it only to count what a cache holds
//! (`mm::usage`) or to empty it (`mm::reclaim`, the heap running dry).

pub(super) use crate::arch::cpu_local::MAX_CPUS;
use crate::arch::{IrqSpinLock, IrqSpinLockGuard, cpu_local};

/// One cache per CPU, each behind its own lock.
pub(super) type PerCpu<T> = [IrqSpinLock<T>; MAX_CPUS];

/// The calling CPU's cache, locked.
///
/// The index is read before the lock disables interrupts, so a thread preempted and
/// moved in between locks the cache of the CPU it left: still correct (every access is
/// under that cache's lock, whoever takes it), only a rare shared line, which
/// `contention` would show.
pub(super) fn lock_local<T>(caches: &PerCpu<T>) -> IrqSpinLockGuard<'_, T> {
    caches[cpu_local::cpu_index() as usize].lock()
}

/// How many acquisitions of any CPU's cache lock had to wait (wrapping).
pub(super) fn contention<T>(caches: &PerCpu<T>) -> u32 {
    caches
        .iter()
        .map(crate::arch::contention)
        .fold(0, u32::wrapping_add)
}
