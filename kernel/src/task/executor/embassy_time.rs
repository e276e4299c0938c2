//! embassy-time on Spindle (cargo feature `embassy-time`): Spindle is `embassy_time`'s
//! time driver, so `embassy_time::Timer`, `Ticker` and `with_timeout` work in tasks on
//! Spindle's executors (and in `block_on`), woken by Spindle's timer.
//!
//! - **Ticks** are microseconds of Spindle's clock (`embassy-time-driver`'s feature
//!   `tick-hz-1_000_000`, which this feature turns on): `now()` is
//!   [`time::now`](crate::time::now) in µs.
//! - **Wakes** wait in one queue of (deadline, waker) pairs (`embassy-time-queue-utils`'
//!   generic queue: 64 entries, one per waiting task; a 65th wakes the oldest early,
//!   which embassy's timers take as a spurious wake and wait again). The queue's
//!   earliest deadline is one Spindle [`Timer`] (the *alarm*) on the timer wheel of the
//!   CPU that armed it last, so the CPU's timer interrupt fires it like any other timer.
//!   Its waker is a static one that wakes what is due and arms the alarm again.
//! - **Nothing allocates**: the queue is fixed, the alarm is static, wakers are cloned
//!   (Spindle's task wakers are reference counts).
//!
//! Locks: the queue's `IrqSpinLock` is taken before the alarm's timer wheel (arming), and
//! the alarm's waker runs after the wheel's lock is released (a fired timer is woken
//! outside it): one order, no cycle.
#![allow(unsafe_code)] // `time_driver_impl!`'s `#[unsafe(no_mangle)]` hooks, the static alarm

use core::{
    cell::UnsafeCell,
    pin::Pin,
    task::{RawWaker, RawWakerVTable, Waker},
};

use embassy_time_driver::Driver;
use embassy_time_queue_utils::queue_generic::ConstGenericQueue;

use crate::{
    arch::IrqSpinLock,
    thread::Timer,
    time::{self, Instant},
};

/// Waiting wakes, at most this many (one per waiting task or future).
const QUEUE_ENTRIES: usize = 64;

/// embassy-time's ticks per second (the driver crate's `tick-hz-1_000_000`).
const TICK_HZ: u64 = 1_000_000;
const _: () = assert!(embassy_time_driver::TICK_HZ == TICK_HZ);

/// Nanoseconds per tick.
const NANOS_PER_TICK: u64 = 1_000_000_000 / TICK_HZ;

/// The waiting wakes and the alarm armed for the earliest.
struct Wakes {
    queue: ConstGenericQueue<QUEUE_ENTRIES>,
    /// The deadline the alarm is armed for (ticks), `u64::MAX` when it is not.
    alarm_at: u64,
}

static WAKES: IrqSpinLock<Wakes> = IrqSpinLock::new(Wakes {
    queue: ConstGenericQueue::new(),
    alarm_at: u64::MAX,
});

/// The alarm: a Spindle timer in a static (so it never moves: pinned for good).
struct Alarm(UnsafeCell<Timer>);

// SAFETY: the timer inside is only touched with `WAKES` locked (see `alarm`), so never
// from two CPUs at once.
unsafe impl Sync for Alarm {}

static ALARM: Alarm = Alarm(UnsafeCell::new(Timer::new()));

/// The alarm, pinned; the caller holds `WAKES`'s lock (`_wakes` proves it).
fn alarm(_wakes: &mut Wakes) -> Pin<&Timer> {
    // SAFETY: a static never moves, so pinning is sound; only holders of `WAKES`'s lock
    // reach it, one at a time, and the borrow ends with the lock's.
    unsafe { Pin::new_unchecked(&*ALARM.0.get()) }
}

/// Spindle as embassy-time's driver.
struct SpindleTimeDriver;

embassy_time_driver::time_driver_impl!(static DRIVER: SpindleTimeDriver = SpindleTimeDriver);

impl Driver for SpindleTimeDriver {
    fn now(&self) -> u64 {
        time::now().as_nanos() / NANOS_PER_TICK
    }

    fn schedule_wake(&self, at: u64, waker: &Waker) {
        let mut wakes = WAKES.lock();
        if wakes.queue.schedule_wake(at, waker) {
            rearm(&mut wakes, self.now());
        }
    }
}

/// Wakes what is due at `now` (ticks) and arms the alarm for the next deadline (or
/// disarms it).
fn rearm(wakes: &mut Wakes, now: u64) {
    let next = wakes.queue.next_expiration(now);
    if next == wakes.alarm_at {
        return;
    }
    wakes.alarm_at = next;
    match next {
        u64::MAX => alarm(wakes).disarm(),
        at => {
            let deadline = Instant::from_nanos(at.saturating_mul(NANOS_PER_TICK));
            alarm(wakes).arm(deadline, &ALARM_WAKER);
        }
    }
}

/// The alarm fired (in the timer interrupt, or wherever its timer was found due).
fn on_alarm() {
    let mut wakes = WAKES.lock();
    wakes.alarm_at = u64::MAX; // fired: no longer armed
    rearm(&mut wakes, DRIVER.now());
}

/// The alarm's waker: static, so cloning and dropping it cost nothing.
static ALARM_WAKER: Waker = {
    const VTABLE: RawWakerVTable = RawWakerVTable::new(clone, wake, wake, drop);
    const RAW: RawWaker = RawWaker::new(core::ptr::null(), &VTABLE);
    fn clone(_: *const ()) -> RawWaker {
        RAW
    }
    fn wake(_: *const ()) {
        on_alarm();
    }
    fn drop(_: *const ()) {}
    // SAFETY: the vtable's functions ignore the data pointer and uphold `RawWaker`'s
    // contract: clone returns the same waker, wake may be called from any thread.
    unsafe { Waker::from_raw(RAW) }
};
