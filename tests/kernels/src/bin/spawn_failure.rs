//! Spawning fails cleanly: an error value, nothing leaked, and the kernel carries on.
#![no_std]
#![no_main]

extern crate alloc;

use alloc::vec::Vec;
use core::sync::atomic::{AtomicUsize, Ordering};

use spindle::{
    mm::{self, stack::MAX_STACK_SIZE},
    thread::{self, Builder, JoinHandle, SpawnError},
};

spindle_test::test_kernel!(
    invalid_stack_sizes_are_refused,
    a_failed_spawn_drops_its_closure_and_leaks_nothing,
    exhausting_memory_fails_cleanly_and_repeatably,
);

fn invalid_stack_sizes_are_refused() {
    for size in [0, MAX_STACK_SIZE + 1, usize::MAX] {
        let result = Builder::new().stack_size(size).spawn(|| ());
        assert_eq!(
            result.err(),
            Some(SpawnError::InvalidStackSize),
            "stack size {size}"
        );
    }
}

/// The closure owns a value whose drop is counted: a spawn that fails after the closure
/// was turned into a raw pointer must reclaim and drop it, and memory usage must not
/// move.
fn a_failed_spawn_drops_its_closure_and_leaks_nothing() {
    static DROPS: AtomicUsize = AtomicUsize::new(0);
    struct Counted;
    impl Drop for Counted {
        fn drop(&mut self) {
            DROPS.fetch_add(1, Ordering::SeqCst);
        }
    }
    let counted = Counted;
    let before = mm::usage();
    let result = Builder::new().stack_size(0).spawn(move || drop(counted));
    assert_eq!(result.err(), Some(SpawnError::InvalidStackSize));
    assert_eq!(
        DROPS.load(Ordering::SeqCst),
        1,
        "the closure was not dropped"
    );
    assert_eq!(mm::usage(), before);
}

/// Spawns parked threads with maximal stacks until memory runs out; the failing spawn
/// must change nothing. Then all are stopped and joined, and a second round gets exactly
/// as far and ends with exactly the same memory usage: nothing leaked in between.
fn exhausting_memory_fails_cleanly_and_repeatably() {
    let first = exhaust_and_release();
    let second = exhaust_and_release();
    assert_eq!(first, second);
}

/// Returns how many threads fit and the memory usage after releasing them.
fn exhaust_and_release() -> (usize, mm::Usage) {
    let mut handles: Vec<JoinHandle<()>> = Vec::with_capacity(4096);
    loop {
        // Measured with the caches empty: running out of memory empties them, which
        // changes what the heap holds free.
        mm::reclaim();
        let before = mm::usage();
        match Builder::new()
            .stack_size(MAX_STACK_SIZE)
            .spawn(park_until_stopped)
        {
            Ok(handle) => handles.push(handle),
            Err(error) => {
                assert_eq!(error, SpawnError::OutOfMemory);
                mm::reclaim();
                assert_eq!(mm::usage(), before, "a failed spawn leaked");
                break;
            }
        }
        assert!(handles.len() < handles.capacity(), "memory never ran out");
    }
    let count = handles.len();
    assert!(count > 10, "only {count} maximal stacks fitted");
    handles
        .iter()
        .for_each(|handle| handle.thread().request_stop());
    handles.into_iter().for_each(JoinHandle::join);
    thread::yield_now(); // let the last exited thread be reaped
    mm::reclaim();
    (count, mm::usage())
}

fn park_until_stopped() {
    while !thread::should_stop() {
        thread::park();
    }
}
