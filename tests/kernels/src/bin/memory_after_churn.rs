//! Memory after a spawn/exit churn on four CPUs (issue 18, item 5): once every thread is
//! joined, the largest allocation must be what it was before the churn.
//!
//! The bug: a hostile pass churned threads on 4 CPUs in 512 MiB, and afterwards a 64 MiB
//! allocation failed with far more than that free. The churn had left one 4 KiB block
//! behind for every 512 stack slots it ever used at once (the stack area's level-2 page
//! tables, allocated from the heap at whatever height it was filled to when the slot count
//! first crossed each multiple of 512, and never freed), so the heap stayed cut into runs
//! of 512 threads' worth of memory each: here, 32-48 MiB at most, with 506 MiB free.
//!
//! The churn here: one spawner per CPU starts threads of five stack sizes (8 KiB to
//! 128 KiB, so that the stack cache, which matches sizes, often misses) in two phases,
//! short-lived threads in batches, then parked threads until the heap runs out, all at
//! once on the four CPUs (~8,400 of them); every thread is then stopped and joined.
//@ smp: 4
//@ qemu-args: -m 512M
//@ timeout: 120
#![no_std]
#![no_main]

extern crate alloc;

use alloc::vec::Vec;
use core::sync::atomic::{AtomicU32, Ordering};

use spindle::{
    mm, println,
    sync::Event,
    thread::{self, Builder, JoinHandle, SpawnError},
};

spindle_test::test_kernel!(the_largest_allocation_is_back_after_a_spawn_churn_to_exhaustion);

/// The stack sizes the spawners cycle through (each CPU starting at another one).
const STACK_SIZES: [usize; 5] = [8 << 10, 16 << 10, 32 << 10, 64 << 10, 128 << 10];

/// Short-lived threads each spawner runs, in batches of [`BATCH`] joined together.
const SHORT_LIVED: usize = 2_000;
const BATCH: usize = 16;

/// Room for the handles of a spawner's parked threads (reserved before the heap fills).
const MAX_PARKED: usize = 8_192;

/// What the issue saw fail.
const SIXTY_FOUR_MIB: usize = 64 << 20;

/// Step of the search for the largest allocation.
const STEP: usize = 4096;

fn the_largest_allocation_is_back_after_a_spawn_churn_to_exhaustion() {
    mm::reclaim();
    let before = mm::usage();
    let largest_before = largest_allocation();
    let threads = churn();
    mm::reclaim();
    let after = mm::usage();
    let largest_after = largest_allocation();
    println!(
        "memory_after_churn: {threads} threads on {} CPUs; free {} KiB before, {} KiB after; \
         largest allocation {} KiB before, {} KiB after",
        thread::cpu_count(),
        before.free_bytes >> 10,
        after.free_bytes >> 10,
        largest_before >> 10,
        largest_after >> 10,
    );
    assert!(
        fits(SIXTY_FOUR_MIB),
        "64 MiB do not fit after the churn, with {} MiB free (largest: {} KiB)",
        after.free_bytes >> 20,
        largest_after >> 10
    );
    assert_eq!(
        (after.bytes, after.allocations),
        (before.bytes, before.allocations),
        "the churn left allocations behind"
    );
    assert!(
        largest_after + STEP >= largest_before,
        "the churn cut the largest free run from {largest_before} to {largest_after} bytes"
    );
}

/// Runs the churn: one spawner per CPU, both phases; returns how many threads ran.
fn churn() -> usize {
    let cpus = thread::cpu_count();
    static SHORT_LIVED_DONE: Rendezvous = Rendezvous::new();
    static HEAP_FULL: Rendezvous = Rendezvous::new();
    let spawners: Vec<JoinHandle<usize>> = (0..cpus)
        .map(|cpu| {
            Builder::new()
                .cpu(cpu)
                .spawn(move || {
                    let sizes = STACK_SIZES.iter().cycle().skip(cpu as usize);
                    let short_lived = short_lived(sizes.clone());
                    // Nobody fills the heap while another still needs room for its batch,
                    SHORT_LIVED_DONE.arrive_and_wait(cpus);
                    let parked = park_until_full(sizes);
                    let count = short_lived + parked.len();
                    // and everyone fills it before anyone frees anything.
                    HEAP_FULL.arrive_and_wait(cpus);
                    stop_and_join(parked);
                    count
                })
                .expect("a spawner")
        })
        .collect();
    spawners.into_iter().map(JoinHandle::join).sum()
}

/// Where the spawners wait for each other (allocating nothing: the heap may be full).
struct Rendezvous {
    arrived: AtomicU32,
    all_arrived: Event,
}

impl Rendezvous {
    const fn new() -> Self {
        Self {
            arrived: AtomicU32::new(0),
            all_arrived: Event::new(),
        }
    }

    /// Blocks until `parties` threads have called this.
    fn arrive_and_wait(&self, parties: u32) {
        if self.arrived.fetch_add(1, Ordering::SeqCst) + 1 == parties {
            self.all_arrived.set();
        }
        self.all_arrived.wait();
    }
}

/// Spawns [`SHORT_LIVED`] threads that return at once, joined in batches.
fn short_lived<'a>(mut sizes: impl Iterator<Item = &'a usize>) -> usize {
    let mut batch = Vec::with_capacity(BATCH);
    for _ in 0..SHORT_LIVED / BATCH {
        batch.extend(sizes.by_ref().take(BATCH).map(|&size| {
            Builder::new()
                .stack_size(size)
                .spawn(thread::yield_now)
                .expect("memory for a short-lived thread")
        }));
        batch.drain(..).for_each(JoinHandle::join);
    }
    SHORT_LIVED / BATCH * BATCH
}

/// Spawns threads that park until asked to stop, until the heap has no room for one more.
fn park_until_full<'a>(sizes: impl Iterator<Item = &'a usize>) -> Vec<JoinHandle<()>> {
    let mut parked = Vec::with_capacity(MAX_PARKED);
    for &size in sizes {
        assert!(parked.len() < MAX_PARKED, "the heap never ran out");
        match Builder::new().stack_size(size).spawn(park_until_stopped) {
            Ok(handle) => parked.push(handle),
            Err(error) => {
                assert_eq!(error, SpawnError::OutOfMemory);
                break;
            }
        }
    }
    parked
}

fn park_until_stopped() {
    while !thread::should_stop() {
        thread::park();
    }
}

fn stop_and_join(parked: Vec<JoinHandle<()>>) {
    parked
        .iter()
        .for_each(|handle| handle.thread().request_stop());
    // A join returns once the thread's memory is back (the handle lets go of the control
    // block last): usage is exact right after it.
    parked.into_iter().for_each(JoinHandle::join);
}

/// Whether `size` bytes can be allocated right now (they are freed again at once).
fn fits(size: usize) -> bool {
    Vec::<u8>::new().try_reserve_exact(size).is_ok()
}

/// The largest allocation that succeeds now, to [`STEP`] bytes.
fn largest_allocation() -> usize {
    let (mut fitting, mut failing) = (0, mm::usage().free_bytes + 1);
    while failing - fitting > STEP {
        let middle = fitting + (failing - fitting) / 2;
        if fits(middle) {
            fitting = middle;
        } else {
            failing = middle;
        }
    }
    fitting
}
