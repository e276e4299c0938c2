//! Serial input through IRQ 4 without a local APIC (the 8259 interrupts the CPU
//! directly, the PIT drives the tick): the same lines as `serial_input`.
//@ firmware: bios uefi
//@ qemu-args: -cpu max,-apic
//@ expect-output: 1000 Hz ticks from the PIT, periodic
//@ serial-input: hello spindle\n0123456789abcdefghijklmnopqrstuvwxyz0123456789abcdefghijklmnopqrstuvwxyz0123456789abcdefghijklmnopqrstuvwxyz0123456789abcdefghijklmnopqrstuvwxyz0123456789abcdefghijklmnopqrstuvwxyz0123456789abcdefghijklmnopqrstuvwxyz0123456789abcdefghijklmnopqrstuvwxyz0123456789abcdefghijklmnopqrstuvwxyz0123456789abcdefghijklmnopqrstuvwxyz\n
//@ expect-output: interrupts: 8259 (no APIC: one CPU)
#![no_std]
#![no_main]

use spindle_test::input::*;

spindle_test::test_kernel!(
    the_cpu_has_no_local_apic,
    serial_lines_arrive_whole_through_the_interrupt,
    a_second_serial_reader_is_refused
);
