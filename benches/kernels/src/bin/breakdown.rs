//! What a thread switch is made of: the cost of each building block the scheduler uses
//! on its path, measured alone (100 operations per sample), to explain `thread_yield`.
#![no_std]
#![no_main]

extern crate alloc;

use alloc::{sync::Arc, vec::Vec};
use core::hint::black_box;

use spindle::{
    arch::{cpu::InterruptsDisabled, tsc},
    sync::IrqSpinLock,
    thread::{
        self,
        run_queue::{RunQueue, Unqueued},
    },
    time,
};
use spindle_bench::{SAMPLES, WARMUP, end, overhead, report, start};

spindle_bench::bench_kernel!(building_blocks);

const BATCH: u64 = 100;

/// Times `operation` in batches of [`BATCH`] and reports it as `name` (per operation).
fn measure(name: &str, overhead: u64, mut operation: impl FnMut()) {
    let mut samples = Vec::with_capacity(SAMPLES);
    for round in 0..WARMUP + SAMPLES {
        let begin = start();
        for _ in 0..BATCH {
            operation();
        }
        let elapsed = end() - begin;
        if round >= WARMUP {
            samples.push(elapsed);
        }
    }
    report(name, &mut samples, overhead, BATCH);
}

fn building_blocks() {
    let overhead = overhead();
    measure("cost_interrupts_off_and_back", overhead, || {
        drop(black_box(InterruptsDisabled::new()))
    });
    let lock = IrqSpinLock::new(0u64);
    measure("cost_irq_spinlock_lock_unlock", overhead, || {
        *black_box(&lock).lock() += 1
    });
    let shared = Arc::new(0u64);
    measure("cost_arc_clone_drop", overhead, || {
        drop(black_box(Arc::clone(&shared)))
    });
    measure("cost_current_thread", overhead, || {
        drop(black_box(thread::current()))
    });
    let thread = thread::current();
    // A private queue holding the running thread: its run-queue links are free (a
    // running thread is in no queue), and this queue is the only user.
    let mut queue = RunQueue::new();
    // SAFETY: the running thread is in no run queue, `queue` is local to this thread,
    // and this is the only token made for it.
    queue.push_active(3, unsafe { Unqueued::new(Arc::clone(&thread)) });
    measure("cost_run_queue_push_pop", overhead, || {
        let next = queue.pop().expect("one queued");
        queue.push_expired(3, black_box(next));
    });
    measure("cost_rdtsc", overhead, || {
        black_box(tsc::read());
    });
    measure("cost_clock_now", overhead, || {
        black_box(time::now());
    });
}
