//! A spawned thread that overflows its stack hits the guard page below it; the report
//! names the thread.
//@ expect-failure: CPU EXCEPTION: Double Fault (#DF, vector 8)
//@ expect-failure: stack overflow in thread 'deep': the faulting address is in the guard page
//@ expect-failure: thread_stack_overflow::recurse+0x
//@ expect-failure: (trapped here)
#![no_std]
#![no_main]

use core::hint::black_box;

use spindle::thread::Builder;

spindle_test::test_kernel!(overflowing_a_thread_stack_is_reported);

fn overflowing_a_thread_stack_is_reported() {
    let thread = Builder::new()
        .name("deep")
        .stack_size(16 * 1024)
        .spawn(|| recurse(0))
        .unwrap();
    thread.join();
}

#[allow(unconditional_recursion)]
fn recurse(depth: u64) -> u64 {
    let frame = black_box([depth; 16]);
    recurse(depth + 1) + frame[3]
}
