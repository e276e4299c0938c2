//! What an executor needs from the thread that runs it: a way to wait for work and a way
//! to be woken when work arrives.
//!
//! In the kernel that is the host thread's park/unpark ([`ThreadHost`]); host unit tests
//! plug in `std` threads instead. Keeping it behind a trait is what lets the executor's
//! bookkeeping run under `cargo test` on the build machine.

/// The thread an executor runs on, seen from the executor.
pub trait Host: Send + Sync + 'static {
    /// Blocks the calling (host) thread until [`notify`](Host::notify) is called; may
    /// return spuriously. A `notify` that came first must make it return at once.
    fn wait(&self);
    /// Makes the host thread's [`wait`](Host::wait) return. Must be callable from any
    /// thread and from interrupt handlers, without allocating.
    fn notify(&self);
    /// Whether the host thread was asked to stop: `Executor::run` returns then.
    fn should_stop(&self) -> bool;
    /// Proof that the caller runs on the host's kernel thread, if it does and there is
    /// one: the executor then publishes the task it polls there, for failure reports.
    fn on_thread(&self) -> Option<OnThread<'_>> {
        None
    }
    /// Whether the caller is the host thread itself, outside any interrupt handler: its
    /// wakes then go to the executor's local ready list (`local_queue`), which only that
    /// context touches. `false` is always correct (the wake takes the lock-free queue).
    fn runs_here(&self) -> bool {
        false
    }
}

pub use kernel_host::ThreadHost;

use crate::thread::OnThread;

mod kernel_host {
    use alloc::sync::Arc;

    use super::Host;
    use crate::{
        arch::cpu::interrupts_enabled,
        thread::{self, OnThread, Thread, ThreadId},
    };

    /// A kernel thread as an executor host: waiting parks it, notifying unparks it, so an
    /// idle executor gives its CPU to other threads instead of spinning.
    #[derive(Debug)]
    pub struct ThreadHost {
        thread: Arc<Thread>,
        /// `thread`'s id, kept here so that the wake's test reads no further.
        id: ThreadId,
    }

    impl ThreadHost {
        /// The calling thread.
        pub fn current() -> Self {
            let thread = thread::current();
            Self {
                id: thread.id(),
                thread,
            }
        }
    }

    impl Host for ThreadHost {
        fn wait(&self) {
            thread::park();
        }

        fn notify(&self) {
            self.thread.unpark();
        }

        fn should_stop(&self) -> bool {
            thread::should_stop()
        }

        fn on_thread(&self) -> Option<OnThread<'_>> {
            self.thread.if_current()
        }

        /// Interrupts enabled (so not in an interrupt handler: they all run with them
        /// disabled) and the running thread is the host.
        #[inline]
        fn runs_here(&self) -> bool {
            interrupts_enabled() && thread::current_id() == self.id
        }
    }
}
