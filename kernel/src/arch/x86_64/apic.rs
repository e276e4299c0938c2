//! The local APIC in xAPIC mode: enable it, acknowledge interrupts, run its timer.
//!
//! Its registers are a 4 KiB MMIO page; the caller maps it (uncached) and hands over the
//! virtual address. Until then every function here is a no-op or reports "no APIC".

use core::{
    ptr,
    sync::atomic::{AtomicU64, Ordering},
};

use raw_cpuid::CpuId;
use x86_64::{PhysAddr, VirtAddr, registers::model_specific::Msr};

use super::vectors;

const IA32_APIC_BASE: u32 = 0x1b;
const APIC_GLOBAL_ENABLE: u64 = 1 << 11;

const TASK_PRIORITY: usize = 0x80;
const END_OF_INTERRUPT: usize = 0xb0;
const SPURIOUS_VECTOR_REGISTER: usize = 0xf0;
const LVT_TIMER: usize = 0x320;
const LVT_LINT0: usize = 0x350;
const LVT_LINT1: usize = 0x360;
const TIMER_INITIAL_COUNT: usize = 0x380;
const TIMER_CURRENT_COUNT: usize = 0x390;
const TIMER_DIVIDE: usize = 0x3e0;

const SOFTWARE_ENABLE: u32 = 1 << 8;
const LVT_MASKED: u32 = 1 << 16;
const LVT_PERIODIC: u32 = 1 << 17;
/// LVT delivery mode NMI.
const DELIVERY_NMI: u32 = 0b100 << 8;
/// LVT delivery mode ExtINT: the CPU fetches the vector from the 8259, as without an APIC.
const DELIVERY_EXTINT: u32 = 0b111 << 8;
/// Divide the bus clock by 16 (encoding 0b0011).
const DIVIDE_BY_16: u32 = 0b0011;

static BASE: AtomicU64 = AtomicU64::new(0);

/// Where this CPU's APIC registers are in physical memory, if CPUID reports an APIC.
pub fn physical_base() -> Option<PhysAddr> {
    let has_apic = CpuId::new()
        .get_feature_info()
        .is_some_and(|features| features.has_apic());
    // SAFETY: reading IA32_APIC_BASE has no side effects; it exists when CPUID has APIC.
    has_apic.then(|| PhysAddr::new(unsafe { Msr::new(IA32_APIC_BASE).read() } & 0xf_ffff_f000))
}

/// Turns the APIC on, its registers mapped at `registers`.
///
/// Also wires the legacy pins as PC firmware usually does (and as Linux does on the boot
/// CPU), rather than trusting that it did: LINT0 in ExtINT mode, the "virtual wire" that
/// lets the 8259's interrupts reach this CPU with the APIC enabled (Spindle has no I/O
/// APIC driver, so this is the only path for legacy devices such as the serial port
/// and the keyboard), and LINT1 as NMI. Only the boot CPU should do this: a second CPU
/// with LINT0 unmasked would take the same 8259 interrupts.
pub(super) fn enable(registers: VirtAddr) {
    BASE.store(registers.as_u64(), Ordering::Relaxed);
    let mut base_msr = Msr::new(IA32_APIC_BASE);
    // SAFETY: setting the global-enable bit keeps the base address; the APIC exists
    // (the caller found it through `physical_base`).
    unsafe { base_msr.write(base_msr.read() | APIC_GLOBAL_ENABLE) };
    write(TASK_PRIORITY, 0);
    write(LVT_LINT0, DELIVERY_EXTINT);
    write(LVT_LINT1, DELIVERY_NMI);
    write(
        SPURIOUS_VECTOR_REGISTER,
        SOFTWARE_ENABLE | u32::from(vectors::APIC_SPURIOUS),
    );
}

/// Acknowledges the interrupt being handled.
pub(super) fn end_of_interrupt() {
    write(END_OF_INTERRUPT, 0);
}

/// Starts the timer counting down from the maximum, masked, for calibration.
pub(super) fn start_free_running() {
    write(TIMER_DIVIDE, DIVIDE_BY_16);
    write(LVT_TIMER, LVT_MASKED);
    write(TIMER_INITIAL_COUNT, u32::MAX);
}

/// The timer's current count.
pub(super) fn current_count() -> u32 {
    read(TIMER_CURRENT_COUNT)
}

/// Raises `vector` every `count` timer ticks (after the divide-by-16).
pub(super) fn start_periodic(vector: u8, count: u32) {
    write(TIMER_DIVIDE, DIVIDE_BY_16);
    write(LVT_TIMER, LVT_PERIODIC | u32::from(vector));
    write(TIMER_INITIAL_COUNT, count.max(1));
}

fn register(offset: usize) -> Option<*mut u32> {
    match BASE.load(Ordering::Relaxed) {
        0 => None,
        base => Some((base as usize + offset) as *mut u32),
    }
}

fn read(offset: usize) -> u32 {
    // SAFETY: `register` only yields addresses inside the mapped, uncached APIC page;
    // APIC registers are 32-bit and read with a single aligned access.
    register(offset).map_or(0, |register| unsafe { ptr::read_volatile(register) })
}

fn write(offset: usize, value: u32) {
    if let Some(register) = register(offset) {
        // SAFETY: as in `read`; the offsets used are writable APIC registers.
        unsafe { ptr::write_volatile(register, value) };
    }
}
