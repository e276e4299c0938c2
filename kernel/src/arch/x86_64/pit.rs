//! The 8254 programmable interval timer, used as a reference clock at boot.
//!
//! Channel 0 can drive the periodic tick (IRQ 0) when there is no usable local APIC.
//! Channel 2 is the one whose output can be read back (port 0x61 bit 5) without an
//! interrupt, so it can time an interval by polling: mode 0 raises OUT2 when the count
//! reaches zero.

use x86_64::instructions::port::Port;

/// The PIT's input clock.
const PIT_HZ: u32 = 1_193_182;

const CHANNEL0_DATA: u16 = 0x40;
const CHANNEL2_DATA: u16 = 0x42;
const COMMAND: u16 = 0x43;
const SPEAKER_GATE: u16 = 0x61;

/// Channel 2, lobyte/hibyte access, mode 0 (interrupt on terminal count), binary.
const CHANNEL2_ONE_SHOT: u8 = 0b1011_0000;
/// Channel 0, lobyte/hibyte access, mode 2 (rate generator), binary.
const CHANNEL0_PERIODIC: u8 = 0b0011_0100;
const GATE2: u8 = 1 << 0;
const SPEAKER_ON: u8 = 1 << 1;
const OUT2: u8 = 1 << 5;

/// Runs `sample` at the start and at the end of a `millis`-long PIT interval (at most
/// 54 ms, the 16-bit counter's range) and returns both samples. Busy-waits: boot-time
/// calibration only.
pub(super) fn time_interval<T>(millis: u32, mut sample: impl FnMut() -> T) -> (T, T) {
    let count = u16::try_from(PIT_HZ / 1000 * millis).expect("PIT interval too long");
    let mut gate = Port::<u8>::new(SPEAKER_GATE);
    let mut command = Port::<u8>::new(COMMAND);
    let mut data = Port::<u8>::new(CHANNEL2_DATA);
    // SAFETY: ports 0x42, 0x43 and 0x61 belong to the PIT and the speaker gate, which
    // nothing else in the kernel drives; the speaker output stays off.
    unsafe {
        let gate_bits = gate.read();
        gate.write((gate_bits & !SPEAKER_ON) | GATE2);
        command.write(CHANNEL2_ONE_SHOT);
        let [low, high] = count.to_le_bytes();
        data.write(low);
        data.write(high);
    }
    let start = sample();
    // SAFETY: as above; reading the gate port has no side effects.
    while unsafe { gate.read() } & OUT2 == 0 {
        core::hint::spin_loop();
    }
    (start, sample())
}

/// Makes channel 0 raise IRQ 0 `hz` times a second (19 Hz to 1.19 MHz).
pub(super) fn start_periodic(hz: u32) {
    let divisor = u16::try_from(PIT_HZ / hz.max(1)).unwrap_or(u16::MAX).max(1);
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
