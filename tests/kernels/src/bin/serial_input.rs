//! Serial input through IRQ 4, with the local APIC on (the I/O APIC delivers the IRQ):
//! a short line and a 324-byte one, every byte in order.
//@ firmware: bios uefi
//@ serial-input: hello spindle\n0123456789abcdefghijklmnopqrstuvwxyz0123456789abcdefghijklmnopqrstuvwxyz0123456789abcdefghijklmnopqrstuvwxyz0123456789abcdefghijklmnopqrstuvwxyz0123456789abcdefghijklmnopqrstuvwxyz0123456789abcdefghijklmnopqrstuvwxyz0123456789abcdefghijklmnopqrstuvwxyz0123456789abcdefghijklmnopqrstuvwxyz0123456789abcdefghijklmnopqrstuvwxyz\n
//@ expect-output: interrupts: I/O APIC at
//@ smp: 1 4
#![no_std]
#![no_main]

use spindle_test::input::*;

spindle_test::test_kernel!(
    the_cpu_has_a_local_apic,
    serial_lines_arrive_whole_through_the_interrupt,
    a_second_serial_reader_is_refused
);
