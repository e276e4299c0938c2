//! The time-stamp counter: read it, and measure its frequency against the PIT.

use core::arch::x86_64::_rdtsc;

use super::pit;

/// How long the calibration counts PIT ticks. Longer is more precise; 10 ms keeps the
/// error under 0.1% and the boot quick even under emulation.
const CALIBRATION_MS: u32 = 10;

/// Reads the TSC. Not serialising: fine for clocks, not for measuring a few instructions.
pub fn read() -> u64 {
    // SAFETY: rdtsc has no side effects and is available on every x86_64 CPU.
    unsafe { _rdtsc() }
}

/// Measures the TSC frequency in Hz by counting TSC ticks across a PIT interval.
pub fn calibrate_frequency() -> u64 {
    let (start, end) = pit::time_interval(CALIBRATION_MS, read);
    (end - start) * 1000 / u64::from(CALIBRATION_MS)
}
