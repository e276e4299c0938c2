//! Yield cost with 2, 100, 1,000 and 10,000 runnable threads: it should stay flat.
#![no_std]
#![no_main]

extern crate alloc;

use alloc::{format, sync::Arc, vec::Vec};

use spindle::thread::{self, Builder};
use spindle_bench::{Recorder, overhead};

spindle_bench::bench_kernel!(yield_scaling);

/// Small stacks: 10,000 threads must fit in the guest's memory.
const STACK: usize = 8 * 1024;

fn yield_scaling() {
    let overhead = overhead();
    for threads in [2usize, 100, 1_000, 10_000] {
        let recorder = Arc::new(Recorder::new());
        let handles: Vec<_> = (0..threads)
            .map(|_| {
                let recorder = Arc::clone(&recorder);
                Builder::new()
                    .stack_size(STACK)
                    .spawn(move || {
                        while !recorder.is_full() {
                            recorder.mark_start();
                            thread::yield_now();
                            recorder.mark_end();
                        }
                    })
                    .expect("memory for the threads")
            })
            .collect();
        handles.into_iter().for_each(thread::JoinHandle::join);
        recorder.report(&format!("yield_{threads}_threads"), overhead, 1);
    }
}
