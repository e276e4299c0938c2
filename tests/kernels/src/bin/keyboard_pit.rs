//! The keyboard's IRQ 1 without a local APIC (the 8259 interrupts the CPU directly).
//@ firmware: bios uefi
//@ qemu-args: -cpu max,-apic
//@ expect-output: 1000 Hz ticks from the PIT, periodic
//@ expect-output: interrupts: 8259 (no APIC: one CPU)
#![no_std]
#![no_main]

use spindle_test::input::*;

spindle_test::test_kernel!(
    the_cpu_has_no_local_apic,
    controller_scancodes_arrive_through_irq1
);
