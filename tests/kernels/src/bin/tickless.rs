//! Tickless timers: a CPU takes timer interrupts only for what is due on it, and a
//! CPU-bound thread that never gives up its CPU still cannot starve a thread queued
//! beside it (Hermit's PR #2492), however it got there: spawned or woken from another
//! CPU, or woken by its own CPU's timer.
//!
//! The starvation cases use a spinner at normal priority and a newcomer at the lowest,
//! which does not preempt it: the newcomer runs only once the spinner's slice is used up,
//! so only if the spinner's CPU charges slice ticks. A starved newcomer leaves the
//! spinner spinning and the kernel times out; nothing here depends on how long anything
//! takes.
//@ smp: 4
//@ timeout: 60
#![no_std]
#![no_main]

extern crate alloc;

use alloc::{sync::Arc, vec::Vec};
use core::{
    hint::spin_loop,
    sync::atomic::{AtomicBool, Ordering},
    time::Duration,
};

use spindle::{
    sync::Event,
    thread::{self, Builder, CpuSet, Priority},
};

spindle_test::test_kernel!(
    an_idle_cpu_takes_no_timer_interrupts,
    a_sleep_takes_one_timer_interrupt,
    a_newcomer_spawned_from_another_cpu_is_not_starved,
    a_newcomer_woken_from_another_cpu_is_not_starved,
    a_newcomer_woken_by_the_cpus_own_timer_is_not_starved,
    a_spinner_that_took_over_a_polling_cpu_is_not_left_polling,
);

/// The CPU the spinner and the newcomer share (the boot thread stays on CPU 0).
const SHARED_CPU: u32 = 1;

fn timer_interrupts_of(cpu: u32) -> u64 {
    thread::cpu_stats()[cpu as usize].timer_interrupts
}

/// While the boot thread sleeps on CPU 0, the other CPUs have nothing due: they take no
/// timer interrupts (the slice timer of a CPU that ran a thread at boot may still charge
/// one tick, which finds nothing waiting and stops). With a periodic tick each took one
/// per millisecond.
fn an_idle_cpu_takes_no_timer_interrupts() {
    thread::set_affinity(CpuSet::single(0)).expect("CPU 0");
    let before: Vec<u64> = (0..thread::cpu_count()).map(timer_interrupts_of).collect();
    for _ in 0..10 {
        thread::sleep(Duration::from_millis(10));
    }
    for cpu in 1..thread::cpu_count() {
        let taken = timer_interrupts_of(cpu) - before[cpu as usize];
        assert!(taken <= 1, "idle CPU {cpu} took {taken} timer interrupts");
    }
}

/// Twenty sleeps of 5 ms on CPU 0, alone there: one timer interrupt each (and at most
/// one slice tick besides), where a periodic 1 kHz tick took a hundred.
fn a_sleep_takes_one_timer_interrupt() {
    thread::set_affinity(CpuSet::single(0)).expect("CPU 0");
    let before = timer_interrupts_of(0);
    for _ in 0..20 {
        thread::sleep(Duration::from_millis(5));
    }
    let taken = timer_interrupts_of(0) - before;
    assert!(
        (20..=21).contains(&taken),
        "20 sleeps took {taken} timer interrupts"
    );
}

/// Starts a thread on `SHARED_CPU` that spins, never yielding, until `done` is set;
/// returns once it spins.
fn spinner(done: &Arc<AtomicBool>) -> thread::JoinHandle<()> {
    let done = Arc::clone(done);
    let started = Arc::new(AtomicBool::new(false));
    let spinning = {
        let started = Arc::clone(&started);
        Builder::new()
            .cpu(SHARED_CPU)
            .spawn(move || {
                started.store(true, Ordering::SeqCst);
                while !done.load(Ordering::SeqCst) {
                    spin_loop();
                }
            })
            .expect("spawn the spinner")
    };
    while !started.load(Ordering::SeqCst) {
        thread::yield_now();
    }
    spinning
}

/// Spawns, on `SHARED_CPU` at the lowest priority, a thread that runs `body` and then
/// sets `done`.
fn newcomer(
    done: &Arc<AtomicBool>,
    body: impl FnOnce() + Send + 'static,
) -> thread::JoinHandle<()> {
    let done = Arc::clone(done);
    Builder::new()
        .cpu(SHARED_CPU)
        .priority(Priority::LOWEST)
        .spawn(move || {
            body();
            done.store(true, Ordering::SeqCst);
        })
        .expect("spawn the newcomer")
}

/// Gives the spinner time alone on its CPU, so that its slice timer stopped before the
/// newcomer comes (it stops at the first slice tick that finds nothing waiting).
fn let_it_spin_alone() {
    thread::sleep(Duration::from_millis(20));
}

/// Spawned from CPU 0 onto the spinner's CPU, where it does not preempt.
fn a_newcomer_spawned_from_another_cpu_is_not_starved() {
    let done = Arc::new(AtomicBool::new(false));
    let spinning = spinner(&done);
    let_it_spin_alone();
    newcomer(&done, || {}).join();
    spinning.join();
}

/// Blocked on its CPU before the spinner starts, woken by CPU 0.
fn a_newcomer_woken_from_another_cpu_is_not_starved() {
    let done = Arc::new(AtomicBool::new(false));
    let go = Arc::new(Event::new());
    let waiting = {
        let go = Arc::clone(&go);
        newcomer(&done, move || go.wait())
    };
    let spinning = spinner(&done);
    let_it_spin_alone();
    go.set();
    waiting.join();
    spinning.join();
}

/// Asleep on its CPU when the spinner starts; its CPU's own timer wakes it.
fn a_newcomer_woken_by_the_cpus_own_timer_is_not_starved() {
    let done = Arc::new(AtomicBool::new(false));
    let sleeping = newcomer(&done, || thread::sleep(Duration::from_millis(40)));
    let spinning = spinner(&done);
    sleeping.join();
    spinning.join();
}

/// The spinner takes the CPU from its idle loop *inside the timer interrupt* that woke it,
/// while that loop polls (the window is made long, so the 1 ms sleep always ends inside
/// it). The idle loop's polling flag must not outlive its poll: with it left set, the
/// remote wake of the newcomer skips its IPI, the spinner's slice timer stays off, and the
/// newcomer never runs (it did before the poll was made non-preemptible).
fn a_spinner_that_took_over_a_polling_cpu_is_not_left_polling() {
    let window = thread::idle_poll();
    thread::set_idle_poll(Duration::from_millis(500));
    let done = Arc::new(AtomicBool::new(false));
    let go = Arc::new(Event::new());
    let waiting = {
        let go = Arc::clone(&go);
        newcomer(&done, move || go.wait())
    };
    let started = Arc::new(AtomicBool::new(false));
    let spinning = {
        let (done, started) = (Arc::clone(&done), Arc::clone(&started));
        Builder::new()
            .cpu(SHARED_CPU)
            .spawn(move || {
                thread::sleep(Duration::from_millis(1)); // its CPU polls meanwhile
                started.store(true, Ordering::SeqCst);
                while !done.load(Ordering::SeqCst) {
                    spin_loop();
                }
            })
            .expect("spawn the spinner")
    };
    while !started.load(Ordering::SeqCst) {
        thread::yield_now();
    }
    thread::set_idle_poll(window);
    let_it_spin_alone();
    go.set();
    waiting.join();
    spinning.join();
}
