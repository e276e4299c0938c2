//! An interrupt handler runs on behalf of no thread, so it must never block: waiting on a
//! semaphore there is refused with a panic that names the rule, instead of putting the
//! interrupted thread to sleep inside the handler.
//@ expect-failure: blocking in an interrupt handler
#![no_std]
#![no_main]

use spindle::{arch::interrupts, sync::Semaphore};

spindle_test::test_kernel!(blocking_in_an_interrupt_handler_panics);

/// A vector nothing else uses (see `arch::x86_64::vectors`).
const VECTOR: u8 = 0x82;

static EMPTY: Semaphore = Semaphore::new(0);

fn blocking_in_an_interrupt_handler_panics() {
    interrupts::set_handler(VECTOR, |_frame| EMPTY.acquire());
    interrupts::raise::<VECTOR>();
    unreachable!("the handler returned from a wait nobody ends");
}
