//! Overflowing the kernel stack hits its guard page; the double fault runs on its own IST
//! stack and reports the overflow instead of the machine triple-faulting.
//@ expect-failure: CPU EXCEPTION: Double Fault (#DF, vector 8)
//@ expect-failure: kernel stack overflow
#![no_std]
#![no_main]

use core::hint::black_box;

spindle_test::test_kernel!(unbounded_recursion_overflows_the_stack);

fn unbounded_recursion_overflows_the_stack() {
    assert!(recurse(0) > 0, "recursion cannot return");
}

#[allow(unconditional_recursion)]
fn recurse(depth: u64) -> u64 {
    let frame = black_box([depth; 16]);
    recurse(depth + 1) + frame[3]
}
