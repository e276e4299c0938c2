//! Kernel threads: creation, scheduling, blocking, sleeping.
//!
//! The API follows `std::thread` and Linux kthreads:
//!
//! | call | does |
//! |---|---|
//! | [`spawn`], [`Builder`] | create a thread (name, stack size, priority, FPU opt-in) |
//! | [`JoinHandle::join`] | wait for it and take its result (consumes the handle) |
//! | [`yield_now`], [`sleep`], [`sleep_until`] | give up the CPU, for a while |
//! | [`park`], [`Thread::unpark`] | block until unparked (an early unpark is kept) |
//! | [`Thread::request_stop`], [`should_stop`] | cooperative stop, like `kthread_stop` |
//! | [`exit`] | end the calling thread now |
//! | [`current`], [`threads`] | who is running; a listing of every thread |
//! | [`WaitQueue`] | the blocking mechanism everything else is built on |
//! | [`disable_preemption`] | a nestable no-preemption section |
//!
//! Modules: `thread` (the control block and its states), `spawn` (creation, join, exit),
//! `scheduler` (switching, the tick, wake-ups), `run_queue` and `timer_queue` (portable
//! data structures), `cpu` (per-CPU state), `table` (all threads), `wait_queue`.

use alloc::sync::Arc;
use core::{fmt, time::Duration};

use crate::{
    arch::{self, cpu::InterruptsDisabled, timer},
    time::{self, Instant},
};

mod cpu;
pub mod run_queue;
mod scheduler;
mod spawn;
mod table;
mod thread;
pub mod timer_queue;
mod wait_queue;

pub use scheduler::{PreemptGuard, SchedulerConfig, disable_preemption, yield_now};
pub use spawn::{Builder, DEFAULT_STACK_SIZE, JoinError, JoinHandle, SpawnError, exit, spawn};
pub use table::{thread_count, threads};
pub use thread::{Priority, Thread, ThreadId, ThreadInfo, ThreadState};
pub use wait_queue::{AsyncWaiter, WaitQueue};

use self::{
    cpu::{Cpu, Expiry, this_cpu},
    thread::ThreadParams,
};

/// The calling thread.
pub fn current() -> Arc<Thread> {
    let irq = InterruptsDisabled::new();
    Arc::clone(this_cpu().current(&irq))
}

/// The calling thread's id (cheaper than `current().id()`: no reference count traffic).
pub fn current_id() -> ThreadId {
    let irq = InterruptsDisabled::new();
    this_cpu().current(&irq).id()
}

/// Blocks the calling thread for at least `duration`.
pub fn sleep(duration: Duration) {
    sleep_until(time::now() + duration);
}

/// Blocks the calling thread until the monotonic clock reaches `deadline`. Never returns
/// early; the tick that first sees the deadline passed wakes it.
pub fn sleep_until(deadline: Instant) {
    while time::now() < deadline {
        let irq = InterruptsDisabled::new();
        let cpu = this_cpu();
        let me = Arc::clone(cpu.current(&irq));
        me.set_state(ThreadState::Blocking);
        let key = cpu
            .timers
            .lock()
            .insert(deadline.as_nanos(), Expiry::Thread(Arc::clone(&me)));
        scheduler::block_current(&irq);
        cpu.timers.lock().cancel(key);
    }
}

/// A waker registered to fire at a deadline; see [`register_timer`].
#[derive(Debug)]
pub struct TimerRegistration {
    cpu: &'static Cpu,
    key: timer_queue::TimerKey,
}

impl core::fmt::Debug for Cpu {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "Cpu({})", self.id)
    }
}

/// Calls `waker.wake()` from the first timer tick at or after `deadline`, unless
/// cancelled first. The same timer queue that wakes sleeping threads.
pub fn register_timer(deadline: Instant, waker: core::task::Waker) -> TimerRegistration {
    let _irq = InterruptsDisabled::new();
    let cpu = this_cpu();
    let key = cpu
        .timers
        .lock()
        .insert(deadline.as_nanos(), Expiry::Waker(waker));
    TimerRegistration { cpu, key }
}

/// Withdraws a timer if it has not fired yet.
pub fn cancel_timer(registration: TimerRegistration) {
    let removed = registration.cpu.timers.lock().cancel(registration.key);
    drop(removed); // after the lock: dropping a waker may run arbitrary code
}

/// Blocks until [`Thread::unpark`] is called for this thread, or returns at once if it
/// was called since the last `park` (the "token" is kept, not lost).
///
/// Like `std::thread::park`, it may also return spuriously (for instance when a wake-up
/// meant for an earlier wait arrives late), so callers park in a loop that checks their
/// own condition.
pub fn park() {
    let irq = InterruptsDisabled::new();
    let me = Arc::clone(this_cpu().current(&irq));
    if me.take_park_token() {
        return;
    }
    me.set_state(ThreadState::Blocking);
    if me.take_park_token() {
        me.set_state(ThreadState::Running);
        return;
    }
    scheduler::block_current(&irq);
    me.take_park_token();
}

/// Whether someone asked the calling thread to stop ([`Thread::request_stop`]).
pub fn should_stop() -> bool {
    current().stop_requested()
}

/// Timer ticks on this CPU since the scheduler started.
pub fn ticks() -> u64 {
    this_cpu().ticks.load(core::sync::atomic::Ordering::Relaxed)
}

/// Blocked threads made runnable by a wake-up on this CPU since boot.
pub fn wake_count() -> u64 {
    this_cpu().wakes.load(core::sync::atomic::Ordering::Relaxed)
}

/// The tick rate the scheduler runs at (0 before it started).
pub fn tick_hz() -> u32 {
    scheduler::tick_hz()
}

/// Thread switches on this CPU since boot.
pub fn switch_count() -> u64 {
    this_cpu()
        .switches
        .load(core::sync::atomic::Ordering::Relaxed)
}

/// Sets up scheduling on the boot CPU: the running code becomes thread `main`, an idle
/// thread is created, and hooks go into the trap path.
pub(crate) fn init(config: &SchedulerConfig) {
    let boot = Arc::new(Thread::new(ThreadParams {
        name: Some("main".into()),
        priority: Priority::NORMAL,
        stack: None,
        fpu: false,
        is_idle: false,
        state: ThreadState::Running,
    }));
    table::insert(&boot).expect("no memory for the thread table at boot");
    boot.account_switch_in(arch::tsc::read()); // it is running from now on
    Cpu::install(0, boot, scheduler::new_idle_thread(0));
    scheduler::set_time_slice(config.time_slice_ticks);
    scheduler::reserve_run_queue(1).expect("no memory for the run queue at boot");
    arch::set_fault_reporter(report_fault_context);
    arch::interrupts::set_exit_hook(scheduler::preempt_on_interrupt_exit);
}

/// Starts the tick that drives preemption and sleeping.
pub(crate) fn start_tick(
    calibration: &timer::Calibration,
    config: &SchedulerConfig,
) -> timer::TickSource {
    scheduler::set_tick_hz(config.tick_hz);
    timer::start(calibration, config.tick_hz, scheduler::on_tick)
}

/// Adds the running thread to CPU fault reports, and recognises a stack overflow.
fn report_fault_context(out: &mut dyn fmt::Write, fault_address: u64) -> fmt::Result {
    if !cpu::is_up() {
        return Ok(());
    }
    let irq = InterruptsDisabled::new();
    let cpu = this_cpu();
    let thread = cpu.current(&irq);
    writeln!(
        out,
        "  thread: {} '{}' on CPU {}",
        thread.id(),
        thread.name(),
        cpu.id
    )?;
    if thread.stack_guard_contains(x86_64::VirtAddr::new_truncate(fault_address)) {
        writeln!(
            out,
            "  stack overflow in thread '{}': the faulting address is in the guard page below its stack",
            thread.name()
        )?;
    }
    Ok(())
}
