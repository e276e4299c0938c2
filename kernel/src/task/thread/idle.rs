//! The idle loop: what a CPU does when it has no thread to run.
//!
//! 1. With interrupts off, it looks for work: its own queue, else a queued thread it can
//!    pull from a more loaded CPU. If there is some, it schedules.
//! 2. Otherwise it *polls* for a bounded window ([`set_idle_poll`]; Linux's haltpoll):
//!    with interrupts on, it spins on its reschedule request, having published that it
//!    polls, so that a remote waker sets the request and sends no IPI (`wakeup`). Under
//!    emulation an IPI to a halted vCPU wakes a sleeping host thread, which costs far
//!    more than the wake itself; a CPU that was busy a moment ago is likely to get work
//!    again soon. The poll is not preemptible, so the flag never outlives it (see
//!    `poll`). With one CPU there is nobody to wake it remotely: it never polls.
//! 3. Then it halts (`sti; hlt`, one unit, so a wake-up arriving between the last check
//!    and the halt still ends it) until an interrupt: its timer, armed for its next
//!    deadline if it has one (`next_event`), or a kick.
//!
//! While it idles, a CPU holds no translation it will use before it leaves the loop, so
//! it counts as having flushed its TLB (`mm::tlb::enter_idle`), and flushes if it must
//! as it leaves (`leaving`).

use core::{
    sync::atomic::{AtomicU64, Ordering},
    time::Duration,
};

use super::{
    per_cpu::{Cpu, this_cpu},
    scheduler::{self, Reason},
};
use crate::{
    arch::{self, cpu::InterruptsDisabled, cpu_local, tsc},
    mm, time, trace,
};

/// How long an idle CPU polls before it halts, in TSC ticks (0: it halts at once).
static POLL_TSC: AtomicU64 = AtomicU64::new(0);

/// The idle CPUs' polling window: how long a CPU that ran out of work spins, waiting for
/// a wake that needs no IPI, before it halts (`Duration::ZERO`: it halts at once). The
/// default is [`SchedulerConfig::idle_poll`](super::SchedulerConfig::idle_poll).
pub fn set_idle_poll(window: Duration) {
    let nanos = u64::try_from(window.as_nanos()).unwrap_or(u64::MAX);
    let ticks = u128::from(nanos) * u128::from(time::tsc_frequency()) / 1_000_000_000;
    POLL_TSC.store(u64::try_from(ticks).unwrap_or(u64::MAX), Ordering::Relaxed);
}

/// The polling window in use.
pub fn idle_poll() -> Duration {
    time::tsc_ticks_to_duration(POLL_TSC.load(Ordering::Relaxed))
}

/// Where the boot CPU's idle thread starts.
pub(super) extern "sysv64" fn idle_entry(_: u64) -> ! {
    scheduler::finish_switch(&InterruptsDisabled::new());
    idle_loop()
}

/// The idle loop (see the module docs).
pub(super) fn idle_loop() -> ! {
    loop {
        let irq = InterruptsDisabled::new();
        let cpu = this_cpu();
        trace::follow_global_switch();
        // Cleared before the queue is checked: a waker queues first and kicks after.
        cpu.wakeup.clear();
        if !cpu.queue(&irq).is_empty() || scheduler::pull(cpu, &irq) {
            // (Switching away from the idle thread calls `leaving`.)
            scheduler::schedule(&irq, Reason::Yield);
            continue;
        }
        mm::tlb::enter_idle();
        if poll(cpu) {
            continue; // the loop's top takes the work
        }
        trace::record_idle(true);
        cpu.halted_since
            .store(tsc::read().max(1), Ordering::Relaxed);
        arch::cpu::enable_and_halt();
        cpu.end_halt(tsc::read());
        trace::record_idle(false);
    }
}

/// Polls for a reschedule request for at most the window, with interrupts on; whether one
/// came (else the CPU may halt: interrupts are off again and no waker skipped its IPI).
///
/// Not preemptible meanwhile: an interrupt that asks for a reschedule (a pending IPI, a
/// timer that woke a thread here) only sets the request, which the loop sees. Were the
/// idle thread switched away inside that interrupt, the CPU would run a thread with its
/// polling flag still set, and every remote waker would skip its IPI for good: a thread
/// queued there beside a lone CPU-bound one, whose slice timer is off, would never run.
fn poll(cpu: &Cpu) -> bool {
    let window = POLL_TSC.load(Ordering::Relaxed);
    if window == 0 || cpu_local::online_count() == 1 {
        return false;
    }
    let no_preemption = scheduler::disable_preemption();
    cpu.wakeup.start_polling();
    arch::cpu::enable_interrupts();
    let start = tsc::read();
    // No `pause`: under MTTCG it takes QEMU's global lock (see `smp_latency`'s notes).
    while !cpu.wakeup.requested() && tsc::read().wrapping_sub(start) < window {}
    arch::cpu::disable_interrupts();
    let requested = cpu.wakeup.stop_polling();
    drop(no_preemption); // interrupts are off: it does not schedule (the loop's top does)
    requested
}

/// The idle thread is switched away from (from its loop, or inside the interrupt that
/// ended its halt), `now` being the TSC: ends the halt's accounting and catches up with
/// the TLB flushes it skipped. Interrupts are off. (A `schedule` that picks the idle
/// thread again leaves it idle: its loop goes on as before.)
pub(super) fn leaving(cpu: &Cpu, now: u64) {
    cpu.end_halt(now);
    mm::tlb::leave_idle();
}
