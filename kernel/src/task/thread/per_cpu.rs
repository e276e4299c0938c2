//! Per-CPU scheduler state, reached through the GS base (`arch::cpu_local`).
//!
//! Everything the scheduler needs on one CPU lives here: the running thread, the idle
//! thread, the run queue, the sleep timers, the preemption counter. There is no global
//! "current thread" or global run queue, so more CPUs means more of these, nothing else.
#![allow(unsafe_code)]

use alloc::{boxed::Box, sync::Arc};
use core::{
    cell::UnsafeCell,
    sync::atomic::{AtomicBool, AtomicU64, Ordering},
};

use super::{Thread, run_queue::RunQueue, sleep::Expiry, timer_wheel::TimerWheel};
use crate::arch::{IrqSpinLock, cpu::InterruptsDisabled, cpu_local};

/// The length of a timer-wheel slot until the tick rate is known: 1 ms.
const DEFAULT_TIMER_PERIOD_NS: u64 = 1_000_000;

/// One CPU's scheduler state.
pub(super) struct Cpu {
    pub(super) id: u32,
    /// The thread on this CPU. Only this CPU reads or replaces it, with interrupts off.
    current: UnsafeCell<Arc<Thread>>,
    pub(super) idle: Arc<Thread>,
    pub(super) run_queue: IrqSpinLock<RunQueue<Thread>>,
    /// Sleeping threads and async timers, by deadline.
    pub(super) timers: IrqSpinLock<TimerWheel<Expiry>>,
    /// Set when the running thread should give way at the next opportunity.
    pub(super) need_resched: AtomicBool,
    /// A dead thread switched away from for the last time, whose stack the next
    /// `schedule` on this CPU frees. Only this CPU touches it, with interrupts off.
    zombie: UnsafeCell<Option<Arc<Thread>>>,
    /// Whether x87/SSE access is currently allowed (CR0.TS clear) on this CPU.
    pub(super) fpu_allowed: AtomicBool,
    pub(super) ticks: AtomicU64,
    pub(super) switches: AtomicU64,
    /// Threads made runnable by a wake-up.
    pub(super) wakes: AtomicU64,
}

// SAFETY: the UnsafeCell fields are only accessed by the CPU that owns this structure,
// with interrupts disabled (see `current`, `replace_current`, `zombie`).
unsafe impl Sync for Cpu {}

impl Cpu {
    /// Creates the state of CPU `id` (running `boot` now) and installs it in GS.
    pub(super) fn install(id: u32, boot: Arc<Thread>, idle: Arc<Thread>) -> &'static Cpu {
        let cpu: &'static Cpu = Box::leak(Box::new(Cpu {
            id,
            current: UnsafeCell::new(boot),
            idle,
            run_queue: IrqSpinLock::new(RunQueue::new()),
            timers: IrqSpinLock::new(TimerWheel::new(DEFAULT_TIMER_PERIOD_NS)),
            need_resched: AtomicBool::new(false),
            zombie: UnsafeCell::new(None),
            fpu_allowed: AtomicBool::new(false),
            ticks: AtomicU64::new(0),
            switches: AtomicU64::new(0),
            wakes: AtomicU64::new(0),
        }));
        cpu_local::install(core::ptr::from_ref(cpu).cast());
        cpu
    }

    /// The thread running on this CPU. The borrow ends with the interrupt guard: with
    /// interrupts off nothing can switch threads under it.
    pub(super) fn current<'a>(&'a self, _proof: &'a InterruptsDisabled) -> &'a Arc<Thread> {
        // SAFETY: `current` is only replaced by `replace_current`, on this CPU, by the
        // scheduler, which does not hold this reference across the replacement.
        unsafe { &*self.current.get() }
    }

    /// Makes `next` the running thread and returns the previous one.
    ///
    /// # Safety
    /// Interrupts must be disabled and this must be the current CPU.
    pub(super) unsafe fn replace_current(&self, next: Arc<Thread>) -> Arc<Thread> {
        // SAFETY: exclusive per the caller's obligations.
        unsafe { core::mem::replace(&mut *self.current.get(), next) }
    }

    /// Swaps in a new zombie, returning the previous one.
    ///
    /// # Safety
    /// Interrupts must be disabled and this must be the current CPU.
    pub(super) unsafe fn replace_zombie(&self, zombie: Option<Arc<Thread>>) -> Option<Arc<Thread>> {
        // SAFETY: exclusive per the caller's obligations.
        unsafe { core::mem::replace(&mut *self.zombie.get(), zombie) }
    }

    /// Whether the running thread may be preempted (it has not disabled preemption).
    pub(super) fn preemptible(&self, irq: &InterruptsDisabled) -> bool {
        self.current(irq).preempt_count.load(Ordering::Relaxed) == 0
    }
}

impl core::fmt::Debug for Cpu {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "Cpu({})", self.id)
    }
}

/// This CPU's scheduler state.
///
/// # Panics
/// If called before the scheduler was set up on this CPU.
pub(super) fn this_cpu() -> &'static Cpu {
    try_this_cpu().expect("the scheduler is not running on this CPU yet")
}

/// This CPU's scheduler state, if the scheduler was set up on it.
pub(super) fn try_this_cpu() -> Option<&'static Cpu> {
    // SAFETY: a non-null per-CPU pointer was stored by `Cpu::install` and points at a
    // leaked, never-freed `Cpu`.
    unsafe { cpu_local::get().cast::<Cpu>().as_ref() }
}
