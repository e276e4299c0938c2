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
}

pub use kernel_host::ThreadHost;

use crate::thread::OnThread;

mod kernel_host {
    use alloc::sync::Arc;

    use super::Host;
    use crate::thread::{self, OnThread, Thread};

    /// A kernel thread as an executor host: waiting parks it, notifying unparks it, so an
    /// idle executor gives its CPU to other threads instead of spinning.
    #[derive(Debug)]
    pub struct ThreadHost {
        thread: Arc<Thread>,
    }

    impl ThreadHost {
        /// The calling thread.
        pub fn current() -> Self {
            Self {
                thread: thread::current(),
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
    }
}
