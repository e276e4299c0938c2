//! What the firmware's ACPI tables say about the machine: which CPUs it has, and its
//! I/O APICs with the ways ISA interrupts reach them.
//!
//! The bootloader hands over the RSDP's physical address (`BootInfo::rsdp_addr`); the
//! `acpi` crate walks RSDP → RSDT/XSDT → MADT (SeaBIOS gives an ACPI 1.0 RSDP and an RSDT,
//! OVMF a 2.0 RSDP and an XSDT; the crate handles both). Tables are read through the
//! physical-memory window, so "mapping" one is an address computation.

use alloc::vec::Vec;
use core::ptr::NonNull;

use acpi::{
    AcpiHandler, AcpiTables, InterruptModel, PhysicalMapping,
    platform::{
        ProcessorState,
        interrupt::{InterruptSourceOverride, Polarity, TriggerMode},
    },
};

use crate::{
    arch::ioapic::{self, IsaOverride},
    mm,
};

/// What the MADT lists: CPUs and I/O APICs.
#[derive(Debug, Clone, Default)]
pub struct Platform {
    /// The boot CPU's local APIC ID.
    pub boot_apic_id: u32,
    /// The other CPUs that may be started, by local APIC ID, in table order.
    pub application_processors: Vec<u32>,
    /// The I/O APICs, in table order.
    pub io_apics: Vec<IoApic>,
    /// The ISA IRQs wired other than as GSI `n`, edge-triggered, active high.
    pub isa_overrides: Vec<IsaOverride>,
}

/// One I/O APIC.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IoApic {
    /// Its I/O APIC ID.
    pub id: u8,
    /// The physical address of its registers.
    pub address: u64,
    /// The global system interrupt (GSI) of its first input.
    pub gsi_base: u32,
}

/// Why the tables could not be read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AcpiError {
    /// The bootloader found no RSDP.
    NoRsdp,
    /// The tables are malformed or lack a MADT (the `acpi` crate's reason, as text).
    Tables(&'static str),
}

impl core::fmt::Display for AcpiError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Self::NoRsdp => f.write_str("the bootloader found no ACPI RSDP"),
            Self::Tables(why) => write!(f, "unusable ACPI tables: {why}"),
        }
    }
}

/// Reads the MADT reached from the RSDP at physical `rsdp`.
///
/// # Errors
/// [`AcpiError`] when there is no RSDP or the tables cannot be used.
pub fn read_platform(rsdp: Option<u64>) -> Result<Platform, AcpiError> {
    let rsdp = rsdp.ok_or(AcpiError::NoRsdp)?;
    // SAFETY: the bootloader found a valid RSDP at this address (and the crate checks its
    // signature and checksum).
    let tables = unsafe { AcpiTables::from_rsdp(Window, rsdp as usize) }.map_err(reason)?;
    let info = tables.platform_info().map_err(reason)?;
    let mut platform = Platform::default();
    if let Some(processors) = info.processor_info {
        platform.boot_apic_id = processors.boot_processor.local_apic_id;
        platform.application_processors = processors
            .application_processors
            .iter()
            .filter(|cpu| cpu.state != ProcessorState::Disabled)
            .map(|cpu| cpu.local_apic_id)
            .collect();
    }
    if let InterruptModel::Apic(apic) = info.interrupt_model {
        platform.io_apics = apic
            .io_apics
            .iter()
            .map(|io_apic| IoApic {
                id: io_apic.id,
                address: u64::from(io_apic.address),
                gsi_base: io_apic.global_system_interrupt_base,
            })
            .collect();
        platform.isa_overrides = apic
            .interrupt_source_overrides
            .iter()
            .map(isa_override)
            .collect();
    }
    Ok(platform)
}

/// An override in `arch`'s terms; "same as the bus" is the ISA bus: edge, active high.
fn isa_override(entry: &InterruptSourceOverride) -> IsaOverride {
    IsaOverride {
        irq: entry.isa_source,
        gsi: entry.global_system_interrupt,
        polarity: match entry.polarity {
            Polarity::ActiveLow => ioapic::Polarity::ActiveLow,
            Polarity::ActiveHigh | Polarity::SameAsBus => ioapic::Polarity::ActiveHigh,
        },
        trigger: match entry.trigger_mode {
            TriggerMode::Level => ioapic::Trigger::Level,
            TriggerMode::Edge | TriggerMode::SameAsBus => ioapic::Trigger::Edge,
        },
    }
}

fn reason(error: acpi::AcpiError) -> AcpiError {
    AcpiError::Tables(match error {
        acpi::AcpiError::NoValidRsdp | acpi::AcpiError::RsdpIncorrectSignature => "bad RSDP",
        acpi::AcpiError::TableMissing(_) => "a table is missing",
        acpi::AcpiError::SdtInvalidChecksum(_) => "a table's checksum is wrong",
        _ => "malformed tables",
    })
}

/// "Maps" physical memory by pointing into the physical-memory window.
#[derive(Debug, Clone, Copy)]
struct Window;

impl AcpiHandler for Window {
    unsafe fn map_physical_region<T>(
        &self,
        physical: usize,
        size: usize,
    ) -> PhysicalMapping<Self, T> {
        let virtual_start = mm::phys_to_virt(x86_64::PhysAddr::new(physical as u64));
        let start = NonNull::new(virtual_start.as_mut_ptr::<T>()).expect("the window is not at 0");
        // SAFETY: all of physical memory is mapped at the window, so the region is
        // readable at `start` for `size` bytes; nothing is unmapped afterwards.
        unsafe { PhysicalMapping::new(physical, start, size, size, *self) }
    }

    fn unmap_physical_region<T>(_region: &PhysicalMapping<Self, T>) {}
}
