//! A breakpoint exception is reported and execution continues after it.
#![no_std]
#![no_main]

use core::hint::black_box;

use spindle::arch;
use x86_64::instructions::interrupts::int3;

spindle_test::test_kernel!(
    breakpoint_returns_and_execution_continues,
    breakpoints_are_counted
);

const BREAKPOINT_VECTOR: u8 = 3;

fn breakpoint_returns_and_execution_continues() {
    let before = black_box(0x1234_u64);
    int3();
    let after = black_box(before) + 1;
    assert_eq!(after, 0x1235);
}

fn breakpoints_are_counted() {
    let before = arch::trap_count(BREAKPOINT_VECTOR);
    for _ in 0..3 {
        int3();
    }
    assert_eq!(arch::trap_count(BREAKPOINT_VECTOR), before + 3);
}
