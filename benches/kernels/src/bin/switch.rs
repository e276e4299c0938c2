//! The raw switch routine alone: two contexts on two stacks switching back and forth
//! with `arch::context::switch`, no scheduler involved.
#![no_std]
#![no_main]

extern crate alloc;

use core::sync::atomic::{AtomicU64, Ordering};

use spindle::{
    arch::{context, cpu::InterruptsDisabled},
    mm::stack::KernelStack,
};
use spindle_bench::{SAMPLES, WARMUP, end, overhead, report, start};

spindle_bench::bench_kernel!(raw_switch);

/// The measuring context's saved stack pointer.
static MAIN: AtomicU64 = AtomicU64::new(0);
/// The partner context's saved stack pointer.
static PARTNER: AtomicU64 = AtomicU64::new(0);

/// The partner: switches straight back, forever.
extern "sysv64" fn partner() -> ! {
    loop {
        // SAFETY: MAIN holds the measuring context, saved by its own switch to here and
        // resumed only by this switch; PARTNER's slot is static; interrupts are off (the
        // measuring context disabled them before switching here).
        unsafe { context::switch(PARTNER.as_ptr(), MAIN.load(Ordering::Relaxed)) };
    }
}

/// Each sample is a round trip, main → partner → main: two switches.
fn raw_switch() {
    let stack = KernelStack::new(16 * 1024).expect("a stack for the partner");
    // SAFETY: the stack is fresh, mapped and owned here; nothing runs on it yet.
    let rsp = unsafe { context::prepare_switch_frame(stack.top(), partner) };
    PARTNER.store(rsp, Ordering::Relaxed);
    let overhead = overhead();
    let mut samples = alloc::vec::Vec::with_capacity(SAMPLES);
    let irq = InterruptsDisabled::new();
    for round in 0..WARMUP + SAMPLES {
        let begin = start();
        // SAFETY: PARTNER holds the partner context (prepared above or saved by its own
        // switch back), which runs nowhere else; MAIN's slot is static; interrupts are off.
        unsafe { context::switch(MAIN.as_ptr(), PARTNER.load(Ordering::Relaxed)) };
        let elapsed = end() - begin;
        if round >= WARMUP {
            samples.push(elapsed);
        }
    }
    drop(irq);
    report("raw_switch", &mut samples, overhead, 2);
}
