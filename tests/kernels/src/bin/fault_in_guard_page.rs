//! A page fault in a stack's guard page stays fatal even in a thread that could catch a
//! panic: it is what a stack overflow looks like (the thread would unwind the very stack
//! that overflowed), or a touch of a dead thread's stack.
//@ expect-failure: CPU EXCEPTION: Page Fault (#PF, vector 14)
//@ expect-failure: not contained: a page fault in a stack's guard page: a stack overflow
//@ expect-failure: on CPU
//@ expect-failure: 'reader'
#![no_std]
#![no_main]

use core::hint::black_box;

use spindle::{
    mm::{paging, stack},
    thread::Builder,
};
use x86_64::VirtAddr;

spindle_test::test_kernel!(a_read_of_a_guard_page_stops_the_machine);

/// Stacks sit at the top of 2 MiB slots, with the rest of the slot unmapped below them.
const SLOT_SIZE: u64 = 2 << 20;

fn a_read_of_a_guard_page_stops_the_machine() {
    let _ = Builder::new()
        .name("reader")
        .spawn(|| {
            let local = black_box(0u64);
            let guard = VirtAddr::new((&raw const local) as u64 & !(SLOT_SIZE - 1));
            assert!(stack::in_stack_area(guard) && paging::translate(guard).is_none());
            // SAFETY: the test relies on the fault: the address is the unmapped bottom of
            // this thread's stack slot, so the read faults and never completes.
            black_box(unsafe { guard.as_ptr::<u64>().read_volatile() })
        })
        .expect("a thread")
        .try_join();
    unreachable!("the fault in the guard page was contained");
}
