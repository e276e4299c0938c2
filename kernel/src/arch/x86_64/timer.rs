//! The periodic tick: the local APIC timer, or the PIT itself through the 8259 when there
//! is no usable APIC; and the calibration both the tick and the clock need: the TSC's
//! and the APIC timer's rates as CPUID states them (`stated_rates`), or else as measured
//! against the PIT in windows that a descheduled vCPU cannot skew (`calibration`).

use core::{fmt, ops::RangeInclusive};

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

/// Which device drives the tick.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TickSource {
    /// The local APIC timer, in periodic mode.
    Apic,
    /// PIT channel 0 through the 8259.
    Pit,
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
/// As [`calibrate`].
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

/// Starts a tick of `hz` interrupts a second that calls `on_tick`. Uses the APIC when
/// calibration found one, else the PIT.
pub fn start(calibration: &Calibration, hz: u32, on_tick: Handler) -> TickSource {
    match calibration.apic_hz() {
        Some(apic_hz) => {
            interrupts::set_handler(APIC_TIMER, on_tick);
            apic::start_periodic(APIC_TIMER, period_count(apic_hz, hz));
            TickSource::Apic
        }
        None => {
            interrupts::set_handler(PIT, on_tick);
            pit::start_periodic(hz);
            pic::unmask(PIT - PIC_FIRST);
            TickSource::Pit
        }
    }
}

/// Starts the same tick on another CPU, with the boot CPU's calibration (every local
/// APIC timer runs from the same bus clock) and its handler. Returns `false` when the
/// tick is not the APIC's: the PIT reaches the boot CPU only, so that is no tick for an
/// AP (and no AP is started without an APIC).
pub fn start_ap(calibration: &Calibration, hz: u32) -> bool {
    match calibration.apic_hz() {
        Some(apic_hz) => {
            apic::start_periodic(APIC_TIMER, period_count(apic_hz, hz));
            true
        }
        None => false,
    }
}

/// APIC timer counts per tick.
fn period_count(apic_hz: u64, hz: u32) -> u32 {
    u32::try_from(apic_hz / u64::from(hz.max(1))).unwrap_or(u32::MAX)
}
