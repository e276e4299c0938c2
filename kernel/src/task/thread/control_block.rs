//! The thread control block.
//!
//! A thread's state machine and its park token live in `run_state` (one atomic word;
//! the diagram is there). Everything else a thread carries is here: its identity, its
//! stack, the links that put it in a run queue and in the thread table (so neither ever
//! allocates), its completion for `join`, and statistics.
#![allow(unsafe_code)]

use alloc::{boxed::Box, string::String, sync::Arc};
use core::{
    cell::UnsafeCell,
    fmt,
    marker::PhantomData,
    mem::offset_of,
    ptr::{self, NonNull},
    sync::atomic::{AtomicPtr, AtomicU32, AtomicU64, Ordering, compiler_fence},
    time::Duration,
};

pub use super::run_state::ThreadState;
use super::{
    SpawnError,
    cpu_set::{CpuSet, NoCpuInSet},
    reaping::Reaping,
    run_queue::{RunLink, RunLinked},
    run_state::RunState,
    unwind::PanicRecord,
    wait_queue::WaitQueue,
};
use crate::{
    arch::{IrqSpinLock, fpu::FpuState},
    // The stop and exit flags are handshakes the models check (`thread::models`).
    atomics::AtomicBool,
    intrusive::{Linked, Links},
    mm::stack::KernelStack,
};

/// A thread's unique, never reused number. The boot thread is 1.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ThreadId(pub(crate) u64);

impl ThreadId {
    /// The number.
    pub fn as_u64(self) -> u64 {
        self.0
    }

    pub(crate) fn next() -> Self {
        static NEXT: AtomicU64 = AtomicU64::new(1);
        Self(NEXT.fetch_add(1, Ordering::Relaxed))
    }
}

impl fmt::Display for ThreadId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// Scheduling priority, 0 (lowest) to 7 (highest); the default is 3.
///
/// Within an epoch higher priorities run first and get longer time slices, but every
/// ready thread runs once per epoch (see `run_queue`), so no priority starves.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Priority(u8);

impl Priority {
    /// The lowest priority.
    pub const LOWEST: Priority = Priority(0);
    /// The default priority.
    pub const NORMAL: Priority = Priority(3);
    /// The highest priority.
    pub const HIGHEST: Priority = Priority(7);

    /// Priority `level` (0-7), or `None` if out of range.
    pub const fn new(level: u8) -> Option<Priority> {
        if level <= Self::HIGHEST.0 {
            Some(Priority(level))
        } else {
            None
        }
    }

    /// The level, 0-7.
    pub fn level(self) -> usize {
        usize::from(self.0)
    }
}

impl Default for Priority {
    fn default() -> Self {
        Self::NORMAL
    }
}

/// A kernel thread: identity, scheduling state, stack and statistics.
///
/// Shared as `Arc<Thread>`; the scheduler, wait queues, timers and join handles each
/// hold one. The stack is freed when the thread is reaped, not when the last `Arc` goes.
pub struct Thread {
    id: ThreadId,
    /// `None`: listed as `thread-<id>` (formatted only when listed, never at spawn).
    name: Option<String>,
    priority: Priority,
    pub(super) run_state: RunState,
    /// The stack pointer saved by the last switch away; 0 while the thread runs or is
    /// being switched to (see `scheduler`).
    pub(super) saved_rsp: AtomicU64,
    stack: IrqSpinLock<Option<KernelStack>>,
    /// x87/SSE state, for threads that opted in. Only the scheduler of the CPU that is
    /// switching the thread out or in touches it (with interrupts disabled).
    fpu: Option<Box<UnsafeCell<FpuState>>>,
    pub(super) is_idle: bool,
    /// The CPUs it may run on (a `CpuSet`'s bits). Changed by `set_affinity`, the thread's
    /// own or another thread's (the last store wins); the scheduler reads it whenever it
    /// places the thread (see `scheduler::set_affinity`).
    affinity: AtomicU64,
    /// The CPU whose run queue it was last put in: where it runs, or ran last.
    pub(super) last_cpu: AtomicU32,
    pub(super) time_slice_left: AtomicU32,
    /// Its whole slice in ticks, from its priority (set when it is admitted).
    pub(super) slice_ticks: AtomicU32,
    /// Preemption is allowed only at zero. Only the thread itself changes it (with
    /// interrupts off), and it travels with the thread, never with a CPU.
    pub(super) preempt_count: AtomicU32,
    stop_requested: AtomicBool,
    /// Its place in a run queue (while `Ready`).
    pub(super) run_link: RunLink<Thread>,
    /// Its place in the thread table (until reaped).
    pub(super) table_links: Links,
    /// Set once the thread has finished; `joiners` wait for it.
    exited: AtomicBool,
    joiners: WaitQueue,
    /// Which of the reaper and the join handle lets go of the thread last (`reaping`).
    pub(super) reaping: Reaping,
    /// Keeps the slot its result goes to alive while the thread runs (see `spawn`).
    /// Only spawned threads have one, and only they run their code inside a catch frame.
    #[cfg_attr(not(target_os = "none"), expect(dead_code, reason = "only kept alive"))]
    result_slot: Option<Arc<dyn Send + Sync>>,
    /// Its panic, while one unwinds and after it ended the thread (`unwind`).
    pub(super) panic: PanicRecord,
    /// Its CPU time until its last switch out, in TSC ticks.
    cpu_tsc: AtomicU64,
    switches: AtomicU64,
    /// The [`PollNote`] of the task an executor on this thread is polling, or null.
    /// Only the thread itself writes it or reads it ([`OnThread`]).
    polling: AtomicPtr<()>,
}
// SAFETY: always the same field.
unsafe impl RunLinked for Thread {
    #[inline(always)]
    fn run_link(&self) -> &RunLink<Self> {
        &self.run_link
    }
}

// SAFETY: the only non-Sync field is `fpu`, which is accessed exclusively by the
// scheduler switching this thread, with interrupts disabled; the saved-rsp protocol
// guarantees no two CPUs switch the same thread at once.
unsafe impl Sync for Thread {}

/// The thread table's view of a thread: the same control block, linked through
/// `table_links`.
#[repr(transparent)]
pub(super) struct TableEntry(pub(super) Thread);

// SAFETY: `links` returns the thread's `table_links`; `from_links` steps back by that
// field's offset, its exact inverse, and `TableEntry` is `repr(transparent)` over `Thread`.
unsafe impl Linked for TableEntry {
    fn links(&self) -> &Links {
        &self.0.table_links
    }

    unsafe fn from_links(links: NonNull<Links>) -> NonNull<Self> {
        // SAFETY: the caller guarantees `links` is the `table_links` of a live thread.
        unsafe { links.byte_sub(offset_of!(Thread, table_links)).cast() }
    }
}

/// What [`Thread::new`] needs to know.
pub(crate) struct ThreadParams {
    pub(crate) name: Option<String>,
    pub(crate) priority: Priority,
    pub(crate) stack: Option<KernelStack>,
    pub(crate) fpu: bool,
    pub(crate) is_idle: bool,
    pub(crate) affinity: CpuSet,
    pub(crate) state: ThreadState,
    /// The slot its [`JoinHandle`](super::JoinHandle) takes the result from: `Some`
    /// exactly for a thread that has a handle (see `reaping`).
    pub(crate) result_slot: Option<Arc<dyn Send + Sync>>,
}

impl Thread {
    /// A new control block, or `OutOfMemory` (everything in `params` is dropped then).
    pub(crate) fn new(params: ThreadParams) -> Result<Arc<Self>, SpawnError> {
        let fpu = match params.fpu {
            true => Some(
                Box::try_new(UnsafeCell::new(FpuState::default()))
                    .map_err(|_| SpawnError::OutOfMemory)?,
            ),
            false => None,
        };
        let mut block = Arc::<Self>::try_new_uninit().map_err(|_| SpawnError::OutOfMemory)?;
        Arc::get_mut(&mut block).expect("a new block").write(Self {
            id: ThreadId::next(),
            name: params.name,
            priority: params.priority,
            run_state: RunState::new(params.state),
            saved_rsp: AtomicU64::new(0),
            stack: IrqSpinLock::new(params.stack),
            fpu,
            is_idle: params.is_idle,
            affinity: AtomicU64::new(params.affinity.bits()),
            last_cpu: AtomicU32::new(crate::arch::cpu_local::cpu_index()),
            time_slice_left: AtomicU32::new(0),
            slice_ticks: AtomicU32::new(1),
            preempt_count: AtomicU32::new(0),
            stop_requested: AtomicBool::new(false),
            run_link: RunLink::new(),
            table_links: Links::new(),
            exited: AtomicBool::new(false),
            joiners: WaitQueue::new(),
            // A thread has a join handle exactly when it has a result slot: `Builder::spawn`
            // makes both; the boot and idle threads have neither.
            reaping: Reaping::new(params.result_slot.is_some()),
            result_slot: params.result_slot,
            panic: PanicRecord::new(),
            cpu_tsc: AtomicU64::new(0),
            switches: AtomicU64::new(0),
            polling: AtomicPtr::new(ptr::null_mut()),
        });
        // SAFETY: written just above.
        Ok(unsafe { block.assume_init() })
    }

    /// The thread's id.
    pub fn id(&self) -> ThreadId {
        self.id
    }

    /// The name it was given, if any.
    pub fn name(&self) -> Option<&str> {
        self.name.as_deref()
    }

    /// Its name, or `thread-<id>` when it has none: for reports and listings.
    pub fn label(&self) -> ThreadLabel<'_> {
        ThreadLabel(self)
    }

    /// The thread's priority.
    pub fn priority(&self) -> Priority {
        self.priority
    }

    /// The CPUs the thread may run on.
    pub fn affinity(&self) -> CpuSet {
        CpuSet::from_bits(self.affinity.load(Ordering::Relaxed))
    }

    /// Whether the thread may run on the CPU whose set bit is `cpu_bit` (`Cpu::bit`): the
    /// scheduler's test at every switch, one `and`.
    #[inline]
    pub(super) fn may_run_on(&self, cpu_bit: u64) -> bool {
        self.affinity.load(Ordering::Relaxed) & cpu_bit != 0
    }

    pub(super) fn store_affinity(&self, cpus: CpuSet) {
        self.affinity.store(cpus.bits(), Ordering::Relaxed);
    }

    /// Restricts the thread to the CPUs in `cpus`. A thread running or waiting on a CPU
    /// outside the set moves when that CPU next switches it out or finds it in its queue
    /// (a running one is asked to switch at once, unless it disabled preemption); a
    /// blocked one is woken onto a CPU of the set. The last set given wins: a thread
    /// moving itself meanwhile ([`thread::set_affinity`](super::set_affinity)) ends up on a
    /// CPU of this set if this one came later.
    ///
    /// # Errors
    /// [`NoCpuInSet`] if no online CPU is in `cpus` (the set is unchanged).
    ///
    /// # Panics
    /// If the thread is an idle thread: each stays on its CPU.
    pub fn set_affinity(&self, cpus: CpuSet) -> Result<(), NoCpuInSet> {
        assert!(!self.is_idle, "an idle thread stays on its CPU");
        if cpus.intersection(super::per_cpu::online()).is_empty() {
            return Err(NoCpuInSet);
        }
        super::scheduler::set_affinity(self, cpus);
        Ok(())
    }

    /// The CPU the thread runs on, or ran on last (where it was last queued).
    pub fn cpu(&self) -> u32 {
        self.last_cpu.load(Ordering::Relaxed)
    }

    /// Its run-queue level. A priority is 0-7 by construction, one level each; the mask
    /// only tells the compiler so (no clamp, no bounds check on the queue's levels).
    #[inline]
    pub(super) fn queue_level(&self) -> usize {
        const _: () = assert!(Priority::HIGHEST.0 as usize == super::run_queue::LEVELS - 1);
        self.priority.level() & (super::run_queue::LEVELS - 1)
    }

    /// Whether a panic in the thread's own code can be caught: spawned threads run their
    /// closure inside a catch frame (`thread_entry`); the boot thread and idle threads
    /// have none (a task they poll has its own: the executor's).
    #[cfg(target_os = "none")]
    pub(super) fn has_catch_frame(&self) -> bool {
        self.result_slot.is_some()
    }

    /// The thread's state right now.
    pub fn state(&self) -> ThreadState {
        self.run_state.get()
    }

    /// Whether the thread saves and restores x87/SSE state.
    pub fn uses_fpu(&self) -> bool {
        self.fpu.is_some()
    }

    /// The FPU save area.
    ///
    /// # Safety
    /// Only the scheduler switching this thread out or in may call it (see `fpu`).
    #[allow(clippy::mut_from_ref)]
    pub(super) unsafe fn fpu_state(&self) -> Option<&mut FpuState> {
        // SAFETY: exclusivity is the caller's obligation.
        self.fpu.as_ref().map(|cell| unsafe { &mut *cell.get() })
    }

    /// Proof that the caller runs on this thread, if it does: what publishing and
    /// reading the task it polls takes. Costs a look at the running thread.
    pub fn if_current(&self) -> Option<OnThread<'_>> {
        (super::current_id() == self.id).then_some(OnThread {
            thread: self,
            _not_send: PhantomData,
        })
    }

    /// The lowest byte of this thread's stack, if it has one of its own (and its lock is
    /// free: callable from a panic).
    #[cfg(target_os = "none")]
    pub(super) fn stack_bottom(&self) -> Option<x86_64::VirtAddr> {
        self.stack
            .try_lock()
            .and_then(|stack| stack.as_ref().map(KernelStack::bottom))
    }

    /// Whether `address` is in this thread's stack guard.
    pub(super) fn stack_guard_contains(&self, address: x86_64::VirtAddr) -> bool {
        self.stack
            .try_lock()
            .is_some_and(|stack| stack.as_ref().is_some_and(|s| s.guard_contains(address)))
    }

    /// Frees the stack (the thread must be dead and switched away from for good).
    pub(super) fn release_stack(&self) {
        let stack = self.stack.lock().take();
        drop(stack); // after the lock: a stack goes back to the cache or the heap
    }

    /// Makes a [`park`](super::park()) by this thread return: at once if it is parked,
    /// otherwise the next time it parks. Callable from interrupt handlers.
    pub fn unpark(self: &Arc<Self>) {
        super::scheduler::unpark(self);
    }

    /// Asks the thread to stop: [`should_stop`](super::should_stop) returns `true` for it
    /// from now on, and a [`park`](super::park()) returns. The thread decides when to stop.
    pub fn request_stop(self: &Arc<Self>) {
        // Release, then the unpark's read-modify-write: a thread that sees the token
        // (or is woken) sees the request.
        self.stop_requested.store(true, Ordering::Release);
        self.unpark();
    }

    pub(super) fn stop_requested(&self) -> bool {
        self.stop_requested.load(Ordering::Acquire)
    }

    /// Marks the thread finished and wakes its joiners. Called once it has been reaped.
    pub(super) fn set_exited(&self) {
        self.exited.store(true, Ordering::Release);
        self.joiners.wake_all();
    }

    /// Whether the thread has finished.
    pub fn has_exited(&self) -> bool {
        self.exited.load(Ordering::Acquire)
    }

    /// Blocks until the thread has finished.
    #[track_caller]
    pub(super) fn wait_for_exit(&self) {
        self.joiners.wait_until_named(
            "JoinHandle::join",
            "`JoinHandle::join_async().await`",
            || self.has_exited().then_some(()),
        );
    }

    /// A future that completes once the thread has finished (and been reaped).
    pub(super) async fn exited(&self) {
        let mut waiter = core::pin::pin!(super::AsyncWaiter::new(&self.joiners));
        core::future::poll_fn(|cx| {
            waiter
                .as_mut()
                .poll_until(cx, || self.has_exited().then_some(()))
        })
        .await;
    }

    /// Panics, naming `call`, the task and its executor, and suggesting `instead`, if
    /// this thread (the caller) is polling an async task (its [`PollNote`] is
    /// published): a blocking call there would stall every task of the executor.
    #[track_caller]
    pub(crate) fn check_may_block(&self, call: &str, instead: &str) {
        let Some(on_thread) = self.if_current() else {
            return;
        };
        on_thread.with_poll_note(|note| {
            if let Some(note) = note {
                panic!(
                    "blocking call `{call}` inside async task '{}' (executor '{}'): use {instead}",
                    note.task_label(),
                    note.executor
                );
            }
        });
    }

    /// Counts a switch to it. Only the CPU switching it in calls this, so a plain load
    /// and store suffice (no locked instruction on the switch path).
    pub(super) fn count_switch_in(&self) {
        let switches = self.switches.load(Ordering::Relaxed);
        self.switches.store(switches + 1, Ordering::Relaxed);
    }

    /// Charges it `ticks` TSC ticks of CPU time. Only the CPU it runs on calls this (as
    /// it switches it out), so a plain load and store suffice.
    #[inline]
    pub(super) fn add_cpu_tsc(&self, ticks: u64) {
        let total = self.cpu_tsc.load(Ordering::Relaxed);
        self.cpu_tsc
            .store(total.wrapping_add(ticks), Ordering::Relaxed);
    }

    /// Its CPU time: what it ran until its last switch out, measured with the TSC at
    /// each switch, and if it runs now, its time since the switch in (read from its
    /// CPU's stamp: a moment old, or missing for a thread switching at that very moment).
    pub(super) fn cpu_time(&self) -> Duration {
        let mut ticks = self.cpu_tsc.load(Ordering::Relaxed);
        if self.state() == ThreadState::Running {
            ticks = ticks.saturating_add(super::stats::running_share(self.cpu()));
        }
        crate::time::tsc_ticks_to_duration(ticks)
    }

    /// A snapshot for listings.
    pub fn info(&self) -> ThreadInfo {
        ThreadInfo {
            id: self.id,
            name: alloc::format!("{}", self.label()),
            state: self.state(),
            priority: self.priority,
            cpu: self.cpu(),
            cpu_time: self.cpu_time(),
            switches: self.switches.load(Ordering::Relaxed),
            ended_by_panic: self.panic.ended_by_panic(),
        }
    }
}

/// A thread's name for display: see [`Thread::label`].
#[derive(Debug, Clone, Copy)]
pub struct ThreadLabel<'a>(&'a Thread);

/// The async task a thread polls, as failure reports name it: `task 7 'reader' of
/// executor 'console'`. An executor publishes one around each poll
/// (`OnThread::polling`); a panic or CPU exception inside the poll reads it.
#[derive(Debug, Clone, Copy)]
pub struct PollNote<'a> {
    /// The task's id.
    pub task_id: u64,
    /// Its name; `None` shows as `task-<id>`.
    pub task_name: Option<&'a str>,
    /// The name of the executor polling it.
    pub executor: &'a str,
}

impl PollNote<'_> {
    /// The task's name, or `task-<id>`.
    pub fn task_label(&self) -> impl fmt::Display + '_ {
        struct Label<'n>(&'n PollNote<'n>);
        impl fmt::Display for Label<'_> {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                match self.0.task_name {
                    Some(name) => f.write_str(name),
                    None => write!(f, "task-{}", self.0.task_id),
                }
            }
        }
        Label(self)
    }
}

impl fmt::Display for PollNote<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "task {} '{}' of executor '{}'",
            self.task_id,
            self.task_label(),
            self.executor
        )
    }
}

/// Proof that the code holding it runs on `thread` ([`Thread::if_current`]). Not `Send`:
/// it never leaves that thread.
#[derive(Debug)]
pub struct OnThread<'a> {
    thread: &'a Thread,
    _not_send: PhantomData<*const ()>,
}

impl OnThread<'_> {
    /// Publishes `note` as what this thread polls (if `on_thread` proves the caller runs
    /// on a kernel thread) until the returned guard drops, which puts back what was
    /// published before (a task may run an executor of its own). Two plain stores around
    /// the poll: cheap enough for every poll, and no closure, so the task's poll is
    /// inlined into the executor's.
    ///
    /// # Safety
    /// The guard must be dropped (not forgotten) before `note` goes, on this thread: then
    /// the published pointer always names a note still on this thread's stack, beneath
    /// whatever code runs on the thread. (A thread that exits inside a poll never runs
    /// again, so nobody reads its pointer.)
    #[inline(always)]
    pub(crate) unsafe fn publish<'n>(
        on_thread: Option<&'n Self>,
        note: &'n PollNote<'_>,
    ) -> Published<'n> {
        let restore = on_thread.map(|on_thread| {
            let field = &on_thread.thread.polling;
            let outer = field.load(Ordering::Relaxed);
            field.store(ptr::from_ref(note).cast_mut().cast(), Ordering::Relaxed);
            (field, outer)
        });
        // The readers are this thread's own fault handlers: the stores must stay on their
        // sides of the poll even when it is inlined (no instruction is emitted).
        compiler_fence(Ordering::SeqCst);
        Published { restore }
    }

    /// Calls `read` with the task this thread is polling, if it is inside a poll.
    pub fn with_poll_note<R>(&self, read: impl FnOnce(Option<&PollNote<'_>>) -> R) -> R {
        let note = self.thread.polling.load(Ordering::Relaxed);
        // SAFETY: we run on the thread (`OnThread` is made only there and is not `Send`),
        // so the pointer, if set, names a note whose `publish` guard is alive around this
        // code (see `publish`): it stays alive while `read` runs, and `read` cannot keep it.
        let note = unsafe { note.cast::<PollNote<'_>>().as_ref() };
        read(note)
    }
}

/// A published [`PollNote`] ([`OnThread::publish`]); dropping it puts back the note
/// published before.
pub(crate) struct Published<'n> {
    restore: Option<(&'n AtomicPtr<()>, *mut ())>,
}

impl Drop for Published<'_> {
    #[inline(always)]
    fn drop(&mut self) {
        compiler_fence(Ordering::SeqCst);
        if let Some((field, outer)) = self.restore {
            field.store(outer, Ordering::Relaxed);
        }
    }
}

impl fmt::Display for ThreadLabel<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.0.name {
            Some(name) => f.write_str(name),
            None => write!(f, "thread-{}", self.0.id),
        }
    }
}

/// A thread is a waker: waking it unparks it (what `executor::block_on` waits with).
impl alloc::task::Wake for Thread {
    fn wake(self: Arc<Self>) {
        self.unpark();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.unpark();
    }
}

impl fmt::Debug for Thread {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Thread")
            .field("id", &self.id)
            .field("name", &self.name)
            .field("state", &self.state())
            .finish_non_exhaustive()
    }
}

/// One row of the thread listing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ThreadInfo {
    /// Its id.
    pub id: ThreadId,
    /// Its name.
    pub name: String,
    /// Its state when the listing was taken.
    pub state: ThreadState,
    /// Its priority.
    pub priority: Priority,
    /// The CPU it runs on, or ran on last.
    pub cpu: u32,
    /// Time spent on a CPU, counted by the timer: each tick charges its whole period to
    /// the thread it finds running.
    pub cpu_time: Duration,
    /// Times it was switched in.
    pub switches: u64,
    /// Its code ended by a contained panic (it stays listed, `Dead`, until it is joined).
    pub ended_by_panic: bool,
}
