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
//! Modules: `thread` (the control block), `run_state` (its state machine and park token),
//! `spawn` (creation, join, exit), `scheduler` (switching, the tick, wake-ups),
//! `run_queue` and `timer_wheel` (portable data structures), `sleep` (sleeping and
//! timers), `cpu` (per-CPU state), `table` (all threads), `wait_queue`.

use alloc::sync::Arc;
use core::fmt;

use crate::arch::{self, cpu::InterruptsDisabled, timer};

mod cpu;
pub mod run_queue;
mod run_state;
mod scheduler;
mod sleep;
mod spawn;
mod table;
mod thread;
pub mod timer_wheel;
mod wait_queue;

pub use scheduler::{PreemptGuard, SchedulerConfig, disable_preemption, yield_now};
pub use sleep::{Timer, sleep, sleep_until};
pub use spawn::{Builder, DEFAULT_STACK_SIZE, JoinError, JoinHandle, SpawnError, exit, spawn};
pub use table::{thread_count, threads};
pub use thread::{Priority, Thread, ThreadId, ThreadInfo, ThreadLabel, ThreadState};
pub use wait_queue::{AsyncWaiter, WaitQueue};

use self::{
    cpu::{Cpu, this_cpu, try_this_cpu},
    run_state::Park,
    thread::ThreadParams,
};

/// Stack size of the per-CPU idle threads.
const IDLE_STACK_SIZE: usize = 16 * 1024;

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

/// Blocks until [`Thread::unpark`] is called for this thread, or returns at once if it
/// was called since the last `park` (the "token" is kept, not lost).
///
/// Like `std::thread::park`, it may also return spuriously (for instance when a wake-up
/// meant for an earlier wait arrives late), so callers park in a loop that checks their
/// own condition.
pub fn park() {
    let irq = InterruptsDisabled::new();
    if this_cpu().current(&irq).run_state.begin_park() == Park::TokenTaken {
        return;
    }
    scheduler::block_current(&irq);
    this_cpu().current(&irq).run_state.take_token();
}

/// Whether someone asked the calling thread to stop ([`Thread::request_stop`]).
pub fn should_stop() -> bool {
    let irq = InterruptsDisabled::new();
    this_cpu().current(&irq).stop_requested()
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
    let boot = Thread::new(ThreadParams {
        name: Some("main".into()),
        priority: Priority::NORMAL,
        stack: None,
        fpu: false,
        is_idle: false,
        state: ThreadState::Running,
        result_slot: None,
    })
    .expect("no memory for the boot thread");
    table::insert(&boot);
    scheduler::set_time_slice(config.time_slice_ticks);
    scheduler::give_full_slice(&boot);
    boot.account_switch_in(arch::tsc::read()); // it is running from now on
    Cpu::install(0, boot, new_idle_thread(0));
    arch::set_fault_reporter(report_fault_context);
    arch::interrupts::set_exit_hook(scheduler::preempt_on_interrupt_exit);
}

/// The idle thread of CPU `cpu`: never queued, run when nothing else is ready.
fn new_idle_thread(cpu: u32) -> Arc<Thread> {
    let params = ThreadParams {
        name: Some(alloc::format!("idle/{cpu}")),
        priority: Priority::LOWEST,
        stack: None,
        fpu: false,
        is_idle: true,
        state: ThreadState::Ready,
        result_slot: None,
    };
    spawn::create(params, IDLE_STACK_SIZE, scheduler::idle_entry, |top, _| {
        Ok((top, 0))
    })
    .expect("no memory for an idle thread")
}

/// Starts the tick that drives preemption and sleeping.
pub(crate) fn start_tick(
    calibration: &timer::Calibration,
    config: &SchedulerConfig,
) -> timer::TickSource {
    scheduler::set_tick_hz(config.tick_hz);
    let period_ns = 1_000_000_000 / u64::from(config.tick_hz.max(1));
    this_cpu().timers.lock().set_period(period_ns);
    timer::start(calibration, config.tick_hz, scheduler::on_tick)
}

/// Adds the running thread to CPU fault reports, and recognises a stack overflow.
fn report_fault_context(out: &mut dyn fmt::Write, fault_address: u64) -> fmt::Result {
    let Some(cpu) = try_this_cpu() else {
        return Ok(());
    };
    let irq = InterruptsDisabled::new();
    let thread = cpu.current(&irq);
    writeln!(
        out,
        "  thread: {} '{}' on CPU {}",
        thread.id(),
        thread.label(),
        cpu.id
    )?;
    if thread.stack_guard_contains(x86_64::VirtAddr::new_truncate(fault_address)) {
        writeln!(
            out,
            "  stack overflow in thread '{}': the faulting address is in the guard page below its stack",
            thread.label()
        )?;
    }
    Ok(())
}
