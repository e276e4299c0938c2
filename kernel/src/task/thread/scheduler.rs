//! The scheduler: picks the next thread, switches to it, and runs the tick.
//!
//! Everything here runs with interrupts disabled, which on one CPU is what makes it
//! atomic; the run queue's lock makes it so across CPUs. The switch itself is
//! `arch::context::switch`; around it the scheduler decides the outgoing thread's fate,
//! accounts CPU time and moves FPU state for threads that opted in.
//!
//! **Where switches happen.** Voluntarily in [`yield_now`], when a thread blocks
//! (`block_current`) and when it exits; involuntarily at the end of a hardware interrupt
//! (`preempt_on_interrupt_exit`, called by `arch::interrupts` after every handler) when
//! the handler asked for a reschedule: the timer tick does when the running thread's time
//! slice is used up, and a wake-up does when the woken thread should run first. A thread
//! preempted that way resumes later inside the same interrupt handler, on its own stack,
//! and returns through the trap exit path to exactly where it was interrupted.
//!
//! **The saved stack pointer is the handover.** A thread's `saved_rsp` is 0 while it
//! runs. `switch` stores the outgoing thread's stack pointer as its very last action on
//! the old stack, so a non-zero `saved_rsp` means "completely switched out". The
//! scheduler swaps it back to 0 before switching in; a CPU that finds 0 waits for the
//! other CPU to finish switching the thread out. That wait is short only because nothing
//! between a CPU releasing its run queue and its `context::switch` waits for another CPU
//! (a queue lock is held only for queue operations, and IPIs are sent, never awaited).
//!
//! **Several CPUs.** Each has its own run queue. A woken or new thread is queued on the
//! CPU placement picks (`policy`); when that is another CPU that should reschedule (it
//! idles, or runs something of lower priority) it gets a reschedule IPI. Preempted and
//! yielding threads stay on their CPU; a CPU pulls queued threads from a more loaded one
//! (when it is about to idle, and every `BALANCE_TICKS` ticks);
//! a thread whose CPU set no longer includes its CPU moves when it gives the CPU up. A
//! thread changes CPU only while it is in no CPU's hands: queued, or being woken.
//!
//! **Idle.** The idle loop checks its queue under the queue lock after publishing that it
//! idles (`set_running` at the switch); a remote waker queues under the same lock and
//! then reads what runs. So either the idle loop sees the new thread, or the waker sees
//! the CPU idle and kicks it: a store the polling idle loop sees, or an IPI, which ends
//! the halt even if it arrives before it (see `idle` and `wakeup`).
//!
//! **Slice timer.** Whoever queues a thread beside a running one makes sure the slice
//! timer of that CPU runs, so that the running thread's slice is charged and a CPU-bound
//! thread cannot starve the newcomer (see `next_event`).
#![allow(unsafe_code)]

use alloc::sync::Arc;
use core::{
    hint::spin_loop,
    sync::atomic::{AtomicU32, Ordering},
};

use super::{
    Priority, Thread, ThreadState,
    cpu_set::CpuSet,
    next_event,
    per_cpu::{self, Cpu, QueueGuard, online_cpu, this_cpu},
    policy::{self, Epoch},
    run_queue::Unqueued,
    table,
};
use crate::{
    arch::{context, cpu::InterruptsDisabled, cpu_local, fpu, tsc},
    trace::{self, SwitchReason, WakeSource},
};

static TIME_SLICE_TICKS: AtomicU32 = AtomicU32::new(4);

static TICK_HZ: AtomicU32 = AtomicU32::new(0);

pub(super) fn set_time_slice(ticks: u32) {
    TIME_SLICE_TICKS.store(ticks.max(1), Ordering::Relaxed);
}

pub(super) fn set_tick_hz(hz: u32) {
    TICK_HZ.store(hz, Ordering::Relaxed);
}

pub(super) fn tick_hz() -> u32 {
    TICK_HZ.load(Ordering::Relaxed)
}

/// Fixes `thread`'s slice (from its priority) and gives it a whole one: at admission,
/// and for the boot thread, which was never admitted.
pub(super) fn give_full_slice(thread: &Thread) {
    let slice = policy::slice_for(TIME_SLICE_TICKS.load(Ordering::Relaxed), thread.priority());
    thread.slice_ticks.store(slice, Ordering::Relaxed);
    thread.time_slice_left.store(slice, Ordering::Relaxed);
}

/// A fresh slice for `thread` (fixed when it was admitted: priorities do not change).
fn refill_slice(thread: &Thread) {
    let slice = thread.slice_ticks.load(Ordering::Relaxed);
    thread.time_slice_left.store(slice, Ordering::Relaxed);
}

/// Why the running thread is giving up the CPU.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Reason {
    /// It asked to let others run: it goes to the back of its level.
    Yield,
    /// An interrupt decided another thread should run.
    Preempt,
    /// It set itself `Blocking` and waits for a wake-up.
    Block,
    /// As `Block`, for a timer (the trace tells them apart).
    Sleep,
    /// It finished.
    Exit,
}

impl Reason {
    fn traced(self) -> SwitchReason {
        match self {
            Reason::Yield => SwitchReason::Yield,
            Reason::Preempt => SwitchReason::Preempt,
            Reason::Block => SwitchReason::Block,
            Reason::Sleep => SwitchReason::Sleep,
            Reason::Exit => SwitchReason::Exit,
        }
    }
}

/// Lets other ready threads run; returns when this thread is picked again. (A task
/// awaits [`executor::yield_now`](crate::executor::yield_now) instead.)
///
/// ```no_run
/// # use core::sync::atomic::{AtomicBool, Ordering};
/// # use spindle::thread;
/// # static DONE: AtomicBool = AtomicBool::new(false);
/// while !DONE.load(Ordering::Acquire) {
///     thread::yield_now();
/// }
/// ```
///
/// # Panics
/// If the thread holds a spinlock (others would spin on it while it waits for a turn), or
/// if called from an interrupt handler (which runs on behalf of no thread).
pub fn yield_now() {
    assert!(
        cpu_local::spinlocks_held() == 0,
        "yielding while holding a spinlock"
    );
    assert!(
        !cpu_local::in_interrupt(),
        "yielding in an interrupt handler"
    );
    let irq = InterruptsDisabled::new();
    schedule(&irq, Reason::Yield);
}

/// Blocks the running thread, which has set itself `Blocking` and registered where a
/// waker will find it. Returns once woken, or at once if it was woken already.
///
/// # Panics
/// If the thread may not block: it is the idle thread, it holds a spinlock (which would
/// stay locked while it sleeps), it disabled preemption, or this is an interrupt handler
/// (which would put the thread it interrupted to sleep).
pub(super) fn block_current(irq: &InterruptsDisabled) {
    let current = this_cpu().current(irq);
    assert!(!current.is_idle, "the idle thread must never block");
    assert!(
        !cpu_local::in_interrupt(),
        "blocking in an interrupt handler"
    );
    assert!(
        cpu_local::spinlocks_held() == 0,
        "blocking while holding a spinlock"
    );
    assert!(
        current.preempt_count.load(Ordering::Relaxed) == 0,
        "blocking with preemption disabled"
    );
    schedule(irq, Reason::Block);
}

/// [`block_current`], waiting for a timer.
pub(super) fn sleep_current(irq: &InterruptsDisabled) {
    let current = this_cpu().current(irq);
    assert!(
        cpu_local::spinlocks_held() == 0 && !current.is_idle,
        "sleeping while holding a spinlock (or on the idle thread)"
    );
    assert!(
        !cpu_local::in_interrupt(),
        "sleeping in an interrupt handler"
    );
    assert!(
        current.preempt_count.load(Ordering::Relaxed) == 0,
        "sleeping with preemption disabled"
    );
    schedule(irq, Reason::Sleep);
}

/// Ends the running thread. Its stack is freed by the next `schedule` on this CPU.
pub(super) fn exit_current(irq: &InterruptsDisabled) -> ! {
    trace::record_exit(this_cpu().current(irq).id().as_u64());
    schedule(irq, Reason::Exit);
    unreachable!("a dead thread was scheduled again");
}

/// Makes `thread` runnable if it is blocked (or about to block). Returns whether it was
/// woken. Callable from any context, interrupt handlers included; never allocates.
///
/// Every transition is a compare-and-swap of the thread's state word (see `run_state`),
/// so of two racing wakes exactly one queues the thread, and a wake racing with the
/// thread's own `Blocking → Blocked` either cancels the block or finds it `Blocked`.
pub(crate) fn wake(thread: &Arc<Thread>) -> bool {
    loop {
        match thread.state() {
            ThreadState::Blocking => {
                // Stamped before the transition and recorded only if it was made: once it
                // is, the thread runs on (it never stopped) and may block again or exit
                // before the record, which must not come after those in time. A wake that
                // loses the race (the thread got to `Blocked` first, or another waker woke
                // it) is not recorded.
                let irq = trace::enabled().then(InterruptsDisabled::new);
                let stamp = irq.as_ref().and_then(trace::stamp);
                if thread
                    .run_state
                    .transition(ThreadState::Blocking, ThreadState::Running)
                {
                    if let Some(stamp) = stamp {
                        record_cancelled_block(stamp, thread.id().as_u64());
                    }
                    return true;
                }
            }
            ThreadState::Blocked => {
                let irq = InterruptsDisabled::new();
                if thread
                    .run_state
                    .transition(ThreadState::Blocked, ThreadState::Ready)
                {
                    queue_woken(thread, &irq);
                    return true;
                }
            }
            _ => return false,
        }
    }
}

/// [`Thread::unpark`]: the token, and the wake it may call for, in one step (see
/// `RunState::unpark_and_wake`). The same outcomes as setting the token and calling
/// [`wake`], one read-modify-write and one re-read of the state fewer.
#[inline]
pub(super) fn unpark(thread: &Arc<Thread>) {
    // Interrupts off from before the transition to the push: a thread made `Ready` here
    // is in no queue until this CPU queues it, which nothing may delay.
    let irq = InterruptsDisabled::new();
    // Stamped before the transition, recorded only if it cancelled a block (see `wake`).
    let stamp = trace::stamp(&irq);
    match thread.run_state.unpark_and_wake() {
        ThreadState::Blocked => queue_woken(thread, &irq),
        ThreadState::Blocking => {
            if let Some(stamp) = stamp {
                record_cancelled_block(stamp, thread.id().as_u64());
            }
        }
        _ => {}
    }
}

/// Queues `thread`, which this CPU just made `Ready` from `Blocked` (so it is in no run
/// queue and no other wake can queue it), on the CPU placement picks, and kicks that CPU
/// if it should reschedule. The thread is in limbo (`Ready`, queued nowhere) until the
/// push; interrupts are off throughout, so this CPU cannot be kept from it.
#[inline(always)]
fn queue_woken(thread: &Arc<Thread>, irq: &InterruptsDisabled) {
    let here = this_cpu();
    let target = place_woken(thread, here);
    here.count_wake();
    // Before it is queued: no CPU can run it before the push below.
    if trace::enabled() {
        record_wake(thread.id().as_u64());
    }
    // SAFETY: the thread was `Blocked`, so it is in no run queue, and only this wake (the
    // one transition out of `Blocked`) makes a token.
    let token = unsafe { Unqueued::new(Arc::clone(thread)) };
    let local = core::ptr::eq(target, here);
    let mut queue = target.queue(irq);
    match local {
        // Woken by what runs here, which often blocks next: it runs next (see
        // `run_queue`'s next slot).
        true => queue.push_next(token),
        false => queue.push(token, false),
    }
    drop(queue);
    queued_on(target, local, preempts(thread, target));
}

/// Records who woke thread `thread` (out of line: only while tracing).
#[cold]
#[inline(never)]
fn record_wake(thread: u64) {
    let (source, id) = wake_source();
    trace::record_thread_wake(thread, source, id, false);
}

/// Records who cancelled thread `thread`'s block in progress, at `stamp`.
#[cold]
#[inline(never)]
fn record_cancelled_block(stamp: trace::Stamp<'_>, thread: u64) {
    let (source, id) = wake_source();
    trace::record_thread_wake_at(stamp, thread, source, id, true);
}

/// Who is waking something right now: the interrupt being handled, else the running
/// thread. (A wake made while an executor polls a task happens inside that task's poll
/// in the trace, which is how the host tells it came from the task.)
pub(crate) fn wake_source() -> (WakeSource, u64) {
    if cpu_local::in_interrupt() {
        return (
            WakeSource::Interrupt,
            u64::from(cpu_local::interrupt_vector()),
        );
    }
    let irq = InterruptsDisabled::new();
    (WakeSource::Thread, this_cpu().current(&irq).id().as_u64())
}

/// After a thread was queued on `cpu` (`local`: this CPU) and its queue unlocked: kicks
/// `cpu` if the thread should preempt what runs there, and makes sure its slice timer runs
/// if a thread runs there (see "Idle" and "Slice timer" in the module docs; an idle CPU
/// schedules at once, and `schedule` starts the slice timer if others still wait).
#[inline(always)]
fn queued_on(cpu: &Cpu, local: bool, preempt: bool) {
    if local {
        if cpu.running_level().is_some() {
            next_event::start_slice_timer(cpu);
        }
        if preempt {
            cpu.kick();
        }
    } else if preempt || !cpu.slice_timer.load(Ordering::Relaxed) {
        cpu.kick();
    }
}

/// Whether `thread`, just queued on `cpu`, should make it reschedule.
fn preempts(thread: &Thread, cpu: &Cpu) -> bool {
    let running = cpu
        .running_level()
        .map(|level| Priority::new(level as u8).unwrap_or(Priority::HIGHEST));
    policy::wake_preempts(thread.priority(), running)
}

/// The online CPUs `thread` may run on (all of them if its set names none online, which
/// spawning and `set_affinity` refuse).
fn candidates(thread: &Thread) -> CpuSet {
    let online = per_cpu::online();
    match thread.affinity().intersection(online) {
        none if none.is_empty() => online,
        some => some,
    }
}

/// The CPU a woken thread is queued on (see `policy::wake_target`); `here` is this CPU.
#[inline]
fn place_woken(thread: &Thread, here: &'static Cpu) -> &'static Cpu {
    if cpu_local::online_mask() == 1 {
        return here; // one CPU: nothing to choose
    }
    place_woken_among_cpus(thread, here)
}

fn place_woken_among_cpus(thread: &Thread, here: &Cpu) -> &'static Cpu {
    let target = policy::wake_target(thread.cpu(), here.index, candidates(thread), |cpu| {
        online_cpu(cpu).load()
    });
    online_cpu(target)
}

/// The CPU a new thread is queued on (see `policy::spawn_target`).
fn place_new(thread: &Thread) -> &'static Cpu {
    let here = this_cpu();
    if cpu_local::online_count() == 1 {
        return here;
    }
    let target = policy::spawn_target(here.index, candidates(thread), |cpu| online_cpu(cpu).load());
    online_cpu(target)
}

/// Admits a new thread: it joins the thread table and a run queue. Never fails (both are
/// intrusive): a thread that got this far runs. On this CPU it waits for its turn; on
/// another it may preempt what runs there.
pub(super) fn admit(thread: Arc<Thread>) {
    table::insert(&thread);
    let irq = InterruptsDisabled::new();
    give_full_slice(&thread);
    debug_assert_eq!(
        thread.state(),
        ThreadState::Ready,
        "a new thread starts ready"
    );
    let target = place_new(&thread);
    let local = target.index == cpu_local::cpu_index();
    // A new thread on this CPU waits for its turn; on another it may preempt.
    let preempt = !local && preempts(&thread, target);
    // SAFETY: a new thread is in no run queue, and this is the one token made for it.
    let thread = unsafe { Unqueued::new(thread) };
    target.queue(&irq).push(thread, false);
    queued_on(target, local, preempt);
}

/// Handles a reschedule IPI: the exit hook that follows does the rescheduling. (Also
/// where a CPU that took no timer interrupt starts or stops tracing, when tracing was
/// switched: `tracing` kicks every CPU.)
pub(super) fn on_reschedule_ipi(_frame: &mut crate::arch::TrapFrame) {
    this_cpu().take_resched_ipi();
    trace::follow_global_switch();
}

/// Called by `arch::interrupts` after every hardware interrupt handler.
pub(super) fn preempt_on_interrupt_exit() {
    let cpu = this_cpu();
    if !cpu.wakeup.requested() {
        return; // the common case, kept short
    }
    // Interrupts are already off in a handler; the guard just proves it.
    let irq = InterruptsDisabled::new();
    // A kick from a CPU that queued a thread here beside a running one: the slice timer
    // runs from now on, even if that thread cannot be preempted now (see `next_event`).
    let load = cpu.load();
    if load.busy && load.queued != 0 {
        next_event::start_slice_timer(cpu);
    }
    if cpu.preemptible(&irq) {
        schedule(&irq, Reason::Preempt);
    }
}

/// Picks the next thread and switches to it. See the module docs.
///
/// Callers must not hold a reference from `Cpu::current` across this call. The running
/// thread is only borrowed here: the one reference taken is the run queue's (if it stays
/// runnable); the per-CPU slot's own reference moves out in `switch_to`.
///
/// One function per reason, each the whole switch with its reason's tests folded away
/// (measured: a yield is ~30 instructions shorter than through one shared function).
#[inline(always)]
pub(super) fn schedule(irq: &InterruptsDisabled, reason: Reason) {
    match reason {
        Reason::Yield => schedule_yield(irq),
        Reason::Preempt => schedule_preempt(irq),
        Reason::Block | Reason::Sleep => schedule_block(irq, reason),
        Reason::Exit => schedule_exit(irq),
    }
}

#[inline(never)]
fn schedule_yield(irq: &InterruptsDisabled) {
    schedule_for(irq, Reason::Yield);
}

#[inline(never)]
fn schedule_preempt(irq: &InterruptsDisabled) {
    schedule_for(irq, Reason::Preempt);
}

#[inline(never)]
fn schedule_block(irq: &InterruptsDisabled, reason: Reason) {
    schedule_for(irq, reason);
}

#[inline(never)]
fn schedule_exit(irq: &InterruptsDisabled) {
    schedule_for(irq, Reason::Exit);
}

/// The body of every `schedule_*`.
#[inline(always)]
fn schedule_for(irq: &InterruptsDisabled, reason: Reason) {
    let cpu = this_cpu();
    cpu.wakeup.clear();
    let prev = cpu.current(irq);
    let mut run_queue = cpu.queue(irq);
    let prev_runnable = match reason {
        Reason::Block | Reason::Sleep => {
            if !prev
                .run_state
                .transition(ThreadState::Blocking, ThreadState::Blocked)
            {
                return; // woken between deciding to block and getting here
            }
            false
        }
        Reason::Exit => {
            prev.run_state
                .advance(ThreadState::Running, ThreadState::Dead);
            false
        }
        Reason::Yield | Reason::Preempt => {
            debug_assert_eq!(
                prev.state(),
                ThreadState::Running,
                "preempting a thread mid-block"
            );
            if prev.is_idle {
                // Never queued, but `Ready` between its turns like everyone else.
                prev.run_state
                    .advance(ThreadState::Running, ThreadState::Ready);
            }
            !prev.is_idle
        }
    };
    // A runnable thread's reference moves from the CPU's slot into the queue without
    // touching the count: the queue gets a second handle to the slot's count ("lent"), and
    // the slot's handle is forgotten instead of dropped once it is replaced.
    let lent = prev_runnable;
    if prev_runnable {
        let next_epoch = requeue_epoch(prev);
        // SAFETY: the count behind the slot's handle now belongs to this handle; the
        // slot's own handle is forgotten, never dropped (below, or in `switch_to`). The
        // running thread is in no run queue, and this is its one token.
        let handle = unsafe { Unqueued::new(Arc::from_raw(Arc::as_ptr(prev))) };
        requeue(cpu, &mut run_queue, handle, next_epoch, irq);
    }
    let next = pick_next(cpu, &mut run_queue, irq);
    let others_wait = !run_queue.is_empty();
    drop(run_queue);
    if others_wait {
        next_event::start_slice_timer(cpu);
    }
    if Arc::ptr_eq(&next, prev) {
        prev.run_state
            .advance(ThreadState::Ready, ThreadState::Running);
        // The lent handle came back: the slot keeps the count it always held.
        core::mem::forget(next);
        return;
    }
    next.run_state
        .advance(ThreadState::Ready, ThreadState::Running);
    if next.time_slice_left.load(Ordering::Relaxed) == 0 {
        refill_slice(&next);
    }
    switch_to(cpu, next, reason, lent, irq);
}

/// Puts the outgoing, still runnable thread back in this CPU's queue, or, if its CPU set
/// no longer includes this CPU, in the queue of a CPU it may run on.
#[inline(always)]
fn requeue(
    cpu: &Cpu,
    queue: &mut QueueGuard<'_>,
    prev: Unqueued<Thread>,
    next_epoch: bool,
    irq: &InterruptsDisabled,
) {
    let prev = match prev.may_run_on(cpu.bit) {
        true => prev,
        false => match send_away(prev, next_epoch, irq) {
            Ok(()) => return,
            Err(prev) => prev, // its next turn here tries again
        },
    };
    queue.push(prev, next_epoch);
}

/// The next thread to run here: the first in the queue that may run on this CPU. Those
/// that may not (their set changed while they waited) are sent to a CPU they may run on,
/// or, if that CPU's queue is busy, put back for later, at most once each per call.
#[inline(always)]
fn pick_next(cpu: &Cpu, queue: &mut QueueGuard<'_>, irq: &InterruptsDisabled) -> Arc<Thread> {
    let mut misplaced_left = queue.len();
    while let Some(thread) = queue.pop() {
        if thread.may_run_on(cpu.bit) {
            return thread.into_arc();
        }
        if let Err(thread) = send_away(thread, false, irq) {
            queue.push(thread, true);
        }
        misplaced_left = misplaced_left.saturating_sub(1);
        if misplaced_left == 0 {
            break;
        }
    }
    Arc::clone(&cpu.idle)
}

/// Queues `thread` (in no queue) on a CPU its set allows, kicking that CPU if it should
/// reschedule. Called with this CPU's queue locked, so it only *tries* the other queue's
/// lock: holding two queue locks never waits, so no lock order is needed. `Err` gives
/// the thread back if that lock was taken. The other CPU may pick the thread before this
/// one has switched away from it, and then waits for the switch (see the module docs).
#[cold]
fn send_away(
    thread: Unqueued<Thread>,
    next_epoch: bool,
    irq: &InterruptsDisabled,
) -> Result<(), Unqueued<Thread>> {
    let target = place_woken(&thread, this_cpu());
    let Some(mut queue) = target.try_queue(irq) else {
        return Err(thread);
    };
    let preempt = preempts(&thread, target);
    queue.push(thread, next_epoch);
    drop(queue);
    queued_on(target, false, preempt);
    Ok(())
}

/// Restricts `thread` to `cpus` (which the caller checked name an online CPU). Any thread
/// may do this to any other, at any time: the set is one word, the last store wins, and
/// the scheduler reads it afresh at every decision that places the thread (`requeue` when
/// it gives up its CPU, `pick_next` when its CPU finds it queued, `steal_for`, and the
/// placement of a wake). So a thread outside its new set moves at the first of those; to
/// make that soon, the CPU it runs or waits on is asked to reschedule if the set excludes
/// it. Nothing else may assume the set is the one it last stored (see
/// `thread::set_affinity`).
///
/// Orderings: the store comes before the kick's `SeqCst` swap, which the kicked CPU's
/// IPI handler (or, on this CPU, program order) orders before its next `schedule`: the
/// kicked CPU decides with the new set. The thread's CPU is read after the store; a CPU
/// queueing the thread at that very moment (a wake, a steal) may have placed it by the
/// old set and not yet published its `last_cpu`, and then no CPU is kicked: the thread
/// moves at its next switch there, at the latest when its time slice ends.
pub(super) fn set_affinity(thread: &Thread, cpus: CpuSet) {
    thread.store_affinity(cpus);
    let cpu = thread.cpu();
    if !cpus.contains(cpu)
        && let Some(cpu) = per_cpu::cpu(cpu)
    {
        let _irq = InterruptsDisabled::new();
        cpu.kick();
    }
}

/// Whether the calling thread's set includes the CPU it runs on: both read with
/// interrupts off, so the answer is about one CPU (no migration between the two reads).
pub(super) fn current_in_its_set() -> bool {
    let irq = InterruptsDisabled::new();
    let cpu = this_cpu();
    cpu.current(&irq).may_run_on(cpu.bit)
}

/// Makes the outgoing, still runnable thread `Ready` and says which epoch it goes back to
/// (`true`: the next one, with a fresh slice).
#[inline(always)]
fn requeue_epoch(prev: &Thread) -> bool {
    prev.run_state
        .advance(ThreadState::Running, ThreadState::Ready);
    let slice_left = prev.time_slice_left.load(Ordering::Relaxed);
    let next_epoch = policy::requeue_epoch(slice_left) == Epoch::Next;
    if next_epoch {
        refill_slice(prev);
    }
    next_epoch
}

/// Switches from the current thread to `next` (not running anywhere). `lent`: the
/// slot's reference to the outgoing thread was lent to a run queue (see `schedule`).
#[inline(always)]
fn switch_to(cpu: &Cpu, next: Arc<Thread>, reason: Reason, lent: bool, irq: &InterruptsDisabled) {
    // SAFETY: interrupts are off and this is the current CPU; no reference from
    // `Cpu::current` is used past this point (see `schedule`).
    let prev = unsafe { cpu.replace_current(next) };
    let now = tsc::read();
    cpu.charge_cpu_time(&prev, now);
    // Only a yield or a preemption leaves the idle thread (it never blocks or exits): with
    // `reason` a constant in each `schedule_*`, the others skip the test.
    if matches!(reason, Reason::Yield | Reason::Preempt) && prev.is_idle {
        super::idle::leaving(cpu, now);
    }
    let next = cpu.current(irq);
    cpu.set_running(next);
    // First: everything the CPU that switched `next` out did to it is visible after this.
    let next_rsp = take_saved_rsp(next);
    // After the wait: the CPU that switched `next` out recorded that switch before it
    // published the stack pointer, so the trace never shows it switched in here before.
    if trace::enabled() {
        record_switch(&prev, next, reason);
    }
    next.count_switch_in();
    cpu.count_switch();
    // `prev` using the FPU implies `fpu_in_use` (its switch-in allowed access; the boot
    // and idle threads, which start without a switch-in, never use it), so two tests
    // cover the three cases.
    debug_assert!(!prev.uses_fpu() || cpu.fpu_in_use());
    if cpu.fpu_in_use() || next.uses_fpu() {
        switch_fpu_state(cpu, &prev, next);
    }
    let save_rsp = prev.saved_rsp.as_ptr();
    if reason == Reason::Exit {
        // SAFETY: as above. The zombie is reaped by `finish_switch`, on this CPU, once
        // this switch has left its stack for good.
        unsafe { cpu.replace_zombie(Some(prev)) };
    } else if lent {
        core::mem::forget(prev); // its count is the run queue's now
    } else {
        drop(prev); // other Arcs (wait queue, timer, table) keep it alive
    }
    // SAFETY: `next_rsp` was saved by `switch` or made by `prepare_stack` and was taken
    // (zeroed) above, so this context is resumed exactly once; `save_rsp` points into a
    // `Thread` kept alive by the thread table until it is reaped, which happens only
    // after this switch completed; interrupts are off.
    unsafe { context::switch(save_rsp, next_rsp) };
    // Back on this thread, switched in again (by whichever CPU).
    finish_switch(irq);
}

/// The first thing a thread does after it was switched in (Linux's
/// `finish_task_switch`), wherever it resumes: after `context::switch` in `switch_to`, or
/// at the start of a new thread (`thread_entry`) or idle loop. Reaps the thread that
/// switched away from this CPU for the last time, if any: its stack is freed (the switch
/// has left it), it leaves the thread table, and only then are its joiners woken, so a
/// join returns once everything the thread held is given back.
#[inline]
pub(super) fn finish_switch(_irq: &InterruptsDisabled) {
    let cpu = this_cpu();
    // SAFETY: interrupts are off and this is the current CPU.
    if let Some(zombie) = unsafe { cpu.replace_zombie(None) } {
        reap(zombie);
    }
}

/// Gives back what an exited thread held, then wakes its joiners. Out of line: most
/// switches have no zombie to reap, and inlined, this kept `finish_switch` from being a
/// load and a test.
#[cold]
#[inline(never)]
fn reap(zombie: Arc<Thread>) {
    table::reap(&zombie);
    wake_joiners(zombie);
}

/// Marks a reaped thread exited and wakes its joiners, letting go of the reaper's
/// reference first when a join handle keeps the thread alive, so that the handle's is
/// the last (see `reaping`).
pub(super) fn wake_joiners(zombie: Arc<Thread>) {
    if !zombie.reaping.start() {
        // No handle (never had one, or dropped): nobody waits for the memory, and ours may
        // be the last reference.
        zombie.set_exited();
        return;
    }
    let zombie = Arc::into_raw(zombie);
    // SAFETY: `start` found the join handle alive, and its drop waits for `reaped` before
    // it lets go of its own reference: ours is not the last, and the thread stays alive
    // until `reaped` below.
    unsafe { Arc::decrement_strong_count(zombie) };
    // SAFETY: as above, alive until `reaped`, after which this function touches nothing.
    let thread = unsafe { &*zombie };
    thread.set_exited();
    thread.reaping.reaped();
}

/// Records a switch (out of line: only while tracing).
#[cold]
#[inline(never)]
fn record_switch(prev: &Thread, next: &Thread, reason: Reason) {
    trace::record_switch(prev.id().as_u64(), next.id().as_u64(), reason.traced());
}

/// Takes `thread`'s saved stack pointer, waiting while another CPU is still switching it
/// out (it publishes the pointer as the last step).
fn take_saved_rsp(thread: &Thread) -> u64 {
    loop {
        let rsp = thread.saved_rsp.swap(0, Ordering::Acquire);
        if rsp != 0 {
            return rsp;
        }
        spin_loop();
    }
}

/// Saves the outgoing thread's x87/SSE registers and loads the incoming one's, for
/// threads that opted in; denies FPU access to threads that did not. Out of line: a
/// switch between two threads without FPU state, on a CPU where access is denied,
/// skips it (one combined test in `switch_to`).
#[cold]
#[inline(never)]
fn switch_fpu_state(cpu: &Cpu, prev: &Thread, next: &Thread) {
    // SAFETY: this scheduler is switching both threads, with interrupts off; `prev` runs
    // here and `next` runs nowhere (its saved rsp was taken).
    let (prev_state, next_state) = unsafe { (prev.fpu_state(), next.fpu_state()) };
    if let Some(state) = prev_state {
        state.save();
    }
    let allowed = next_state.is_some();
    if cpu.fpu_allowed.swap(allowed, Ordering::Relaxed) != allowed {
        fpu::set_access(allowed);
    }
    if let Some(state) = next_state {
        state.restore();
    }
}

/// While it lives, the running thread cannot be preempted (interrupts still arrive).
/// Nests; dropping the outermost guard performs a reschedule that was asked for meanwhile.
///
/// The count belongs to the thread, not to the CPU, and changes with interrupts off:
/// nothing can switch the thread (or move it to another CPU) between finding it and
/// counting.
#[derive(Debug)]
pub struct PreemptGuard {
    _not_send: core::marker::PhantomData<*const ()>,
}

/// Disables preemption of the calling thread until the returned guard is dropped.
pub fn disable_preemption() -> PreemptGuard {
    let irq = InterruptsDisabled::new();
    let current = this_cpu().current(&irq);
    current.preempt_count.fetch_add(1, Ordering::Relaxed);
    PreemptGuard {
        _not_send: core::marker::PhantomData,
    }
}

impl Drop for PreemptGuard {
    fn drop(&mut self) {
        let interrupts_were_on = crate::arch::cpu::interrupts_enabled();
        let irq = InterruptsDisabled::new();
        let cpu = this_cpu();
        let outermost = cpu
            .current(&irq)
            .preempt_count
            .fetch_sub(1, Ordering::Relaxed)
            == 1;
        if outermost && cpu.wakeup.requested() && interrupts_were_on {
            schedule(&irq, Reason::Preempt);
        }
    }
}

/// Moves a thread waiting on a more loaded CPU into this CPU's queue (see
/// `policy::pull_source`); whether it did. Only tries the other queue's lock, so it never
/// waits and needs no lock order.
pub(super) fn pull(cpu: &Cpu, irq: &InterruptsDisabled) -> bool {
    let others = CpuSet::from_bits(per_cpu::online().bits() & !(1 << cpu.index));
    if others.is_empty() {
        return false;
    }
    let source = policy::pull_source(cpu.load(), others, |index| online_cpu(index).load());
    let Some(victim) = source else {
        return false;
    };
    let stolen = online_cpu(victim)
        .try_queue(irq)
        .and_then(|mut queue| queue.steal_for(cpu.index));
    let Some(thread) = stolen else {
        return false;
    };
    cpu.steals.fetch_add(1, Ordering::Relaxed);
    cpu.queue(irq).push(thread, false);
    true
}

/// Gives a thread queued here to a CPU with two or more threads fewer (see
/// `policy::push_target`), if there is one; called now and then by the slice timer,
/// which runs while threads wait here. Only tries the other queue's lock.
pub(super) fn balance(cpu: &Cpu, irq: &InterruptsDisabled) {
    let others = CpuSet::from_bits(per_cpu::online().bits() & !(1 << cpu.index));
    if others.is_empty() {
        return;
    }
    let target = policy::push_target(cpu.load(), others, |index| online_cpu(index).load());
    let Some(target) = target.map(online_cpu) else {
        return;
    };
    let Some(thread) = cpu.queue(irq).steal_for(target.index) else {
        return;
    };
    let Some(mut queue) = target.try_queue(irq) else {
        cpu.queue(irq).push(thread, true);
        return;
    };
    let preempt = preempts(&thread, target);
    queue.push(thread, false);
    drop(queue);
    queued_on(target, false, preempt);
}
