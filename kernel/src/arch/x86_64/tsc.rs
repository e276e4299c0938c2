//! The time-stamp counter. Its frequency is measured by `timer::calibrate`.
//!
//! Each CPU has its own counter, so a reading means something only together with the CPU
//! it was taken on ([`read_with_cpu`]). Each CPU keeps its index in IA32_TSC_AUX, which
//! `rdtscp` returns with the counter, in the same instruction.

use core::{
    arch::x86_64::_rdtsc,
    sync::atomic::{AtomicBool, Ordering},
};

use raw_cpuid::CpuId;
use x86_64::registers::model_specific::Msr;

use super::{cpu::InterruptsDisabled, cpu_local};

/// IA32_TSC_AUX: what `rdtscp` returns beside the counter.
const TSC_AUX: u32 = 0xc000_0103;

/// Whether the CPUs have `rdtscp`, each with its index in IA32_TSC_AUX. Written once, by
/// the boot CPU in `arch::init`, before it reads the clock and before any other CPU
/// starts (the fence before the start-up IPIs in `smp::start_ap` publishes it to them);
/// read-only after that, so Relaxed suffices.
static RDTSCP: AtomicBool = AtomicBool::new(false);

/// Finds out whether there is `rdtscp` and puts the boot CPU's index (0) in IA32_TSC_AUX.
pub(super) fn init_boot_cpu() {
    let has_rdtscp = CpuId::new()
        .get_extended_processor_and_feature_identifiers()
        .is_some_and(|features| features.has_rdtscp());
    RDTSCP.store(has_rdtscp, Ordering::Relaxed);
    set_cpu_index(0);
}

/// Puts this CPU's index in IA32_TSC_AUX: each CPU, as it starts, before it reads the
/// clock.
pub(super) fn set_cpu_index(index: u32) {
    if RDTSCP.load(Ordering::Relaxed) {
        // SAFETY: IA32_TSC_AUX exists where CPUID reports rdtscp; only `rdtscp` reads it.
        unsafe { Msr::new(TSC_AUX).write(u64::from(index)) };
    }
}

/// The TSC and the index of the CPU whose counter it is, as of one instant, whatever
/// moves the calling thread between CPUs: `rdtscp` reads both in one instruction, and
/// without it, interrupts are off across the two reads (no preemption, so no move).
/// Reading the index and then the counter as two steps could pair one CPU's index with
/// another's counter, should the thread be preempted and moved in between.
#[inline]
pub fn read_with_cpu() -> (u64, u32) {
    if !RDTSCP.load(Ordering::Relaxed) {
        return read_with_cpu_interrupts_off();
    }
    let (low, high, cpu): (u32, u32, u32);
    // SAFETY: rdtscp only reads the counter and IA32_TSC_AUX. The index it returns is
    // right because every CPU sets its IA32_TSC_AUX before it reads the clock: the boot
    // CPU in `init`, an AP at the start of `ap_entry` (right after its per-CPU block),
    // before it is online, so before any thread runs there.
    unsafe {
        core::arch::asm!(
            "rdtscp",
            out("eax") low, out("edx") high, out("ecx") cpu,
            options(nostack, nomem, preserves_flags)
        )
    };
    (u64::from(high) << 32 | u64::from(low), cpu)
}

/// [`read_with_cpu`] without `rdtscp`: out of line, so that the common path stays short.
#[cold]
#[inline(never)]
fn read_with_cpu_interrupts_off() -> (u64, u32) {
    let _irq = InterruptsDisabled::new();
    (read(), cpu_local::cpu_index())
}

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
