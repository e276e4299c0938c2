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
//! Where to look:
//!
//! | a thread is ... | in |
//! |---|---|
//! | described | `control_block` (the `Thread`), `run_state` (its state and park token) |
//! | born | `spawn` (`Builder::spawn`, `create`, `thread_entry`) |
//! | switched | `scheduler` (`schedule`, `switch_to`, `finish_switch`), on `per_cpu` state |
//! | woken | `scheduler::wake`, called by `wait_queue`, `sleep` (timers) and `park` |
//! | queued | `run_queue` (ready threads), `wait_queue` (waiting), `timer_wheel` (sleeping) |
//! | listed | `table`; counters in `stats` |
//!
//! `setup` brings the scheduler up on the boot CPU. `run_queue` and `timer_wheel` are
//! portable and host-tested; `policy` holds the scheduling decisions, host-tested too.

use alloc::sync::Arc;

use crate::arch::cpu::InterruptsDisabled;

mod control_block;
mod park;
mod per_cpu;
pub mod policy;
pub mod run_queue;
mod run_state;
mod scheduler;
pub(crate) mod setup;
mod sleep;
mod spawn;
mod stats;
mod table;
pub mod timer_wheel;
mod wait_queue;

pub use control_block::{Priority, Thread, ThreadId, ThreadInfo, ThreadLabel, ThreadState};
pub use park::{park, should_stop};
pub use policy::SchedulerConfig;
pub(crate) use scheduler::wake_source;
pub use scheduler::{PreemptGuard, disable_preemption, yield_now};
pub use sleep::{Timer, sleep, sleep_until};
pub use spawn::{Builder, DEFAULT_STACK_SIZE, JoinError, JoinHandle, SpawnError, exit, spawn};
pub use stats::{switch_count, tick_hz, ticks, wake_count};
pub use table::{thread_count, threads};
pub use wait_queue::{AsyncWaiter, WaitQueue};

use self::per_cpu::this_cpu;

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

/// Records the name of every live thread in the trace (when tracing starts, so that
/// threads created before are labelled too).
pub fn trace_names() {
    let idle = Arc::clone(&this_cpu().idle);
    for thread in table::all().iter().chain([&idle]) {
        let id = thread.id().as_u64();
        crate::trace::record_name(crate::trace::Kind::ThreadName, id, &thread.label());
    }
}
