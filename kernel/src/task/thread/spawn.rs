//! Creating threads and joining them.
//!
//! A thread's life, end to end:
//!
//! 1. [`Builder::spawn`] allocates everything that can fail first: the result slot, the
//!    guarded kernel stack and the control block. If any of it fails, nothing is left
//!    behind and the closure is handed back to drop;
//! 2. it moves the closure onto the top of the new stack (no heap allocation holds it)
//!    and writes the faked trap frame and switch frame below it
//!    (`arch::context::prepare_stack`), with `thread_entry::<F, T>` as the entry and the
//!    closure's address as its argument;
//! 3. the thread is admitted: the thread table and the run queue are intrusive, so this
//!    cannot fail. The first switch to it "returns" through the trap exit path into the
//!    naked bootstrap stage, which calls `thread_entry(address)`;
//! 4. `thread_entry` moves the closure into its own frame, runs it and stores the result
//!    in the slot; the thread then exits: the scheduler switches away for good;
//! 5. the thread switched to reaps it at once (`scheduler::finish_switch`): frees its
//!    stack, takes it out of the thread table, then wakes its joiners.
//!    [`JoinHandle::join`] waits for that and takes the result: when it returns, the
//!    thread's memory is back (its stack possibly in the stack cache), because the handle,
//!    not the reaping CPU, lets go of the control block last (`reaping`).
//!
//! Because the closure lives on the thread's own stack and the result slot is kept alive
//! by the control block, a thread that ends through [`exit`] instead of returning leaks
//! nothing: whatever its stack held goes with the stack.
#![allow(unsafe_code)]

use alloc::{string::String, sync::Arc};
use core::{fmt, mem, ptr};

use x86_64::VirtAddr;

use super::{
    CpuSet, PanicReport, Priority, Thread, ThreadState, control_block::ThreadParams, per_cpu,
    scheduler, table, unwind,
};
use crate::{
    arch::{
        IrqSpinLock,
        context::{self, INITIAL_FRAMES_SIZE, ThreadEntry},
        cpu::InterruptsDisabled,
    },
    mm::stack::{KernelStack, StackError},
};

/// Default stack size of spawned threads.
pub const DEFAULT_STACK_SIZE: usize = 64 * 1024;

/// Stack a thread has left at least, below its closure and first frames, when it starts.
const MIN_FREE_STACK: usize = 4096;

/// Why a thread could not be created.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SpawnError {
    /// No memory for the stack, the thread's bookkeeping or the closure.
    OutOfMemory,
    /// Every kernel stack slot is in use.
    NoStackSlot,
    /// The stack size is zero, larger than `mm::stack::MAX_STACK_SIZE`, or too small to
    /// hold the closure with room to run.
    InvalidStackSize,
    /// No online CPU is in the thread's CPU set ([`Builder::affinity`]).
    NoCpuInSet,
}

impl fmt::Display for SpawnError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::OutOfMemory => "out of memory",
            Self::NoStackSlot => "no free kernel stack slot",
            Self::InvalidStackSize => "invalid stack size",
            Self::NoCpuInSet => "no online CPU in the thread's CPU set",
        })
    }
}

impl From<StackError> for SpawnError {
    fn from(error: StackError) -> Self {
        match error {
            StackError::OutOfMemory => Self::OutOfMemory,
            StackError::NoFreeSlot => Self::NoStackSlot,
            StackError::InvalidSize => Self::InvalidStackSize,
        }
    }
}

/// Why [`JoinHandle::try_join`] has no result.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JoinError {
    /// The thread's code panicked: the panic unwound the thread's stack (its destructors
    /// ran, the locks it held were released) and ended the thread.
    Panicked(PanicReport),
    /// The thread ended through [`exit`] instead of returning.
    Exited,
    /// A thread cannot join itself (it would wait forever).
    JoinSelf,
}

impl fmt::Display for JoinError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Panicked(report) => report.fmt(f),
            Self::Exited => f.write_str("the thread ended through thread::exit"),
            Self::JoinSelf => f.write_str("a thread cannot join itself"),
        }
    }
}

/// Configures a thread before spawning it.
///
/// ```no_run
/// # use spindle::thread::{Builder, Priority, SpawnError};
/// let handle = Builder::new()
///     .name("cruncher")
///     .stack_size(128 * 1024)
///     .priority(Priority::NORMAL)
///     .cpu(1)
///     .spawn(|| 6 * 7)?; // a `Result`, as in `std`
/// assert_eq!(handle.join(), 42);
/// # Ok::<(), SpawnError>(())
/// ```
#[derive(Debug, Clone)]
pub struct Builder {
    name: Option<String>,
    stack_size: usize,
    priority: Priority,
    fpu: bool,
    affinity: CpuSet,
}

impl Default for Builder {
    fn default() -> Self {
        Self::new()
    }
}

impl Builder {
    /// Defaults: unnamed (`thread-<id>`), [`DEFAULT_STACK_SIZE`], normal priority, no FPU,
    /// any CPU.
    pub fn new() -> Self {
        Self {
            name: None,
            stack_size: DEFAULT_STACK_SIZE,
            priority: Priority::NORMAL,
            fpu: false,
            affinity: CpuSet::ALL,
        }
    }

    /// Runs the thread only on the CPUs in `cpus` (it can change that itself later with
    /// [`set_affinity`](super::set_affinity)).
    pub fn affinity(mut self, cpus: CpuSet) -> Self {
        self.affinity = cpus;
        self
    }

    /// Pins the thread to CPU `cpu` (0 is the boot CPU). `spawn` fails with
    /// [`SpawnError::NoCpuInSet`] if that CPU is not online.
    pub fn cpu(self, cpu: u32) -> Self {
        self.affinity(CpuSet::EMPTY.with(cpu))
    }

    /// Names the thread (listings, fault reports).
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.name = Some(name.into());
        self
    }

    /// Sets the stack size in bytes (rounded up to whole pages).
    pub fn stack_size(mut self, bytes: usize) -> Self {
        self.stack_size = bytes;
        self
    }

    /// Sets the priority.
    pub fn priority(mut self, priority: Priority) -> Self {
        self.priority = priority;
        self
    }

    /// Lets the thread use x87/SSE instructions: its FPU registers are then saved and
    /// restored when it is switched out and in. Other threads trap (#NM) if they try.
    pub fn fpu(mut self, enabled: bool) -> Self {
        self.fpu = enabled;
        self
    }

    /// Creates the thread and queues it to run `main`.
    ///
    /// # Errors
    /// [`SpawnError`] when memory or a stack slot is missing, the stack size is invalid or
    /// no online CPU is in its set; everything allocated on the way is freed again, `main`
    /// included.
    pub fn spawn<F, T>(self, main: F) -> Result<JoinHandle<T>, SpawnError>
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send + 'static,
    {
        if self.affinity.intersection(per_cpu::online()).is_empty() {
            return Err(SpawnError::NoCpuInSet);
        }
        let result: Arc<ResultSlot<T>> =
            Arc::try_new(IrqSpinLock::new(None)).map_err(|_| SpawnError::OutOfMemory)?;
        let start = Start {
            main,
            result: Arc::as_ptr(&result),
        };
        let params = ThreadParams {
            name: self.name,
            priority: self.priority,
            stack: None,
            fpu: self.fpu,
            is_idle: false,
            affinity: self.affinity,
            state: ThreadState::Ready,
            result_slot: Some(Arc::clone(&result) as Arc<dyn Send + Sync>),
        };
        let thread = create(
            params,
            self.stack_size,
            thread_entry::<F, T>,
            |top, limit| place_on_stack(top, limit, start),
        )?;
        // The log line and the trace's spawn and name records come before admitting it:
        // once queued it may run, and exit, on another CPU, and admission cannot fail.
        log::debug!(
            "thread {} '{}' spawned by thread {}: priority {}, {} KiB stack",
            thread.id(),
            thread.label(),
            super::current_id(),
            thread.priority().level(),
            self.stack_size / 1024
        );
        if crate::trace::enabled() {
            let id = thread.id().as_u64();
            crate::trace::record_spawn(id, super::current_id().as_u64());
            crate::trace::record_name(crate::trace::Kind::ThreadName, id, &thread.label());
        }
        scheduler::admit(Arc::clone(&thread));
        Ok(JoinHandle { thread, result })
    }
}

/// Makes a thread that is ready to be switched to, with a stack of `stack_size` bytes:
/// the one way every thread but the boot thread is made.
///
/// `place` puts the entry's argument at the top of the stack: it receives the stack top
/// and the lowest address its data may reach down to, and returns the (16-byte aligned)
/// top of the free stack below its data, and the argument. It runs last, once nothing
/// else can fail; if it fails itself, nothing is left behind.
pub(super) fn create(
    mut params: ThreadParams,
    stack_size: usize,
    entry: ThreadEntry,
    place: impl FnOnce(VirtAddr, VirtAddr) -> Result<(VirtAddr, u64), SpawnError>,
) -> Result<Arc<Thread>, SpawnError> {
    let stack = KernelStack::new(stack_size)?;
    let top = stack.top();
    let limit = stack.bottom() + (INITIAL_FRAMES_SIZE + MIN_FREE_STACK) as u64;
    params.stack = Some(stack);
    let thread = Thread::new(params)?;
    let (frames_top, argument) = place(top, limit)?;
    assert!(
        frames_top >= limit && frames_top.is_aligned(16u64),
        "a thread's start data overran its stack"
    );
    // SAFETY: the stack is fresh, mapped and owned by `thread`, and no context runs on
    // it; `frames_top` is 16-byte aligned and leaves room for the frames (just checked).
    let rsp = unsafe { context::prepare_stack(frames_top, entry, argument) };
    thread
        .saved_rsp
        .store(rsp, core::sync::atomic::Ordering::Release);
    Ok(thread)
}

/// Where a thread's result goes: written once by the thread, taken once by the joiner.
type ResultSlot<T> = IrqSpinLock<Option<T>>;

/// What a spawned thread starts from, placed at the top of its stack.
struct Start<F, T> {
    main: F,
    /// The result slot, kept alive by the thread's control block while the thread runs.
    result: *const ResultSlot<T>,
}

/// Moves `start` to the top of the stack below `top`, if it fits above `limit`; returns
/// the 16-byte aligned address below it (where the first frames go) and its own address
/// (the entry's argument). A closure too large for the stack is an error, not an overrun.
fn place_on_stack<F, T>(
    top: VirtAddr,
    limit: VirtAddr,
    start: Start<F, T>,
) -> Result<(VirtAddr, u64), SpawnError> {
    let align = mem::align_of::<Start<F, T>>().max(16) as u64;
    let at = top
        .as_u64()
        .checked_sub(mem::size_of::<Start<F, T>>() as u64)
        .map(|at| VirtAddr::new_truncate(at).align_down(align))
        .filter(|&at| at >= limit)
        .ok_or(SpawnError::InvalidStackSize)?;
    // SAFETY: `at` lies between `limit` and `top`, inside the fresh stack that nothing
    // else references, and is suitably aligned. The value is moved there, to be read
    // exactly once by `thread_entry`.
    unsafe { ptr::write(at.as_mut_ptr::<Start<F, T>>(), start) };
    Ok((at, at.as_u64()))
}

/// Where every spawned thread starts (called by the naked bootstrap stage). Its closure
/// runs inside the thread's catch frame: a contained panic unwinds to here and ends the
/// thread, its report left in the control block for the join handle (or the log).
extern "sysv64" fn thread_entry<F, T>(argument: u64) -> !
where
    F: FnOnce() -> T,
{
    scheduler::finish_switch(&InterruptsDisabled::new());
    let start = argument as *const Start<F, T>;
    // SAFETY: `argument` is the address `place_on_stack` wrote a `Start<F, T>` to, on
    // this thread's own stack; each field is read once (the closure inside the catch
    // frame, so that it is moved only once, however large), and never used again.
    let result = unsafe { ptr::read(&raw const (*start).result) };
    // SAFETY: as above.
    match unwind::catch(|| unsafe { ptr::read(&raw const (*start).main) }()) {
        // SAFETY: the slot is kept alive by this thread's control block until it is
        // reaped, which cannot happen while it runs.
        Ok(value) => returned(unsafe { &*result }, value),
        Err(caught) => ended_by_panic(&caught),
    }
    super::exit()
}

/// The thread's closure returned `value`: it goes to the result slot for the handle. If
/// the handle is gone already, the thread drops the value itself, here, where its
/// destructor may block or panic like any of the thread's code (a panic is contained and
/// logged), rather than on whichever CPU reaps the thread, with interrupts off.
fn returned<T>(result: &ResultSlot<T>, value: T) {
    *result.lock() = Some(value);
    if !super::current().panic.end_by_return() {
        return;
    }
    let value = result.lock().take();
    if let Err(caught) = unwind::catch(move || drop(value)) {
        log::error!("{} (dropping a detached thread's result)", caught.report());
    }
}

/// The thread's closure panicked: its handle gets the report, or the log does if the
/// handle is gone (the thread was detached).
#[cold]
fn ended_by_panic(caught: &unwind::Caught) {
    if super::current().panic.end_by_panic() {
        let report = caught.report();
        log::error!("{report} (detached thread)\n{}", report.backtrace());
    }
}

/// Spawns a thread with the default [`Builder`] settings.
///
/// ```no_run
/// # use spindle::thread;
/// let worker = thread::spawn(|| 6 * 7);
/// assert_eq!(worker.join(), 42);
/// ```
///
/// # Panics
/// If the thread cannot be created (no memory, no stack slot), with the message
/// "thread::spawn failed: " and the reason; [`try_spawn`] (or [`Builder::spawn`]) returns the
/// error instead.
#[track_caller]
pub fn spawn<F, T>(main: F) -> JoinHandle<T>
where
    F: FnOnce() -> T + Send + 'static,
    T: Send + 'static,
{
    try_spawn(main).unwrap_or_else(|error| panic!("thread::spawn failed: {error}"))
}

/// Spawns a thread with the default [`Builder`] settings, or says why it cannot.
///
/// ```no_run
/// # use spindle::thread::{self, SpawnError};
/// match thread::try_spawn(|| 1) {
///     Ok(handle) => assert_eq!(handle.join(), 1),
///     Err(SpawnError::OutOfMemory) => { /* shed load and retry later */ }
///     Err(error) => panic!("{error}"),
/// }
/// ```
///
/// # Errors
/// As [`Builder::spawn`].
pub fn try_spawn<F, T>(main: F) -> Result<JoinHandle<T>, SpawnError>
where
    F: FnOnce() -> T + Send + 'static,
    T: Send + 'static,
{
    Builder::new().spawn(main)
}

/// Owns a spawned thread's result. Dropping it detaches the thread.
pub struct JoinHandle<T> {
    thread: Arc<Thread>,
    result: Arc<ResultSlot<T>>,
}

impl<T> fmt::Debug for JoinHandle<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JoinHandle")
            .field("thread", &self.thread)
            .finish()
    }
}

impl<T> Drop for JoinHandle<T> {
    /// Detaches the thread if it runs on; after its exit, waits (briefly) for the CPU
    /// that reaps it to let go, so that this handle's reference is the last one and a
    /// `join` returns with the thread's memory back (see `reaping`).
    fn drop(&mut self) {
        let (unreported, outcome) = self.thread.panic.handle_gone(self.thread.has_exited());
        if let Some(report) = unreported {
            log::error!(
                "{report} (its join handle was dropped)\n{}",
                report.backtrace()
            );
        }
        if outcome.unlist() {
            table::unlist(&self.thread);
        }
        // A result nobody took is dropped here, by the handle's owner, outside the slot's
        // lock; if the thread has not returned yet, it will see the handle gone and drop
        // its value itself (`returned`).
        let unclaimed = self.result.lock().take();
        drop(unclaimed);
        self.thread.reaping.handle_gone();
    }
}

impl<T> JoinHandle<T> {
    /// The thread.
    pub fn thread(&self) -> &Arc<Thread> {
        &self.thread
    }

    /// Whether the thread has finished.
    pub fn is_finished(&self) -> bool {
        self.thread.has_exited()
    }

    /// Waits for the thread to finish and returns what its closure returned.
    ///
    /// # Panics
    /// If the thread panicked (passing the panic on, as `std`'s `join().unwrap()` does:
    /// the message is the thread's report), ended through [`exit`] (so there
    /// is no result), or if a thread joins itself; [`try_join`](Self::try_join) returns
    /// those as errors. In debug builds, if it has to wait inside an async task (use
    /// [`join_async`](Self::join_async) there).
    #[track_caller]
    pub fn join(self) -> T {
        self.try_join()
            .unwrap_or_else(|error| panic!("join failed: {error}"))
    }

    /// A future of the thread's result: how an async task waits for a thread without
    /// blocking its executor (the task sleeps until the thread has finished; other tasks
    /// run meanwhile).
    ///
    /// ```no_run
    /// # use spindle::{executor, thread};
    /// # async fn example() {
    /// let crunch = thread::spawn(|| (1..=10u64).product::<u64>());
    /// assert_eq!(crunch.join_async().await, Ok(3_628_800));
    /// # }
    /// ```
    ///
    /// # Errors
    /// [`JoinError::Exited`] if the thread ended through `exit`; [`JoinError::JoinSelf`]
    /// if the awaiting task is polled by the very thread it waits for (it would wait
    /// forever).
    pub async fn join_async(self) -> Result<T, JoinError> {
        if super::current_id() == self.thread.id() {
            return Err(JoinError::JoinSelf);
        }
        self.thread.exited().await;
        self.take_result()
    }

    /// Waits for the thread to finish and returns its result.
    ///
    /// # Errors
    /// [`JoinError::Panicked`] with the panic's report if the thread's code panicked;
    /// [`JoinError::Exited`] if it ended through `exit`; [`JoinError::JoinSelf`] if the
    /// calling thread is the one being joined.
    ///
    /// ```no_run
    /// # use spindle::thread::{self, JoinError};
    /// let worker = thread::spawn(|| -> u32 { panic!("bad input") });
    /// match worker.try_join() {
    ///     Err(JoinError::Panicked(report)) => assert_eq!(report.message(), "bad input"),
    ///     other => panic!("{other:?}"),
    /// }
    /// ```
    #[track_caller]
    pub fn try_join(self) -> Result<T, JoinError> {
        if super::current_id() == self.thread.id() {
            return Err(JoinError::JoinSelf);
        }
        self.thread.wait_for_exit();
        self.take_result()
    }

    /// The result of the thread, which has exited.
    fn take_result(&self) -> Result<T, JoinError> {
        if let Some(value) = self.result.lock().take() {
            return Ok(value);
        }
        let (report, outcome) = self.thread.panic.take_report();
        if outcome.unlist() {
            table::unlist(&self.thread);
        }
        match report {
            Some(report) => Err(JoinError::Panicked(report)),
            None => Err(JoinError::Exited),
        }
    }
}

/// Ends the calling thread now. Values on its stack are not dropped (as with
/// `std::process::exit`), but nothing the kernel allocated for the thread leaks: its
/// closure and stack go with the stack, its result slot with the thread. A
/// [`JoinHandle`] for it gets [`JoinError::Exited`].
///
/// "Not dropped" includes an `Executor` the thread runs: its tasks are never dropped, so
/// their handles never resolve. Return from the thread's closure instead (or drop the
/// executor first) when tasks may still be awaited elsewhere.
pub fn exit() -> ! {
    if log::log_enabled!(log::Level::Debug) {
        let thread = super::current();
        let cpu_time = thread.cpu_time();
        log::debug!(
            "thread {} '{}' exits after {} ms of CPU time",
            thread.id(),
            thread.label(),
            cpu_time.as_millis()
        );
    }
    let irq = InterruptsDisabled::new();
    scheduler::exit_current(&irq)
}
