//! The local APIC in xAPIC mode: enable it, acknowledge interrupts, run its timer, send
//! interrupts to other CPUs.
//!
//! Its registers are a 4 KiB MMIO page; the caller maps it (uncached) and hands over the
//! virtual address. Until then every function here is a no-op or reports "no APIC".
//! Every CPU's APIC sits at the same physical address and each CPU sees its own, so one
//! mapping serves all of them. (QEMU's TCG offers xAPIC only, not x2APIC.)

use core::{
    ptr,
    sync::atomic::{AtomicU32, AtomicU64, Ordering},
};

use raw_cpuid::CpuId;
use x86_64::{PhysAddr, VirtAddr, registers::model_specific::Msr};

use super::{cpu_local, vectors};

const IA32_APIC_BASE: u32 = 0x1b;
const APIC_GLOBAL_ENABLE: u64 = 1 << 11;

const ID: usize = 0x20;
const TASK_PRIORITY: usize = 0x80;
const END_OF_INTERRUPT: usize = 0xb0;
const SPURIOUS_VECTOR_REGISTER: usize = 0xf0;
const ERROR_STATUS: usize = 0x280;
const COMMAND_LOW: usize = 0x300;
const COMMAND_HIGH: usize = 0x310;
const LVT_TIMER: usize = 0x320;
const LVT_LINT0: usize = 0x350;
const LVT_LINT1: usize = 0x360;
const TIMER_INITIAL_COUNT: usize = 0x380;
const TIMER_CURRENT_COUNT: usize = 0x390;
const TIMER_DIVIDE: usize = 0x3e0;

const SOFTWARE_ENABLE: u32 = 1 << 8;
const LVT_MASKED: u32 = 1 << 16;
/// LVT timer mode TSC-deadline (bits 17-18 = 0b10): fires when the TSC reaches
/// IA32_TSC_DEADLINE.
const LVT_TSC_DEADLINE: u32 = 0b10 << 17;
/// The MSR the TSC-deadline mode compares the TSC with (0: disarmed).
const IA32_TSC_DEADLINE: u32 = 0x6e0;
/// LVT delivery mode NMI.
const DELIVERY_NMI: u32 = 0b100 << 8;
/// LVT delivery mode ExtINT: the CPU fetches the vector from the 8259, as without an APIC.
const DELIVERY_EXTINT: u32 = 0b111 << 8;
/// Divide the bus clock by 16 (encoding 0b0011).
const DIVIDE_BY_16: u32 = 0b0011;
/// What the timer's input clock is divided by (`DIVIDE_BY_16`).
pub(super) const TIMER_DIVIDER: u64 = 16;

/// Interrupt command: delivery modes (bits 8-10).
const COMMAND_FIXED: u32 = 0b000 << 8;
const COMMAND_NMI: u32 = 0b100 << 8;
const COMMAND_INIT: u32 = 0b101 << 8;
const COMMAND_STARTUP: u32 = 0b110 << 8;
/// Interrupt command: still being delivered (read-only).
const COMMAND_PENDING: u32 = 1 << 12;
/// Interrupt command: level asserted (bit 14), level-triggered (bit 15).
const COMMAND_ASSERT: u32 = 1 << 14;
const COMMAND_LEVEL: u32 = 1 << 15;
/// Interrupt command: every CPU but the sender.
const COMMAND_ALL_BUT_SELF: u32 = 0b11 << 18;

static BASE: AtomicU64 = AtomicU64::new(0);

/// Each CPU's APIC ID by CPU index, recorded as the CPU enables its APIC: where to send
/// what is meant for CPU `n` (`NO_ID` until then).
static IDS: [AtomicU32; cpu_local::MAX_CPUS] =
    [const { AtomicU32::new(NO_ID) }; cpu_local::MAX_CPUS];
const NO_ID: u32 = u32::MAX;

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
/// lets the 8259's interrupts reach this CPU with the APIC enabled (the path for legacy
/// devices such as the serial port and the keyboard on a machine without an I/O APIC;
/// with one, the 8259 stays masked and the wire carries nothing), and LINT1 as NMI.
/// Only the boot CPU should do this: a second CPU with LINT0 unmasked would take the
/// same 8259 interrupts.
pub(super) fn enable(registers: VirtAddr) {
    BASE.store(registers.as_u64(), Ordering::Relaxed);
    let mut base_msr = Msr::new(IA32_APIC_BASE);
    // SAFETY: setting the global-enable bit keeps the base address; the APIC exists
    // (the caller found it through `physical_base`).
    unsafe { base_msr.write(base_msr.read() | APIC_GLOBAL_ENABLE) };
    record_id();
    write(TASK_PRIORITY, 0);
    write(LVT_LINT0, DELIVERY_EXTINT);
    write(LVT_LINT1, DELIVERY_NMI);
    write(
        SPURIOUS_VECTOR_REGISTER,
        SOFTWARE_ENABLE | u32::from(vectors::APIC_SPURIOUS),
    );
}

/// Turns this (non-boot) CPU's APIC on: as [`enable`], except that LINT0 stays masked,
/// so that only the boot CPU takes the 8259's virtual-wire interrupts.
pub(super) fn enable_ap() {
    let mut base_msr = Msr::new(IA32_APIC_BASE);
    // SAFETY: setting the global-enable bit keeps the base address, which every CPU
    // shares; the boot CPU found the APIC before starting this one.
    unsafe { base_msr.write(base_msr.read() | APIC_GLOBAL_ENABLE) };
    record_id();
    write(TASK_PRIORITY, 0);
    write(LVT_LINT0, LVT_MASKED);
    write(LVT_LINT1, DELIVERY_NMI);
    write(
        SPURIOUS_VECTOR_REGISTER,
        SOFTWARE_ENABLE | u32::from(vectors::APIC_SPURIOUS),
    );
}

/// This CPU's APIC ID.
pub fn id() -> u32 {
    read(ID) >> 24
}

/// The APIC ID of CPU `index` (0: the boot CPU), if that CPU is online with its APIC on.
pub fn id_of_cpu(index: u32) -> Option<u32> {
    let online = cpu_local::online_mask().checked_shr(index).unwrap_or(0) & 1 != 0;
    let id = IDS.get(index as usize)?.load(Ordering::Relaxed);
    (online && id != NO_ID).then_some(id)
}

/// Notes this CPU's APIC ID under its index (before it is marked online, which
/// publishes it).
fn record_id() {
    IDS[cpu_local::cpu_index() as usize].store(id(), Ordering::Relaxed);
}

/// Whether the APIC is mapped (and so IPIs can be sent).
pub fn is_available() -> bool {
    BASE.load(Ordering::Relaxed) != 0
}

/// Sends interrupt `vector` to the CPU whose APIC ID is `apic_id`.
///
/// Everything the sender stored before is visible to the handler on the other CPU: the
/// fence drains the store buffer before the command register write that sends it (x86
/// keeps ordinary stores in order, but a write to uncached APIC memory is not promised
/// to wait for buffered ones).
pub fn send_ipi(apic_id: u32, vector: u8) {
    core::sync::atomic::fence(Ordering::SeqCst);
    command(apic_id, COMMAND_FIXED | COMMAND_ASSERT | u32::from(vector));
}

/// Sends a non-maskable interrupt to every other CPU (to stop them).
pub fn send_nmi_to_others() {
    command(0, COMMAND_NMI | COMMAND_ASSERT | COMMAND_ALL_BUT_SELF);
}

/// The INIT half of starting a CPU: assert, then de-assert, INIT at `apic_id`.
pub(super) fn send_init(apic_id: u32) {
    write(ERROR_STATUS, 0);
    command(apic_id, COMMAND_INIT | COMMAND_ASSERT | COMMAND_LEVEL);
    command(apic_id, COMMAND_INIT | COMMAND_LEVEL);
}

/// A start-up IPI: the CPU `apic_id` starts in real mode at physical `page << 12`.
pub(super) fn send_startup(apic_id: u32, page: u8) {
    write(ERROR_STATUS, 0);
    command(apic_id, COMMAND_STARTUP | COMMAND_ASSERT | u32::from(page));
}

/// Writes an interrupt command (destination first: writing the low half sends it) with
/// interrupts off, so no handler's command can come between the two halves, then waits
/// until the APIC has delivered it.
fn command(apic_id: u32, low: u32) {
    let interrupts = super::cpu::save_and_disable_interrupts();
    write(COMMAND_HIGH, apic_id << 24);
    write(COMMAND_LOW, low);
    // The bit clears within microseconds; the bound only keeps a broken APIC from
    // hanging the caller.
    for _ in 0..1_000_000 {
        if read(COMMAND_LOW) & COMMAND_PENDING == 0 {
            break;
        }
        core::hint::spin_loop();
    }
    super::cpu::restore_interrupts(interrupts);
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

/// Sets the timer up in one-shot mode on `vector`, stopped: each [`set_count`] then
/// starts one countdown (after the divide-by-16).
pub(super) fn start_one_shot(vector: u8) {
    write(TIMER_DIVIDE, DIVIDE_BY_16);
    write(TIMER_INITIAL_COUNT, 0);
    write(LVT_TIMER, u32::from(vector));
}

/// Starts a one-shot countdown of `count` timer ticks, replacing any running one; 0
/// stops the timer. (A count of 0 never fires: callers wanting "now" pass 1.)
#[inline]
pub(super) fn set_count(count: u32) {
    write(TIMER_INITIAL_COUNT, count);
}

/// Whether `CPUID.01H:ECX[24]` reports the TSC-deadline timer mode (QEMU's TCG does not;
/// KVM on hardware that has it does).
pub fn has_tsc_deadline() -> bool {
    CpuId::new()
        .get_feature_info()
        .is_some_and(|features| features.has_tsc_deadline())
}

/// Sets the timer up in TSC-deadline mode on `vector`, disarmed.
pub(super) fn start_tsc_deadline(vector: u8) {
    write(LVT_TIMER, LVT_TSC_DEADLINE | u32::from(vector));
    set_tsc_deadline(0);
}

/// Arms the TSC-deadline timer for this CPU's TSC reaching `tsc` (0: disarms it).
///
/// The fence comes first: in xAPIC mode the write to the LVT (memory-mapped) and the
/// `wrmsr` are not ordered with each other (Intel SDM, "TSC-Deadline Mode"; Linux's
/// `weak_wrmsr_fence`), and a deadline written before the LVT switched modes would be
/// ignored.
#[inline]
pub(super) fn set_tsc_deadline(tsc: u64) {
    core::sync::atomic::fence(Ordering::SeqCst);
    // SAFETY: IA32_TSC_DEADLINE exists when CPUID has TSC-deadline, which the caller
    // checked before choosing this mode; writing it only arms or disarms the timer.
    unsafe { Msr::new(IA32_TSC_DEADLINE).write(tsc) };
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
