//! A task whose poll panicked has its future dropped by the executor; a panic in that
//! drop is fatal, like one in a destructor run by unwinding.
//@ expect-failure: KERNEL PANIC at src/bin/panic_dropping_a_task.rs:
//@ expect-failure: the future panics as it is dropped
//@ expect-failure: not contained: while unwinding another panic
#![no_std]
#![no_main]

use core::{
    future::Future,
    pin::Pin,
    task::{Context, Poll},
};

use spindle::executor::Executor;

spindle_test::test_kernel!(a_panic_dropping_a_panicked_task_stops_the_machine);

/// Panics when polled, and again when dropped.
struct Bomb;

impl Future for Bomb {
    type Output = ();

    fn poll(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<()> {
        panic!("the poll panics");
    }
}

impl Drop for Bomb {
    fn drop(&mut self) {
        panic!("the future panics as it is dropped");
    }
}

fn a_panic_dropping_a_panicked_task_stops_the_machine() {
    let executor = Executor::new("bombs", 4);
    let _ = executor.block_on(executor.spawn(Bomb));
    unreachable!("the panic dropping the task was contained");
}
