//! Each CPU's timer interrupt: the local APIC timer in one-shot mode (or TSC-deadline
//! mode when CPUID has it), armed by the scheduler for the next thing due on that CPU
//! ([`arm_in`]); or, when there is no usable APIC, the PIT through the 8259 as a periodic
//! tick. And the calibration both the timer and the clock need: the TSC's and the APIC
//! timer's rates as CPUID states them (`stated_rates`), or else as measured against the
//! PIT in windows that a descheduled vCPU cannot skew (`calibration`).
//!
//! The timer only *fires*; time is always the TSC's. Both rates are known to some ppm
//! when measured, so a one-shot count could come out a little short and fire before the
//! deadline: the timer is armed later by the two rates' uncertainties (at most
//! `MAX_MARGIN_NS`), and an interrupt that still comes early finds nothing due and arms
//! the timer again for what is left.

use core::{
    fmt,
    ops::RangeInclusive,
    sync::atomic::{AtomicU8, AtomicU64, Ordering},
};

use x86_64::VirtAddr;

use super::{
    apic,
    calibration::{self, Estimate, REQUIRED_AGREEING},
    interrupts::{self, Handler},
    pic, pit, stated_rates, tsc,
    vectors::{APIC_TIMER, PIC_FIRST, PIT},
};

/// Rates a TSC plausibly runs at: 100 MHz to 20 GHz (QEMU's icount mode: 1 GHz).
const SANE_TSC_HZ: RangeInclusive<u64> = 100_000_000..=20_000_000_000;

/// Rates the APIC timer plausibly runs at after its divider: 100 kHz to 1 GHz (QEMU:
/// 62.5 MHz; hardware: a 25 to 200 MHz crystal or bus, 1.5 to 12.5 MHz).
const SANE_APIC_HZ: RangeInclusive<u64> = 100_000..=1_000_000_000;

/// Which device drives each CPU's timer interrupt, and how.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum TickSource {
    /// The local APIC timer in one-shot mode: armed for the next event, a count of timer
    /// ticks away.
    ApicOneShot = 1,
    /// The local APIC timer in TSC-deadline mode: armed for a TSC value.
    ApicTscDeadline = 2,
    /// PIT channel 0 through the 8259, periodic: the boot CPU alone, ticking at the
    /// configured rate whether or not anything is due (no tickless fallback).
    Pit = 3,
}

impl TickSource {
    /// Whether the timer is armed per event (else it ticks periodically).
    pub fn is_one_shot(self) -> bool {
        self != TickSource::Pit
    }
}

/// The source in use (0 before [`start`]).
static SOURCE: AtomicU8 = AtomicU8::new(0);
/// Nanoseconds to timer units, as a 32.32 fixed-point factor rounded up: APIC timer
/// ticks in one-shot mode, TSC ticks in TSC-deadline mode.
static UNITS_PER_NS: AtomicU64 = AtomicU64::new(0);

/// How much later than asked the timer is armed, as a fraction of the interval
/// ([`margin_fraction`]): the sum of the TSC's and the timer's calibration uncertainties
/// (0 when CPUID states both).
static MARGIN: AtomicU64 = AtomicU64::new(0);

/// The most the margin adds to an interval: a long interval armed with a rate that is
/// off by more than its stated uncertainty takes a second interrupt rather than ending
/// late.
const MAX_MARGIN_NS: u64 = 20_000;

/// The margin as a 32.32 fixed-point fraction of the interval, for [`with_margin`]: a
/// multiply and a shift on the timer's path, no division.
fn margin_fraction(margin_ppm: u64) -> u64 {
    ((u128::from(margin_ppm) << 32) / 1_000_000) as u64
}

/// `nanos` and the margin for it (`fraction`: from [`margin_fraction`]).
fn with_margin(nanos: u64, fraction: u64) -> u64 {
    let margin = ((u128::from(nanos) * u128::from(fraction)) >> 32) as u64;
    nanos.saturating_add(margin.min(MAX_MARGIN_NS))
}

/// The factor of [`units_for`] for a clock of `hz`, rounded up.
fn units_per_ns(hz: u64) -> u64 {
    ((u128::from(hz) << 32).div_ceil(1_000_000_000)) as u64
}

/// Timer units covering at least `nanos` nanoseconds (rounded up: a timer armed with it
/// never fires early on account of the conversion).
fn units_for(nanos: u64, units_per_ns: u64) -> u64 {
    let units = (u128::from(nanos) * u128::from(units_per_ns)).div_ceil(1 << 32);
    u64::try_from(units).unwrap_or(u64::MAX)
}

/// Arms this CPU's timer to interrupt once, `nanos` nanoseconds from now (`None`: stops
/// it), replacing what it was armed for. A no-op with the periodic PIT. Interrupts must
/// be off (the caller keeps the CPU's record of what is armed).
#[inline]
pub fn arm_in(nanos: Option<u64>) {
    let per_ns = UNITS_PER_NS.load(Ordering::Relaxed);
    let nanos = nanos.map(|nanos| with_margin(nanos, MARGIN.load(Ordering::Relaxed)));
    match SOURCE.load(Ordering::Relaxed) {
        1 => apic::set_count(match nanos {
            // At least 1: a count of 0 would stop the timer instead.
            Some(nanos) => u32::try_from(units_for(nanos, per_ns).max(1)).unwrap_or(u32::MAX),
            None => 0,
        }),
        2 => apic::set_tsc_deadline(match nanos {
            Some(nanos) => tsc::read().saturating_add(units_for(nanos, per_ns)).max(1),
            None => 0,
        }),
        _ => {}
    }
}

/// One clock's rate and how it is known.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rate {
    /// Ticks per second.
    pub hz: u64,
    /// How far from `hz` the rate may be: zero when CPUID states it.
    pub uncertainty_hz: u64,
    /// The CPUID leaf that stated the rate; `None`: measured against the PIT.
    pub cpuid_leaf: Option<u32>,
}

impl Rate {
    fn stated(hz: u64, leaf: u32) -> Self {
        Self {
            hz,
            uncertainty_hz: 0,
            cpuid_leaf: Some(leaf),
        }
    }

    fn measured(estimate: Estimate) -> Self {
        Self {
            hz: estimate.hz,
            uncertainty_hz: estimate.uncertainty_hz,
            cpuid_leaf: None,
        }
    }

    /// The uncertainty in parts per million of the rate.
    pub fn uncertainty_ppm(&self) -> u64 {
        (u128::from(self.uncertainty_hz) * 1_000_000 / u128::from(self.hz.max(1))) as u64
    }
}

impl fmt::Display for Rate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.cpuid_leaf {
            Some(leaf) => write!(f, "{} kHz (CPUID leaf {leaf:#x})", self.hz / 1000),
            None => write!(f, "{} kHz +-{} ppm", self.hz / 1000, self.uncertainty_ppm()),
        }
    }
}

/// How the PIT windows went, when rates were measured.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PitWindows {
    /// Windows that agree on the answer (the fewest, over the clocks measured).
    pub agreeing: usize,
    /// Windows measured, discarded ones included.
    pub windows: usize,
    /// Windows discarded because the CPU stopped inside them (descheduled by the host).
    pub disturbed: usize,
    /// PIT ticks each window of the answer lasted: 2048 (1.7 ms), or 16 times that when
    /// the PIT reads so slowly that no short window was undisturbed.
    pub window_ticks: u32,
}

/// What calibration found.
#[derive(Debug, Clone, Copy)]
pub struct Calibration {
    /// TSC ticks per second (`tsc().hz`).
    pub tsc_hz: u64,
    tsc: Rate,
    /// The APIC timer's rate (after its divider), if an APIC is in use.
    apic: Option<Rate>,
    /// How the PIT windows went; `None` when CPUID stated every rate.
    pit: Option<PitWindows>,
}

impl Calibration {
    /// The TSC's rate.
    pub fn tsc(&self) -> Rate {
        self.tsc
    }

    /// Whether the tick can come from the local APIC timer (which other CPUs need).
    pub fn has_apic_timer(&self) -> bool {
        self.apic.is_some()
    }

    /// APIC timer ticks per second (after its divider), if the APIC timer was measured.
    pub fn apic_hz(&self) -> Option<u64> {
        self.apic.map(|rate| rate.hz)
    }

    /// Whether every measured rate has as many agreeing windows behind it as required
    /// (else it comes from fewer: the host was so busy that most windows were disturbed).
    pub fn settled(&self) -> bool {
        self.pit.is_none_or(|pit| pit.agreeing >= REQUIRED_AGREEING)
    }
}

impl fmt::Display for Calibration {
    /// E.g. `TSC 2596134 kHz +-84 ppm, APIC timer 62500 kHz +-90 ppm; 4 of 5 PIT
    /// windows of 2048 ticks agree, 1 disturbed`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "TSC {}", self.tsc)?;
        match self.apic {
            Some(apic) => write!(f, ", APIC timer {apic}")?,
            None => f.write_str(", APIC timer not used")?,
        }
        if let Some(pit) = self.pit {
            write!(
                f,
                "; {} of {} PIT windows of {} ticks agree, {} disturbed",
                pit.agreeing, pit.windows, pit.window_ticks, pit.disturbed
            )?;
        }
        Ok(())
    }
}

/// Finds the TSC's rate and, if `apic_registers` is given, enables the APIC and finds
/// its timer's: from CPUID when it states them, else measured against the PIT (each
/// window with interrupts off). At boot: with an APIC, this stops its timer (the tick is
/// started afterwards); [`calibrate_tsc`] is the form for later.
///
/// # Panics
/// If a rate CPUID does not state cannot be measured either: the PIT does not count, or
/// every window was disturbed or gave a rate out of bounds. The kernel cannot keep time
/// without it.
pub(crate) fn calibrate(apic_registers: Option<VirtAddr>) -> Calibration {
    if let Some(registers) = apic_registers {
        apic::enable(registers);
        apic::start_free_running();
    }
    let stated = stated_rates::read();
    let stated_tsc = stated.and_then(|stated| {
        let hz = stated.tsc_hz.filter(|hz| SANE_TSC_HZ.contains(hz))?;
        Some(Rate::stated(hz, stated.leaf))
    });
    let stated_apic = stated
        .filter(|_| apic_registers.is_some())
        .and_then(|stated| {
            let hz = stated.apic_input_hz? / apic::TIMER_DIVIDER;
            SANE_APIC_HZ
                .contains(&hz)
                .then(|| Rate::stated(hz, stated.leaf))
        });
    let apic_hz_needed = apic_registers.is_some() && stated_apic.is_none();
    let tsc_sample = tsc::read_fenced;
    let apic_sample = || u64::from(u32::MAX - apic::current_count()); // counts up from 0
    let (tsc, apic, pit) = match (stated_tsc, apic_hz_needed) {
        (None, true) => {
            let ([tsc, apic], pit) =
                measure(["TSC", "APIC timer"], [SANE_TSC_HZ, SANE_APIC_HZ], || {
                    [tsc_sample(), apic_sample()]
                });
            (tsc, Some(apic), Some(pit))
        }
        (None, false) => {
            let ([tsc], pit) = measure(["TSC"], [SANE_TSC_HZ], || [tsc_sample()]);
            (tsc, stated_apic, Some(pit))
        }
        (Some(tsc), true) => {
            let ([apic], pit) = measure(["APIC timer"], [SANE_APIC_HZ], || [apic_sample()]);
            (tsc, Some(apic), Some(pit))
        }
        (Some(tsc), false) => (tsc, stated_apic, None),
    };
    Calibration {
        tsc_hz: tsc.hz,
        tsc,
        apic,
        pit,
    }
}

/// Finds the TSC's rate again, as at boot: from CPUID, else against the PIT. Callable at
/// any time, from any CPU (CPUs calibrating at once take turns at the PIT, a window each);
/// each window keeps interrupts off for a few milliseconds.
///
/// # Panics
/// As `calibrate`.
pub fn calibrate_tsc() -> Calibration {
    calibrate(None)
}

/// Measures the `N` clocks `sample` reads (named `names`, within `sane`) against the PIT.
fn measure<const N: usize>(
    names: [&str; N],
    sane: [RangeInclusive<u64>; N],
    sample: impl FnMut() -> [u64; N],
) -> ([Rate; N], PitWindows) {
    let measured = calibration::measure(&sane, pit::hold, pit::read_free_running, sample);
    let rates = core::array::from_fn(|clock| match measured.estimates[clock] {
        Some(estimate) => Rate::measured(estimate),
        None => panic!(
            "timer calibration failed: no {} rate within {:?} Hz in {} PIT windows ({} \
             disturbed: the CPU stopped inside them, as a vCPU whose host is overloaded \
             does{}), and CPUID states none",
            names[clock],
            sane[clock],
            measured.windows,
            measured.disturbed,
            match measured.pit_stopped {
                true => "; the PIT does not count",
                false => "",
            }
        ),
    });
    let agreeing = measured
        .estimates
        .iter()
        .flatten()
        .map(|e| e.agreeing)
        .min();
    let pit = PitWindows {
        agreeing: agreeing.unwrap_or(0),
        windows: measured.windows,
        disturbed: measured.disturbed,
        window_ticks: measured.limits.window_ticks,
    };
    (rates, pit)
}

/// Starts this (the boot) CPU's timer interrupt, calling `on_timer`: the APIC timer,
/// stopped until [`arm_in`] arms it (TSC-deadline mode when CPUID has it, else one-shot
/// counts), when calibration found an APIC; else the PIT, ticking `hz` times a second.
pub fn start(calibration: &Calibration, hz: u32, on_timer: Handler) -> TickSource {
    let source = match calibration.apic_hz() {
        Some(apic_hz) => {
            interrupts::set_handler(APIC_TIMER, on_timer);
            let (source, hz, ppm) = match apic::has_tsc_deadline() {
                true => (TickSource::ApicTscDeadline, calibration.tsc_hz, 0),
                false => (
                    TickSource::ApicOneShot,
                    apic_hz,
                    calibration.tsc.uncertainty_ppm()
                        + calibration.apic.map_or(0, |apic| apic.uncertainty_ppm()),
                ),
            };
            UNITS_PER_NS.store(units_per_ns(hz), Ordering::Relaxed);
            MARGIN.store(margin_fraction(ppm), Ordering::Relaxed);
            source
        }
        None => {
            interrupts::set_handler(PIT, on_timer);
            pit::start_periodic(hz);
            pic::unmask(PIT - PIC_FIRST);
            TickSource::Pit
        }
    };
    SOURCE.store(source as u8, Ordering::Relaxed);
    start_local(source);
    source
}

/// Starts the same timer on another CPU (every local APIC timer runs from the same bus
/// clock, so the boot CPU's calibration holds). Returns `false` when the timer is the
/// PIT's: it reaches the boot CPU only, so that is no timer for an AP (and no AP is
/// started without an APIC).
pub fn start_ap() -> bool {
    match source() {
        Some(source) if source.is_one_shot() => {
            start_local(source);
            true
        }
        _ => false,
    }
}

/// The timer in use, once [`start`] ran.
pub fn source() -> Option<TickSource> {
    match SOURCE.load(Ordering::Relaxed) {
        1 => Some(TickSource::ApicOneShot),
        2 => Some(TickSource::ApicTscDeadline),
        3 => Some(TickSource::Pit),
        _ => None,
    }
}

/// Puts this CPU's APIC timer in the mode of `source`, stopped.
fn start_local(source: TickSource) {
    match source {
        TickSource::ApicOneShot => apic::start_one_shot(APIC_TIMER),
        TickSource::ApicTscDeadline => apic::start_tsc_deadline(APIC_TIMER),
        TickSource::Pit => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn conversions_round_up_so_that_no_timer_fires_early() {
        let qemu_apic = units_per_ns(62_500_000); // 16 ns per tick
        assert_eq!(units_for(0, qemu_apic), 0);
        assert_eq!(units_for(1, qemu_apic), 1);
        assert_eq!(units_for(16, qemu_apic), 1);
        assert_eq!(units_for(17, qemu_apic), 2);
        assert_eq!(units_for(1_000_000, qemu_apic), 62_500);
        let odd = units_per_ns(2_596_134_000);
        for nanos in [1, 999, 1_000_000, 123_456_789, 10_000_000_000] {
            let units = units_for(nanos, odd);
            // `units` ticks last at least `nanos`, and a few fewer would not (the factor
            // is rounded up to 2^-32 units per nanosecond: 2.3 units over 10 s).
            let exact = u128::from(nanos) * 2_596_134_000;
            assert!(u128::from(units) * 1_000_000_000 >= exact);
            assert!(u128::from(units.saturating_sub(4)) * 1_000_000_000 < exact);
        }
    }

    #[test]
    fn the_margin_covers_the_uncertainty_up_to_a_bound() {
        let ppm_1200 = margin_fraction(1_200);
        assert_eq!(with_margin(5_000_000, 0), 5_000_000);
        assert!((5_005_999..=5_006_000).contains(&with_margin(5_000_000, ppm_1200)));
        assert_eq!(
            with_margin(1_000_000_000, ppm_1200),
            1_000_000_000 + MAX_MARGIN_NS
        );
        assert_eq!(with_margin(u64::MAX, ppm_1200), u64::MAX);
    }

    #[test]
    fn far_deadlines_saturate() {
        assert_eq!(units_for(u64::MAX, units_per_ns(20_000_000_000)), u64::MAX);
    }
}
