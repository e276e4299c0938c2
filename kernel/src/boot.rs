//! Bootloader configuration and the bring-up sequence every kernel binary runs first.

use bootloader_api::{
    BootInfo, BootloaderConfig,
    config::Mapping,
    info::{MemoryRegion, MemoryRegionKind, Optional},
};
use x86_64::PhysAddr;

use crate::{
    acpi,
    arch::{self, timer::TickSource},
    drivers::uart16550,
    logger, mm, smp,
    thread::{self, SchedulerConfig},
    time, tracing,
};

/// What Spindle asks of the bootloader; every kernel binary passes it to `entry_point!`.
///
/// All of physical memory is mapped at an offset the bootloader picks: the heap lives in
/// that window and page tables are walked through it. The kernel image (a
/// position-independent executable) is loaded [`KERNEL_LOAD_OFFSET`] above its link
/// addresses.
pub const BOOTLOADER_CONFIG: BootloaderConfig = {
    let mut config = BootloaderConfig::new_default();
    config.mappings.physical_memory = Some(Mapping::Dynamic);
    config.mappings.kernel_base = Mapping::FixedAddress(KERNEL_LOAD_OFFSET);
    config.kernel_stack_size = 128 * 1024;
    config
};

/// Where the bootloader loads the kernel image: its link addresses start at 0, so every
/// code and data address is this much higher at run time. A debugger needs it to place
/// the ELF's symbols: `add-symbol-file KERNEL -o 0x10000000000` (the runner's `--gdb`
/// prints the whole command). The third level-4 entry (1 TiB), in the lower half, away
/// from the kernel's own upper-half areas: what the bootloader would pick by itself.
pub const KERNEL_LOAD_OFFSET: u64 = 0x100_0000_0000;

/// Kernel settings chosen by the kernel binary.
#[derive(Debug, Clone, Copy, Default)]
pub struct Config {
    /// Tick period, time slice, idle polling.
    pub scheduler: SchedulerConfig,
    /// Drive the timer with the PIT (periodic: no tickless idle) even if there is a local
    /// APIC.
    pub force_pit: bool,
    /// Record the schedule trace from boot (also on when the kernel was built with
    /// `SPINDLE_TRACE=on`).
    pub trace: bool,
    /// Use at most this many CPUs (`Some(1)`: the boot CPU only). `None`: every CPU the
    /// firmware lists, up to `arch::cpu_local::MAX_CPUS`.
    pub max_cpus: Option<u32>,
}

/// Brings the machine up with the default [`Config`]. See [`init_with`].
pub fn init(boot_info: &'static mut BootInfo) {
    init_with(boot_info, Config::default());
}

/// Brings the machine up: serial console, descriptor tables and traps, the heap, the
/// clock and tick, the logger, device interrupt routing, the scheduler, then the other
/// CPUs. Returns with interrupts enabled, running as thread `main`.
///
/// # Panics
/// If the bootloader did not map physical memory (it always does with
/// [`BOOTLOADER_CONFIG`]) or the machine lacks memory for the kernel's own structures.
pub fn init_with(boot_info: &'static mut BootInfo, config: Config) {
    arch::init();
    uart16550::init(); // the console: anything later can report
    let Optional::Some(physical_memory_offset) = boot_info.physical_memory_offset else {
        panic!(
            "the bootloader did not map physical memory: was BOOTLOADER_CONFIG passed to entry_point!?"
        );
    };
    let usable = boot_info
        .memory_regions
        .iter()
        .filter(|region| region.kind == MemoryRegionKind::Usable)
        .map(|region| region.start..region.end);
    mm::init(physical_memory_offset, usable.clone());
    arch::symbols::init(mm::kernel_file(boot_info));

    let apic = match config.force_pit {
        true => None,
        false => arch::apic::physical_base().and_then(|base| mm::paging::map_mmio(base).ok()),
    };
    let calibration = arch::timer::calibrate(apic);
    time::init(calibration.tsc_hz);
    logger::init();
    crate::panic::check_unwinding(); // before any thread runs: says if panics cannot unwind
    log_memory_map(&boot_info.memory_regions);
    log::debug!("timer: {calibration}");
    if !calibration.settled() {
        log::warn!(
            "timer: fewer PIT windows agree than wanted (the host is very busy): {calibration}"
        );
    }
    let platform = acpi::read_platform(boot_info.rsdp_addr.into_option());
    init_device_interrupts(apic.is_some(), platform.as_ref());
    thread::setup::init(&config.scheduler);
    let source = thread::setup::start_tick(&calibration, &config.scheduler);
    arch::cpu::enable_interrupts();
    log::info!(
        "tsc {} MHz +-{} ppm, {} Hz ticks from the {}, heap {} MiB",
        calibration.tsc_hz / 1_000_000,
        calibration.tsc().uncertainty_ppm(),
        config.scheduler.tick_hz,
        match source {
            TickSource::ApicOneShot => "local APIC timer, one-shot (tickless)",
            TickSource::ApicTscDeadline => "local APIC timer, TSC-deadline (tickless)",
            TickSource::Pit => "PIT, periodic",
        },
        mm::heap::stats().available_bytes >> 20
    );
    match smp::start_cpus(
        platform.as_ref().map_err(|&error| error),
        usable,
        &calibration,
        config.max_cpus.unwrap_or(u32::MAX),
    ) {
        Ok(started) if started.cpus == 1 => log::info!("1 CPU"),
        Ok(started) => log::info!(
            "{} CPUs, TSCs within {} ns of the boot CPU's (measured to +-{} ns)",
            started.cpus,
            started.tsc_skew.offset_ns,
            started.tsc_skew.uncertainty_ns
        ),
        Err(error) => log::info!("1 CPU: no others started ({error})"),
    }
    if config.trace || tracing::requested_at_build() {
        match tracing::start() {
            Ok(()) => log::info!("tracing the schedule to the debug console port"),
            Err(error) => log::warn!("no trace: {error}"),
        }
    }
}

/// What the firmware's memory map says (each region at `trace`, the sums at `debug`), and
/// what the heap made of it. Logged once the logger runs, after the heap took the memory.
fn log_memory_map(regions: &[MemoryRegion]) {
    let mut usable = 0;
    for region in regions {
        let bytes = region.end - region.start;
        log::trace!(
            "memory: {:#012x}..{:#012x} {:>8} KiB {:?}",
            region.start,
            region.end,
            bytes >> 10,
            region.kind
        );
        if region.kind == MemoryRegionKind::Usable {
            usable += bytes;
        }
    }
    let heap = mm::heap::stats();
    let used = mm::usage();
    log::debug!(
        "memory: {} regions, {} KiB usable; heap {} KiB free, {} KiB in {} allocations",
        regions.len(),
        usable >> 10,
        heap.available_bytes >> 10,
        used.bytes >> 10,
        used.allocations
    );
}

/// Routes device interrupts through the I/O APIC, so that any CPU can take them. Without
/// a local APIC in use (there is none, or `force_pit` left it off) they stay on the
/// 8259, which reaches the boot CPU only; no other CPU is started then either. With a
/// local APIC but no usable I/O APIC, the 8259 reaches the boot CPU through LINT0.
fn init_device_interrupts(local_apic: bool, platform: Result<&acpi::Platform, &acpi::AcpiError>) {
    if !local_apic {
        log::info!("interrupts: 8259 (no APIC: one CPU)");
        return;
    }
    match init_io_apic(platform) {
        Ok((address, inputs)) => {
            log::info!("interrupts: I/O APIC at {address:#x}, {inputs} inputs");
        }
        Err(why) => log::warn!("interrupts: 8259, to the boot CPU only ({why})"),
    }
}

/// Maps and sets up the I/O APIC that has the ISA IRQs (its inputs start at GSI 0, as on
/// every PC); returns its physical address and how many inputs it has.
fn init_io_apic(
    platform: Result<&acpi::Platform, &acpi::AcpiError>,
) -> Result<(u64, u32), &'static str> {
    let platform = platform.map_err(|_| "no usable ACPI tables")?;
    let io_apic = platform
        .io_apics
        .iter()
        .find(|io_apic| io_apic.gsi_base == 0)
        .ok_or("the MADT lists no I/O APIC for the ISA IRQs")?;
    let registers = mm::paging::map_mmio(PhysAddr::new(io_apic.address))
        .map_err(|_| "no memory to map the I/O APIC")?;
    let inputs = arch::ioapic::init(registers, io_apic.gsi_base, &platform.isa_overrides);
    log::debug!("interrupts: ISA overrides {:?}", platform.isa_overrides);
    Ok((io_apic.address, inputs))
}
