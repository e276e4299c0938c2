//! Measuring clock rates against the PIT so that a vCPU descheduled by its host cannot
//! skew them: the arithmetic, over readings handed in as closures, so that the host tests
//! run this very code on simulated machines (`timer::calibrate` hands it the hardware).
//!
//! The clocks (the TSC, the local APIC timer) are sampled at both ends of several short
//! windows. Each sample is taken between two reads of the PIT's free-running counter, a
//! *bracket*, and the counter is read over and over in between. A window in which the
//! vCPU stopped for a while shows it, and is discarded: a wide bracket (when the sample
//! was taken is then unknown), or a long step between two reads (the PIT's 16 bits wrap
//! every 55 ms, so across a long gap its count no longer says how much time passed; a
//! short pause costs nothing). Each kept window bounds the number of PIT
//! ticks between its two samples from below and from above, hence each clock's rate
//! (an interval); the answer is where the most intervals overlap (Marzullo's algorithm,
//! as NTP picks among servers), once [`REQUIRED_AGREEING`] windows agree, so that even
//! a window that hid a gap of exactly a wrap, whose interval is far off, is outvoted.
//!
//! The old method (one 10 ms interval timed by polling the PIT's output, no brackets) took
//! whatever the host did during those 10 ms: under host load it said 3.5 to 35 GHz for a
//! 2.6 GHz TSC.

use core::ops::RangeInclusive;

/// The PIT's input clock.
pub(super) const PIT_HZ: u64 = 1_193_182;

/// How a window is timed: how long it lasts, and what shows that the CPU stopped in it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Limits {
    /// PIT ticks a window lasts at least.
    pub(super) window_ticks: u32,
    /// The widest bracket (PIT ticks between the reads around a sample) of an
    /// undisturbed window. It bounds how wide a kept window's interval is:
    /// `(2 * max_bracket + 2) / window_ticks` at most, and much less in practice.
    max_bracket: u16,
    /// The longest step between two consecutive PIT reads while a window waits. A pause
    /// there costs no precision (the PIT and the clocks count on), as long as the PIT's
    /// count says how long it was, which it cannot once it wrapped (55 ms): a longer step
    /// is taken as the sign of a long pause. A pause that happens to last a whole number
    /// of wraps, give or take a step, looks short; its window's rate is far off, and
    /// outvoted.
    max_step: u16,
}

impl Limits {
    /// Where a PIT read takes a microsecond or two (hardware, an emulator, a hypervisor
    /// whose PIT is in its kernel): windows of 1.7 ms, so that most fit between two of
    /// the host's preemptions of a busy vCPU; brackets of 20 µs, within which a vCPU
    /// descheduled between two reads shows milliseconds (±1.2 % at most); steps of 1 ms
    /// (pauses of tens of microseconds are common under emulation: another vCPU's
    /// interrupt, the emulator's own lock).
    pub(super) const FAST: Self = Self {
        window_ticks: 2048,
        max_bracket: 24,
        max_step: 1193,
    };

    /// Sixteen times [`FAST`](Self::FAST) (windows of 27 ms, brackets of 320 µs, steps
    /// of 16 ms: the same precision bound), tried when no fast window was undisturbed:
    /// where every port read exits to a slow hypervisor (a nested one, a PIT emulated in
    /// user space), a bracket of three port I/Os takes longer than 20 µs every time.
    pub(super) const SLOW: Self = Self {
        window_ticks: 16 * 2048,
        max_bracket: 16 * 24,
        max_step: 16 * 1193,
    };
}

/// How many windows must agree before their answer is taken.
pub(super) const REQUIRED_AGREEING: usize = 4;

/// How many windows are tried at most at each speed (discarded ones included): the bound
/// on retries.
const MAX_WINDOWS: usize = 48;

/// How many slow windows are tried at most, when no fast window was undisturbed.
const MAX_SLOW_WINDOWS: usize = 12;

/// Reads of an unchanging PIT after which it is taken for absent or stopped: far more
/// than a PIT tick (838 ns) takes on any machine (a read costs tens of instructions under
/// icount, a microsecond or more on hardware), so at least 0.1 s where reads are slow.
const MAX_READS_WITHOUT_CHANGE: u32 = 100_000;

/// What one window measured: `N` clocks sampled at its start and its end, and bounds on
/// the PIT ticks that passed between the two samples.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Window<const N: usize> {
    first: [u64; N],
    last: [u64; N],
    min_ticks: u64,
    max_ticks: u64,
}

/// Why a window was not kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum WindowError {
    /// A bracket or a step was longer than its [`Limits`] allow: the vCPU (or the CPU, in
    /// an SMI) stopped inside the window.
    Disturbed,
    /// The PIT did not count: there is none, or it is stopped.
    PitStopped,
}

/// Measures one window as `limits` say. `read_pit` reads the PIT's free-running counter
/// (counting down, wrapping at 2^16); `sample` reads the `N` clocks (each counting up).
/// `sample` runs twice, each time between two `read_pit`s.
fn measure_window<const N: usize>(
    limits: Limits,
    mut read_pit: impl FnMut() -> u16,
    mut sample: impl FnMut() -> [u64; N],
) -> Result<Window<N>, WindowError> {
    let before_first = read_pit();
    let first = sample();
    let after_first = read_pit();
    let first_bracket = gap(before_first, after_first, limits.max_bracket)?;
    let mut previous = after_first;
    let mut waited = 0u64;
    let mut unchanged_reads = 0;
    while waited < u64::from(limits.window_ticks) {
        let now = read_pit();
        let step = gap(previous, now, limits.max_step)?;
        unchanged_reads = if step == 0 { unchanged_reads + 1 } else { 0 };
        if unchanged_reads > MAX_READS_WITHOUT_CHANGE {
            return Err(WindowError::PitStopped);
        }
        waited += step;
        previous = now;
    }
    let last = sample();
    let last_bracket = gap(previous, read_pit(), limits.max_bracket)?;
    // A read of count c means the PIT's time lay in [c, c + 1) ticks: between two reads
    // whose counts differ by d lie more than d - 1 and less than d + 1 ticks. The first
    // sample lies within its bracket, the last within its own, so between them lie more
    // than `waited` - 1 ticks (from the end of the first bracket to the start of the last)
    // and fewer than the whole span plus one.
    Ok(Window {
        first,
        last,
        min_ticks: waited - 1,
        max_ticks: first_bracket + waited + last_bracket + 1,
    })
}

/// PIT ticks from the read `earlier` to the read `later` (the counter counts down), if
/// no more than `max`.
fn gap(earlier: u16, later: u16, max: u16) -> Result<u64, WindowError> {
    let ticks = earlier.wrapping_sub(later);
    match ticks <= max {
        true => Ok(u64::from(ticks)),
        false => Err(WindowError::Disturbed),
    }
}

impl<const N: usize> Window<N> {
    /// The rates of clock `clock` this window allows, in Hz: lowest and highest.
    fn rate_bounds(&self, clock: usize) -> (u64, u64) {
        let counted = u128::from(self.last[clock].wrapping_sub(self.first[clock]));
        let per_second = counted * u128::from(PIT_HZ);
        let low = per_second / u128::from(self.max_ticks);
        let high = per_second.div_ceil(u128::from(self.min_ticks));
        (saturate(low), saturate(high))
    }
}

fn saturate(hz: u128) -> u64 {
    u64::try_from(hz).unwrap_or(u64::MAX)
}

/// A measured rate: `hz`, give or take `uncertainty_hz`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Estimate {
    /// The middle of the interval the agreeing windows share.
    pub(super) hz: u64,
    /// Half that interval's width: every agreeing window allows every rate within
    /// `hz ± uncertainty_hz`.
    pub(super) uncertainty_hz: u64,
    /// How many windows share that interval.
    pub(super) agreeing: usize,
}

/// The rate most of `intervals` (each the lowest and highest rate one window allows)
/// agree on, among those that reach into `sane`: the intersection of the largest set of
/// intervals that share a point (the narrowest, when several sets are as large). `None`
/// when no interval reaches into `sane`.
pub(super) fn agreed_rate(
    intervals: &[(u64, u64)],
    sane: &RangeInclusive<u64>,
) -> Option<Estimate> {
    let mut ends = [(0u64, 0i8); 2 * MAX_WINDOWS];
    let mut count = 0;
    for &(low, high) in intervals.iter().take(MAX_WINDOWS) {
        if high >= *sane.start() && low <= *sane.end() {
            ends[count] = (low, 1); // an interval opens
            ends[count + 1] = (high, -1); // and closes
            count += 2;
        }
    }
    let ends = &mut ends[..count];
    // Closed intervals: at equal rates, openings come before closings (1 > -1, reversed).
    ends.sort_unstable_by(|a, b| a.0.cmp(&b.0).then(b.1.cmp(&a.1)));
    let mut best: Option<(usize, u64, u64)> = None; // (agreeing, low, high)
    let mut open = 0usize;
    for (index, &(rate, change)) in ends.iter().enumerate() {
        if change < 0 {
            open -= 1;
            continue;
        }
        open += 1;
        // The overlap of the `open` intervals runs from here to the next closing.
        let Some(&(high, _)) = ends[index + 1..].iter().find(|end| end.1 < 0) else {
            continue;
        };
        let better = best.is_none_or(|(agreeing, low, old_high)| {
            open > agreeing || (open == agreeing && high - rate < old_high - low)
        });
        if better {
            best = Some((open, rate, high));
        }
    }
    best.map(|(agreeing, low, high)| Estimate {
        hz: low + (high - low) / 2,
        uncertainty_hz: (high - low).div_ceil(2),
        agreeing,
    })
}

/// What [`measure`] found for `N` clocks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Measurement<const N: usize> {
    /// Each clock's agreed rate; `None` if no kept window gave a rate within its bounds.
    pub(super) estimates: [Option<Estimate>; N],
    /// How the windows behind the estimates were timed.
    pub(super) limits: Limits,
    /// Windows tried (at every speed).
    pub(super) windows: usize,
    /// Windows discarded as disturbed.
    pub(super) disturbed: usize,
    /// Whether measuring stopped because the PIT does not count.
    pub(super) pit_stopped: bool,
}

impl<const N: usize> Measurement<N> {
    /// Whether every clock's rate has [`REQUIRED_AGREEING`] windows behind it.
    pub(super) fn settled(&self) -> bool {
        self.estimates
            .iter()
            .all(|estimate| estimate.is_some_and(|e| e.agreeing >= REQUIRED_AGREEING))
    }

    /// Whether some clock has no rate at all.
    fn failed(&self) -> bool {
        self.estimates.iter().any(Option::is_none)
    }
}

/// Measures `N` clocks (read by `sample`, each counting up) against the PIT (read by
/// `read_pit`): [`Limits::FAST`] windows until [`REQUIRED_AGREEING`] of them agree on
/// every clock's rate (each within its `sane` range), [`MAX_WINDOWS`] were tried, or the
/// PIT turned out not to count; then, if some clock has no rate at all (every fast window
/// was disturbed: the PIT reads slowly), up to [`MAX_SLOW_WINDOWS`] [`Limits::SLOW`]
/// windows. `quiet` runs around each window; what it returns is dropped at the window's
/// end (the kernel disables interrupts and holds the PIT there).
pub(super) fn measure<const N: usize, Q>(
    sane: &[RangeInclusive<u64>; N],
    mut quiet: impl FnMut() -> Q,
    mut read_pit: impl FnMut() -> u16,
    mut sample: impl FnMut() -> [u64; N],
) -> Measurement<N> {
    let mut window = |limits| {
        let _quiet = quiet();
        measure_window(limits, &mut read_pit, &mut sample)
    };
    let fast = measure_at(Limits::FAST, MAX_WINDOWS, sane, &mut window);
    if !fast.failed() || fast.pit_stopped {
        return fast;
    }
    let slow = measure_at(Limits::SLOW, MAX_SLOW_WINDOWS, sane, &mut window);
    Measurement {
        windows: fast.windows + slow.windows,
        disturbed: fast.disturbed + slow.disturbed,
        ..slow
    }
}

/// [`measure`] at one speed: at most `max_windows` windows of `limits`, each measured by
/// `window`.
fn measure_at<const N: usize>(
    limits: Limits,
    max_windows: usize,
    sane: &[RangeInclusive<u64>; N],
    mut window: impl FnMut(Limits) -> Result<Window<N>, WindowError>,
) -> Measurement<N> {
    let mut intervals = [[(0u64, 0u64); MAX_WINDOWS]; N];
    let mut kept = 0;
    let mut result = Measurement {
        estimates: [None; N],
        limits,
        windows: 0,
        disturbed: 0,
        pit_stopped: false,
    };
    while result.windows < max_windows.min(MAX_WINDOWS) && !result.settled() {
        result.windows += 1;
        match window(limits) {
            Ok(window) => {
                for (clock, intervals) in intervals.iter_mut().enumerate() {
                    intervals[kept] = window.rate_bounds(clock);
                }
                kept += 1;
                for (clock, estimate) in result.estimates.iter_mut().enumerate() {
                    *estimate = agreed_rate(&intervals[clock][..kept], &sane[clock]);
                }
            }
            Err(WindowError::Disturbed) => result.disturbed += 1,
            Err(WindowError::PitStopped) => {
                result.pit_stopped = true;
                break;
            }
        }
    }
    result
}

#[cfg(test)]
mod tests {
    use std::{cell::Cell, vec::Vec};

    use super::*;

    const TSC_HZ: u64 = 2_596_134_000;
    const SANE: RangeInclusive<u64> = 100_000_000..=20_000_000_000;

    /// A simulated vCPU: time in picoseconds advances by `read_ps` per PIT read and
    /// `sample_ps` per sample, and jumps over each descheduling (start, length) it reaches,
    /// in order.
    struct Machine {
        now_ps: Cell<u64>,
        next_descheduling: Cell<usize>,
        read_ps: u64,
        sample_ps: u64,
        descheduled: Vec<(u64, u64)>,
        pit_counts: bool,
    }

    impl Machine {
        fn new() -> Self {
            Self {
                now_ps: Cell::new(123_456_789),
                next_descheduling: Cell::new(0),
                read_ps: 700_000,
                sample_ps: 30_000,
                descheduled: Vec::new(),
                pit_counts: true,
            }
        }

        fn descheduled_at(mut self, at_ms: f64, for_ms: f64) -> Self {
            let ps = |ms: f64| (ms * 1e9) as u64;
            self.descheduled.push((ps(at_ms), ps(for_ms)));
            self
        }

        fn advance(&self, ps: u64) {
            let mut now = self.now_ps.get() + ps;
            let mut next = self.next_descheduling.get();
            while let Some(&(at, length)) = self.descheduled.get(next)
                && at < now
            {
                now += length;
                next += 1;
            }
            self.now_ps.set(now);
            self.next_descheduling.set(next);
        }

        fn read_pit(&self) -> u16 {
            self.advance(self.read_ps / 2);
            let ticks = u128::from(self.now_ps.get()) * u128::from(PIT_HZ) / 1_000_000_000_000;
            self.advance(self.read_ps / 2);
            match self.pit_counts {
                true => (ticks as u64).wrapping_neg() as u16,
                false => 0xffff,
            }
        }

        fn tsc(&self) -> u64 {
            self.advance(self.sample_ps);
            (u128::from(self.now_ps.get()) * u128::from(TSC_HZ) / 1_000_000_000_000) as u64
        }

        fn measure(&self) -> Measurement<1> {
            self.measure_within(SANE)
        }

        fn measure_within(&self, sane: RangeInclusive<u64>) -> Measurement<1> {
            measure(&[sane], || (), || self.read_pit(), || [self.tsc()])
        }

        /// The method this module replaced: sample, wait until the PIT counted 10 ms,
        /// sample, and take the rate from that one interval.
        fn old_single_window(&self) -> u64 {
            let ten_ms = (PIT_HZ / 100) as u16;
            let start_count = self.read_pit();
            let start = self.tsc();
            while start_count.wrapping_sub(self.read_pit()) < ten_ms {}
            (self.tsc() - start) * 100
        }

        fn ms(&self) -> f64 {
            self.now_ps.get() as f64 / 1e9
        }
    }

    fn assert_near_truth(estimate: Estimate) {
        let error = estimate.hz.abs_diff(TSC_HZ);
        assert!(
            error <= estimate.uncertainty_hz,
            "{estimate:?}: {error} Hz off, more than its uncertainty"
        );
        assert!(estimate.uncertainty_hz < TSC_HZ / 500, "{estimate:?}"); // 0.2 %
    }

    #[test]
    fn an_undisturbed_machine_settles_after_the_required_windows() {
        let machine = Machine::new();
        let measured = machine.measure();
        assert!(measured.settled());
        assert_eq!(
            (measured.windows, measured.disturbed),
            (REQUIRED_AGREEING, 0)
        );
        let estimate = measured.estimates[0].unwrap();
        assert_near_truth(estimate);
        assert_eq!(estimate.agreeing, REQUIRED_AGREEING);
        // Undisturbed, the old method was right to 0.1 % too.
        let old = machine.old_single_window();
        assert!(old.abs_diff(TSC_HZ) < TSC_HZ / 1000, "{old}");
    }

    #[test]
    fn a_window_descheduled_while_waiting_is_discarded() {
        let start = Machine::new().ms();
        // 20 ms off the CPU, half-way through the second window.
        let machine = Machine::new().descheduled_at(start + 2.6, 20.0);
        let measured = machine.measure();
        assert_eq!(measured.disturbed, 1);
        assert_eq!(measured.windows, REQUIRED_AGREEING + 1);
        assert_near_truth(measured.estimates[0].unwrap());
        // The old method waited through the same 20 ms, then counted them: 3x too fast.
        let old = Machine::new()
            .descheduled_at(start + 2.6, 20.0)
            .old_single_window();
        assert!(old > 2 * TSC_HZ, "{old}");
    }

    #[test]
    fn a_short_pause_while_waiting_costs_nothing() {
        // 300 µs off the CPU (another vCPU's interrupt under emulation) mid-window: the
        // PIT's count says how long it was.
        let start = Machine::new().ms();
        let machine = Machine::new().descheduled_at(start + 0.9, 0.3);
        let measured = machine.measure();
        assert_eq!(
            (measured.windows, measured.disturbed),
            (REQUIRED_AGREEING, 0)
        );
        assert_near_truth(measured.estimates[0].unwrap());
    }

    #[test]
    fn a_window_descheduled_inside_a_bracket_is_discarded() {
        // 5 ms off the CPU between the first PIT read and the first sample: the bracket
        // shows the gap. The old method started its interval there, and counted 5 ms
        // of it before its first sample: half the TSC's rate.
        let start = Machine::new().ms();
        let machine = Machine::new().descheduled_at(start + 0.0005, 5.0);
        let measured = machine.measure();
        assert_eq!(measured.disturbed, 1);
        assert_near_truth(measured.estimates[0].unwrap());
        let old = Machine::new()
            .descheduled_at(start + 0.0005, 5.0)
            .old_single_window();
        assert!(old < TSC_HZ * 3 / 4, "{old}");
    }

    #[test]
    fn a_gap_of_exactly_one_pit_wrap_is_outvoted() {
        // Off the CPU for 2^16 PIT ticks (54.9 ms) mid-window: every step looks small,
        // so the window is kept, and says the TSC runs 33 times too fast (no sanity bound
        // here: it is the vote that rejects it). The others agree with each other.
        let wrap_ms = 65_536.0 * 1e3 / PIT_HZ as f64;
        let start = Machine::new().ms();
        let machine = Machine::new().descheduled_at(start + 0.9, wrap_ms);
        let measured = machine.measure_within(0..=u64::MAX);
        assert_eq!(measured.disturbed, 0);
        assert_eq!(measured.windows, REQUIRED_AGREEING + 1);
        let estimate = measured.estimates[0].unwrap();
        assert_near_truth(estimate);
        assert_eq!(estimate.agreeing, REQUIRED_AGREEING);
    }

    #[test]
    fn a_vcpu_descheduled_every_few_milliseconds_still_settles() {
        // 3 ms on the CPU, 6 ms off, as a vCPU sharing a core with two busy loops.
        let start = Machine::new().ms();
        let mut machine = Machine::new();
        for slice in 0..100 {
            machine = machine.descheduled_at(start + 3.0 + 9.0 * f64::from(slice), 6.0);
        }
        let measured = machine.measure();
        assert!(measured.settled(), "{measured:?}");
        assert!(measured.disturbed > 0);
        assert_near_truth(measured.estimates[0].unwrap());
    }

    #[test]
    fn a_vcpu_stopped_most_of_the_time_is_measured_in_slow_windows() {
        // 0.5 ms on the CPU, 2 ms off: no fast window fits, and the PIT's count says how
        // long each pause was, so the slow windows pass over them.
        let start = Machine::new().ms();
        let mut machine = Machine::new();
        for slice in 0..1000 {
            machine = machine.descheduled_at(start + 0.5 + 2.5 * f64::from(slice), 2.0);
        }
        let measured = machine.measure();
        assert!(measured.settled(), "{measured:?}");
        assert_eq!(measured.limits, Limits::SLOW);
        assert_near_truth(measured.estimates[0].unwrap());
    }

    #[test]
    fn retries_are_bounded_when_every_window_is_disturbed() {
        // 1 ms on the CPU, 20 ms off: too short for a fast window, too long a pause for
        // a slow one.
        let start = Machine::new().ms();
        let mut machine = Machine::new();
        for slice in 0..1000 {
            machine = machine.descheduled_at(start + 1.0 + 21.0 * f64::from(slice), 20.0);
        }
        let measured = machine.measure();
        let tried = MAX_WINDOWS + MAX_SLOW_WINDOWS;
        assert_eq!((measured.windows, measured.disturbed), (tried, tried));
        assert_eq!(measured.estimates, [None]);
        assert!(!measured.settled());
    }

    #[test]
    fn a_pit_that_reads_slowly_is_measured_in_slow_windows() {
        // Every PIT read takes 60 µs (a port I/O exiting to a nested hypervisor): every
        // fast window's bracket is too wide, and the slow windows settle.
        let machine = Machine {
            read_ps: 60_000_000,
            ..Machine::new()
        };
        let measured = machine.measure();
        assert!(measured.settled(), "{measured:?}");
        assert_eq!(measured.limits, Limits::SLOW);
        assert_eq!(measured.disturbed, MAX_WINDOWS);
        let estimate = measured.estimates[0].unwrap();
        let error = estimate.hz.abs_diff(TSC_HZ);
        assert!(error <= estimate.uncertainty_hz, "{estimate:?}");
        assert!(estimate.uncertainty_hz < TSC_HZ / 100, "{estimate:?}"); // 1 %
    }

    #[test]
    fn a_pit_that_does_not_count_ends_the_measurement() {
        let machine = Machine {
            pit_counts: false,
            ..Machine::new()
        };
        let measured = machine.measure();
        assert!(measured.pit_stopped);
        assert_eq!(measured.windows, 1);
        assert_eq!(measured.estimates, [None]);
    }

    #[test]
    fn rates_outside_the_sane_range_are_ignored() {
        let machine = Machine::new();
        let measured = measure(
            &[SANE, 1..=1_000],
            || (),
            || machine.read_pit(),
            || [machine.tsc(), machine.tsc()],
        );
        assert_eq!(measured.windows, MAX_WINDOWS + MAX_SLOW_WINDOWS);
        assert!(measured.estimates[0].is_some());
        assert_eq!(measured.estimates[1], None);
    }

    #[test]
    fn the_largest_overlapping_set_wins() {
        let intervals = [(100, 110), (105, 120), (500, 600), (108, 130), (90, 109)];
        let estimate = agreed_rate(&intervals, &(0..=u64::MAX)).unwrap();
        assert_eq!(estimate.agreeing, 4);
        assert_eq!((estimate.hz, estimate.uncertainty_hz), (108, 1)); // [108, 109]
    }

    #[test]
    fn among_sets_as_large_the_narrowest_wins() {
        let intervals = [(100, 110), (105, 120), (200, 300), (201, 202)];
        let estimate = agreed_rate(&intervals, &(0..=u64::MAX)).unwrap();
        assert_eq!(estimate.agreeing, 2);
        assert_eq!((estimate.hz, estimate.uncertainty_hz), (201, 1));
    }

    #[test]
    fn intervals_that_touch_agree() {
        let estimate = agreed_rate(&[(1, 5), (5, 9)], &(0..=u64::MAX)).unwrap();
        assert_eq!(
            (estimate.agreeing, estimate.hz, estimate.uncertainty_hz),
            (2, 5, 0)
        );
    }

    #[test]
    fn no_interval_means_no_rate() {
        assert_eq!(agreed_rate(&[], &(0..=u64::MAX)), None);
        assert_eq!(agreed_rate(&[(1, 5)], &(6..=9)), None);
    }
}
