//! Sets of CPUs, for pinning threads. Portable; host-tested.

use core::fmt;

use crate::arch::cpu_local::MAX_CPUS;

/// A set of CPUs by index (0 is the boot CPU): where a thread may run.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct CpuSet(u64);

impl CpuSet {
    /// Every CPU, however many come online: the default.
    pub const ALL: CpuSet = CpuSet(u64::MAX);

    /// No CPU.
    pub const EMPTY: CpuSet = CpuSet(0);

    /// Just CPU `cpu`.
    ///
    /// # Panics
    /// If `cpu` is not below `MAX_CPUS` (64).
    pub const fn single(cpu: u32) -> CpuSet {
        assert!((cpu as usize) < MAX_CPUS, "CPU index out of range");
        CpuSet(1 << cpu)
    }

    /// The set whose bit `n` stands for CPU `n`.
    pub const fn from_bits(bits: u64) -> CpuSet {
        CpuSet(bits)
    }

    /// One bit per CPU.
    pub const fn bits(self) -> u64 {
        self.0
    }

    /// This set and CPU `cpu` (out-of-range indices are ignored).
    pub const fn with(self, cpu: u32) -> CpuSet {
        match (cpu as usize) < MAX_CPUS {
            true => CpuSet(self.0 | 1 << cpu),
            false => self,
        }
    }

    /// Whether CPU `cpu` is in the set.
    pub const fn contains(self, cpu: u32) -> bool {
        (cpu as usize) < MAX_CPUS && self.0 & (1 << cpu) != 0
    }

    /// The CPUs in both sets.
    pub const fn intersection(self, other: CpuSet) -> CpuSet {
        CpuSet(self.0 & other.0)
    }

    /// Whether the set has no CPU.
    pub const fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// The lowest CPU in the set.
    pub const fn first(self) -> Option<u32> {
        match self.0 {
            0 => None,
            bits => Some(bits.trailing_zeros()),
        }
    }

    /// The CPUs in the set, lowest first.
    pub fn iter(self) -> impl Iterator<Item = u32> {
        let mut bits = self.0;
        core::iter::from_fn(move || {
            let cpu = CpuSet(bits).first()?;
            bits &= bits - 1;
            Some(cpu)
        })
    }
}

impl fmt::Debug for CpuSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            CpuSet::ALL => f.write_str("CpuSet(all)"),
            set => f.debug_set().entries(set.iter()).finish(),
        }
    }
}

/// Why a CPU set was refused: no online CPU is in it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NoCpuInSet;

impl fmt::Display for NoCpuInSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("no online CPU is in the set")
    }
}

#[cfg(test)]
mod tests {
    use alloc::{format, vec::Vec};

    use super::*;

    #[test]
    fn membership_and_iteration() {
        let set = CpuSet::single(3).with(0).with(63).with(64);
        assert!(set.contains(0) && set.contains(3) && set.contains(63));
        assert!(!set.contains(1) && !set.contains(64) && !set.contains(u32::MAX));
        assert_eq!(set.iter().collect::<Vec<_>>(), [0, 3, 63]);
        assert_eq!(set.first(), Some(0));
        assert_eq!(CpuSet::EMPTY.first(), None);
        assert!(CpuSet::EMPTY.is_empty() && !set.is_empty());
        assert_eq!(set.intersection(CpuSet::from_bits(0b1010)).bits(), 0b1000);
        assert_eq!(format!("{set:?}"), "{0, 3, 63}");
        assert_eq!(format!("{:?}", CpuSet::ALL), "CpuSet(all)");
    }

    #[test]
    #[should_panic(expected = "out of range")]
    fn a_single_cpu_past_the_limit_is_refused() {
        let _ = CpuSet::single(64);
    }
}
