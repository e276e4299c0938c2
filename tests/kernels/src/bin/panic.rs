//! A panic prints its message, location and call chain, and ends QEMU with the failure status.
//@ expect-failure: KERNEL PANIC at src/bin/panic.rs:
//@ expect-failure: deliberate panic with value 42
//@ expect-failure: on CPU 0, thread 1 'main'
//@ expect-failure: not contained: no catch frame
//@ expect-failure: backtrace:
//@ expect-failure: panic::panic_reports_message_and_location+0x
//@ expect-failure: source lines: addr2line -e KERNEL -f -C -i 0x
// No task is being polled: the report says nothing of one.
//@ reject-output: polling
#![no_std]
#![no_main]

use core::hint::black_box;

spindle_test::test_kernel!(panic_reports_message_and_location);

fn panic_reports_message_and_location() {
    panic!("deliberate panic with value {}", black_box(42));
}
