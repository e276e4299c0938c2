//! A panic with too little stack left for the unwinder is fatal, with a report that says
//! so (unwinding there would overflow into the guard page halfway through the
//! destructors), rather than a double fault.
//@ expect-failure: KERNEL PANIC at src/bin/panic_on_a_small_stack.rs:
//@ expect-failure: bytes of stack left, and unwinding needs
//@ expect-failure: backtrace: not taken (too little stack left to walk it)
#![no_std]
#![no_main]

use spindle::thread::Builder;

spindle_test::test_kernel!(a_panic_on_a_small_stack_stops_the_machine_with_a_report);

fn a_panic_on_a_small_stack_stops_the_machine_with_a_report() {
    let _ = Builder::new()
        .stack_size(12 * 1024)
        .spawn(|| panic!("a panic on a small stack"))
        .expect("a thread")
        .try_join();
    unreachable!("the panic on a small stack was contained");
}
