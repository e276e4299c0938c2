//! A thread that did not opt in to FPU state traps on its first SSE instruction, and the
//! report says so and names it.
//@ expect-failure: CPU EXCEPTION: Device Not Available (#NM, vector 7)
//@ expect-failure: x87/SSE instruction on a thread that did not opt in
//@ expect-failure: 'no-fpu'
#![no_std]
#![no_main]

use spindle::{arch::fpu, thread::Builder};

spindle_test::test_kernel!(sse_without_opting_in_traps);

fn sse_without_opting_in_traps() {
    let thread = Builder::new()
        .name("no-fpu")
        .spawn(|| fpu::fill_xmm_registers(1))
        .unwrap();
    thread.join();
}
