//! The time-stamp counter. Its frequency is measured by `timer::calibrate`.

use core::arch::x86_64::_rdtsc;

/// Reads the TSC. Not serialising: fine for clocks, not for timing a few instructions.
pub fn read() -> u64 {
    // SAFETY: rdtsc has no side effects and is available on every x86_64 CPU.
    unsafe { _rdtsc() }
}
