//! Per-CPU scheduler state: this CPU's through the GS base (`arch::cpu_local`), any
//! CPU's through the registry.
//!
//! Everything the scheduler needs on one CPU lives here: the running thread, the idle
//! thread, the run queue, the sleep timers. There is no global "current thread" or global
//! run queue, so more CPUs means more of these, nothing else.
//!
//! What other CPUs may touch: the run queue (under its lock: wakes and new threads are
//! queued on the CPU placement picks, idle CPUs steal), the reschedule request, the
//! idle loop's polling flag and the reschedule-IPI flag (a remote wake asks the CPU to
//! look at its queue: `wakeup`), whether its slice timer runs (`slice_timer`, read by
//! remote wakers), and the figures placement reads without locks (`running`,
//! `queued`). The running thread, the zombie, the FPU flag and what its timer is armed
//! for are this CPU's alone, with interrupts off.
#![allow(unsafe_code)]

use alloc::{boxed::Box, sync::Arc};
use core::{
    cell::UnsafeCell,
    ptr,
    sync::atomic::{AtomicBool, AtomicPtr, AtomicU8, AtomicU32, AtomicU64, Ordering},
};

use super::{
    Thread,
    cpu_set::CpuSet,
    policy::CpuLoad,
    run_queue::{RunQueue, Unqueued},
    sleep::Expiry,
    timer_wheel::TimerWheel,
    wakeup::Wakeup,
};
use crate::arch::{
    IrqSpinLock, IrqsOffGuard, apic,
    cpu::InterruptsDisabled,
    cpu_local::{self, MAX_CPUS},
    lock_irqs_off, try_lock_irqs_off, vectors,
};

/// The length of a timer-wheel slot until the tick rate is known: 1 ms.
const DEFAULT_TIMER_PERIOD_NS: u64 = 1_000_000;

/// `running` while the CPU runs its idle thread.
const IDLE: u8 = u8::MAX;

/// One CPU's scheduler state.
pub(super) struct Cpu {
    pub(super) index: u32,
    /// `1 << index`: this CPU in a `CpuSet`'s bits.
    pub(super) bit: u64,
    apic_id: u32,
    /// The thread on this CPU. Only this CPU reads or replaces it, with interrupts off.
    current: UnsafeCell<Arc<Thread>>,
    pub(super) idle: Arc<Thread>,
    /// Use [`Cpu::queue`], which keeps `queued` and the threads' `last_cpu` right.
    run_queue: IrqSpinLock<RunQueue<Thread>>,
    /// The priority level of the running thread, or `IDLE`: published at every switch
    /// for remote wakers and placement.
    running: AtomicU8,
    /// Threads in the run queue (a copy of its length, readable without the lock).
    queued: AtomicU32,
    /// A reschedule IPI is on its way: further wakes need not send another.
    resched_ipi_pending: AtomicBool,
    /// Sleeping threads and async timers, by deadline.
    pub(super) timers: IrqSpinLock<TimerWheel<Expiry>>,
    /// Whether the running thread should give way at the next opportunity, and whether
    /// the idle loop polls for that (so that a remote waker needs no IPI).
    pub(super) wakeup: Wakeup,
    /// What this CPU's timer is armed for, on the clock (ns); `next_event::NOT_ARMED`
    /// when nothing. Only this CPU, with interrupts off.
    pub(super) timer_armed_for: AtomicU64,
    /// Whether the slice timer runs: it charges the running thread a tick every tick
    /// period while other threads may wait in the queue (see `next_event`). Written by
    /// this CPU (turned off only under the queue's lock), read by remote wakers.
    pub(super) slice_timer: AtomicBool,
    /// When the slice timer charges its next tick (ns). Only this CPU.
    pub(super) next_slice_tick: AtomicU64,
    /// When the idle loop halted the CPU (TSC), or 0 while it is not halted. Only this
    /// CPU, with interrupts off.
    pub(super) halted_since: AtomicU64,
    /// When the running thread was switched in, or last charged its CPU time (TSC).
    /// Written by this CPU; listings read it for the running thread's share.
    pub(super) switched_at: AtomicU64,
    /// A dead thread switched away from for the last time, whose stack the next
    /// `schedule` on this CPU frees. Only this CPU touches it, with interrupts off.
    zombie: UnsafeCell<Option<Arc<Thread>>>,
    /// Whether x87/SSE access is currently allowed (CR0.TS clear) on this CPU.
    pub(super) fpu_allowed: AtomicBool,
    /// Timer interrupts taken.
    pub(super) timer_interrupts: AtomicU64,
    /// Slice ticks charged (the balancing cadence).
    pub(super) slice_ticks: AtomicU64,
    /// TSC ticks spent halted.
    pub(super) halted_tsc: AtomicU64,
    pub(super) switches: AtomicU64,
    /// Blocked threads this CPU made runnable (wherever they were queued).
    pub(super) wakes: AtomicU64,
    /// Threads this CPU took from another's queue while idle.
    pub(super) steals: AtomicU64,
    /// Reschedule IPIs this CPU sent, and other CPUs sent it.
    pub(super) ipis_sent: AtomicU64,
    pub(super) ipis_received: AtomicU64,
}

// SAFETY: the UnsafeCell fields are only accessed by the CPU that owns this structure,
// with interrupts disabled (see `current`, `replace_current`, `zombie`).
unsafe impl Sync for Cpu {}

/// Every CPU's state by index, set once as it comes up (before it is marked online).
static CPUS: [AtomicPtr<Cpu>; MAX_CPUS] = [const { AtomicPtr::new(ptr::null_mut()) }; MAX_CPUS];

impl Cpu {
    /// Creates the state of this CPU, index `index` (running `boot` now), installs it in
    /// GS and registers it. The caller then marks the CPU online.
    pub(super) fn install(index: u32, boot: Arc<Thread>, idle: Arc<Thread>) -> &'static Cpu {
        let running = match boot.is_idle {
            true => IDLE,
            false => boot.priority().level() as u8,
        };
        let cpu: &'static Cpu = Box::leak(Box::new(Cpu {
            index,
            bit: CpuSet::single(index).bits(),
            apic_id: apic::id(),
            current: UnsafeCell::new(boot),
            idle,
            run_queue: IrqSpinLock::new(RunQueue::new()),
            running: AtomicU8::new(running),
            queued: AtomicU32::new(0),
            resched_ipi_pending: AtomicBool::new(false),
            timers: IrqSpinLock::new(TimerWheel::new(DEFAULT_TIMER_PERIOD_NS)),
            wakeup: Wakeup::new(),
            timer_armed_for: AtomicU64::new(super::next_event::NOT_ARMED),
            slice_timer: AtomicBool::new(false),
            next_slice_tick: AtomicU64::new(0),
            halted_since: AtomicU64::new(0),
            switched_at: AtomicU64::new(crate::arch::tsc::read()),
            zombie: UnsafeCell::new(None),
            fpu_allowed: AtomicBool::new(false),
            timer_interrupts: AtomicU64::new(0),
            slice_ticks: AtomicU64::new(0),
            halted_tsc: AtomicU64::new(0),
            switches: AtomicU64::new(0),
            wakes: AtomicU64::new(0),
            steals: AtomicU64::new(0),
            ipis_sent: AtomicU64::new(0),
            ipis_received: AtomicU64::new(0),
        }));
        cpu_local::install(ptr::from_ref(cpu).cast());
        // Release: whoever finds the pointer sees the whole structure.
        CPUS[index as usize].store(ptr::from_ref(cpu).cast_mut(), Ordering::Release);
        cpu
    }

    /// Locks the run queue. Every user runs with interrupts off already (the scheduler,
    /// a wake), so the lock leaves the flag alone.
    #[inline]
    pub(super) fn queue<'a>(&'a self, irq: &'a InterruptsDisabled) -> QueueGuard<'a> {
        QueueGuard {
            cpu: self,
            queue: lock_irqs_off(&self.run_queue, irq),
        }
    }

    /// Locks the run queue if nobody holds it (stealing never waits).
    pub(super) fn try_queue<'a>(&'a self, irq: &'a InterruptsDisabled) -> Option<QueueGuard<'a>> {
        Some(QueueGuard {
            cpu: self,
            queue: try_lock_irqs_off(&self.run_queue, irq)?,
        })
    }

    /// What placement sees of this CPU.
    pub(super) fn load(&self) -> CpuLoad {
        CpuLoad {
            busy: self.running.load(Ordering::Relaxed) != IDLE,
            queued: self.queued.load(Ordering::Relaxed),
        }
    }

    /// Publishes what runs now (at every switch, by this CPU).
    pub(super) fn set_running(&self, thread: &Thread) {
        let level = match thread.is_idle {
            true => IDLE,
            false => thread.priority().level() as u8,
        };
        self.running.store(level, Ordering::Relaxed);
    }

    /// The priority level of the running thread; `None` while idle.
    pub(super) fn running_level(&self) -> Option<usize> {
        match self.running.load(Ordering::Relaxed) {
            IDLE => None,
            level => Some(usize::from(level)),
        }
    }

    /// Asks this CPU to reschedule at its next opportunity; from another CPU, with a
    /// reschedule IPI unless its idle loop polls (`wakeup`) or an IPI is on its way
    /// already. (This CPU's own next opportunity comes at the latest with its slice
    /// timer, which whoever queued a thread here has started: see `next_event`.)
    ///
    /// Orderings: the request is stored before the `SeqCst` swap of the pending flag,
    /// and the handler clears the flag with a `SeqCst` swap before the exit hook reads
    /// the request: a kick that finds an IPI pending is seen by that IPI's exit hook.
    pub(super) fn kick(&self) {
        if self.index == cpu_local::cpu_index() {
            self.wakeup.request_here();
            return; // taken at this CPU's next interrupt exit or preemption point
        }
        if !self.wakeup.request_remote() {
            return; // it polls: it sees the request by itself
        }
        if !self.resched_ipi_pending.swap(true, Ordering::SeqCst) {
            if let Some(here) = try_this_cpu() {
                here.ipis_sent.fetch_add(1, Ordering::Relaxed);
            }
            apic::send_ipi(self.apic_id, vectors::RESCHEDULE);
        }
    }

    /// The reschedule IPI's handler body (the exit hook that follows does the rest).
    pub(super) fn take_resched_ipi(&self) {
        self.ipis_received.fetch_add(1, Ordering::Relaxed);
        self.resched_ipi_pending.swap(false, Ordering::SeqCst);
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

    /// Ends a halt of this CPU's idle loop, if one is going on, counting its time up to
    /// `now` (TSC): when the halt returns, or when an interrupt that ended it switches
    /// away from the idle thread.
    pub(super) fn end_halt(&self, now: u64) {
        let since = self.halted_since.swap(0, Ordering::Relaxed);
        if since != 0 {
            let halted = self.halted_tsc.load(Ordering::Relaxed);
            let more = now.saturating_sub(since);
            self.halted_tsc.store(halted + more, Ordering::Relaxed);
        }
    }

    /// Charges the running thread `current` its CPU time up to `now` (TSC, this CPU's
    /// counter), from its switch-in or last charge. Only this CPU, with interrupts off.
    #[inline]
    pub(super) fn charge_cpu_time(&self, current: &Thread, now: u64) {
        let since = self.switched_at.load(Ordering::Relaxed);
        self.switched_at.store(now, Ordering::Relaxed);
        current.add_cpu_tsc(now.wrapping_sub(since));
    }

    /// Counts a wake made by this CPU (only it writes the counter).
    pub(super) fn count_wake(&self) {
        let wakes = self.wakes.load(Ordering::Relaxed);
        self.wakes.store(wakes + 1, Ordering::Relaxed);
    }

    /// Counts a switch (only this CPU writes the counter: no locked instruction).
    pub(super) fn count_switch(&self) {
        let switches = self.switches.load(Ordering::Relaxed);
        self.switches.store(switches + 1, Ordering::Relaxed);
    }

    /// Whether x87/SSE access is allowed on this CPU now (a thread with FPU state ran).
    pub(super) fn fpu_in_use(&self) -> bool {
        self.fpu_allowed.load(Ordering::Relaxed)
    }

    /// Whether the running thread may be preempted (it has not disabled preemption).
    pub(super) fn preemptible(&self, irq: &InterruptsDisabled) -> bool {
        self.current(irq).preempt_count.load(Ordering::Relaxed) == 0
    }
}

impl core::fmt::Debug for Cpu {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "Cpu({})", self.index)
    }
}

/// A locked run queue. Queueing through it records the CPU as the thread's `last_cpu`;
/// unlocking publishes the queue's length in `queued`.
pub(super) struct QueueGuard<'a> {
    cpu: &'a Cpu,
    queue: IrqsOffGuard<'a, RunQueue<Thread>>,
}

impl QueueGuard<'_> {
    /// Queues `thread` in the current epoch (`next_epoch`: in the next one).
    #[inline(always)]
    pub(super) fn push(&mut self, thread: Unqueued<Thread>, next_epoch: bool) {
        thread.last_cpu.store(self.cpu.index, Ordering::Relaxed);
        let level = thread.queue_level();
        match next_epoch {
            true => self.queue.push_expired(level, thread),
            false => self.queue.push_active(level, thread),
        }
    }

    /// Queues `thread`, just woken by the thread running on this CPU, to run next (the
    /// run queue's next slot).
    #[inline(always)]
    pub(super) fn push_next(&mut self, thread: Unqueued<Thread>) {
        thread.last_cpu.store(self.cpu.index, Ordering::Relaxed);
        let level = thread.queue_level();
        self.queue.push_next(level, thread);
    }

    /// The next thread to run here.
    #[inline(always)]
    pub(super) fn pop(&mut self) -> Option<Unqueued<Thread>> {
        self.queue.pop()
    }

    /// A thread that may run on CPU `thief`, for it to steal.
    pub(super) fn steal_for(&mut self, thief: u32) -> Option<Unqueued<Thread>> {
        self.queue.steal(|thread| thread.affinity().contains(thief))
    }

    #[inline(always)]
    pub(super) fn is_empty(&self) -> bool {
        self.queue.is_empty()
    }

    pub(super) fn len(&self) -> usize {
        self.queue.len()
    }
}

impl Drop for QueueGuard<'_> {
    /// Publishes the queue's length for placement, once per locking (still under the
    /// lock: the guard's own drop runs before its lock guard's).
    fn drop(&mut self) {
        self.cpu
            .queued
            .store(self.queue.len() as u32, Ordering::Relaxed);
    }
}

/// CPU `index`'s state, if it came up.
pub(super) fn cpu(index: u32) -> Option<&'static Cpu> {
    let cpu = CPUS.get(index as usize)?.load(Ordering::Acquire);
    // SAFETY: non-null entries point at leaked, never-freed `Cpu`s (see `install`).
    unsafe { cpu.as_ref() }
}

/// The CPUs that are online (each has registered its state before).
pub(super) fn online() -> CpuSet {
    CpuSet::from_bits(cpu_local::online_mask())
}

/// The state of a CPU in [`online`].
pub(super) fn online_cpu(index: u32) -> &'static Cpu {
    cpu(index).expect("an online CPU registered its state first")
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
