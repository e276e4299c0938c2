//! The monotonic clock: time since boot, counted by the TSC and calibrated against the PIT.
//!
//! [`now`] is cheap (one `rdtsc`, a multiply and a shift: no division, which costs tens of
//! cycles on hardware and is on the timer tick's path) and never goes backwards on a CPU.
//! Before [`init`] runs it reads zero, so early log lines are stamped `0.000000`.
//!
//! Every CPU has its own TSC. When a CPU is started its TSC is compared with the boot
//! CPU's (`smp`); an offset larger than the measurement's uncertainty is recorded with
//! [`set_cpu_offset`] and taken off that CPU's readings, so that all CPUs read one clock.
//!
//! **Checked by:** host tests below; test kernels `clock` (calibration under load, every
//! CPU's own index), `sleep`, `tickless`.

use core::{
    ops::Add,
    sync::atomic::{AtomicI64, AtomicU32, AtomicU64, Ordering},
    time::Duration,
};

use crate::arch::{self, cpu_local::MAX_CPUS};

static TSC_HZ: AtomicU64 = AtomicU64::new(0);
static BOOT_TSC: AtomicU64 = AtomicU64::new(0);
/// TSC ticks to nanoseconds, as a fixed-point factor (see [`Scale`]); zero before [`init`].
static SCALE_MULT: AtomicU64 = AtomicU64::new(0);
static SCALE_SHIFT: AtomicU32 = AtomicU32::new(0);

/// How far each CPU's TSC runs ahead of the boot CPU's (negative: behind), in ticks.
static CPU_OFFSETS: [AtomicI64; MAX_CPUS] = [const { AtomicI64::new(0) }; MAX_CPUS];

/// Every CPU index is below `MAX_CPUS`, a power of two, so [`now`] masks the index instead
/// of checking it: the mask changes no index, and costs one instruction to the check's two.
const CPU_MASK: usize = MAX_CPUS - 1;
const _: () = assert!(MAX_CPUS.is_power_of_two());

/// A point on the monotonic clock, in nanoseconds since boot.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Instant {
    nanos: u64,
}

impl Instant {
    /// The instant `nanos` nanoseconds after boot.
    pub const fn from_nanos(nanos: u64) -> Self {
        Self { nanos }
    }

    /// Nanoseconds since boot.
    pub const fn as_nanos(self) -> u64 {
        self.nanos
    }

    /// Time from `earlier` to `self`, or zero if `earlier` is later.
    pub fn saturating_duration_since(self, earlier: Instant) -> Duration {
        Duration::from_nanos(self.nanos.saturating_sub(earlier.nanos))
    }

    /// Time that passed since `self`.
    pub fn elapsed(self) -> Duration {
        now().saturating_duration_since(self)
    }
}

impl Add<Duration> for Instant {
    type Output = Instant;

    /// Saturates at the end of time (about 584 years after boot) instead of overflowing.
    fn add(self, duration: Duration) -> Instant {
        let nanos = u64::try_from(duration.as_nanos()).unwrap_or(u64::MAX);
        Instant::from_nanos(self.nanos.saturating_add(nanos))
    }
}

/// Starts the clock: time zero is now, and the TSC runs at `tsc_hz`.
pub fn init(tsc_hz: u64) {
    BOOT_TSC.store(arch::tsc::read(), Ordering::Relaxed);
    TSC_HZ.store(tsc_hz, Ordering::Relaxed);
    let scale = Scale::for_frequency(tsc_hz);
    SCALE_SHIFT.store(scale.shift, Ordering::Relaxed);
    SCALE_MULT.store(scale.mult, Ordering::Relaxed);
}

/// The scale in use.
fn scale() -> Scale {
    Scale {
        mult: SCALE_MULT.load(Ordering::Relaxed),
        shift: SCALE_SHIFT.load(Ordering::Relaxed),
    }
}

/// The calibrated TSC frequency in Hz (zero before [`init`]).
pub fn tsc_frequency() -> u64 {
    TSC_HZ.load(Ordering::Relaxed)
}

/// The current instant.
///
/// Safe against moves between CPUs: the counter is read together with the index of the
/// CPU it belongs to, at one instant (`tsc::read_with_cpu`), so it is always corrected
/// by its own CPU's offset; what follows is arithmetic on that pair, a reading of the one
/// clock all CPUs share, whichever CPU the thread has moved to since.
pub fn now() -> Instant {
    let (tsc, cpu) = arch::tsc::read_with_cpu();
    let offset = CPU_OFFSETS[cpu as usize & CPU_MASK].load(Ordering::Relaxed);
    let tsc = tsc.wrapping_sub(offset as u64);
    let ticks = tsc.saturating_sub(BOOT_TSC.load(Ordering::Relaxed));
    Instant::from_nanos(scale().to_nanos(ticks))
}

/// Records that CPU `cpu`'s TSC runs `ticks` ahead of the boot CPU's (before that CPU
/// reads the clock).
pub fn set_cpu_offset(cpu: u32, ticks: i64) {
    CPU_OFFSETS[cpu as usize].store(ticks, Ordering::Relaxed);
}

/// The duration of `ticks` TSC ticks.
pub fn tsc_ticks_to_duration(ticks: u64) -> Duration {
    Duration::from_nanos(scale().to_nanos(ticks))
}

/// Time since boot.
pub fn uptime() -> Duration {
    Duration::from_nanos(now().as_nanos())
}

/// Ticks to nanoseconds as `ticks * mult >> shift` (Linux's clocksource `mult`/`shift`):
/// `mult / 2^shift` is 10^9 / hz, rounded down, with the largest shift that keeps `mult` in
/// 64 bits, so the relative error is below 2^-32 (under a millisecond a month). The product
/// is taken in 128 bits: no overflow for any tick count. Monotonic in `ticks`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Scale {
    mult: u64,
    shift: u32,
}

impl Scale {
    /// The scale for a TSC at `hz` (zero: a clock that reads zero).
    fn for_frequency(hz: u64) -> Self {
        if hz == 0 {
            return Self { mult: 0, shift: 0 };
        }
        let shift = (0..=63u32)
            .rev()
            .find(|&shift| (1_000_000_000u128 << shift) / u128::from(hz) <= u128::from(u64::MAX))
            .unwrap_or(0);
        let mult = (1_000_000_000u128 << shift) / u128::from(hz);
        Self {
            mult: mult as u64, // fits: checked by the search above
            shift,
        }
    }

    #[inline]
    fn to_nanos(self, ticks: u64) -> u64 {
        ((u128::from(ticks) * u128::from(self.mult)) >> self.shift) as u64
    }
}

/// Converts TSC ticks at `hz` to nanoseconds (for tests: the kernel keeps the scale).
#[cfg(test)]
fn ticks_to_nanos(ticks: u64, hz: u64) -> u64 {
    Scale::for_frequency(hz).to_nanos(ticks)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn converts_ticks_at_the_given_frequency() {
        // Rounded down, never more than a nanosecond below the exact value here.
        let near =
            |got: u64, exact: u64| assert!(got <= exact && exact - got <= 1, "{got} vs {exact}");
        near(ticks_to_nanos(3_000_000_000, 3_000_000_000), 1_000_000_000);
        near(ticks_to_nanos(2_500_000_000, 2_500_000_000), 1_000_000_000);
        assert_eq!(ticks_to_nanos(1, 1_000_000_000), 1);
        assert_eq!(ticks_to_nanos(5, 2), 2_500_000_000);
        near(ticks_to_nanos(123_456_789, 3_123_456_789), 39_525_691);
    }

    #[test]
    fn the_error_stays_below_a_millisecond_a_month() {
        for hz in [
            1_000_000,
            999_999_937,
            1_000_000_000,
            2_899_999_999,
            3_000_000_000,
            5_000_000_000,
        ] {
            let month = hz * 3600 * 24 * 31;
            let exact = (u128::from(month) * 1_000_000_000 / u128::from(hz)) as u64;
            let got = ticks_to_nanos(month, hz);
            assert!(
                got <= exact && exact - got < 1_000_000,
                "{hz} Hz: {got} vs {exact}"
            );
        }
    }

    #[test]
    fn the_clock_never_goes_backwards() {
        let scale = Scale::for_frequency(2_899_999_999);
        let mut previous = 0;
        for ticks in (0..2_000_000u64).chain(u64::MAX - 1000..=u64::MAX) {
            let nanos = scale.to_nanos(ticks);
            assert!(nanos >= previous || ticks == u64::MAX - 1000);
            previous = nanos;
        }
    }

    #[test]
    fn an_uncalibrated_clock_reads_zero() {
        assert_eq!(ticks_to_nanos(12345, 0), 0);
    }

    #[test]
    fn large_tick_counts_do_not_overflow() {
        // Ten years at 4 GHz.
        let ticks = 4_000_000_000u64 * 3600 * 24 * 3650;
        let exact: u64 = 1_000_000_000 * 3600 * 24 * 3650;
        let got = ticks_to_nanos(ticks, 4_000_000_000);
        assert!(
            got <= exact && exact - got < 1_000_000_000,
            "{got} vs {exact}"
        );
    }

    #[test]
    fn adding_a_huge_duration_saturates() {
        let late = Instant::from_nanos(u64::MAX - 1) + Duration::from_secs(1);
        assert_eq!(late.as_nanos(), u64::MAX);
        assert_eq!(
            Instant::from_nanos(5).saturating_duration_since(late),
            Duration::ZERO
        );
    }
}
