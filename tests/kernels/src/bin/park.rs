//! park/unpark and stop requests.
//@ smp: 1 4
#![no_std]
#![no_main]

extern crate alloc;

use alloc::sync::Arc;
use core::sync::atomic::{AtomicU64, Ordering};

use spindle::{
    sync::IrqSpinLock,
    thread::{self, Thread, ThreadState},
};

spindle_test::test_kernel!(
    an_unpark_before_park_is_not_lost,
    park_unpark_ping_pong_under_preemption,
    a_stop_request_wakes_a_parked_worker,
    a_stop_request_ends_a_spinning_worker,
);

fn an_unpark_before_park_is_not_lost() {
    thread::current().unpark();
    thread::park(); // returns at once: the token was kept
    let worker = thread::spawn(|| {
        thread::park();
        7
    });
    worker.thread().unpark(); // may land before or after the worker parks
    assert_eq!(worker.join(), 7);
}

/// Two threads hand a counter back and forth 10,000 times, waking each other only with
/// unpark. A lost wake-up leaves both parked forever (and the kernel times out).
fn park_unpark_ping_pong_under_preemption() {
    const ROUNDS: u64 = 10_000;
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    static PLAYERS: IrqSpinLock<[Option<Arc<Thread>>; 2]> = IrqSpinLock::new([None, None]);
    let player = |me: u64| {
        move || {
            // Each may start at once on another CPU: wait (parked, unparked by the
            // registration) until the other player is registered.
            while PLAYERS.lock()[1 - me as usize].is_none() {
                thread::park();
            }
            for round in 0..ROUNDS {
                while COUNTER.load(Ordering::SeqCst) != 2 * round + me {
                    thread::park();
                }
                COUNTER.fetch_add(1, Ordering::SeqCst);
                let other = PLAYERS.lock()[1 - me as usize].clone();
                other.expect("both players registered").unpark();
            }
        }
    };
    let a = thread::spawn(player(0));
    let b = thread::spawn(player(1));
    *PLAYERS.lock() = [Some(a.thread().clone()), Some(b.thread().clone())];
    a.thread().unpark();
    b.thread().unpark();
    a.join();
    b.join();
    assert_eq!(COUNTER.load(Ordering::SeqCst), 2 * ROUNDS);
}

fn a_stop_request_wakes_a_parked_worker() {
    let worker = thread::spawn(|| {
        let mut wakeups = 0u32;
        while !thread::should_stop() {
            thread::park();
            wakeups += 1;
        }
        wakeups
    });
    // Parked first (on several CPUs it starts elsewhere, maybe only after a yield here).
    while worker.thread().state() != ThreadState::Blocked {
        thread::yield_now();
    }
    worker.thread().request_stop();
    assert!(worker.join() >= 1);
}

fn a_stop_request_ends_a_spinning_worker() {
    let worker = thread::spawn(|| {
        let mut spins = 0u64;
        while !thread::should_stop() {
            spins += 1;
        }
        spins
    });
    worker.thread().request_stop();
    worker.join();
}
