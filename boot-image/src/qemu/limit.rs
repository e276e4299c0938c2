//! How long a QEMU run may go on, and how its time is counted.
//!
//! Under TCG a guest only advances while QEMU gets a host CPU. On a busy
//! host (a parallel build, other boots) a boot can spend most of its
//! wall-clock time waiting for one, so a wall-clock limit that fits an idle
//! machine fails healthy boots on a loaded one. A run-time limit instead
//! charges QEMU for the time it ran (its CPU time) and for the time it had
//! nothing to run (every thread asleep: a guest halted, waiting for its
//! timer), but not for the time it was ready to run and waited for a CPU.
//! On an idle host that is the wall clock; on a loaded one the limit
//! stretches as much as QEMU is held back. A much larger wall-clock ceiling
//! still stops a run that gets next to no CPU at all.

use std::{
    fmt, io,
    time::{Duration, Instant},
};

use procfs::process::Process;

/// How long a run may take before it is stopped as hung.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TimeLimit {
    /// This much wall-clock time, however busy the host is.
    Wall(Duration),
    /// This much run time (see the module documentation), or the wall-clock
    /// `ceiling`, whichever comes first.
    Run {
        /// Run time the guest gets.
        budget: Duration,
        /// Wall-clock time after which the run is stopped regardless.
        ceiling: Duration,
    },
}

impl From<Duration> for TimeLimit {
    /// A bare duration is a wall-clock limit.
    fn from(limit: Duration) -> Self {
        Self::Wall(limit)
    }
}

impl TimeLimit {
    /// A run-time `budget` with a wall-clock ceiling of ten times as much:
    /// a run that got less than a tenth of a CPU is not worth waiting for.
    pub fn run_time(budget: Duration) -> Self {
        Self::Run {
            budget,
            ceiling: budget * 10,
        }
    }
}

/// What a QEMU process had used when it was looked at.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Usage {
    /// Wall-clock time since it started.
    pub wall: Duration,
    /// CPU time it used, user and system, all threads.
    pub cpu: Duration,
    /// Run time charged to it: its CPU time, at most one second per second,
    /// plus the time it sat idle.
    pub charged: Duration,
}

/// A run stopped by a [`TimeLimit::Run`]: its budget, its ceiling, and
/// what QEMU had used by then.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Hang {
    /// The run-time budget.
    pub budget: Duration,
    /// The wall-clock ceiling.
    pub ceiling: Duration,
    /// What QEMU had used when it was stopped.
    pub usage: Usage,
}

impl fmt::Display for Hang {
    /// One line saying which limit stopped the run and how much CPU QEMU
    /// got, which tells a hung kernel from a starved machine.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let Usage { wall, cpu, charged } = self.usage;
        let secs = |time: Duration| format!("{:.1} s", time.as_secs_f64());
        if charged >= self.budget {
            write!(
                f,
                "hung: still running after its {} run-time budget (QEMU got {} of CPU time \
                 in {} of wall-clock time)",
                secs(self.budget),
                secs(cpu),
                secs(wall)
            )
        } else {
            write!(
                f,
                "stopped at the {} wall-clock ceiling with only {} of its {} run-time budget \
                 used: QEMU got {} of CPU time, the host is too busy",
                secs(self.ceiling),
                secs(charged),
                secs(self.budget),
                secs(cpu)
            )
        }
    }
}

/// Follows a running QEMU's use of time, from `/proc`.
#[derive(Debug)]
pub(crate) struct Meter {
    process: Option<Process>,
    started: Instant,
    last: Usage,
}

impl Meter {
    /// Starts metering process `pid`, which has just been started.
    pub(crate) fn start(pid: u32) -> Self {
        Self {
            process: i32::try_from(pid)
                .ok()
                .and_then(|pid| Process::new(pid).ok()),
            started: Instant::now(),
            last: Usage::default(),
        }
    }

    /// Wall-clock time since the start.
    pub(crate) fn elapsed(&self) -> Duration {
        self.started.elapsed()
    }

    /// Looks at the process and charges the time since the last look.
    ///
    /// A process that cannot be read (it is exiting) is charged nothing
    /// more: the next wait reaps it.
    pub(crate) fn sample(&mut self) -> Usage {
        let wall = self.elapsed();
        let Some(now) = self.process.as_ref().and_then(|p| read_process(p).ok()) else {
            self.last.wall = wall;
            return self.last;
        };
        let interval = wall.saturating_sub(self.last.wall);
        let used = now.cpu.saturating_sub(self.last.cpu);
        self.last = Usage {
            wall,
            cpu: now.cpu,
            charged: self.last.charged + charge(interval, used, now.idle),
        };
        self.last
    }
}

/// The run time charged for `interval` of wall-clock time in which QEMU
/// used `cpu` of CPU time and, when looked at, was `idle` (every thread
/// asleep): the whole interval when idle, else the CPU time, but never more
/// than the interval (several vCPU threads do not make a guest's time pass
/// faster).
pub(crate) fn charge(interval: Duration, cpu: Duration, idle: bool) -> Duration {
    if idle { interval } else { cpu.min(interval) }
}

/// A process's total CPU time and whether all its threads are asleep.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct ProcessTime {
    cpu: Duration,
    idle: bool,
}

/// Reads `process`'s CPU time and its threads' states. A thread in `S`
/// (sleeping, woken by an event) is idle; `R` (running or waiting for a
/// CPU), `D` (waiting for the disk) and `T` (stopped) are not, so none of
/// them charges wall-clock time.
fn read_process(process: &Process) -> io::Result<ProcessTime> {
    let stat = process.stat().map_err(io::Error::other)?;
    let ticks = stat.utime + stat.stime;
    let cpu = Duration::from_secs_f64(ticks as f64 / procfs::ticks_per_second() as f64);
    let mut idle = true;
    for task in process.tasks().map_err(io::Error::other)? {
        // A thread that ended since the listing no longer counts.
        if let Ok(state) = task.and_then(|task| task.stat()).map(|stat| stat.state) {
            idle &= state == 'S';
        }
    }
    Ok(ProcessTime { cpu, idle })
}

#[cfg(test)]
mod tests {
    use std::{
        process::{Child, Command, Stdio},
        thread,
    };

    use super::*;

    fn secs(secs: f64) -> Duration {
        Duration::from_secs_f64(secs)
    }

    #[test]
    fn charges_cpu_time_while_busy_and_wall_time_while_idle() {
        assert_eq!(charge(secs(1.0), secs(0.3), false), secs(0.3));
        assert_eq!(charge(secs(1.0), secs(0.3), true), secs(1.0));
        assert_eq!(
            charge(secs(1.0), secs(1.8), false),
            secs(1.0),
            "two busy vCPUs must not charge double"
        );
    }

    #[test]
    fn run_time_limits_have_a_tenfold_ceiling() {
        assert_eq!(
            TimeLimit::run_time(secs(60.0)),
            TimeLimit::Run {
                budget: secs(60.0),
                ceiling: secs(600.0)
            }
        );
        assert_eq!(TimeLimit::from(secs(5.0)), TimeLimit::Wall(secs(5.0)));
    }

    #[test]
    fn hang_reports_say_which_limit_and_how_much_cpu() {
        let hang = |charged: f64| Hang {
            budget: secs(60.0),
            ceiling: secs(600.0),
            usage: Usage {
                wall: secs(95.25),
                cpu: secs(41.0),
                charged: secs(charged),
            },
        };
        assert_eq!(
            hang(60.0).to_string(),
            "hung: still running after its 60.0 s run-time budget (QEMU got 41.0 s of CPU \
             time in 95.2 s of wall-clock time)"
        );
        assert_eq!(
            hang(42.0).to_string(),
            "stopped at the 600.0 s wall-clock ceiling with only 42.0 s of its 60.0 s run-time \
             budget used: QEMU got 41.0 s of CPU time, the host is too busy"
        );
    }

    /// Samples `child` until `enough` holds for the usage, or panics after
    /// ten seconds of wall-clock time.
    fn sample_until(child: &mut Child, enough: impl Fn(&Usage) -> bool) -> Usage {
        let mut meter = Meter::start(child.id());
        while meter.elapsed() < secs(10.0) {
            thread::sleep(secs(0.05));
            let usage = meter.sample();
            if enough(&usage) {
                child.kill().unwrap();
                child.wait().unwrap();
                return usage;
            }
        }
        panic!("usage never got there: {:?}", meter.sample());
    }

    fn spawn(script: &str) -> Child {
        Command::new("sh")
            .args(["-c", script])
            .stdin(Stdio::null())
            .spawn()
            .unwrap()
    }

    #[test]
    fn a_sleeping_process_is_charged_wall_time() {
        let usage = sample_until(&mut spawn("exec sleep 20"), |usage| {
            usage.charged >= secs(0.5)
        });
        assert!(usage.cpu < secs(0.2), "{usage:?}");
    }

    #[test]
    fn a_busy_process_is_charged_its_cpu_time() {
        let usage = sample_until(&mut spawn("while :; do :; done"), |usage| {
            usage.cpu >= secs(0.5)
        });
        assert!(usage.charged > secs(0.3), "{usage:?}");
        assert!(usage.charged <= usage.wall, "{usage:?}");
    }

    /// A stopped process stands for one the host gives no CPU: it neither
    /// runs nor idles, so no run time passes however long it waits.
    #[test]
    fn a_process_without_a_cpu_is_charged_nothing() {
        let mut child = spawn("kill -STOP $$; exec sleep 20");
        let usage = sample_until(&mut child, |usage| usage.wall >= secs(1.0));
        assert!(usage.charged < secs(0.2), "{usage:?}");
    }
}
