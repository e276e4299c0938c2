//! The I/O APIC: turns device interrupt lines into messages to any CPU's local APIC. With
//! one, the ISA interrupts (the serial port, the PS/2 keyboard) can go to any CPU; without
//! one they reach only the boot CPU, through the 8259 (`interrupts` picks the path).
//!
//! Like the local APIC it is a 4 KiB page of MMIO registers that the layer above maps
//! (uncached) and hands over to [`init`]. Two 32-bit registers of the page are used, an
//! index and a window onto the chip's internal registers (Intel 82093AA datasheet §3.1;
//! QEMU's I/O APIC and chipsets since are the same):
//!
//! | offset | register | use                                              |
//! |--------|----------|--------------------------------------------------|
//! | 0x00   | IOREGSEL | bits 0-7 select an internal register             |
//! | 0x10   | IOWIN    | reads or writes the selected internal register   |
//!
//! Internal registers, 32 bits each:
//!
//! | index     | register                                                            |
//! |-----------|---------------------------------------------------------------------|
//! | 0x01      | version: bits 16-23 the index of the last redirection entry         |
//! | 0x10 + 2n | redirection entry `n`, low half (below)                             |
//! | 0x11 + 2n | redirection entry `n`, high half: bits 24-31 the destination APIC ID |
//!
//! A redirection entry's low half: bits 0-7 the vector, 8-10 the delivery mode (0:
//! fixed), 11 the destination mode (0: physical, an APIC ID), 12 delivery status and 14
//! remote IRR (read-only), 13 polarity (1: active low), 15 trigger (1: level), 16 mask.
//!
//! Input `n` is global system interrupt (GSI) `gsi_base + n`. ISA IRQ `n` is GSI `n`,
//! edge-triggered and active high, unless the MADT overrides it ([`IsaOverride`]; QEMU,
//! like most PCs, moves IRQ 0 to GSI 2 and makes the PCI lines 5, 9, 10 and 11 level-
//! triggered). Only the I/O APIC whose inputs include the ISA IRQs is driven.
//!
//! Selecting and then accessing a register is two writes, so every access holds one lock.

use core::ptr;

use x86_64::VirtAddr;

use super::{pic, spinlock::IrqSpinLock};

/// Offsets of the two MMIO registers in the page.
const REGISTER_SELECT: usize = 0x00;
const REGISTER_WINDOW: usize = 0x10;

/// Internal register indices.
const VERSION: u32 = 0x01;
const REDIRECTION_TABLE: u32 = 0x10;

/// Redirection entry, low half (fixed delivery and physical destination are both 0).
const ACTIVE_LOW: u32 = 1 << 13;
const LEVEL_TRIGGERED: u32 = 1 << 15;
const MASKED: u32 = 1 << 16;
/// Redirection entry, high half: where the destination APIC ID sits.
const DESTINATION_SHIFT: u32 = 24;

/// The ISA IRQs: lines 0-15.
const ISA_LINES: usize = 16;

/// Which signal level means "interrupt".
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Polarity {
    /// The ISA default.
    ActiveHigh,
    ActiveLow,
}

/// Whether the input interrupts on a rising edge or for as long as it is asserted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Trigger {
    /// The ISA default.
    Edge,
    Level,
}

/// An ISA IRQ that the firmware wired differently from "IRQ `n` is GSI `n`, edge, active
/// high": one interrupt source override of the MADT.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IsaOverride {
    /// The ISA IRQ (0-15).
    pub irq: u8,
    /// The global system interrupt it arrives on.
    pub gsi: u32,
    pub polarity: Polarity,
    pub trigger: Trigger,
}

/// How one ISA IRQ reaches the I/O APIC.
#[derive(Debug, Clone, Copy)]
struct IsaRoute {
    gsi: u32,
    polarity: Polarity,
    trigger: Trigger,
}

impl IsaRoute {
    /// The ISA convention, for an IRQ without an override.
    const fn standard(irq: u32) -> Self {
        Self {
            gsi: irq,
            polarity: Polarity::ActiveHigh,
            trigger: Trigger::Edge,
        }
    }

    /// The low half of a redirection entry delivering `vector` this way, unmasked.
    fn entry_low(self, vector: u8) -> u32 {
        let polarity = match self.polarity {
            Polarity::ActiveHigh => 0,
            Polarity::ActiveLow => ACTIVE_LOW,
        };
        let trigger = match self.trigger {
            Trigger::Edge => 0,
            Trigger::Level => LEVEL_TRIGGERED,
        };
        u32::from(vector) | polarity | trigger
    }
}

/// The I/O APIC in use.
struct IoApic {
    /// Virtual address of the register page.
    registers: usize,
    /// The GSI of input 0.
    gsi_base: u32,
    /// How many inputs (redirection entries) it has.
    inputs: u32,
    /// Where each ISA IRQ arrives, overrides applied.
    isa: [IsaRoute; ISA_LINES],
}

/// `None` until [`init`]: then the 8259 stays in charge.
static IO_APIC: IrqSpinLock<Option<IoApic>> = IrqSpinLock::new(None);

/// Takes charge of the I/O APIC whose registers are mapped (uncached) at `registers` and
/// whose inputs start at GSI `gsi_base`: masks every input, notes how the ISA IRQs
/// arrive (`overrides`, from the MADT) and masks the 8259 for good. Returns how many
/// inputs the I/O APIC has. Call it once, on the boot CPU after its local APIC is on.
///
/// From then on `interrupts::route_legacy_irq` routes lines here.
pub fn init(registers: VirtAddr, gsi_base: u32, overrides: &[IsaOverride]) -> u32 {
    pic::mask_all();
    // Held throughout, so nothing routes a line while the inputs are being masked.
    let mut slot = IO_APIC.lock();
    let mut chip = IoApic {
        registers: registers.as_u64() as usize,
        gsi_base,
        inputs: 0,
        isa: core::array::from_fn(|irq| IsaRoute::standard(irq as u32)),
    };
    chip.inputs = ((chip.read(VERSION) >> 16) & 0xff) + 1;
    for input in 0..chip.inputs {
        chip.write_entry(input, MASKED, 0);
    }
    for isa in overrides
        .iter()
        .filter(|isa| usize::from(isa.irq) < ISA_LINES)
    {
        chip.isa[usize::from(isa.irq)] = IsaRoute {
            gsi: isa.gsi,
            polarity: isa.polarity,
            trigger: isa.trigger,
        };
    }
    let inputs = chip.inputs;
    *slot = Some(chip);
    inputs
}

/// Whether [`init`] ran: legacy IRQs then come through here.
pub(super) fn is_active() -> bool {
    IO_APIC.lock().is_some()
}

/// Delivers ISA IRQ `line` as `vector` to the CPU whose local APIC ID is `apic_id`
/// (fixed delivery, physical destination, the line's polarity and trigger) and unmasks it.
///
/// # Panics
/// If [`init`] did not run, or the line's GSI is not one of this I/O APIC's inputs.
pub(super) fn route_isa(line: u8, vector: u8, apic_id: u32) {
    with_isa_input(line, |chip, input, route| {
        // Destination first: the entry is still masked when it becomes complete.
        chip.write_entry(input, MASKED | route.entry_low(vector), apic_id);
        chip.write_entry(input, route.entry_low(vector), apic_id);
    });
}

/// How ISA IRQ `line` triggers (the MADT's override, or the ISA default: edge).
///
/// # Panics
/// As [`route_isa`].
pub(super) fn isa_trigger(line: u8) -> Trigger {
    let mut trigger = Trigger::Edge;
    with_isa_input(line, |_, _, route| trigger = route.trigger);
    trigger
}

/// Sends ISA IRQ `line`, routed already, to the CPU whose local APIC ID is `apic_id`
/// from its next interrupt on. Only the entry's high half is written: one 32-bit write,
/// so the line never goes masked and an edge arriving meanwhile is not lost (an I/O
/// APIC drops edges on a masked input).
///
/// # Panics
/// As [`route_isa`].
pub(super) fn set_destination(line: u8, apic_id: u32) {
    with_isa_input(line, |chip, input, _| {
        chip.write(REDIRECTION_TABLE + 2 * input + 1, destination(apic_id));
    });
}

/// Runs `f` on the I/O APIC, the input ISA IRQ `line` arrives on, and its route, under
/// the lock.
fn with_isa_input(line: u8, f: impl FnOnce(&IoApic, u32, IsaRoute)) {
    let chip = IO_APIC.lock();
    let chip = chip.as_ref().expect("no I/O APIC is set up");
    let route = chip.isa[usize::from(line)];
    let input = route.gsi.wrapping_sub(chip.gsi_base);
    assert!(
        input < chip.inputs,
        "IRQ {line} arrives on GSI {}, which the I/O APIC at GSI {} does not have",
        route.gsi,
        chip.gsi_base
    );
    f(chip, input, route);
}

/// The high half of a redirection entry for physical destination `apic_id`.
fn destination(apic_id: u32) -> u32 {
    assert!(apic_id < 256, "APIC ID {apic_id} needs x2APIC destinations");
    apic_id << DESTINATION_SHIFT
}

impl IoApic {
    /// Writes redirection entry `input`: high half (the destination) first, then the low
    /// half, which takes effect with it.
    fn write_entry(&self, input: u32, low: u32, apic_id: u32) {
        self.write(REDIRECTION_TABLE + 2 * input + 1, destination(apic_id));
        self.write(REDIRECTION_TABLE + 2 * input, low);
    }

    /// Reads internal register `index`. Callers hold the lock (`init` before it puts the
    /// chip in, everyone else to get `&self`).
    fn read(&self, index: u32) -> u32 {
        // SAFETY: `registers` is the mapped, uncached register page `init` was given; the
        // select and window registers are 32-bit and accessed with aligned single
        // accesses; the lock keeps another select from coming between the two.
        unsafe {
            ptr::write_volatile(self.register(REGISTER_SELECT), index);
            ptr::read_volatile(self.register(REGISTER_WINDOW))
        }
    }

    /// Writes internal register `index`. Callers hold the lock.
    fn write(&self, index: u32, value: u32) {
        // SAFETY: as in `read`; the indices used are the version register (read only)
        // and redirection entries, whose writable bits only steer interrupts.
        unsafe {
            ptr::write_volatile(self.register(REGISTER_SELECT), index);
            ptr::write_volatile(self.register(REGISTER_WINDOW), value);
        }
    }

    fn register(&self, offset: usize) -> *mut u32 {
        (self.registers + offset) as *mut u32
    }
}
