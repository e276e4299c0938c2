//! When each CPU's timer fires: tickless. The timer is one-shot, armed for the earliest of
//!
//! - the CPU's first timer deadline (sleeping threads, task sleeps and timeouts: its
//!   timer wheel's [`next_deadline`](super::timer_wheel::TimerWheel::next_deadline));
//! - the next *slice tick*, while the slice timer runs: one tick period after the last,
//!   for as long as other threads may wait in the CPU's run queue;
//! - nothing at all otherwise: a CPU that idles with no timers, or runs one thread alone,
//!   takes no timer interrupts.
//!
//! Time is never counted in interrupts: deadlines, slice ticks and [`ticks`](super::ticks)
//! are read from the clock (the TSC), so an interrupt that comes early (a one-shot count
//! a little short), late (interrupts were off) or not at all changes no time.
//!
//! **Slices.** A thread's slice is still counted in ticks, charged one at a time by the
//! slice timer (`policy`): the slice timer is what the periodic tick was, but it runs
//! only while it matters. It starts when a thread is queued on a CPU that runs another,
//! and stops at the first slice tick that finds the queue empty (under the queue's lock).
//! A CPU-bound thread that never gives up its CPU therefore cannot starve a newcomer
//! (Hermit's PR #2492): whoever queues a thread makes sure the slice timer of the CPU it
//! is queued on runs:
//!
//! - on this CPU, by starting it ([`start_slice_timer`]: a test of one flag when it runs);
//! - on another CPU, by kicking it when the slice timer is off there: the kick's IPI
//!   ends in the exit hook, which starts the slice timer when its queue is not empty
//!   (whether or not the running thread may be preempted then).
//!
//! Orderings of the second case: the remote CPU turns its slice timer off only under its
//! queue's lock, after seeing the queue empty; the queueing CPU pushes under that lock
//! and reads the flag after releasing it. So either the push came first and the slice
//! tick saw a thread (and keeps the timer on), or the slice tick came first, turned the
//! flag off before the push's lock, and the queueing CPU reads it off and kicks.
//!
//! **Arming points.** The timer interrupt (after firing what is due); arming a timer
//! earlier than what the timer is armed for ([`deadline_armed`]: timers are always armed
//! on the wheel of the CPU arming them, so this is always this CPU's own timer); starting
//! the slice timer. Disarming a timer never touches the hardware: the interrupt it leaves
//! behind finds nothing due and arms the timer for what is left.
//!
//! With the PIT (no APIC timer), the timer is periodic: every interrupt charges a slice
//! tick, and arming does nothing.

use core::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use super::{
    Thread,
    per_cpu::{Cpu, this_cpu},
    policy, scheduler,
};
use crate::{
    arch::{cpu::InterruptsDisabled, timer},
    mm,
    time::{self, Instant},
    trace,
};

/// `Cpu::timer_armed_for` when the timer is not armed.
pub(super) const NOT_ARMED: u64 = u64::MAX;

/// How often a CPU whose slice timer runs looks for a less loaded CPU to give a queued
/// thread to (in slice ticks, staggered by CPU index).
const BALANCE_TICKS: u64 = 8;

/// Whether the timer is one-shot (else the PIT ticks periodically).
static ONE_SHOT: AtomicBool = AtomicBool::new(false);
/// The tick period: the unit of time slices, and the timer wheel's slot (ns).
static PERIOD_NS: AtomicU64 = AtomicU64::new(1_000_000);

/// Records how the timer works and the tick period, before any CPU's timer starts.
pub(super) fn configure(one_shot: bool, period_ns: u64) {
    ONE_SHOT.store(one_shot, Ordering::Relaxed);
    PERIOD_NS.store(period_ns.max(1), Ordering::Relaxed);
}

fn period() -> u64 {
    PERIOD_NS.load(Ordering::Relaxed)
}

/// The timer interrupt: fires what is due, charges the slice tick if one is due, and arms
/// the timer for what comes next.
pub(super) fn on_timer(_frame: &mut crate::arch::TrapFrame) {
    let irq = InterruptsDisabled::new();
    let cpu = this_cpu();
    // Only this CPU writes these: plain increments and stores.
    let count = cpu.timer_interrupts.load(Ordering::Relaxed);
    cpu.timer_interrupts.store(count + 1, Ordering::Relaxed);
    cpu.timer_armed_for.store(NOT_ARMED, Ordering::Relaxed); // it fired
    mm::tlb::catch_up();
    trace::follow_global_switch();
    let now = time::now().as_nanos();
    // One at a time, waking outside the wheel's lock; the lock that finds nothing more
    // due reads the next deadline too. It stays right until `rearm` below: only this CPU
    // arms timers on its wheel, and its interrupts are off (see "Arming points").
    let next_deadline = loop {
        let mut timers = cpu.timers.lock();
        let Some(expiry) = timers.expire(now) else {
            break timers.next_deadline();
        };
        drop(timers);
        expiry.fire();
    };
    if !ONE_SHOT.load(Ordering::Relaxed) {
        slice_tick(cpu, &irq);
        return;
    }
    if cpu.slice_timer.load(Ordering::Relaxed) && now >= cpu.next_slice_tick.load(Ordering::Relaxed)
    {
        let queue = cpu.queue(&irq);
        let waiting = !queue.is_empty();
        if !waiting {
            // Under the lock: see "Orderings" in the module docs.
            cpu.slice_timer.store(false, Ordering::Relaxed);
        }
        drop(queue);
        if waiting {
            cpu.next_slice_tick.store(now + period(), Ordering::Relaxed);
            slice_tick(cpu, &irq);
        }
    }
    rearm(cpu, next_deadline, now);
}

/// Charges the running thread a tick of its slice, and now and then gives a queued
/// thread to a less loaded CPU.
fn slice_tick(cpu: &Cpu, irq: &InterruptsDisabled) {
    let ticks = cpu.slice_ticks.load(Ordering::Relaxed) + 1;
    cpu.slice_ticks.store(ticks, Ordering::Relaxed);
    charge_slice_tick(cpu, cpu.current(irq));
    if (ticks + u64::from(cpu.index)).is_multiple_of(BALANCE_TICKS) {
        scheduler::balance(cpu, irq);
    }
}

/// Charges one tick to the running thread's time slice (see `policy`: the slice stops
/// at zero, so a thread that ran out of it inside a no-preemption section is switched
/// out as soon as the section ends, however long the section was).
fn charge_slice_tick(cpu: &Cpu, current: &Thread) {
    if current.is_idle {
        return;
    }
    let left = current.time_slice_left.load(Ordering::Relaxed);
    let (left, give_way) = policy::charge_tick(left);
    current.time_slice_left.store(left, Ordering::Relaxed);
    if give_way {
        cpu.wakeup.request_here();
    }
}

/// Arms this CPU's timer for the earliest of its next timer `deadline` and its next
/// slice tick (nothing if neither), `now` being the clock's reading.
fn rearm(cpu: &Cpu, deadline: Option<u64>, now: u64) {
    let slice = cpu
        .slice_timer
        .load(Ordering::Relaxed)
        .then(|| cpu.next_slice_tick.load(Ordering::Relaxed));
    let next = match (deadline, slice) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    };
    arm_for(cpu, next, now);
}

/// Arms this CPU's timer for `at` (ns on the clock; `None`: stops it), unless it is
/// armed for that already (the common case at a timer interrupt: kept inline).
#[inline]
fn arm_for(cpu: &Cpu, at: Option<u64>, now: u64) {
    let armed_for = at.unwrap_or(NOT_ARMED);
    if cpu.timer_armed_for.load(Ordering::Relaxed) != armed_for {
        program(cpu, at, armed_for, now);
    }
}

/// The slow half of [`arm_for`]: programs the hardware.
#[inline(never)]
fn program(cpu: &Cpu, at: Option<u64>, armed_for: u64, now: u64) {
    cpu.timer_armed_for.store(armed_for, Ordering::Relaxed);
    timer::arm_in(at.map(|at| at.saturating_sub(now)));
    if trace::enabled() {
        trace::record_timer_armed(at);
    }
}

/// A timer due at `deadline` was just armed on this CPU's wheel: arms this CPU's timer for
/// it if that is earlier than what it is armed for. Interrupts are off (the wheel's lock).
#[inline]
pub(super) fn deadline_armed(cpu: &Cpu, deadline: Instant) {
    let deadline = deadline.as_nanos();
    if deadline < cpu.timer_armed_for.load(Ordering::Relaxed) && ONE_SHOT.load(Ordering::Relaxed) {
        arm_for(cpu, Some(deadline), time::now().as_nanos());
    }
}

/// Makes sure this CPU's slice timer runs: a thread was queued here beside the running
/// one. Interrupts are off. A test of one flag when it runs already.
#[inline]
pub(super) fn start_slice_timer(cpu: &Cpu) {
    if !cpu.slice_timer.load(Ordering::Relaxed) {
        start_slice_timer_now(cpu);
    }
}

#[cold]
#[inline(never)]
fn start_slice_timer_now(cpu: &Cpu) {
    cpu.slice_timer.store(true, Ordering::Relaxed);
    let now = time::now().as_nanos();
    let tick = now + period();
    cpu.next_slice_tick.store(tick, Ordering::Relaxed);
    if tick < cpu.timer_armed_for.load(Ordering::Relaxed) {
        arm_for(cpu, Some(tick), now);
    }
}

/// Starts the timer of a CPU coming up (stopped: nothing is due there yet). With the PIT
/// the slice timer of the boot CPU, the only one, runs for good.
pub(super) fn start_on_this_cpu(cpu: &Cpu) {
    if !ONE_SHOT.load(Ordering::Relaxed) {
        cpu.slice_timer.store(true, Ordering::Relaxed);
    }
}
