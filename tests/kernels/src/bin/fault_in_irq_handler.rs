//! A CPU exception in an interrupt handler is fatal even when the interrupted thread could
//! catch a panic: the handler runs on behalf of no thread, on top of the interrupted one.
//@ expect-failure: CPU EXCEPTION: Page Fault (#PF, vector 14)
//@ expect-failure: cr2 (faulting address) 0x00000deadbeef000
//@ expect-failure: not contained: in an interrupt or exception handler
// The dispatcher's frame: `interrupts::dispatch` may be inlined into it, whose name then
// does not appear.
//@ expect-failure: spindle::arch::x86_64::trap::trap_dispatch+0x
//@ expect-failure: (trapped here)
#![no_std]
#![no_main]

use spindle::{arch::interrupts, thread};

spindle_test::test_kernel!(a_fault_in_an_interrupt_handler_stops_the_machine);

/// A vector nothing else uses (see `arch::x86_64::vectors`).
const VECTOR: u8 = 0x82;

fn a_fault_in_an_interrupt_handler_stops_the_machine() {
    interrupts::set_handler(VECTOR, |_frame| {
        // SAFETY: the test relies on the fault: the address is unmapped, so the read
        // faults and never completes.
        let _ = unsafe { (0x0dea_dbee_f000 as *const u64).read_volatile() };
    });
    let _ = thread::spawn(interrupts::raise::<VECTOR>).try_join();
    unreachable!("the fault in the handler was contained");
}
