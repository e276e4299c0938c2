//! Regression guard for the park/unpark hand-off (item 7 of the hostile review): a storm
//! of hand-offs between two threads that wake each other only with `Thread::unpark`.
//!
//! On one CPU this passes today; it is here to guard item 7 once there are several CPUs
//! (a parked thread's unpark racing with its `park` on another CPU). Both players loop
//! on the shared turn counter, because `park` may return spuriously; a lost unpark
//! leaves both parked forever and the kernel times out.
//@ timeout: 120
//@ smp: 1 4
#![no_std]
#![no_main]

extern crate alloc;

use alloc::sync::Arc;
use core::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use spindle::{
    sync::IrqSpinLock,
    thread::{self, Thread},
};

spindle_test::test_kernel!(
    one_hundred_thousand_park_unpark_hand_offs,
    hand_offs_survive_spurious_unparks_from_a_third_thread,
);

/// Hand-offs in all: each player passes the turn `HAND_OFFS / 2` times.
const HAND_OFFS: u64 = 100_000;

static TURN: AtomicU64 = AtomicU64::new(0);

/// Plays `HAND_OFFS / 2` turns: waits (parked) until `TURN` is one of its own (parity
/// `me`), takes it, and unparks the other player.
fn play(me: u64, other: &Arc<Thread>) {
    for round in 0..HAND_OFFS / 2 {
        while TURN.load(Ordering::SeqCst) != 2 * round + me {
            thread::park();
        }
        TURN.store(2 * round + me + 1, Ordering::SeqCst);
        other.unpark();
    }
}

/// Starts the second player (parity 1) on a new thread, plays parity 0 on this one, and
/// checks the count.
fn storm() {
    TURN.store(0, Ordering::SeqCst);
    let first = thread::current();
    let second = thread::spawn(move || play(1, &first));
    play(0, second.thread());
    second.join();
    assert_eq!(TURN.load(Ordering::SeqCst), HAND_OFFS);
}

/// 100,000 hand-offs.
fn one_hundred_thousand_park_unpark_hand_offs() {
    storm();
}

/// The same while a third thread keeps unparking both players at random moments (their
/// `park` then returns spuriously, and must be looped on).
fn hand_offs_survive_spurious_unparks_from_a_third_thread() {
    static PLAYERS: IrqSpinLock<Option<[Arc<Thread>; 2]>> = IrqSpinLock::new(None);
    static STOP: AtomicBool = AtomicBool::new(false);
    TURN.store(0, Ordering::SeqCst);
    let first = thread::current();
    let other = Arc::clone(&first);
    let second = thread::spawn(move || play(1, &other));
    *PLAYERS.lock() = Some([first, Arc::clone(second.thread())]);
    let heckler = thread::spawn(|| {
        let players = PLAYERS.lock().clone().expect("the players are registered");
        while !STOP.load(Ordering::SeqCst) {
            players.iter().for_each(|player| player.unpark());
            thread::yield_now();
        }
    });
    play(0, second.thread());
    second.join();
    STOP.store(true, Ordering::SeqCst);
    heckler.join();
    *PLAYERS.lock() = None;
    assert_eq!(TURN.load(Ordering::SeqCst), HAND_OFFS);
}
