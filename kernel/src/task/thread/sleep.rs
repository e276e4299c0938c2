//! Sleeping and timers: deadlines on the per-CPU timer wheel (`timer_wheel`), which the
//! CPU's timer interrupt fires: arming a deadline earlier than what the CPU's timer is
//! armed for arms it for that deadline (`next_event`).
//!
//! A sleeping thread arms a node on its own stack; a future arms the node inside its
//! [`Timer`]. Either way nothing is allocated, and the node is disarmed (or found fired)
//! under the wheel's lock before its memory goes away. A timer is armed on the wheel of
//! the CPU it was armed from and remembers which, so it can be disarmed from anywhere.
//!
//! Timers fire at their deadline, never earlier: the timer interrupt comes at the
//! deadline (later by the interrupt's latency), and a timer fires only once the clock
//! has reached its deadline. Deadlines that fall in the same tick period fire in the
//! order they were armed.
#![allow(unsafe_code)]

use alloc::sync::Arc;
use core::{
    cell::Cell,
    fmt,
    marker::PhantomPinned,
    pin::{Pin, pin},
    task::Waker,
};

use super::{
    Thread, next_event,
    per_cpu::{Cpu, this_cpu},
    scheduler,
    timer_wheel::TimerNode,
};
use crate::{
    arch::cpu::InterruptsDisabled,
    time::{self, Instant},
};

/// What a fired timer wakes.
pub(super) enum Expiry {
    /// A thread in [`sleep_until`].
    Thread(Arc<Thread>),
    /// A future waiting for a deadline.
    Waker(Waker),
}

impl Expiry {
    pub(super) fn fire(self) {
        match self {
            Expiry::Thread(thread) => _ = scheduler::wake(&thread),
            Expiry::Waker(waker) => waker.wake(),
        }
    }
}

/// Blocks the calling thread for at least `duration`. (A task awaits
/// [`executor::sleep`](crate::executor::sleep) instead.)
///
/// ```no_run
/// # use spindle::thread;
/// thread::sleep(core::time::Duration::from_millis(10));
/// ```
///
/// # Panics
/// In debug builds, if called from inside an async task (it would stall its executor).
#[track_caller]
pub fn sleep(duration: core::time::Duration) {
    sleep_until_named(time::now() + duration, "thread::sleep");
}

/// Blocks the calling thread until the monotonic clock reaches `deadline`. Never returns
/// early; the timer interrupt armed for the deadline wakes it.
///
/// # Panics
/// In debug builds, if called from inside an async task (it would stall its executor).
#[track_caller]
pub fn sleep_until(deadline: Instant) {
    sleep_until_named(deadline, "thread::sleep_until");
}

#[track_caller]
fn sleep_until_named(deadline: Instant, call: &str) {
    while time::now() < deadline {
        super::check_may_block(call, "`executor::sleep(..).await`");
        let irq = InterruptsDisabled::new();
        let cpu = this_cpu();
        let me = Arc::clone(cpu.current(&irq));
        let node = pin!(TimerNode::new());
        {
            let mut wheel = cpu.timers.lock();
            me.run_state.begin_block();
            // SAFETY: the node is fresh and pinned on this stack, and is disarmed below
            // (if it did not fire) before this scope ends; the wheel's lock is held.
            unsafe {
                wheel.arm(
                    node.as_ref(),
                    deadline.as_nanos(),
                    Expiry::Thread(Arc::clone(&me)),
                )
            };
            next_event::deadline_armed(cpu, deadline);
        }
        scheduler::sleep_current(&irq);
        // SAFETY: the node was armed in this CPU's wheel; the lock is held.
        let unfired = unsafe { cpu.timers.lock().disarm(node.as_ref()) };
        drop(unfired); // woken early by something else: the timer is withdrawn
    }
}

/// A deadline on a CPU's timer wheel that wakes a future's waker: the building block of
/// async sleeps and timeouts. Pinned while armed; dropping it disarms it.
pub struct Timer {
    node: TimerNode<Expiry>,
    /// The CPU whose wheel the node is armed in, while it may be armed.
    armed_on: Cell<Option<&'static Cpu>>,
    /// The deadline it was armed for.
    deadline: Cell<Instant>,
    _pinned: PhantomPinned,
}

impl Timer {
    /// A timer that is not armed.
    pub const fn new() -> Self {
        Self {
            node: TimerNode::new(),
            armed_on: Cell::new(None),
            deadline: Cell::new(Instant::from_nanos(0)),
            _pinned: PhantomPinned,
        }
    }

    /// Makes sure the timer will wake `waker` once the clock reaches `deadline`:
    /// arms it, or, if it is armed for that deadline already, only updates the waker
    /// (a future is polled again and again while it waits; re-arming each time would
    /// be wasted work).
    pub fn arm(self: Pin<&Self>, deadline: Instant, waker: &Waker) {
        if let Some(cpu) = self.armed_on.get()
            && self.deadline.get() == deadline
        {
            let mut wheel = cpu.timers.lock();
            // SAFETY: the node was armed in `cpu`'s wheel, whose lock is held.
            if let Some(Expiry::Waker(armed)) = unsafe { wheel.expiry_mut(self.node()) } {
                if !armed.will_wake(waker) {
                    let stale = core::mem::replace(armed, waker.clone());
                    drop(wheel);
                    drop(stale);
                }
                return;
            }
        }
        self.disarm();
        let _irq = InterruptsDisabled::new();
        let cpu = this_cpu();
        let mut wheel = cpu.timers.lock();
        // SAFETY: the node is not armed (disarmed just above) and is pinned inside this
        // timer, whose drop disarms it; this CPU's wheel lock is held.
        unsafe {
            wheel.arm(
                self.node(),
                deadline.as_nanos(),
                Expiry::Waker(waker.clone()),
            )
        };
        next_event::deadline_armed(cpu, deadline);
        drop(wheel);
        self.armed_on.set(Some(cpu));
        self.deadline.set(deadline);
    }

    /// Disarms the timer if it has not fired.
    pub fn disarm(self: Pin<&Self>) {
        if let Some(cpu) = self.armed_on.take() {
            // SAFETY: the node was armed in `cpu`'s wheel, whose lock is held.
            let unfired = unsafe { cpu.timers.lock().disarm(self.node()) };
            drop(unfired); // after the lock: dropping a waker may run arbitrary code
        }
    }

    fn node(self: Pin<&Self>) -> Pin<&TimerNode<Expiry>> {
        // SAFETY: structural pinning: the node is never moved out of a pinned timer.
        unsafe { self.map_unchecked(|timer| &timer.node) }
    }
}

impl Default for Timer {
    fn default() -> Self {
        Self::new()
    }
}

impl Drop for Timer {
    fn drop(&mut self) {
        // SAFETY: `drop` runs in place on a timer that was pinned while armed.
        unsafe { Pin::new_unchecked(&*self) }.disarm();
    }
}

impl fmt::Debug for Timer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Timer")
            .field("armed", &self.armed_on.get().is_some())
            .finish()
    }
}
