//! Bootloader configuration and the bring-up sequence every kernel binary runs first.

use bootloader_api::{
    BootInfo, BootloaderConfig,
    config::Mapping,
    info::{MemoryRegionKind, Optional},
};

use crate::{
    arch::{self, timer::TickSource},
    drivers::uart16550,
    logger, mm, smp,
    thread::{self, SchedulerConfig},
    time, tracing,
};

/// What Spindle asks of the bootloader; every kernel binary passes it to `entry_point!`.
///
/// All of physical memory is mapped at an offset the bootloader picks: the heap lives in
/// that window and page tables are walked through it.
pub const BOOTLOADER_CONFIG: BootloaderConfig = {
    let mut config = BootloaderConfig::new_default();
    config.mappings.physical_memory = Some(Mapping::Dynamic);
    config.kernel_stack_size = 128 * 1024;
    config
};

/// Kernel settings chosen by the kernel binary.
#[derive(Debug, Clone, Copy, Default)]
pub struct Config {
    /// Tick rate and time slice.
    pub scheduler: SchedulerConfig,
    /// Drive the tick with the PIT even if there is a local APIC.
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
/// clock and tick, the logger, the scheduler, then the other CPUs. Returns with
/// interrupts enabled, running as thread `main`.
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

    let apic = match config.force_pit {
        true => None,
        false => arch::apic::physical_base().and_then(|base| mm::paging::map_mmio(base).ok()),
    };
    let calibration = arch::timer::calibrate(apic);
    time::init(calibration.tsc_hz);
    logger::init();
    thread::setup::init(&config.scheduler);
    let source = thread::setup::start_tick(&calibration, &config.scheduler);
    arch::cpu::enable_interrupts();
    log::info!(
        "tsc {} MHz, tick {} Hz from the {}, heap {} MiB",
        calibration.tsc_hz / 1_000_000,
        config.scheduler.tick_hz,
        match source {
            TickSource::Apic => "local APIC timer",
            TickSource::Pit => "PIT",
        },
        mm::heap::stats().available_bytes >> 20
    );
    let rsdp = boot_info.rsdp_addr.into_option();
    match smp::start_cpus(
        rsdp,
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
