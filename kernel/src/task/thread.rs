//! The thread control block.
//!
//! ```text
//!            spawn                 schedule              exit
//!   (new) ─────────► Ready ◄──────────────────► Running ───────► Dead ──► reaped
//!                      ▲     preempt / yield      │                      (stack freed
//!                      │                          │ wait / sleep / park   by the next
//!                      │        wake              ▼                       schedule on
//!                      └──────────────────── Blocking ──► Blocked         its CPU)
//!                          (Blocking ─wake─► Running: woken before it slept)
//! ```
//!
//! `Blocking` is the handshake that makes wakeups impossible to lose: a thread about to
//! sleep publishes `Blocking` *before* it re-checks its condition and calls the
//! scheduler; the scheduler only parks it if the state is still `Blocking` (and makes it
//! `Blocked`); a waker that finds `Blocking` flips it back to `Running`, and the would-be
//! sleeper simply carries on. All transitions are compare-and-swaps on [`Thread::state`].
#![allow(unsafe_code)]

use alloc::{boxed::Box, string::String};
use core::{
    cell::UnsafeCell,
    fmt,
    sync::atomic::{AtomicBool, AtomicU8, AtomicU32, AtomicU64, AtomicUsize, Ordering},
    time::Duration,
};

use crate::{
    arch::fpu::FpuState,
    mm::stack::KernelStack,
    sync::{Event, IrqSpinLock},
    time,
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

/// Where a thread is in its life (see the module diagram).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum ThreadState {
    /// In a run queue.
    Ready,
    /// On a CPU.
    Running,
    /// About to block: its wake-up condition is being checked one last time.
    Blocking,
    /// Waiting for a wake-up.
    Blocked,
    /// Finished; its stack is freed soon.
    Dead,
}

impl ThreadState {
    fn from_u8(value: u8) -> Self {
        match value {
            0 => Self::Ready,
            1 => Self::Running,
            2 => Self::Blocking,
            3 => Self::Blocked,
            _ => Self::Dead,
        }
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
    name: String,
    priority: Priority,
    state: AtomicU8,
    /// The stack pointer saved by the last switch away; 0 while the thread runs or is
    /// being switched to (see `scheduler`).
    pub(super) saved_rsp: AtomicU64,
    stack: IrqSpinLock<Option<KernelStack>>,
    /// x87/SSE state, for threads that opted in. Only the scheduler of the CPU that is
    /// switching the thread out or in touches it (with interrupts disabled).
    fpu: Option<Box<UnsafeCell<FpuState>>>,
    pub(super) is_idle: bool,
    pub(super) time_slice_left: AtomicU32,
    park_token: AtomicBool,
    stop_requested: AtomicBool,
    /// Set when the thread is on a wait queue's list (cleared by whoever takes it off).
    pub(super) queued_on_wait_queue: AtomicBool,
    /// Set once the thread has finished.
    pub(super) exited: Event,
    /// Its slot in the thread table.
    pub(super) table_slot: AtomicUsize,
    cpu_ticks: AtomicU64,
    switched_in_at: AtomicU64,
    switches: AtomicU64,
}

// SAFETY: the only non-Sync field is `fpu`, which is accessed exclusively by the
// scheduler switching this thread, with interrupts disabled; the saved-rsp protocol
// guarantees no two CPUs switch the same thread at once.
unsafe impl Sync for Thread {}

/// What [`Thread::new`] needs to know.
pub(crate) struct ThreadParams {
    /// `None` names it `thread-<id>`.
    pub(crate) name: Option<String>,
    pub(crate) priority: Priority,
    pub(crate) stack: Option<KernelStack>,
    pub(crate) fpu: bool,
    pub(crate) is_idle: bool,
    pub(crate) state: ThreadState,
}

impl Thread {
    pub(crate) fn new(params: ThreadParams) -> Self {
        let id = ThreadId::next();
        Self {
            id,
            name: params.name.unwrap_or_else(|| alloc::format!("thread-{id}")),
            priority: params.priority,
            state: AtomicU8::new(params.state as u8),
            saved_rsp: AtomicU64::new(0),
            stack: IrqSpinLock::new(params.stack),
            fpu: params
                .fpu
                .then(|| Box::new(UnsafeCell::new(FpuState::default()))),
            is_idle: params.is_idle,
            time_slice_left: AtomicU32::new(0),
            park_token: AtomicBool::new(false),
            stop_requested: AtomicBool::new(false),
            queued_on_wait_queue: AtomicBool::new(false),
            exited: Event::new(),
            table_slot: AtomicUsize::new(usize::MAX),
            cpu_ticks: AtomicU64::new(0),
            switched_in_at: AtomicU64::new(0),
            switches: AtomicU64::new(0),
        }
    }

    /// The thread's id.
    pub fn id(&self) -> ThreadId {
        self.id
    }

    /// The thread's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The thread's priority.
    pub fn priority(&self) -> Priority {
        self.priority
    }

    /// The thread's state right now.
    pub fn state(&self) -> ThreadState {
        ThreadState::from_u8(self.state.load(Ordering::Acquire))
    }

    pub(super) fn set_state(&self, state: ThreadState) {
        self.state.store(state as u8, Ordering::Release);
    }

    pub(super) fn transition(&self, from: ThreadState, to: ThreadState) -> bool {
        self.state
            .compare_exchange(from as u8, to as u8, Ordering::AcqRel, Ordering::Acquire)
            .is_ok()
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

    /// Whether `address` is in this thread's stack guard.
    pub(super) fn stack_guard_contains(&self, address: x86_64::VirtAddr) -> bool {
        self.stack
            .try_lock()
            .is_some_and(|stack| stack.as_ref().is_some_and(|s| s.guard_contains(address)))
    }

    /// Frees the stack (the thread must be dead and switched away from for good).
    pub(super) fn release_stack(&self) {
        drop(self.stack.lock().take());
    }

    /// Makes a [`park`](super::park) by this thread return: at once if it is parked,
    /// otherwise the next time it parks. Callable from interrupt handlers.
    pub fn unpark(&self) {
        self.park_token.store(true, Ordering::Release);
        super::scheduler::wake(self);
    }

    pub(super) fn take_park_token(&self) -> bool {
        self.park_token.swap(false, Ordering::Acquire)
    }

    /// Asks the thread to stop: [`should_stop`](super::should_stop) returns `true` for it
    /// from now on, and a [`park`](super::park) returns. The thread decides when to stop.
    pub fn request_stop(&self) {
        self.stop_requested.store(true, Ordering::Release);
        self.unpark();
    }

    pub(super) fn stop_requested(&self) -> bool {
        self.stop_requested.load(Ordering::Acquire)
    }

    /// Books the time since the thread was last switched in (`now` in TSC ticks).
    pub(super) fn account_switch_out(&self, now: u64) {
        let since = now.saturating_sub(self.switched_in_at.load(Ordering::Relaxed));
        self.cpu_ticks.fetch_add(since, Ordering::Relaxed);
    }

    pub(super) fn account_switch_in(&self, now: u64) {
        self.switched_in_at.store(now, Ordering::Relaxed);
        self.switches.fetch_add(1, Ordering::Relaxed);
    }

    /// A snapshot for listings.
    pub fn info(&self) -> ThreadInfo {
        ThreadInfo {
            id: self.id,
            name: self.name.clone(),
            state: self.state(),
            priority: self.priority,
            cpu_time: time::tsc_ticks_to_duration(self.cpu_ticks.load(Ordering::Relaxed)),
            switches: self.switches.load(Ordering::Relaxed),
        }
    }
}

impl fmt::Debug for Thread {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Thread")
            .field("id", &self.id)
            .field("name", &self.name)
            .field("state", &self.state())
            .finish()
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
    /// Time spent on a CPU (up to its last switch out).
    pub cpu_time: Duration,
    /// Times it was switched in.
    pub switches: u64,
}

impl ThreadInfo {
    /// Column headings matching the `Display` rows.
    pub const HEADER: &'static str =
        "   ID  NAME              STATE     PRIO    CPU TIME  SWITCHES";
}

impl fmt::Display for ThreadInfo {
    /// One row of a thread table (see [`ThreadInfo::HEADER`]).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = alloc::format!("{:?}", self.state);
        write!(
            f,
            "{:>5}  {:<16}  {:<8}  {:>4}  {:>7}.{:03}s  {:>8}",
            self.id,
            self.name,
            state,
            self.priority.level(),
            self.cpu_time.as_secs(),
            self.cpu_time.subsec_millis(),
            self.switches
        )
    }
}
