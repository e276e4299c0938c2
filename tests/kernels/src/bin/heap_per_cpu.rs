//! Small allocations on every CPU at once do not go through the heap's global lock: each
//! CPU's free lists serve them, and the heap sees one allocation per batch refill.
//@ smp: 4
#![no_std]
#![no_main]

extern crate alloc;

use alloc::{sync::Arc, vec::Vec};
use core::sync::atomic::{AtomicUsize, Ordering};

use spindle::{
    mm::{self, heap},
    sync::Event,
    thread::{self, Builder},
};

spindle_test::test_kernel!(small_allocations_on_every_cpu_stay_off_the_heap_lock);

/// Allocations (and frees) per size per CPU.
const ROUNDS: usize = 10_000;
/// Sizes in four different classes.
const SIZES: [usize; 4] = [24, 64, 200, 1000];

/// Every CPU allocates and frees `ROUNDS` blocks of each size, all at once. The heap's own
/// allocation count (talc's: one per acquisition of its lock for an allocation) may grow
/// by the lists' refills only: a handful per class and CPU, not one per allocation.
fn small_allocations_on_every_cpu_stay_off_the_heap_lock() {
    let cpus = thread::cpu_count();
    assert_eq!(cpus, 4);
    let start = Arc::new(Event::new());
    let done = Arc::new(AtomicUsize::new(0));
    let workers: Vec<_> = (0..cpus)
        .map(|cpu| {
            let (start, done) = (Arc::clone(&start), Arc::clone(&done));
            Builder::new()
                .cpu(cpu)
                .spawn(move || {
                    start.wait();
                    for round in 0..ROUNDS {
                        for size in SIZES {
                            let block = core::hint::black_box(alloc::vec![round as u8; size]);
                            assert!(block.iter().all(|&byte| byte == round as u8));
                        }
                    }
                    done.fetch_add(1, Ordering::Release);
                })
                .expect("a thread")
        })
        .collect();
    let before = heap::stats().total_allocation_count;
    start.set();
    while done.load(Ordering::Acquire) < cpus as usize {
        thread::yield_now();
    }
    let heap_allocations = heap::stats().total_allocation_count - before;
    workers.into_iter().for_each(thread::JoinHandle::join);
    let allocations = (cpus as usize * ROUNDS * SIZES.len()) as u64;
    spindle::println!(
        "heap_per_cpu: {allocations} small allocations, {heap_allocations} of them from the heap"
    );
    assert!(
        heap_allocations * 100 < allocations,
        "{heap_allocations} of {allocations} small allocations went to the heap"
    );
    mm::reclaim();
}
