//! The periodic tick: the local APIC timer calibrated against the PIT, or the PIT itself
//! through the 8259 when there is no usable APIC. The TSC is calibrated in the same PIT
//! interval.

use x86_64::VirtAddr;

use super::{
    apic,
    interrupts::{self, Handler},
    pic, pit, tsc,
    vectors::{APIC_TIMER, PIC_FIRST, PIT},
};

/// How long calibration counts PIT ticks: long enough for 0.1% precision, short enough to
/// keep emulated boots quick.
const CALIBRATION_MS: u32 = 10;

/// Which device drives the tick.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TickSource {
    /// The local APIC timer, in periodic mode.
    Apic,
    /// PIT channel 0 through the 8259.
    Pit,
}

/// What calibration measured.
#[derive(Debug, Clone, Copy)]
pub struct Calibration {
    /// TSC ticks per second.
    pub tsc_hz: u64,
    /// APIC timer ticks per second (after its divider), if an APIC is in use.
    apic_hz: Option<u64>,
}

impl Calibration {
    /// Whether the tick can come from the local APIC timer (which other CPUs need).
    pub fn has_apic_timer(&self) -> bool {
        self.apic_hz.is_some()
    }

    /// APIC timer ticks per second (after its divider), if the APIC timer was measured.
    pub fn apic_hz(&self) -> Option<u64> {
        self.apic_hz
    }

    /// How long the interval both clocks were measured against was, in milliseconds.
    pub fn interval_ms(&self) -> u32 {
        CALIBRATION_MS
    }
}

/// Measures the TSC and, if `apic_registers` is given, enables the APIC and measures its
/// timer, both against one PIT interval.
pub fn calibrate(apic_registers: Option<VirtAddr>) -> Calibration {
    let per_second = |delta: u64| delta * 1000 / u64::from(CALIBRATION_MS);
    match apic_registers {
        Some(registers) => {
            apic::enable(registers);
            apic::start_free_running();
            let ((tsc0, count0), (tsc1, count1)) =
                pit::time_interval(CALIBRATION_MS, || (tsc::read(), apic::current_count()));
            Calibration {
                tsc_hz: per_second(tsc1 - tsc0),
                apic_hz: Some(per_second(u64::from(count0 - count1))),
            }
        }
        None => {
            let (tsc0, tsc1) = pit::time_interval(CALIBRATION_MS, tsc::read);
            Calibration {
                tsc_hz: per_second(tsc1 - tsc0),
                apic_hz: None,
            }
        }
    }
}

/// Starts a tick of `hz` interrupts a second that calls `on_tick`. Uses the APIC when
/// calibration found one, else the PIT.
pub fn start(calibration: &Calibration, hz: u32, on_tick: Handler) -> TickSource {
    match calibration.apic_hz {
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
    match calibration.apic_hz {
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
