//! PCI configuration space through the legacy ports 0xCF8 (address) and 0xCFC (data):
//! configuration access mechanism #1, which every PC chipset has. QEMU's default `pc`
//! machine (i440fx) has no memory-mapped configuration space (no ECAM, no ACPI MCFG), so
//! this is the one way to find its devices.
//!
//! An access is two port operations, "select this function's register" then "read or
//! write the selected register", so every access holds one lock (which also keeps an
//! interrupt handler on this CPU from selecting a register in between).
//!
//! [`ConfigPorts`] is the `virtio-drivers` crate's [`ConfigurationAccess`] over these
//! ports, so its `PciRoot` and `PciTransport` work on the `pc` machine (the crate itself
//! provides only memory-mapped access). [`functions`] walks bus 0 and every bus behind a
//! PCI-to-PCI bridge; the firmware has assigned the BARs and each function's interrupt
//! line by the time the kernel runs.

pub use virtio_drivers::transport::pci::bus::{
    Command, ConfigurationAccess, DeviceFunction, DeviceFunctionInfo, HeaderType, PciRoot,
};
use x86_64::instructions::port::Port;

use crate::arch::IrqSpinLock;

/// Writes select a function's register: bit 31 enable, bits 16-23 bus, 11-15 device,
/// 8-10 function, 2-7 the register's dword.
const CONFIG_ADDRESS: u16 = 0xcf8;
/// Reads and writes the selected register.
const CONFIG_DATA: u16 = 0xcfc;
const ENABLE: u32 = 1 << 31;

/// The command and status registers (one dword).
const COMMAND_STATUS: u8 = 0x04;
/// Bits 16-23: the secondary bus of a PCI-to-PCI bridge.
const BRIDGE_BUSES: u8 = 0x18;
/// Bits 0-7: the interrupt line (the legacy IRQ the firmware routed INTx to), 8-15: the
/// interrupt pin (0: none, 1-4: INTA-INTD).
const INTERRUPT: u8 = 0x3c;
/// Command bit 10: the function may not assert INTx.
const INTERRUPT_DISABLE: u32 = 1 << 10;

/// The ports, taken for each access.
static PORTS: IrqSpinLock<()> = IrqSpinLock::new(());

/// Configuration access through the ports (see the module docs). A unit: every instance
/// reaches the same configuration space, under the same lock.
#[derive(Debug, Clone, Copy, Default)]
pub struct ConfigPorts;

impl ConfigPorts {
    fn address(function: DeviceFunction, register: u8) -> u32 {
        ENABLE
            | u32::from(function.bus) << 16
            | u32::from(function.device) << 11
            | u32::from(function.function) << 8
            | u32::from(register & 0xfc)
    }
}

impl ConfigurationAccess for ConfigPorts {
    fn read_word(&self, function: DeviceFunction, register: u8) -> u32 {
        let _ports = PORTS.lock();
        // SAFETY: ports 0xCF8/0xCFC are the PC's configuration mechanism #1; selecting a
        // register has no effect but the selection, reading configuration space has no
        // side effects, and the lock keeps the pair together.
        unsafe {
            Port::<u32>::new(CONFIG_ADDRESS).write(Self::address(function, register));
            Port::<u32>::new(CONFIG_DATA).read()
        }
    }

    fn write_word(&mut self, function: DeviceFunction, register: u8, data: u32) {
        let _ports = PORTS.lock();
        // SAFETY: as in `read_word`; the callers write only what configures the device
        // they drive (command bits, BAR sizing done by `PciRoot`).
        unsafe {
            Port::<u32>::new(CONFIG_ADDRESS).write(Self::address(function, register));
            Port::<u32>::new(CONFIG_DATA).write(data);
        }
    }

    unsafe fn unsafe_clone(&self) -> Self {
        Self
    }
}

/// The PCI root, over the configuration ports.
pub fn root() -> PciRoot<ConfigPorts> {
    PciRoot::new(ConfigPorts)
}

/// Every function on bus 0 and on the buses behind its bridges (and theirs), in bus
/// order; bus numbers come from the bridges, which the firmware numbered.
pub fn functions() -> impl Iterator<Item = (DeviceFunction, DeviceFunctionInfo)> {
    let root = root();
    let mut buses = alloc::vec![0u8];
    let mut next = 0;
    core::iter::from_fn(move || {
        let bus = *buses.get(next)?;
        next += 1;
        let found: alloc::vec::Vec<_> = root.enumerate_bus(bus).collect();
        for (function, info) in &found {
            if info.header_type == HeaderType::PciPciBridge {
                let secondary = (ConfigPorts.read_word(*function, BRIDGE_BUSES) >> 8) as u8;
                if secondary != 0 && !buses.contains(&secondary) {
                    buses.push(secondary);
                }
            }
        }
        Some(found)
    })
    .flatten()
}

/// The legacy IRQ line `function`'s INTx pin is routed to (what the firmware wrote in the
/// interrupt line register), or `None` if it has no pin or was given no line.
pub fn interrupt_line(function: DeviceFunction) -> Option<u8> {
    let register = ConfigPorts.read_word(function, INTERRUPT);
    let (line, pin) = (register as u8, (register >> 8) as u8);
    (pin != 0 && line < 16).then_some(line)
}

/// Sets or clears `bits` in `function`'s command register.
pub fn set_command_bits(function: DeviceFunction, bits: Command, on: bool) {
    update_command(function, u32::from(bits.bits()), on);
}

/// Stops or lets `function` assert its INTx pin (command bit 10). A device nobody drives
/// can still hold a shared level-triggered line asserted (the boot disk, after the
/// firmware used it): its driver-to-be's neighbour on the line would take an interrupt
/// storm it cannot quiet.
pub fn set_intx_disabled(function: DeviceFunction, disabled: bool) {
    update_command(function, INTERRUPT_DISABLE, disabled);
}

fn update_command(function: DeviceFunction, bits: u32, on: bool) {
    // The status half is write-1-to-clear: write zeroes there, keep only the command.
    let command = ConfigPorts.read_word(function, COMMAND_STATUS) & 0xffff;
    let command = if on { command | bits } else { command & !bits };
    ConfigPorts.write_word(function, COMMAND_STATUS, command);
}
