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
//! scheduler swaps it back to 0 before switching in; on SMP a CPU that finds 0 waits for
//! the other CPU to finish switching the thread out.
#![allow(unsafe_code)]

use alloc::sync::Arc;
use core::{
    hint::spin_loop,
    sync::atomic::{AtomicU32, Ordering},
};

use super::{
    Priority, Thread, ThreadState,
    cpu::{Cpu, Expiry, this_cpu},
    run_queue::LEVELS,
    thread::ThreadParams,
};
use crate::{
    arch::{context, cpu::InterruptsDisabled, fpu, tsc},
    mm::stack::KernelStack,
};

/// Stack size of the per-CPU idle threads.
const IDLE_STACK_SIZE: usize = 16 * 1024;

/// Tick rate and time slice.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SchedulerConfig {
    /// Timer interrupts per second.
    pub tick_hz: u32,
    /// Ticks a normal-priority thread runs before others get a turn. A thread at
    /// priority `p` gets `time_slice_ticks * (p + 1) / 4` ticks (at least one).
    pub time_slice_ticks: u32,
}

impl Default for SchedulerConfig {
    fn default() -> Self {
        Self {
            tick_hz: 1000,
            time_slice_ticks: 4,
        }
    }
}

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

fn time_slice_for(thread: &Thread) -> u32 {
    let base = TIME_SLICE_TICKS.load(Ordering::Relaxed);
    (base * (thread.priority().level() as u32 + 1) / 4).max(1)
}

/// Why the running thread is giving up the CPU.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Reason {
    /// It asked to let others run: it goes to the next epoch.
    Yield,
    /// An interrupt decided another thread should run.
    Preempt,
    /// It set itself `Blocking` and waits for a wake-up.
    Block,
    /// It finished.
    Exit,
}

/// Lets other ready threads run; returns when this thread is picked again.
pub fn yield_now() {
    let irq = InterruptsDisabled::new();
    schedule(&irq, Reason::Yield);
}

/// Blocks the running thread, which has set itself `Blocking` and registered where a
/// waker will find it. Returns once woken, or at once if it was woken already.
pub(super) fn block_current(irq: &InterruptsDisabled) {
    schedule(irq, Reason::Block);
}

/// Ends the running thread. Its stack is freed by the next `schedule` on this CPU.
pub(super) fn exit_current(irq: &InterruptsDisabled) -> ! {
    schedule(irq, Reason::Exit);
    unreachable!("a dead thread was scheduled again");
}

/// Makes `thread` runnable if it is blocked (or about to block). Returns whether it was
/// woken. Callable from any context, interrupt handlers included.
pub(crate) fn wake(thread: &Thread) -> bool {
    loop {
        match thread.state() {
            ThreadState::Blocking => {
                if thread.transition(ThreadState::Blocking, ThreadState::Running) {
                    return true;
                }
            }
            ThreadState::Blocked => {
                let handle = table_handle(thread);
                let irq = InterruptsDisabled::new();
                let cpu = this_cpu();
                let mut run_queue = cpu.run_queue.lock();
                if thread.transition(ThreadState::Blocked, ThreadState::Ready) {
                    cpu.wakes.fetch_add(1, Ordering::Relaxed);
                    run_queue.push_active(thread.priority().level(), handle);
                    let current = cpu.current(&irq);
                    if current.is_idle || thread.priority() >= current.priority() {
                        cpu.need_resched.store(true, Ordering::Relaxed);
                    }
                    return true;
                }
            }
            _ => return false,
        }
    }
}

/// The `Arc` of a live thread, from the thread table (a blocked thread is always there).
fn table_handle(thread: &Thread) -> Arc<Thread> {
    super::table::get(thread).expect("waking a thread that is not in the thread table")
}

/// Makes sure this CPU's run queue can take `threads` threads without allocating.
pub(super) fn reserve_run_queue(threads: usize) -> Result<(), super::SpawnError> {
    let _irq = InterruptsDisabled::new();
    this_cpu()
        .run_queue
        .lock()
        .try_reserve(threads)
        .map_err(|_| super::SpawnError::OutOfMemory)
}

/// Queues a newly created thread.
pub(super) fn enqueue_new(thread: Arc<Thread>) {
    let _irq = InterruptsDisabled::new();
    thread
        .time_slice_left
        .store(time_slice_for(&thread), Ordering::Relaxed);
    let cpu = this_cpu();
    thread.set_state(ThreadState::Ready);
    cpu.run_queue
        .lock()
        .push_active(thread.priority().level(), thread);
}

/// Called by `arch::interrupts` after every hardware interrupt handler.
pub(super) fn preempt_on_interrupt_exit() {
    let cpu = this_cpu();
    if cpu.need_resched.load(Ordering::Relaxed) && cpu.preemptible() {
        // Interrupts are already off in a handler; the guard just proves it.
        let irq = InterruptsDisabled::new();
        schedule(&irq, Reason::Preempt);
    }
}

/// The tick: wakes due sleepers and timers and charges the running thread's time slice.
pub(super) fn on_tick(_frame: &mut crate::arch::TrapFrame) {
    let irq = InterruptsDisabled::new();
    let cpu = this_cpu();
    cpu.ticks.fetch_add(1, Ordering::Relaxed);
    let now = crate::time::now().as_nanos();
    loop {
        let due = cpu.timers.lock().pop_due(now);
        match due {
            Some(Expiry::Thread(thread)) => _ = wake(&thread),
            Some(Expiry::Waker(waker)) => waker.wake(),
            None => break,
        }
    }
    let current = cpu.current(&irq);
    if !current.is_idle && current.time_slice_left.fetch_sub(1, Ordering::Relaxed) <= 1 {
        cpu.need_resched.store(true, Ordering::Relaxed);
    }
}

/// Picks the next thread and switches to it. See the module docs.
///
/// Callers must not hold a reference from `Cpu::current` across this call.
pub(super) fn schedule(irq: &InterruptsDisabled, reason: Reason) {
    let cpu = this_cpu();
    debug_assert!(
        reason == Reason::Preempt || cpu.preemptible(),
        "blocking with preemption disabled"
    );
    cpu.need_resched.store(false, Ordering::Relaxed);
    // SAFETY: interrupts are off and this is the current CPU. The zombie is a thread that
    // switched away for the last time, so its stack is free to go.
    if let Some(zombie) = unsafe { cpu.replace_zombie(None) } {
        super::table::reap(&zombie);
    }
    let prev = Arc::clone(cpu.current(irq));
    let mut run_queue = cpu.run_queue.lock();
    let prev_runnable = match reason {
        Reason::Block => {
            if !prev.transition(ThreadState::Blocking, ThreadState::Blocked) {
                return; // woken between deciding to block and getting here
            }
            false
        }
        Reason::Exit => {
            prev.set_state(ThreadState::Dead);
            false
        }
        Reason::Yield | Reason::Preempt => {
            debug_assert_eq!(
                prev.state(),
                ThreadState::Running,
                "preempting a thread mid-block"
            );
            !prev.is_idle
        }
    };
    if prev_runnable {
        requeue(&mut run_queue, &prev, reason);
    }
    let next = run_queue.pop().unwrap_or_else(|| Arc::clone(&cpu.idle));
    drop(run_queue);
    if Arc::ptr_eq(&next, &prev) {
        prev.set_state(ThreadState::Running);
        return;
    }
    next.set_state(ThreadState::Running);
    if next.time_slice_left.load(Ordering::Relaxed) == 0 {
        next.time_slice_left
            .store(time_slice_for(&next), Ordering::Relaxed);
    }
    switch_to(cpu, prev, next, reason, irq);
}

/// Puts the outgoing, still runnable thread back in the run queue.
fn requeue(
    run_queue: &mut super::run_queue::RunQueue<Arc<Thread>>,
    prev: &Arc<Thread>,
    reason: Reason,
) {
    prev.set_state(ThreadState::Ready);
    let level = prev.priority().level().min(LEVELS - 1);
    let slice_left = prev.time_slice_left.load(Ordering::Relaxed);
    if reason == Reason::Yield || slice_left == 0 {
        prev.time_slice_left
            .store(time_slice_for(prev), Ordering::Relaxed);
        run_queue.push_expired(level, Arc::clone(prev));
    } else {
        run_queue.push_active(level, Arc::clone(prev));
    }
}

/// Switches from `prev` (the current thread) to `next` (not running anywhere).
fn switch_to(
    cpu: &Cpu,
    prev: Arc<Thread>,
    next: Arc<Thread>,
    reason: Reason,
    _irq: &InterruptsDisabled,
) {
    let now = tsc::read();
    prev.account_switch_out(now);
    next.account_switch_in(now);
    cpu.switches.fetch_add(1, Ordering::Relaxed);
    let next_rsp = take_saved_rsp(&next);
    switch_fpu_state(cpu, &prev, &next);
    let save_rsp = prev.saved_rsp.as_ptr();
    // SAFETY: interrupts are off and this is the current CPU.
    let previous = unsafe { cpu.replace_current(next) };
    if reason == Reason::Exit {
        // SAFETY: as above. The zombie's stack is freed by the next `schedule` here,
        // once this switch has left it for good.
        unsafe { cpu.replace_zombie(Some(previous)) };
    } else {
        drop(previous); // other Arcs (run queue, wait queue, table) keep it alive
    }
    drop(prev);
    // SAFETY: `next_rsp` was saved by `switch` or made by `prepare_stack` and was taken
    // (zeroed) above, so this context is resumed exactly once; `save_rsp` points into a
    // `Thread` kept alive by the thread table until it is reaped, which happens only
    // after this switch completed; interrupts are off.
    unsafe { context::switch(save_rsp, next_rsp) };
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
/// threads that opted in; denies FPU access to threads that did not.
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
#[derive(Debug)]
pub struct PreemptGuard {
    _not_send: core::marker::PhantomData<*const ()>,
}

/// Disables preemption on this CPU until the returned guard is dropped.
pub fn disable_preemption() -> PreemptGuard {
    this_cpu().preempt_count.fetch_add(1, Ordering::Relaxed);
    PreemptGuard {
        _not_send: core::marker::PhantomData,
    }
}

impl Drop for PreemptGuard {
    fn drop(&mut self) {
        let cpu = this_cpu();
        if cpu.preempt_count.fetch_sub(1, Ordering::Relaxed) == 1
            && cpu.need_resched.load(Ordering::Relaxed)
            && crate::arch::cpu::interrupts_enabled()
        {
            yield_now();
        }
    }
}

pub(super) fn new_idle_thread(cpu: u32) -> Arc<Thread> {
    let stack = KernelStack::new(IDLE_STACK_SIZE).expect("no memory for an idle thread stack");
    let top = stack.top();
    let idle = Arc::new(Thread::new(ThreadParams {
        name: Some(alloc::format!("idle/{cpu}")),
        priority: Priority::LOWEST,
        stack: Some(stack),
        fpu: false,
        is_idle: true,
        state: ThreadState::Ready,
    }));
    // SAFETY: the stack is fresh, mapped, owned by `idle`, and no context runs on it.
    let rsp = unsafe { context::prepare_stack(top, idle_entry, 0) };
    idle.saved_rsp
        .store(rsp, core::sync::atomic::Ordering::Release);
    idle
}

/// The idle loop: with interrupts off, check for work; if there is none, `sti; hlt` as
/// one unit, so a wake-up arriving between the check and the halt still ends the halt.
extern "sysv64" fn idle_entry(_: u64) -> ! {
    loop {
        let irq = InterruptsDisabled::new();
        if this_cpu().run_queue.lock().is_empty() {
            crate::arch::cpu::enable_and_halt();
        } else {
            schedule(&irq, Reason::Yield);
        }
    }
}
