//! Spawning, joining, yielding and the thread listing.
#![no_std]
#![no_main]

extern crate alloc;

use alloc::{string::String, vec::Vec};
use core::sync::atomic::{AtomicU32, Ordering};

use spindle::{
    sync::{Event, IrqSpinLock},
    thread::{self, Builder, JoinError, JoinHandle, Priority, ThreadState},
};

spindle_test::test_kernel!(
    join_returns_the_closure_result,
    a_thousand_threads_join_with_typed_results,
    yield_alternates_between_ready_threads,
    builder_sets_name_priority_and_stack,
    exit_ends_a_thread_without_a_result,
    joining_yourself_is_an_error,
    listing_shows_every_thread,
    threads_allocate_concurrently_under_preemption,
);

fn join_returns_the_closure_result() {
    let handle = thread::spawn(|| String::from("hello from a thread"));
    assert_eq!(handle.join(), "hello from a thread");
}

fn a_thousand_threads_join_with_typed_results() {
    let handles: Vec<_> = (0..1000u64)
        .map(|i| thread::spawn(move || (i, i * i)))
        .collect();
    for (i, handle) in (0..1000u64).zip(handles) {
        assert_eq!(handle.join(), (i, i * i));
    }
}

/// Two threads that yield to each other take strict turns (nothing else is ready).
fn yield_alternates_between_ready_threads() {
    static TURN: AtomicU32 = AtomicU32::new(0);
    let player = |me: u32| {
        move || {
            for _ in 0..100 {
                while TURN.load(Ordering::SeqCst) % 2 != me {
                    thread::yield_now();
                }
                TURN.fetch_add(1, Ordering::SeqCst);
                thread::yield_now();
            }
        }
    };
    let a = thread::spawn(player(0));
    let b = thread::spawn(player(1));
    a.join();
    b.join();
    assert_eq!(TURN.load(Ordering::SeqCst), 200);
}

fn builder_sets_name_priority_and_stack() {
    let handle = Builder::new()
        .name("configured")
        .priority(Priority::HIGHEST)
        .stack_size(256 * 1024)
        .spawn(|| {
            let me = thread::current();
            // Use most of the 256 KiB stack: it must be there.
            let buffer = core::hint::black_box([7u8; 200 * 1024]);
            (
                String::from(me.name().unwrap_or_default()),
                me.priority(),
                buffer[200 * 1024 - 1],
            )
        })
        .unwrap();
    assert_eq!(
        handle.join(),
        (String::from("configured"), Priority::HIGHEST, 7)
    );
}

fn exit_ends_a_thread_without_a_result() {
    let handle = thread::spawn(|| -> u32 {
        thread::exit();
    });
    assert_eq!(handle.try_join(), Err(JoinError::Exited));
}

/// A thread handed its own handle gets an error from joining it instead of hanging.
fn joining_yourself_is_an_error() {
    static OWN_HANDLE: IrqSpinLock<Option<JoinHandle<()>>> = IrqSpinLock::new(None);
    static RESULT: IrqSpinLock<Option<Result<(), JoinError>>> = IrqSpinLock::new(None);
    static DONE: Event = Event::new();
    let handle = thread::spawn(|| {
        thread::park();
        let own = OWN_HANDLE.lock().take().expect("the handle was passed in");
        *RESULT.lock() = Some(own.try_join());
        DONE.set();
    });
    let thread = handle.thread().clone();
    *OWN_HANDLE.lock() = Some(handle);
    thread.unpark();
    DONE.wait();
    assert_eq!(*RESULT.lock(), Some(Err(JoinError::JoinSelf)));
}

fn listing_shows_every_thread() {
    let handle = Builder::new().name("listed").spawn(thread::park).unwrap();
    thread::yield_now();
    let listing = thread::threads();
    let names: Vec<&str> = listing.iter().map(|info| info.name.as_str()).collect();
    assert!(names.contains(&"main"), "{names:?}");
    assert!(names.contains(&"listed"), "{names:?}");
    let main = listing.iter().find(|info| info.name == "main").unwrap();
    assert_eq!(main.state, ThreadState::Running);
    assert!(main.switches >= 1);
    let listed = listing.iter().find(|info| info.name == "listed").unwrap();
    assert_eq!(listed.state, ThreadState::Blocked);
    handle.thread().unpark();
    handle.join();
    assert!(
        !thread::threads()
            .iter()
            .any(|info| info.name == "listed" && info.state != ThreadState::Dead)
    );
}

/// Four threads churn the heap while the tick preempts them (possibly inside the
/// allocator, whose lock disables interrupts exactly to make that safe). Every block is
/// checked, and memory usage returns to where it started.
fn threads_allocate_concurrently_under_preemption() {
    thread::yield_now(); // let the previous case's last thread be reaped
    spindle::mm::reclaim(); // compared with the caches empty: the churn fills them
    let before = spindle::mm::usage();
    let workers: Vec<_> = (0..4u64)
        .map(|seed| {
            thread::spawn(move || {
                let mut rng = seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
                let mut live: Vec<Vec<u64>> = Vec::new();
                for round in 0..20_000u64 {
                    rng ^= rng << 13;
                    rng ^= rng >> 7;
                    rng ^= rng << 17;
                    if live.len() < 64 && rng % 3 != 0 {
                        live.push(alloc::vec![round; (rng % 512) as usize + 1]);
                    } else if let Some(block) = live.pop() {
                        assert!(
                            block.iter().all(|&word| word == block[0]),
                            "a heap block was corrupted"
                        );
                    }
                }
            })
        })
        .collect();
    workers.into_iter().for_each(JoinHandle::join);
    thread::yield_now(); // let the last worker be reaped
    spindle::mm::reclaim();
    assert_eq!(spindle::mm::usage(), before);
}
