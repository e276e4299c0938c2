//! Input stream cases, run by the `serial_input`/`keyboard` kernels (local APIC: the
//! interrupts come through the I/O APIC), their `_pit` twins (no APIC at all: through
//! the 8259), and `irq_routing` (four CPUs).

extern crate alloc;

use alloc::vec::Vec;
use core::time::Duration;

use futures_util::{FutureExt, StreamExt};
use spindle::{
    drivers::ps2,
    executor::block_on,
    input::{
        Keyboard, OpenError, QUEUE_CAPACITY, SerialInput,
        keyboard::{self, DecodedKey, KeyCode},
        serial,
    },
    thread::{self, ThreadState},
    time,
};

/// The second line of the serial input: longer than the UART's 16-byte FIFO many times
/// over, so it can only arrive whole if the interrupt path keeps up. Must match the
/// `serial-input` directive of both serial kernels.
const LONG_LINE_UNIT: &[u8] = b"0123456789abcdefghijklmnopqrstuvwxyz";
const LONG_LINE_UNITS: usize = 9;

/// The serial kernels are fed `hello spindle\n` and then the long line, which the
/// harness types once the kernel printed its plan (earlier bytes could be lost to the
/// firmware, which reads COM1 too, or to the UART set-up, which empties its FIFO). Every
/// byte must arrive, in order.
///
/// The reader lets the queue fill up before it reads anything: the rest of the input then
/// has to wait in the UART (the handler holds it back) and come through once the reader
/// makes room, not be dropped.
pub fn serial_lines_arrive_whole_through_the_interrupt() {
    let before = serial::stats();
    let mut input = SerialInput::open().expect("the first serial reader");
    wait_until("the serial queue to fill up", || {
        serial::stats().queued == QUEUE_CAPACITY
    });
    let (greeting, long) =
        block_on(async { (read_line(&mut input).await, read_line(&mut input).await) });
    let after = serial::stats();
    assert_eq!(core::str::from_utf8(&greeting), Ok("hello spindle"));
    assert_eq!(long.len(), LONG_LINE_UNIT.len() * LONG_LINE_UNITS);
    for (index, chunk) in long.chunks(LONG_LINE_UNIT.len()).enumerate() {
        assert_eq!(chunk, LONG_LINE_UNIT, "chunk {index} of the long line");
    }
    let typed = (greeting.len() + 1 + long.len() + 1) as u64;
    assert_eq!(after.received - before.received, typed, "{after:?}");
    assert_eq!(after.dropped, 0, "no byte may be dropped");
    assert_eq!(after.queued, 0, "nothing beyond the two lines was typed");
    assert!(
        after.interrupts > before.interrupts,
        "the bytes must have come through IRQ 4"
    );
}

/// The kernels named without `_pit` run with the local APIC (and the I/O APIC)...
pub fn the_cpu_has_a_local_apic() {
    assert!(spindle::arch::apic::physical_base().is_some());
}

/// ...and the `_pit` ones without (QEMU `-cpu max,-apic`: the 8259 interrupts the CPU
/// directly).
pub fn the_cpu_has_no_local_apic() {
    assert!(spindle::arch::apic::physical_base().is_none());
}

/// One reader at a time; dropping it lets the next one in.
pub fn a_second_serial_reader_is_refused() {
    let first = SerialInput::open().expect("no reader is open");
    assert_eq!(SerialInput::open().err(), Some(OpenError::InUse));
    drop(first);
    let again = SerialInput::open().expect("the slot was freed");
    drop(again);
}

async fn read_line(input: &mut SerialInput) -> Vec<u8> {
    let mut line = Vec::new();
    loop {
        match input.next().await.expect("serial input never ends") {
            b'\n' => return line,
            byte => line.push(byte),
        }
    }
}

/// Set-1 scancodes: `a`, Shift+`a`, Enter, each pressed and released.
const A: [u8; 2] = [0x1e, 0x9e];
const SHIFT_A: [u8; 4] = [0x2a, 0x1e, 0x9e, 0xaa];
const ENTER: [u8; 2] = [0x1c, 0x9c];
/// What they decode to: a modifier's press comes through as a raw key (pc-keyboard's
/// choice), its release as nothing.
const TYPED: [DecodedKey; 4] = [
    DecodedKey::Unicode('a'),
    DecodedKey::RawKey(KeyCode::LShift),
    DecodedKey::Unicode('A'),
    DecodedKey::Unicode('\n'),
];

/// Scancodes fed through `inject_scancode` (the handler's entry point) by another thread,
/// each key only once the reader is parked waiting: every key has to travel the wake
/// path (push, wake, unpark, re-poll), and shift must carry over between scancodes.
/// (The reader parks only after finding the queue empty, and a push turns it from
/// `Blocked` back to ready at once, so "parked" always means "waiting for more".)
pub fn injected_scancodes_decode_and_wake_the_parked_reader() {
    let mut keyboard = Keyboard::open().expect("the first keyboard reader");
    let reader = thread::current();
    let typist = thread::spawn(move || {
        for key in [&A[..], &SHIFT_A, &ENTER] {
            wait_until("the reader to park", || {
                reader.state() == ThreadState::Blocked
            });
            key.iter().copied().for_each(keyboard::inject_scancode);
        }
    });
    let keys = block_on(async {
        let mut keys = Vec::new();
        for _ in 0..TYPED.len() {
            keys.push(keyboard.next().await.expect("keyboard input never ends"));
        }
        keys
    });
    typist.join();
    assert_eq!(keys, TYPED);
    // Enter's release is still queued; consume it so later cases start empty.
    assert_eq!(keyboard.next().now_or_never(), None);
    assert_eq!(keyboard::stats().queued, 0);
}

/// One reader at a time; dropping it lets the next one in.
pub fn a_second_keyboard_reader_is_refused() {
    let first = Keyboard::open().expect("no reader is open");
    assert_eq!(Keyboard::open().err(), Some(OpenError::InUse));
    drop(first);
    let again = Keyboard::open().expect("the slot was freed");
    drop(again);
}

/// 300 scancodes with nobody reading: 256 wait in the queue, 44 are dropped and counted,
/// and the reader then gets exactly the 256.
pub fn a_full_queue_drops_and_counts() {
    const SENT: usize = 300;
    const CAPACITY: usize = QUEUE_CAPACITY;
    let mut keyboard = Keyboard::open().expect("the keyboard reader");
    let before = keyboard::stats();
    assert_eq!(before.queued, 0, "the previous case left scancodes behind");
    for _ in 0..SENT {
        keyboard::inject_scancode(A[0]);
    }
    let after = keyboard::stats();
    assert_eq!(after.received - before.received, SENT as u64);
    assert_eq!(after.dropped - before.dropped, (SENT - CAPACITY) as u64);
    assert_eq!(after.queued, CAPACITY);
    for _ in 0..CAPACITY {
        assert_eq!(
            keyboard.next().now_or_never(),
            Some(Some(DecodedKey::Unicode('a')))
        );
    }
    assert_eq!(keyboard.next().now_or_never(), None, "only 256 were kept");
    // Release `a` again for whoever reads next.
    keyboard::inject_scancode(A[1]);
    assert_eq!(keyboard.next().now_or_never(), None);
}

/// The real interrupt path: the PS/2 controller hands each scancode back as if the
/// keyboard had sent it (command 0xD2), raising IRQ 1; the handler reads port 0x60.
pub fn controller_scancodes_arrive_through_irq1() {
    let mut keyboard = Keyboard::open().expect("the keyboard reader");
    let before = keyboard::stats();
    let mut sent = 0;
    for key in [&A[..], &SHIFT_A, &ENTER] {
        for &scancode in key {
            // The controller buffers one such byte: send the next once this one is in.
            let received = keyboard::stats().received;
            ps2::echo_as_keyboard(scancode).expect("QEMU's PS/2 controller answers");
            wait_until("IRQ 1 to deliver the scancode", || {
                keyboard::stats().received > received
            });
            sent += 1;
        }
    }
    let keys = block_on(async {
        let mut keys = Vec::new();
        for _ in 0..TYPED.len() {
            keys.push(keyboard.next().await.expect("keyboard input never ends"));
        }
        keys
    });
    assert_eq!(keys, TYPED);
    let after = keyboard::stats();
    assert_eq!(after.received - before.received, sent);
    assert_eq!(after.dropped, before.dropped);
    assert!(after.interrupts - before.interrupts >= sent);
}

/// Waits (yielding) for `condition`; fails the case after five seconds instead of hanging.
pub fn wait_until(what: &str, mut condition: impl FnMut() -> bool) {
    let deadline = time::now() + Duration::from_secs(5);
    while !condition() {
        assert!(time::now() < deadline, "timed out waiting for {what}");
        thread::yield_now();
    }
}
