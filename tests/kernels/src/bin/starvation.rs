//! Regression tests for time slices that wrap around (bug 3 of the hostile review).
//!
//! The bug: `on_tick` decrements the running thread's time slice with a plain
//! `fetch_sub(1)` even when the slice is already 0, which happens (a) when a
//! no-preemption section (`thread::disable_preemption`) lasts longer than the slice, and
//! (b) for the boot thread `main`, which starts with a slice of 0. The slice wraps to
//! `u32::MAX`; when that thread is then preempted it goes back to the *active* epoch
//! with four billion ticks left, so it is never preempted for using up its slice again,
//! and an equal-priority thread that is ready never gets another turn.
//!
//! Every case has a thread spin, never yielding, until it has seen an equal-priority
//! spinner make progress on 20 separate occasions (each one is a turn of the spinner:
//! on one CPU the watcher can only see the count change after being switched back in).
//! With 4-tick slices at 1 kHz that takes a fraction of a second; a starved spinner
//! leaves the watcher spinning forever, and the kernel times out. Nothing here depends
//! on how long anything takes.
//@ timeout: 60
//@ smp: 1 4
#![no_std]
#![no_main]

use core::{
    hint::spin_loop,
    sync::atomic::{AtomicBool, AtomicU64, Ordering},
};

use spindle::{sync::IrqSpinLock, thread};

spindle_test::test_kernel!(
    the_boot_thread_is_preempted_by_an_equal_priority_spinner,
    a_spinner_gets_turns_after_a_long_no_preemption_section,
    a_spinner_gets_turns_after_a_section_ended_with_interrupts_off,
);

/// Turns of the spinner the watcher must see.
const TURNS: u32 = 20;
/// Length of the no-preemption sections: far longer than a 4-tick slice.
const SECTION_TICKS: u64 = 50;

static SPINS: AtomicU64 = AtomicU64::new(0);
static STOP: AtomicBool = AtomicBool::new(false);

/// The equal-priority spinner: counts until told to stop.
fn spinner() {
    while !STOP.load(Ordering::SeqCst) {
        SPINS.fetch_add(1, Ordering::SeqCst);
    }
}

/// Spins, never yielding, until the spinner was seen to make progress `TURNS` times, then
/// stops it.
fn watch_the_spinner() {
    let mut seen = SPINS.load(Ordering::SeqCst);
    let mut turns = 0;
    while turns < TURNS {
        let now = SPINS.load(Ordering::SeqCst);
        if now != seen {
            turns += 1;
            seen = now;
        }
        spin_loop();
    }
    STOP.store(true, Ordering::SeqCst);
}

/// Spins with preemption disabled for `SECTION_TICKS` timer ticks; returns the guard.
fn no_preemption_section() -> thread::PreemptGuard {
    let guard = thread::disable_preemption();
    let start = thread::ticks();
    while thread::ticks() < start + SECTION_TICKS {
        spin_loop();
    }
    guard
}

fn reset() {
    STOP.store(false, Ordering::SeqCst);
    SPINS.store(0, Ordering::SeqCst);
}

/// Extra (found while writing this): the boot thread starts with a time slice of 0, so
/// the first tick wraps it. `main` spinning must still let a spinner it spawned run.
/// This case comes first, before `main` ever yields (a yield refills the slice).
fn the_boot_thread_is_preempted_by_an_equal_priority_spinner() {
    reset();
    let spinner = thread::spawn(spinner);
    watch_the_spinner();
    spinner.join();
}

/// Guard: a spawned thread spends 50 ticks with preemption disabled, drops the guard
/// (which yields, since a reschedule is pending) and then spins; the spinner must get its
/// turns.
fn a_spinner_gets_turns_after_a_long_no_preemption_section() {
    reset();
    let watcher = thread::spawn(|| {
        let guard = no_preemption_section();
        drop(guard);
        watch_the_spinner();
    });
    let spinner = thread::spawn(spinner);
    watcher.join();
    spinner.join();
}

/// Bug 3: the same, but the guard is dropped while an `IrqSpinLock` is held (interrupts
/// off, so the guard cannot reschedule on the spot). The next tick preempts the thread
/// with its wrapped slice; after that the spinner must still get its turns.
fn a_spinner_gets_turns_after_a_section_ended_with_interrupts_off() {
    static LOCK: IrqSpinLock<()> = IrqSpinLock::new(());
    reset();
    let watcher = thread::spawn(|| {
        let guard = no_preemption_section();
        let locked = LOCK.lock();
        drop(guard);
        drop(locked);
        watch_the_spinner();
    });
    let spinner = thread::spawn(spinner);
    watcher.join();
    spinner.join();
}
