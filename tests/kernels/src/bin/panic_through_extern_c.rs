//! A panic that would unwind through an `extern "C"` function is fatal, and the report
//! says why: the function's frame ends the unwinding with a panic that cannot unwind
//! (Rust's own rule for `extern "C"`), although the thread's catch frame lies beyond it.
//@ expect-failure: KERNEL PANIC
//@ expect-failure: panic in a function that cannot unwind
//@ expect-failure: not contained: this panic cannot unwind
#![no_std]
#![no_main]

use core::hint::black_box;

use spindle::thread;

spindle_test::test_kernel!(a_panic_through_an_extern_c_function_stops_the_machine);

extern "C" fn no_unwinding_here(value: u32) -> u32 {
    if black_box(value) > 0 {
        panic!("a panic inside an extern \"C\" function");
    }
    value
}

fn a_panic_through_an_extern_c_function_stops_the_machine() {
    let _ = thread::spawn(|| no_unwinding_here(black_box(1))).try_join();
    unreachable!("the panic crossed an extern \"C\" function");
}
