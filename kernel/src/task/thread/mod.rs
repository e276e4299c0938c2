//! Kernel threads: creation, scheduling, blocking, sleeping.
//!
//! The API follows `std::thread` and Linux kthreads:
//!
//! | call | does |
//! |---|---|
//! | [`spawn()`], [`Builder`] | create a thread (name, stack size, priority, FPU opt-in) |
//! | [`JoinHandle::join`] | wait for it and take its result (consumes the handle) |
//! | [`yield_now`], [`sleep()`], [`sleep_until`] | give up the CPU, for a while |
//! | [`park()`], [`Thread::unpark`] | block until unparked (an early unpark is kept) |
//! | [`Thread::request_stop`], [`should_stop`] | cooperative stop, like `kthread_stop` |
//! | [`exit`] | end the calling thread now |
//! | [`current`], [`threads`] | who is running; a listing of every thread |
//! | [`WaitQueue`] | the blocking mechanism everything else is built on |
//! | [`disable_preemption`] | a nestable no-preemption section |
//! | [`Builder::cpu`], [`set_affinity`], [`current_cpu`], [`cpu_count`] | which CPUs run a thread |
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
//! | placed | `policy` (which CPU), `cpu_set` (which CPUs it may use) |
//! | listed | `table`; counters in `stats` |
//!
//! `setup` brings the scheduler up on the boot CPU and then on each other CPU.
//! `run_queue`, `timer_wheel` and `cpu_set` are portable and host-tested; `policy` holds
//! the scheduling decisions, host-tested too.
//!
//! **Checked by:** host tests in `run_queue.rs`, `policy.rs`, `timer_wheel.rs`,
//! `cpu_set.rs`, `run_state.rs`, `wait_queue.rs`, `reaping.rs`, `unwind.rs`, models in
//! `models.rs`; test kernels `threads`, `park`, `park_storm`, `lost_wakeup`, `sleep`,
//! `preemption`, `starvation`, `tickless`, `affinity_retarget`, `wait_entries`,
//! `spawn_failure`, `exit_leak`, `hostile_*`, `smp_*`.

use alloc::sync::Arc;

use crate::arch::cpu::InterruptsDisabled;

mod control_block;
mod cpu_set;
mod idle;
#[cfg(all(test, feature = "model"))]
mod models;
mod next_event;
mod park;
mod per_cpu;
pub mod policy;
mod reaping;
pub mod run_queue;
mod run_state;
mod scheduler;
pub(crate) mod setup;
mod sleep;
mod spawn;
mod stats;
mod table;
pub mod timer_wheel;
pub(crate) mod unwind;
mod wait_queue;
mod wakeup;

pub use control_block::{
    OnThread, PollNote, Priority, Thread, ThreadId, ThreadInfo, ThreadLabel, ThreadState,
};
pub use cpu_set::{CpuSet, NoCpuInSet};
pub use idle::{idle_poll, set_idle_poll};
pub(crate) use park::park_named;
pub use park::{park, should_stop};
pub use policy::SchedulerConfig;
pub(crate) use scheduler::wake_source;
pub use scheduler::{PreemptGuard, disable_preemption, yield_now};
pub use sleep::{Timer, sleep, sleep_until};
pub use spawn::{
    Builder, DEFAULT_STACK_SIZE, JoinError, JoinHandle, SpawnError, exit, spawn, try_spawn,
};
pub use stats::{CpuStats, cpu_stats, switch_count, tick_hz, ticks, timer_interrupts, wake_count};
pub use table::{table_contention, thread_count, threads};
pub use unwind::{Backtrace, MESSAGE_CAPACITY, PanicReport, contained_panics, panicking};
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

/// In debug builds, panics if the calling thread is polling an async task: `call` (say
/// `thread::sleep`) is about to block it, which would stall every task of its executor.
/// The message names the call, the task and its executor, and suggests `instead`.
#[track_caller]
#[inline]
pub(crate) fn check_may_block(call: &str, instead: &str) {
    if cfg!(all(debug_assertions, not(test))) {
        current().check_may_block(call, instead);
    }
}

/// The index of the CPU the caller runs on (0 is the boot CPU). The caller may be moved
/// to another CPU right after, unless it disabled preemption or interrupts.
pub fn current_cpu() -> u32 {
    crate::arch::cpu_local::cpu_index()
}

/// How many CPUs run threads.
pub fn cpu_count() -> u32 {
    crate::arch::cpu_local::online_count()
}

/// Restricts the calling thread to the CPUs in `cpus`, moving it at once if it runs on
/// another one: returns once it runs on a CPU of its set. (For another thread, see
/// [`Thread::set_affinity`].)
///
/// The last set given wins: if another thread changes the caller's set while it moves
/// ([`Thread::set_affinity`]), the call still returns `Ok`, once the caller runs on a CPU
/// of that newer set, which may lie outside `cpus` ([`Thread::affinity`] says which set
/// is in force).
///
/// # Errors
/// [`NoCpuInSet`] if no online CPU is in `cpus` (the thread's set is unchanged).
pub fn set_affinity(cpus: CpuSet) -> Result<(), NoCpuInSet> {
    current().set_affinity(cpus)?;
    // The thread's set as it is at each look, not `cpus`: another thread may replace it,
    // and the scheduler only ever moves the thread into the set in force.
    while !scheduler::current_in_its_set() {
        yield_now(); // the scheduler moves a thread whose set excludes its CPU
    }
    Ok(())
}

/// Records the name of every live thread in the trace (when tracing starts, so that
/// threads created before are labelled too).
pub fn trace_names() {
    let idle: alloc::vec::Vec<_> = per_cpu::online()
        .iter()
        .map(|cpu| Arc::clone(&per_cpu::online_cpu(cpu).idle))
        .collect();
    for thread in table::all().iter().chain(&idle) {
        let id = thread.id().as_u64();
        crate::trace::record_name(crate::trace::Kind::ThreadName, id, &thread.label());
    }
}
