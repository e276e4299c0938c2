//! The time-stamp counter. Its frequency is measured by `timer::calibrate`.

use core::arch::x86_64::_rdtsc;

/// Reads the TSC. Not serialising: fine for clocks, not for timing a few instructions.
pub fn read() -> u64 {
    // SAFETY: rdtsc has no side effects and is available on every x86_64 CPU.
    unsafe { _rdtsc() }
}

/// Reads the TSC between two `lfence`s: after every earlier instruction finished and
/// before any later one starts, so that reads on either side (calibration's PIT reads)
/// bracket it.
pub fn read_fenced() -> u64 {
    let (low, high): (u32, u32);
    // SAFETY: lfence and rdtsc only order execution and read the counter.
    unsafe {
        core::arch::asm!("lfence", "rdtsc", "lfence", out("eax") low, out("edx") high, options(nostack, nomem))
    };
    u64::from(high) << 32 | u64::from(low)
}

/// Reads the TSC at the start of a timed region: `lfence` first, so earlier instructions
/// have finished before the counter is read.
pub fn read_start() -> u64 {
    let (low, high): (u32, u32);
    // SAFETY: lfence and rdtsc only order execution and read the counter.
    unsafe {
        core::arch::asm!("lfence", "rdtsc", out("eax") low, out("edx") high, options(nostack, nomem))
    };
    u64::from(high) << 32 | u64::from(low)
}

/// Reads the TSC at the end of a timed region: `rdtscp` waits for earlier instructions,
/// and the `lfence` after it keeps later ones from starting before the read.
pub fn read_end() -> u64 {
    let (low, high): (u32, u32);
    // SAFETY: rdtscp and lfence only order execution and read the counter (and the
    // processor id into ecx, which is declared clobbered).
    unsafe {
        core::arch::asm!("rdtscp", "lfence", out("eax") low, out("edx") high, out("ecx") _, options(nostack, nomem))
    };
    u64::from(high) << 32 | u64::from(low)
}
