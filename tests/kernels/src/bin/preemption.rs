//! Preemption by the local APIC timer: CPU-bound threads that never yield all progress.
//@ expect-output: 1000 Hz ticks from the local APIC timer, one-shot (tickless)
#![no_std]
#![no_main]

use spindle_test::preemption::*;

spindle_test::test_kernel!(
    two_spinning_threads_both_progress,
    a_spinner_cannot_starve_a_sleeper
);
