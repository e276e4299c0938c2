//! Interrupt figures: the trap path's entry and exit, and a timer interrupt waking a
//! blocked thread.
#![no_std]
#![no_main]

use core::time::Duration;

use spindle::{
    Config, arch,
    thread::{self, SchedulerConfig},
};
use spindle_bench::{Recorder, SAMPLES, WARMUP, end, overhead, report, start};

/// A fast tick (20 kHz), so 110,000 timer wake-ups take seconds, not minutes.
const CONFIG: Config = Config {
    scheduler: SchedulerConfig {
        tick_hz: 20_000,
        time_slice_ticks: 80,
        ..SchedulerConfig::DEFAULT
    },
    force_pit: false,
    trace: false,
    max_cpus: Some(1),
};

spindle_bench::bench_kernel!(config = CONFIG; trap_entry_exit, timer_irq_wakes_thread);

extern crate alloc;

/// A vector with an empty handler: the cost is the whole trap path (entry stub, register
/// save, dispatch, EOI, preemption check, restore, `iretq`).
const EMPTY_VECTOR: u8 = 0x81;

fn trap_entry_exit() {
    arch::interrupts::set_handler(EMPTY_VECTOR, |_| {});
    let overhead = overhead();
    let mut samples = alloc::vec::Vec::with_capacity(SAMPLES);
    for round in 0..WARMUP + SAMPLES {
        let begin = start();
        arch::interrupts::raise::<EMPTY_VECTOR>();
        let elapsed = end() - begin;
        if round >= WARMUP {
            samples.push(elapsed);
        }
    }
    report("trap_entry_exit", &mut samples, overhead, 1);
}

/// A thread sleeps for one tick period; the tick that finds the deadline passed wakes
/// it. Each sample runs from that timer interrupt's entry into the dispatcher to the
/// woken thread running again (the CPU was idle, halted, meanwhile).
fn timer_irq_wakes_thread() {
    let recorder = Recorder::new();
    let tick = Duration::from_secs(1) / thread::tick_hz();
    while !recorder.is_full() {
        thread::sleep(tick);
        let (now, entry) = (end(), arch::last_interrupt_entry_tsc());
        // Another interrupt since the wake-up would make the sample meaningless: skip it.
        if entry < now {
            recorder.push(now - entry);
        }
    }
    recorder.report("timer_irq_wakes_thread", overhead(), 1);
}
