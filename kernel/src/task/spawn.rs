//! Creating threads and joining them.
//!
//! A thread's life, end to end:
//!
//! 1. [`Builder::spawn`] boxes the closure (with the slot its result goes to) and turns
//!    the box into a raw pointer;
//! 2. it allocates a guarded kernel stack and writes the faked trap frame and switch frame
//!    on it (`arch::context::prepare_stack`), with `thread_entry` as the entry and the
//!    raw pointer as its argument; if any step fails, the pointer is turned back into a
//!    box and dropped, so nothing leaks;
//! 3. the thread is queued; the first switch to it "returns" through the trap exit path
//!    into the naked bootstrap stage, which calls `thread_entry(pointer)`;
//! 4. `thread_entry` re-boxes the closure and runs it; the closure stores its result in
//!    the join slot; the thread then exits: `exited` is signalled and the scheduler
//!    switches away for good;
//! 5. the next `schedule` on that CPU frees the stack; [`JoinHandle::join`] waits for
//!    `exited` and takes the result.
#![allow(unsafe_code)]

use alloc::{boxed::Box, string::String, sync::Arc};
use core::fmt;

use super::{
    Priority, Thread, ThreadState, current, scheduler,
    table::{self, TableFull},
    thread::ThreadParams,
};
use crate::{
    arch::{context, cpu::InterruptsDisabled},
    mm::stack::{KernelStack, StackError},
    sync::IrqSpinLock,
};

/// Default stack size of spawned threads.
pub const DEFAULT_STACK_SIZE: usize = 64 * 1024;

/// Why a thread could not be created.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SpawnError {
    /// No memory for the stack, the thread's bookkeeping or the closure.
    OutOfMemory,
    /// Every kernel stack slot is in use.
    NoStackSlot,
    /// The stack size is zero or larger than `mm::stack::MAX_STACK_SIZE`.
    InvalidStackSize,
}

impl fmt::Display for SpawnError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::OutOfMemory => "out of memory",
            Self::NoStackSlot => "no free kernel stack slot",
            Self::InvalidStackSize => "invalid stack size",
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

impl From<TableFull> for SpawnError {
    fn from(_: TableFull) -> Self {
        Self::OutOfMemory
    }
}

/// Why [`JoinHandle::try_join`] has no result.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JoinError {
    /// The thread ended through [`exit`](super::exit) instead of returning.
    Exited,
    /// A thread cannot join itself (it would wait forever).
    JoinSelf,
}

/// Configures a thread before spawning it.
#[derive(Debug, Clone)]
pub struct Builder {
    name: Option<String>,
    stack_size: usize,
    priority: Priority,
    fpu: bool,
}

impl Default for Builder {
    fn default() -> Self {
        Self::new()
    }
}

impl Builder {
    /// Defaults: unnamed (`thread-<id>`), [`DEFAULT_STACK_SIZE`], normal priority, no FPU.
    pub fn new() -> Self {
        Self {
            name: None,
            stack_size: DEFAULT_STACK_SIZE,
            priority: Priority::NORMAL,
            fpu: false,
        }
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
    /// [`SpawnError`] when memory or a stack slot is missing or the stack size is
    /// invalid; everything allocated on the way is freed again, `main` included.
    pub fn spawn<F, T>(self, main: F) -> Result<JoinHandle<T>, SpawnError>
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send + 'static,
    {
        let result = Arc::try_new(IrqSpinLock::new(None)).map_err(|_| SpawnError::OutOfMemory)?;
        let slot = Arc::clone(&result);
        let start: Box<dyn FnOnce() + Send> = Box::try_new(move || *slot.lock() = Some(main()))
            .map_err(|_| SpawnError::OutOfMemory)?;
        let start = Box::try_new(start).map_err(|_| SpawnError::OutOfMemory)?;
        let argument = Box::into_raw(start);
        match self.create(argument as u64) {
            Ok(thread) => Ok(JoinHandle { thread, result }),
            Err(error) => {
                // SAFETY: `argument` came from `Box::into_raw` above and the thread that
                // would have owned it was never created, so this is its only owner.
                drop(unsafe { Box::from_raw(argument) });
                Err(error)
            }
        }
    }

    /// Builds and queues the thread whose entry argument is `argument`.
    fn create(self, argument: u64) -> Result<Arc<Thread>, SpawnError> {
        let stack = KernelStack::new(self.stack_size)?;
        let top = stack.top();
        let thread = Arc::try_new(Thread::new(ThreadParams {
            name: self.name,
            priority: self.priority,
            stack: Some(stack),
            fpu: self.fpu,
            is_idle: false,
            state: ThreadState::Ready,
        }))
        .map_err(|_| SpawnError::OutOfMemory)?;
        // SAFETY: the stack is fresh, mapped, owned by `thread`, and no context runs on it.
        let rsp = unsafe { context::prepare_stack(top, thread_entry, argument) };
        thread
            .saved_rsp
            .store(rsp, core::sync::atomic::Ordering::Release);
        let live = table::insert(&thread)?;
        if let Err(error) = scheduler::reserve_run_queue(live) {
            table::remove_unstarted(&thread);
            return Err(error);
        }
        scheduler::enqueue_new(Arc::clone(&thread));
        Ok(thread)
    }
}

/// Spawns a thread with the default [`Builder`] settings.
///
/// # Panics
/// If the thread cannot be created; use [`Builder::spawn`] to get the error instead.
#[track_caller]
pub fn spawn<F, T>(main: F) -> JoinHandle<T>
where
    F: FnOnce() -> T + Send + 'static,
    T: Send + 'static,
{
    Builder::new()
        .spawn(main)
        .unwrap_or_else(|error| panic!("spawn failed: {error}"))
}

/// Where every spawned thread starts (called by the naked bootstrap stage).
extern "sysv64" fn thread_entry(argument: u64) -> ! {
    // SAFETY: `argument` is the pointer `Builder::spawn` made with `Box::into_raw`, handed
    // over to this thread; this is the only place that reclaims it on success.
    let start = unsafe { Box::from_raw(argument as *mut Box<dyn FnOnce() + Send>) };
    start();
    super::exit()
}

/// Owns a spawned thread's result. Dropping it detaches the thread.
pub struct JoinHandle<T> {
    thread: Arc<Thread>,
    result: Arc<IrqSpinLock<Option<T>>>,
}

impl<T> fmt::Debug for JoinHandle<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JoinHandle")
            .field("thread", &self.thread)
            .finish()
    }
}

impl<T> JoinHandle<T> {
    /// The thread.
    pub fn thread(&self) -> &Arc<Thread> {
        &self.thread
    }

    /// Whether the thread has finished.
    pub fn is_finished(&self) -> bool {
        self.thread.exited.is_set()
    }

    /// Waits for the thread to finish and returns what its closure returned.
    ///
    /// # Panics
    /// If the thread ended through [`exit`](super::exit) (so there is no result), or if a
    /// thread joins itself; [`try_join`](Self::try_join) returns those as errors.
    #[track_caller]
    pub fn join(self) -> T {
        self.try_join()
            .unwrap_or_else(|error| panic!("join failed: {error:?}"))
    }

    /// Waits for the thread to finish and returns its result.
    ///
    /// # Errors
    /// [`JoinError::Exited`] if it ended through `exit`; [`JoinError::JoinSelf`] if the
    /// calling thread is the one being joined.
    pub fn try_join(self) -> Result<T, JoinError> {
        if super::current_id() == self.thread.id() {
            return Err(JoinError::JoinSelf);
        }
        self.thread.exited.wait();
        self.result.lock().take().ok_or(JoinError::Exited)
    }
}

/// Ends the calling thread now. Values on its stack are not dropped (as with
/// `std::process::exit`); a [`JoinHandle`] for it gets [`JoinError::Exited`].
pub fn exit() -> ! {
    let me = current();
    me.exited.set();
    drop(me);
    let irq = InterruptsDisabled::new();
    scheduler::exit_current(&irq)
}
