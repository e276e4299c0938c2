//! Bootloader configuration and the bring-up sequence every kernel binary runs first.

use bootloader_api::{
    BootInfo, BootloaderConfig,
    config::Mapping,
    info::{MemoryRegionKind, Optional},
};

use crate::{arch, logger, mm, time};

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

/// Brings the machine up: serial console, descriptor tables and traps, the clock, the
/// logger, then the heap.
///
/// # Panics
/// If the bootloader did not map physical memory (it always does with
/// [`BOOTLOADER_CONFIG`]) or the memory map holds no usable memory.
pub fn init(boot_info: &'static mut BootInfo) {
    arch::init();
    time::init(arch::tsc::calibrate_frequency());
    logger::init();

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
    mm::init(physical_memory_offset, usable);
    log::info!(
        "tsc {} MHz, heap {} MiB",
        time::tsc_frequency() / 1_000_000,
        mm::heap::stats().available_bytes >> 20
    );
}
