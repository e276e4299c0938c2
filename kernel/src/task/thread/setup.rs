//! Bringing the scheduler up, on the boot CPU and then on each other CPU, and what it
//! lends `arch` (the preemption hook, the reschedule IPI handler, the fault reporter).

use alloc::sync::Arc;
use core::fmt;

use spin::Once;

use super::{
    CpuSet, Priority, Thread, ThreadState,
    control_block::ThreadParams,
    idle, next_event,
    per_cpu::{Cpu, this_cpu, try_this_cpu},
    policy::SchedulerConfig,
    scheduler, spawn, table,
};
use crate::{
    arch::{self, cpu::InterruptsDisabled, cpu_local, interrupts, timer, vectors},
    mm::{self, stack::KernelStack},
    trace,
};

/// Stack size of the per-CPU idle threads.
const IDLE_STACK_SIZE: usize = 16 * 1024;

/// Sets up scheduling on the boot CPU: the running code becomes thread `main`, an idle
/// thread is created, and hooks go into the trap path.
pub(crate) fn init(config: &SchedulerConfig) {
    let boot = Thread::new(ThreadParams {
        name: Some("main".into()),
        priority: Priority::NORMAL,
        stack: None,
        fpu: false,
        is_idle: false,
        affinity: CpuSet::ALL,
        state: ThreadState::Running,
        result_slot: None,
    })
    .expect("no memory for the boot thread");
    table::insert(&boot);
    scheduler::set_time_slice(config.time_slice_ticks);
    scheduler::give_full_slice(&boot);
    Cpu::install(0, boot, new_idle_thread(0));
    arch::set_fault_reporter(report_fault_context);
    interrupts::set_handler(vectors::RESCHEDULE, scheduler::on_reschedule_ipi);
    interrupts::set_exit_hook(scheduler::preempt_on_interrupt_exit);
}

/// Makes the calling CPU (not the boot CPU, index `index`) schedule threads: the code
/// running now on `stack` becomes its idle thread, its tick starts, and it goes online.
/// Runs with interrupts off, on a CPU whose `arch` state is set up (`arch::smp`).
///
/// # Panics
/// If there is no memory for the idle thread, or the tick cannot run on this CPU.
pub(crate) fn run_ap(index: u32, stack: KernelStack) -> ! {
    let idle = Thread::new(ThreadParams {
        name: Some(alloc::format!("idle/{index}")),
        priority: Priority::LOWEST,
        stack: Some(stack),
        fpu: false,
        is_idle: true,
        affinity: CpuSet::single(index),
        state: ThreadState::Running,
        result_slot: None,
    })
    .expect("no memory for an idle thread");
    let cpu = Cpu::install(index, Arc::clone(&idle), idle);
    let period_ns = TICK_PERIOD_NS
        .get()
        .expect("the boot CPU's timer runs first");
    cpu.timers.lock().set_period(*period_ns);
    assert!(timer::start_ap(), "no APIC timer for CPU {index}");
    next_event::start_on_this_cpu(cpu);
    trace::follow_global_switch();
    mm::tlb::catch_up();
    cpu_local::mark_online();
    idle::idle_loop()
}

/// The idle thread of CPU `cpu`: never queued, run when nothing else is ready.
fn new_idle_thread(cpu: u32) -> Arc<Thread> {
    let params = ThreadParams {
        name: Some(alloc::format!("idle/{cpu}")),
        priority: Priority::LOWEST,
        stack: None,
        fpu: false,
        is_idle: true,
        affinity: CpuSet::single(cpu),
        state: ThreadState::Ready,
        result_slot: None,
    };
    spawn::create(params, IDLE_STACK_SIZE, idle::idle_entry, |top, _| {
        Ok((top, 0))
    })
    .expect("no memory for an idle thread")
}

/// Starts the timer interrupt that drives preemption and sleeping (see `next_event`).
pub(crate) fn start_tick(
    calibration: &timer::Calibration,
    config: &SchedulerConfig,
) -> timer::TickSource {
    scheduler::set_tick_hz(config.tick_hz);
    let period_ns = 1_000_000_000 / u64::from(config.tick_hz.max(1));
    let cpu = this_cpu();
    cpu.timers.lock().set_period(period_ns);
    TICK_PERIOD_NS.call_once(|| period_ns);
    idle::set_idle_poll(config.idle_poll);
    let source = timer::start(calibration, config.tick_hz, next_event::on_timer);
    next_event::configure(source.is_one_shot(), period_ns);
    next_event::start_on_this_cpu(cpu);
    source
}

/// The tick period (the slice unit and timer-wheel slot), for the other CPUs.
static TICK_PERIOD_NS: Once<u64> = Once::new();

/// What runs on this CPU, for failure reports: `CPU 2, thread 14 'worker'`, and when the
/// thread is polling an async task, a second line: `  polling task 7 'reader' of
/// executor 'console'`. Reads only this CPU's own state and the running thread's, takes
/// no lock and allocates nothing.
#[derive(Debug, Clone, Copy)]
pub(crate) struct RunningContext;

impl fmt::Display for RunningContext {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let Some(cpu) = try_this_cpu() else {
            return write!(f, "CPU {}, before the scheduler", cpu_local::cpu_index());
        };
        let irq = InterruptsDisabled::new();
        let thread = cpu.current(&irq);
        write!(
            f,
            "CPU {}, thread {} '{}'",
            cpu.index,
            thread.id(),
            thread.label()
        )?;
        match thread.if_current() {
            Some(on_thread) => on_thread.with_poll_note(|note| match note {
                Some(note) => write!(f, "\n  polling {note}"),
                None => Ok(()),
            }),
            None => Ok(()),
        }
    }
}

/// Adds the running thread to CPU fault reports, and recognises a stack overflow.
fn report_fault_context(out: &mut dyn fmt::Write, fault_address: u64) -> fmt::Result {
    writeln!(out, "  on {RunningContext}")?;
    let Some(cpu) = try_this_cpu() else {
        return Ok(());
    };
    let irq = InterruptsDisabled::new();
    let thread = cpu.current(&irq);
    if thread.stack_guard_contains(x86_64::VirtAddr::new_truncate(fault_address)) {
        writeln!(
            out,
            "  stack overflow in thread '{}': the faulting address is in the guard page below its stack",
            thread.label()
        )?;
    }
    Ok(())
}
