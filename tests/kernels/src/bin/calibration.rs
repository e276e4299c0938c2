//! The clock's calibration holds while the CPU running it is descheduled, as a vCPU is on
//! a busy host. Under single-threaded TCG the two vCPUs take turns on one host thread:
//! while CPU 1 spins, CPU 0 stops for milliseconds at a time (2 to 10, dozens of times a
//! second, here), anywhere in what it runs. Calibrations taken then must agree, to 2 %,
//! with one taken while CPU 1 halts (it then takes no turn) and with the boot's.
//@ smp: 2
//@ qemu-args: -accel tcg,thread=single
#![no_std]
#![no_main]

use core::{
    hint::spin_loop,
    sync::atomic::{AtomicBool, Ordering},
};

use spindle::{
    arch::{timer, tsc},
    thread::{self, Builder, CpuSet},
    time,
};

spindle_test::test_kernel!(calibrations_agree_while_the_other_cpu_spins);

/// Calibrations taken while CPU 1 spins: enough that several of the old single 10 ms
/// intervals would have ended while CPU 0 was stopped (about one in four did).
const ROUNDS: usize = 30;

static SPINNING: AtomicBool = AtomicBool::new(false);
static STOP: AtomicBool = AtomicBool::new(false);

/// Whether two rates agree to 2 %.
fn agree(a: u64, b: u64) -> bool {
    a.abs_diff(b) * 50 <= a.max(b)
}

/// Measures the TSC's rate again (without the APIC timer, which runs the tick).
fn calibrate_tsc() -> u64 {
    timer::calibrate(None).tsc_hz
}

fn calibrations_agree_while_the_other_cpu_spins() {
    thread::set_affinity(CpuSet::single(0)).expect("CPU 0 is online");
    let boot = time::tsc_frequency();
    let quiet = calibrate_tsc();
    assert!(
        agree(quiet, boot),
        "with CPU 1 halted: {quiet} Hz; at boot: {boot} Hz"
    );
    // Release/Acquire: the spinner runs once it says so; it stops once told.
    let spinner = Builder::new()
        .cpu(1)
        .spawn(|| {
            SPINNING.store(true, Ordering::Release);
            while !STOP.load(Ordering::Acquire) {
                spin_loop();
            }
        })
        .expect("a thread for CPU 1");
    while !SPINNING.load(Ordering::Acquire) {
        thread::yield_now();
    }
    let stops = stops_of_a_millisecond_in_a_second(boot);
    assert!(
        stops >= 5,
        "the premise: while CPU 1 spins, CPU 0 stops for a millisecond or more, again and \
         again (it did {stops} times in a second)"
    );
    let loaded: [u64; ROUNDS] = core::array::from_fn(|_| calibrate_tsc());
    STOP.store(true, Ordering::Release);
    spinner.join();
    let (low, high) = (loaded.iter().min(), loaded.iter().max());
    spindle::println!(
        "boot {boot} Hz, CPU 1 halted {quiet} Hz, CPU 1 spinning {low:?}..{high:?} Hz"
    );
    let disagreeing = loaded
        .iter()
        .filter(|&&hz| !agree(hz, quiet) || !agree(hz, boot))
        .count();
    assert_eq!(
        disagreeing, 0,
        "{disagreeing} of {ROUNDS} calibrations while CPU 1 spun disagree with {quiet} Hz \
         (CPU 1 halted) or {boot} Hz (boot): {loaded:?}"
    );
}

/// How many times, in a second of reading the TSC back to back, two reads lay 1 ms or
/// more apart: CPU 0 was stopped in between (1 ms by the boot's rate, which the 2 % the
/// test allows do not matter to).
fn stops_of_a_millisecond_in_a_second(tsc_hz: u64) -> usize {
    let start = tsc::read();
    let mut previous = start;
    let mut stops = 0;
    while previous - start < tsc_hz {
        let now = tsc::read();
        if now - previous >= tsc_hz / 1000 {
            stops += 1;
        }
        previous = now;
    }
    stops
}
