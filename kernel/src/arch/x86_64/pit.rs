//! The 8254 programmable interval timer, the reference clock of boot-time calibration.
//!
//! Channel 0 can drive the periodic tick (IRQ 0) when there is no usable local APIC.
//! Channel 2 is the one that runs without raising any interrupt, gated by port 0x61 bit
//! 0: calibration sets it counting down freely and reads its count (`calibration`
//! explains how).

use x86_64::instructions::port::Port;

use super::{
    calibration::PIT_HZ,
    spinlock::{IrqSpinLock, IrqSpinLockGuard},
};

const CHANNEL0_DATA: u16 = 0x40;
const CHANNEL2_DATA: u16 = 0x42;
const COMMAND: u16 = 0x43;
const SPEAKER_GATE: u16 = 0x61;

/// Channel 2, lobyte/hibyte access, mode 2 (rate generator), binary. With a count of 0
/// (65,536) the counter steps down through every 16-bit value, wrapping, for as long as
/// the gate is high: a free-running clock that can be read at any time.
const CHANNEL2_FREE_RUNNING: u8 = 0b1011_0100;
/// Latches channel 2's count, so that its two bytes are read from one instant.
const CHANNEL2_LATCH: u8 = 0b1000_0000;
/// Channel 0, lobyte/hibyte access, mode 2 (rate generator), binary.
const CHANNEL0_PERIODIC: u8 = 0b0011_0100;
const GATE2: u8 = 1 << 0;
const SPEAKER_ON: u8 = 1 << 1;

/// Whether channel 2 counts freely; the lock is held around each calibration window.
static CHANNEL2: IrqSpinLock<bool> = IrqSpinLock::new(false);

/// Holds channel 2 (interrupts off) for one calibration window, setting it counting down
/// freely the first time. Two CPUs calibrating at once would interleave their latch
/// commands and byte reads (the PIT has one byte flip-flop per channel) and read
/// nonsense: they take turns, a window each.
pub(super) fn hold() -> IrqSpinLockGuard<'static, bool> {
    let mut started = CHANNEL2.lock();
    if !*started {
        start_free_running();
        *started = true;
    }
    started
}

/// Sets channel 2 counting down freely (the speaker stays off).
fn start_free_running() {
    let mut gate = Port::<u8>::new(SPEAKER_GATE);
    let mut command = Port::<u8>::new(COMMAND);
    let mut data = Port::<u8>::new(CHANNEL2_DATA);
    // SAFETY: ports 0x42, 0x43 and 0x61 belong to the PIT and the speaker gate, which
    // nothing else in the kernel drives; the speaker output stays off.
    unsafe {
        let gate_bits = gate.read();
        gate.write((gate_bits & !SPEAKER_ON) | GATE2);
        command.write(CHANNEL2_FREE_RUNNING);
        data.write(0);
        data.write(0);
    }
}

/// Channel 2's count, counting down once per PIT tick (at [`PIT_HZ`]) and wrapping. The
/// caller [`hold`]s the channel.
pub(super) fn read_free_running() -> u16 {
    let mut command = Port::<u8>::new(COMMAND);
    let mut data = Port::<u8>::new(CHANNEL2_DATA);
    // SAFETY: as in `start_free_running`; latching and reading the count changes nothing
    // but the latch, which only calibration reads.
    unsafe {
        command.write(CHANNEL2_LATCH);
        let low = data.read();
        let high = data.read();
        u16::from_le_bytes([low, high])
    }
}

/// Makes channel 0 raise IRQ 0 `hz` times a second (19 Hz to 1.19 MHz).
pub(super) fn start_periodic(hz: u32) {
    let divisor = u16::try_from(PIT_HZ / u64::from(hz.max(1)))
        .unwrap_or(u16::MAX)
        .max(1);
    let [low, high] = divisor.to_le_bytes();
    let mut command = Port::<u8>::new(COMMAND);
    let mut data = Port::<u8>::new(CHANNEL0_DATA);
    // SAFETY: channel 0 belongs to the tick; IRQ 0 stays masked until the caller unmasks it.
    unsafe {
        command.write(CHANNEL0_PERIODIC);
        data.write(low);
        data.write(high);
    }
}
