//! The `ps` tables: threads and async tasks, one row each.

use core::fmt::{self, Display};

use spindle::{
    executor::TaskInfo,
    thread::{CpuStats, ThreadInfo},
};

/// Column headings of [`ThreadRow`].
pub(super) const THREAD_HEADER: &str =
    "   ID  NAME              STATE     PRIO  CPU    CPU TIME  SWITCHES";

/// Column headings of [`TaskRow`].
pub(super) const TASK_HEADER: &str =
    "   ID  NAME              EXECUTOR          STATE        POLLS    CPU TIME";

/// One thread as a table row.
pub(super) struct ThreadRow<'a>(pub &'a ThreadInfo);

impl Display for ThreadRow<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let info = self.0;
        write!(
            f,
            "{:>5}  {:<16}  {:<8}  {:>4}  {:>3}  {:>7}.{:03}s  {:>8}",
            info.id,
            info.name,
            match info.ended_by_panic {
                true => alloc::string::String::from("Panicked"),
                false => alloc::format!("{:?}", info.state),
            },
            info.priority.level(),
            info.cpu,
            info.cpu_time.as_secs(),
            info.cpu_time.subsec_millis(),
            info.switches
        )
    }
}

/// Column headings of [`CpuRow`].
pub(super) const CPU_HEADER: &str = "  CPU  TIMER IRQS   SWITCHES      WAKES   STEALS  IPIS OUT   IPIS IN   QUEUED        IDLE      HALTED";

/// One CPU's scheduler counters as a table row.
pub(super) struct CpuRow<'a>(pub &'a CpuStats);

impl Display for CpuRow<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let cpu = self.0;
        write!(
            f,
            "{:>5}  {:>10}  {:>9}  {:>9}  {:>7}  {:>8}  {:>8}  {:>7}  {:>6}.{:03}s  {:>6}.{:03}s",
            cpu.cpu,
            cpu.timer_interrupts,
            cpu.switches,
            cpu.wakes,
            cpu.steals,
            cpu.ipis_sent,
            cpu.ipis_received,
            cpu.queued,
            cpu.idle.as_secs(),
            cpu.idle.subsec_millis(),
            cpu.halted.as_secs(),
            cpu.halted.subsec_millis()
        )
    }
}

/// One async task as a table row.
pub(super) struct TaskRow<'a>(pub &'a TaskInfo);

impl Display for TaskRow<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let info = self.0;
        write!(
            f,
            "{:>5}  {:<16}  {:<16}  {:<8}  {:>8}  {:>6}.{:03}s",
            info.id,
            info.name,
            info.executor,
            alloc::format!("{:?}", info.state),
            info.polls,
            info.cpu_time.as_secs(),
            info.cpu_time.subsec_millis()
        )
    }
}
