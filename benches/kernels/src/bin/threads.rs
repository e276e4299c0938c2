//! Thread figures: yield ping-pong, block/wake ping-pong, spawn + join.
#![no_std]
#![no_main]

extern crate alloc;

use alloc::sync::Arc;

use spindle::thread;
use spindle_bench::{Recorder, end, overhead, report, start};

spindle_bench::bench_kernel!(thread_yield, block_wake, spawn_join);

/// Two threads yield to each other; each switch (from one's `yield_now` to the other's
/// return from it) is one sample.
fn thread_yield() {
    let recorder = Arc::new(Recorder::new());
    let player = |recorder: Arc<Recorder>| {
        move || {
            while !recorder.is_full() {
                recorder.mark_start();
                thread::yield_now();
                recorder.mark_end();
            }
        }
    };
    let (a, b) = (
        thread::spawn(player(Arc::clone(&recorder))),
        thread::spawn(player(Arc::clone(&recorder))),
    );
    a.join();
    b.join();
    recorder.report("thread_yield", overhead(), 1);
}

/// Two threads wake each other with `unpark` and block in `park`: each sample is one
/// wake + block + switch, from the waker's unpark to the woken thread running.
fn block_wake() {
    let recorder = Arc::new(Recorder::new());
    let (partner_sender, partner) = spindle::sync::oneshot::channel::<Arc<thread::Thread>>();
    let first = {
        let recorder = Arc::clone(&recorder);
        thread::spawn(move || {
            let partner = partner.recv().expect("the partner");
            while !recorder.is_full() {
                recorder.mark_start();
                partner.unpark();
                thread::park();
                recorder.mark_end();
            }
            partner.request_stop();
        })
    };
    let second = {
        let recorder = Arc::clone(&recorder);
        let first = Arc::clone(first.thread());
        thread::spawn(move || {
            // The stop check sits between `mark_end` and `mark_start`, outside the
            // measured hand-over (the first thread's stop request also unparks this one).
            loop {
                thread::park();
                recorder.mark_end();
                if thread::should_stop() {
                    break;
                }
                recorder.mark_start();
                first.unpark();
            }
        })
    };
    partner_sender
        .send(Arc::clone(second.thread()))
        .expect("the first thread waits");
    first.join();
    second.join();
    recorder.report("block_wake", overhead(), 1);
}

/// Spawning a thread that returns at once, and joining it.
fn spawn_join() {
    let overhead = overhead();
    let mut samples = alloc::vec::Vec::with_capacity(spindle_bench::SAMPLES);
    for round in 0..spindle_bench::WARMUP + spindle_bench::SAMPLES {
        let begin = start();
        thread::spawn(|| ()).join();
        let elapsed = end() - begin;
        if round >= spindle_bench::WARMUP {
            samples.push(elapsed);
        }
    }
    report("spawn_join", &mut samples, overhead, 1);
}
