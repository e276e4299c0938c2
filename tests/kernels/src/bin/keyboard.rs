//! The keyboard stream with the local APIC on: decoding and the wake path through
//! injected scancodes, then real IRQ 1 interrupts from the PS/2 controller.
//@ firmware: bios uefi
//@ expect-output: from the local APIC timer
//@ expect-output: interrupts: I/O APIC at
#![no_std]
#![no_main]

use spindle_test::input::*;

spindle_test::test_kernel!(
    the_cpu_has_a_local_apic,
    injected_scancodes_decode_and_wake_the_parked_reader,
    a_second_keyboard_reader_is_refused,
    a_full_queue_drops_and_counts,
    controller_scancodes_arrive_through_irq1
);
