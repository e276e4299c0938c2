//! A panic in a destructor that the unwinding of another panic runs is fatal: the cleanup
//! itself cannot be trusted (std aborts there too).
//@ expect-failure: KERNEL PANIC at src/bin/panic_while_unwinding.rs:
//@ expect-failure: the destructor panics too
//@ expect-failure: not contained: while unwinding another panic
#![no_std]
#![no_main]

use spindle::thread;

spindle_test::test_kernel!(a_panic_while_unwinding_stops_the_machine);

struct PanicsOnDrop;

impl Drop for PanicsOnDrop {
    fn drop(&mut self) {
        panic!("the destructor panics too");
    }
}

fn a_panic_while_unwinding_stops_the_machine() {
    let _ = thread::spawn(|| {
        let _bomb = PanicsOnDrop;
        panic!("the first panic");
    })
    .try_join();
    unreachable!("the panic while unwinding was contained");
}
