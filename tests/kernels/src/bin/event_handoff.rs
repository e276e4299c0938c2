//! `Event` across CPUs (issue 18, defect 4): two pairs of a setter and a waiter, each
//! thread on a CPU of its own, hand an event back and forth, and every release of a
//! waiter must be owed to a `set` that came after its wait began.
//!
//! The waiter spins on its wait (polling `wait_async`), so that it sees the flag the
//! moment a `set` makes it visible. The old `set` stored the flag and bumped the
//! generation after it: a waiter that saw the flag, reset the event and began its next
//! wait before the bump was then released by it, with no `set` after it began. That
//! needs the setter's CPU to stall between two adjacent instructions, which happens when
//! the host preempts its vCPU's thread there: four busy vCPUs on a 2-core host are
//! preempted all the time (`-singlestep`, which lets interrupts land between any two
//! guest instructions, found it less often per second: it slows every vCPU down more).
//! Each round, the waiter begins its wait, lets the setter finish the last `set` and
//! only then asks for the next one: a release before it asked is owed to no `set`, and
//! is counted (exactly), and must never happen.
//@ smp: 4
//@ timeout: 120
#![no_std]
#![no_main]

use core::{
    future::Future,
    pin::pin,
    sync::atomic::{AtomicU32, Ordering},
    task::{Context, Waker},
};

use spindle::{
    sync::Event,
    thread::{self, Builder},
};

spindle_test::test_kernel!(every_release_is_owed_to_a_set_after_the_wait_began);

/// Sets per pair.
const ROUNDS: u32 = 150_000;

/// One setter/waiter pair. `asked` and `done` are the test's own bookkeeping.
struct Pair {
    event: Event,
    /// Sets the waiter asked for: it began its wait for each before asking.
    asked: AtomicU32,
    /// Sets that returned.
    done: AtomicU32,
}

impl Pair {
    const fn new() -> Self {
        Self {
            event: Event::new(),
            asked: AtomicU32::new(0),
            done: AtomicU32::new(0),
        }
    }

    /// Sets the event each time the waiter asks.
    fn set_rounds(&self) {
        for round in 1..=ROUNDS {
            while self.asked.load(Ordering::Acquire) < round {
                core::hint::spin_loop();
            }
            self.event.set();
            self.done.store(round, Ordering::Release);
        }
    }

    /// Waits for each round's set; returns the releases that came before it was asked
    /// for (the last `set` had returned when the wait was first polled).
    fn wait_rounds(&self) -> u32 {
        let mut context = Context::from_waker(Waker::noop());
        let mut unexplained = 0;
        let mut round = 1;
        while round <= ROUNDS {
            let mut wait = pin!(self.event.wait_async());
            while self.done.load(Ordering::Acquire) < round - 1 {
                core::hint::spin_loop();
            }
            if wait.as_mut().poll(&mut context).is_ready() {
                unexplained += 1; // no set since this wait began: the last one had returned
                continue;
            }
            self.asked.store(round, Ordering::Release);
            while wait.as_mut().poll(&mut context).is_pending() {
                core::hint::spin_loop();
            }
            self.event.reset();
            round += 1;
        }
        unexplained
    }
}

fn every_release_is_owed_to_a_set_after_the_wait_began() {
    static PAIRS: [Pair; 2] = [Pair::new(), Pair::new()];
    assert_eq!(thread::cpu_count(), 4);
    let pairs: [_; 2] = core::array::from_fn(|index| {
        let pair = &PAIRS[index];
        let cpu = 2 * index as u32;
        let setter = Builder::new().cpu(cpu).spawn(|| pair.set_rounds());
        let waiter = Builder::new().cpu(cpu + 1).spawn(|| pair.wait_rounds());
        (setter.unwrap(), waiter.unwrap())
    });
    let mut unexplained = 0;
    for (setter, waiter) in pairs {
        unexplained += waiter.join();
        setter.join();
    }
    spindle::println!(
        "event hand-off: {} sets, {unexplained} releases without a set after the wait began",
        2 * ROUNDS
    );
    assert_eq!(
        unexplained, 0,
        "releases without a set after the wait began"
    );
}
