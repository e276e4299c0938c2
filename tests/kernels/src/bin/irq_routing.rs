//! Device interrupts through the I/O APIC on four CPUs: an IRQ taken on one CPU wakes a
//! reader pinned to another, and a routed line follows `set_irq_cpu` from CPU to CPU. The
//! input stats name the CPUs whose handlers delivered bytes, so each case sees where the
//! interrupts really went.
//@ firmware: bios uefi
//@ smp: 4
//@ timeout: 120
//@ expect-output: interrupts: I/O APIC at
//@ serial-input: hello spindle\n0123456789abcdefghijklmnopqrstuvwxyz0123456789abcdefghijklmnopqrstuvwxyz0123456789abcdefghijklmnopqrstuvwxyz0123456789abcdefghijklmnopqrstuvwxyz0123456789abcdefghijklmnopqrstuvwxyz0123456789abcdefghijklmnopqrstuvwxyz0123456789abcdefghijklmnopqrstuvwxyz0123456789abcdefghijklmnopqrstuvwxyz0123456789abcdefghijklmnopqrstuvwxyz\n
#![no_std]
#![no_main]

use futures_util::{FutureExt, StreamExt};
use spindle::{
    arch::interrupts::{self, IrqCpuError},
    drivers::{ps2, uart16550},
    input::{
        Keyboard,
        keyboard::{self, DecodedKey},
        serial,
    },
    thread::{self, Builder},
};
use spindle_test::input::{serial_lines_arrive_whole_through_the_interrupt, wait_until};

spindle_test::test_kernel!(
    four_cpus_are_online,
    a_line_cannot_go_to_a_cpu_that_is_not_online,
    serial_irq_on_cpu_1_wakes_a_reader_pinned_to_cpu_3,
    a_routed_line_moves_to_each_cpu_in_turn,
);

const CPUS: u32 = 4;

fn four_cpus_are_online() {
    assert_eq!(thread::cpu_count(), CPUS);
}

fn a_line_cannot_go_to_a_cpu_that_is_not_online() {
    assert_eq!(
        interrupts::set_irq_cpu(uart16550::IRQ, CPUS),
        Err(IrqCpuError::NotOnline)
    );
    assert_eq!(
        interrupts::set_irq_cpu(uart16550::IRQ, 64),
        Err(IrqCpuError::NotOnline)
    );
}

/// IRQ 4 goes to CPU 1 before the serial port is opened; the reader runs pinned to CPU
/// 3 and receives every byte (the shared case: the queue fills, input waits in the UART,
/// then both lines arrive whole). Only CPU 1 ran the handler, so every wake-up crossed
/// from CPU 1 to CPU 3.
fn serial_irq_on_cpu_1_wakes_a_reader_pinned_to_cpu_3() {
    interrupts::set_irq_cpu(uart16550::IRQ, 1).expect("CPU 1 is online");
    let reader = Builder::new()
        .cpu(3)
        .spawn(|| {
            serial_lines_arrive_whole_through_the_interrupt();
            thread::current_cpu()
        })
        .expect("spawn the reader on CPU 3");
    assert_eq!(reader.join(), 3);
    assert_eq!(
        serial::stats().handler_cpus,
        1 << 1,
        "IRQ 4 must have been taken on CPU 1 only"
    );
}

/// The keyboard's IRQ 1, routed (to CPU 0) by the open, is moved to CPU 2, 3 and 1 in
/// turn while routed; after each move a key the PS/2 controller echoes as if typed is
/// handled on the new CPU, and only there.
fn a_routed_line_moves_to_each_cpu_in_turn() {
    const A: [u8; 2] = [0x1e, 0x9e];
    let mut keyboard = Keyboard::open().expect("the keyboard reader");
    let mut expected = 0;
    for cpu in [0, 2, 3, 1] {
        interrupts::set_irq_cpu(ps2::KEYBOARD_IRQ, cpu).expect("the CPU is online");
        for scancode in A {
            let received = keyboard::stats().received;
            ps2::echo_as_keyboard(scancode).expect("QEMU's PS/2 controller answers");
            wait_until("IRQ 1 to deliver the scancode", || {
                keyboard::stats().received > received
            });
        }
        expected |= 1 << cpu;
        assert_eq!(
            keyboard::stats().handler_cpus,
            expected,
            "IRQ 1 must have been taken on CPU {cpu} this time"
        );
        assert_eq!(
            keyboard.next().now_or_never(),
            Some(Some(DecodedKey::Unicode('a')))
        );
    }
    assert_eq!(
        keyboard.next().now_or_never(),
        None,
        "only releases are left"
    );
}
