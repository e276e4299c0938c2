//! Preemption without a local APIC (CPUID says there is none): the PIT drives the tick
//! through the 8259.
//@ qemu-args: -cpu max,-apic
//@ expect-output: 1000 Hz ticks from the PIT, periodic
#![no_std]
#![no_main]

use spindle_test::preemption::*;

spindle_test::test_kernel!(
    two_spinning_threads_both_progress,
    a_spinner_cannot_starve_a_sleeper
);
