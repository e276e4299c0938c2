//! A panic in an interrupt handler is fatal even when the interrupted thread could catch
//! one: the handler runs on behalf of no thread, on top of the interrupted one.
//@ expect-failure: KERNEL PANIC at src/bin/panic_in_irq_handler.rs:
//@ expect-failure: a panic in an interrupt handler
//@ expect-failure: not contained: in an interrupt or exception handler
// The dispatcher's frame: `interrupts::dispatch` may be inlined into it, whose name then
// does not appear.
//@ expect-failure: spindle::arch::x86_64::trap::trap_dispatch+0x
//@ expect-failure: spindle_trap_common+0x
//@ expect-failure: (trapped here)
//@ expect-failure: spindle::arch::x86_64::context::bootstrap_stage1+0x
#![no_std]
#![no_main]

use spindle::{arch::interrupts, thread};

spindle_test::test_kernel!(a_panic_in_an_interrupt_handler_stops_the_machine);

/// A vector nothing else uses (see `arch::x86_64::vectors`).
const VECTOR: u8 = 0x82;

fn a_panic_in_an_interrupt_handler_stops_the_machine() {
    interrupts::set_handler(VECTOR, |_frame| panic!("a panic in an interrupt handler"));
    let _ = thread::spawn(interrupts::raise::<VECTOR>).try_join();
    unreachable!("the panic in the handler was contained");
}
