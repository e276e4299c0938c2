//! What the events add up to: who ran where and when, polls, wakes and their landings.
//!
//! Both writers draw the same picture, so the pairing of events (a switch-in with its
//! switch-out, a poll's begin with its end, a wake with the run it enabled) is done
//! once, here, and kept free of drawing concerns.

use std::collections::BTreeMap;

use crate::{
    SwitchReason,
    decode::{Event, ExecutorId, TaskId, ThreadId, Trace, Waker, What},
};

/// How a [`Run`] ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RunEnd {
    /// A switch-out; `None` for a reason code this decoder does not know.
    Switch(Option<SwitchReason>),
    /// The CPU's ring overflowed: what ran after is unknown until the next switch.
    Dropped,
    /// The trace ended with the thread still running.
    TraceEnd,
}

impl RunEnd {
    /// A short word for labels and tooltips.
    pub fn describe(self) -> &'static str {
        match self {
            RunEnd::Switch(Some(reason)) => reason_name(reason),
            RunEnd::Switch(None) => "unknown reason",
            RunEnd::Dropped => "records lost",
            RunEnd::TraceEnd => "trace end",
        }
    }
}

/// A switch reason as a lower-case word.
pub fn reason_name(reason: SwitchReason) -> &'static str {
    match reason {
        SwitchReason::Yield => "yield",
        SwitchReason::Preempt => "preempt",
        SwitchReason::Block => "block",
        SwitchReason::Sleep => "sleep",
        SwitchReason::Exit => "exit",
    }
}

/// A thread running on a CPU without a break.
#[derive(Debug, Clone, PartialEq)]
pub struct Run {
    /// The CPU.
    pub cpu: u16,
    /// The thread.
    pub thread: ThreadId,
    /// Start, µs.
    pub start_us: f64,
    /// End, µs.
    pub end_us: f64,
    /// Whether the start is only where the trace (or a loss) began: the thread was
    /// already running, since when is unknown.
    pub open_start: bool,
    /// How it ended.
    pub end: RunEnd,
}

/// One poll of a task, from begin to end (wall time: the host may be switched out in
/// between).
#[derive(Debug, Clone, PartialEq)]
pub struct Poll {
    /// The CPU the poll began on.
    pub cpu: u16,
    /// The task.
    pub task: TaskId,
    /// The executor; `None` when the begin was not in the trace.
    pub executor: Option<ExecutorId>,
    /// The thread running the executor.
    pub host: Option<ThreadId>,
    /// Start, µs.
    pub start_us: f64,
    /// End, µs.
    pub end_us: f64,
    /// Whether the task completed in this poll.
    pub finished: bool,
    /// Whether the begin (`open_start`) or the end (`open_end`) is missing from the
    /// trace, so the span is cut at the trace's edge.
    pub open_start: bool,
    /// See `open_start`.
    pub open_end: bool,
}

/// What a wake made ready.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WakeTarget {
    /// A thread.
    Thread(ThreadId),
    /// A task.
    Task(TaskId),
}

/// A wake and where it landed.
#[derive(Debug, Clone, PartialEq)]
pub struct Wake {
    /// The CPU the wake happened on (the waker's).
    pub cpu: u16,
    /// When, µs.
    pub at_us: f64,
    /// Who woke.
    pub by: Waker,
    /// Who was woken.
    pub target: WakeTarget,
    /// Index into [`Timeline::runs`] (thread) or [`Timeline::polls`] (task) of the
    /// target's next switch-in or poll at or after the wake, if the trace has it.
    pub landing: Option<usize>,
}

/// An interrupt handler's execution.
#[derive(Debug, Clone, PartialEq)]
pub struct Irq {
    /// The CPU.
    pub cpu: u16,
    /// The vector.
    pub vector: u32,
    /// Start, µs.
    pub start_us: f64,
    /// End, µs (`None` if the exit is not in the trace).
    pub end_us: Option<f64>,
}

/// A halted stretch of a CPU (its idle thread executing `hlt`).
#[derive(Debug, Clone, PartialEq)]
pub struct Halt {
    /// The CPU.
    pub cpu: u16,
    /// Start, µs.
    pub start_us: f64,
    /// End, µs.
    pub end_us: f64,
}

/// A point event: a mark, a loss, a spawn, an exit, a contained panic or the CPU's timer
/// armed.
#[derive(Debug, Clone, PartialEq)]
pub struct Instant {
    /// The CPU.
    pub cpu: u16,
    /// When, µs.
    pub at_us: f64,
    /// The thread running there then, if known.
    pub thread: Option<ThreadId>,
    /// What.
    pub what: InstantKind,
}

/// What an [`Instant`] is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InstantKind {
    /// A mark, with its text.
    Mark(String),
    /// Records lost.
    Dropped(u64),
    /// A thread created.
    Spawn(ThreadId),
    /// A thread ended.
    Exit(ThreadId),
    /// A panic was contained in a thread, or in the task it was polling.
    Panic {
        /// The thread.
        thread: ThreadId,
        /// The task, if the panic was in one.
        task: Option<TaskId>,
    },
    /// The CPU's timer was armed for this time (ns since boot), or stopped (`None`).
    TimerArmed(Option<u64>),
}

/// The derived view of a [`Trace`].
#[derive(Debug, Clone, Default)]
pub struct Timeline {
    /// Runs, by CPU then start.
    pub runs: Vec<Run>,
    /// Polls, by start.
    pub polls: Vec<Poll>,
    /// Wakes, by time.
    pub wakes: Vec<Wake>,
    /// Interrupts, by start.
    pub irqs: Vec<Irq>,
    /// Halts, by CPU then start.
    pub halts: Vec<Halt>,
    /// Marks, losses, spawns, exits, panics, by time.
    pub instants: Vec<Instant>,
    /// The trace's last event, µs.
    pub end_us: f64,
    /// Indexes into `polls` by task, by start (for [`Timeline::poll_at`]).
    polls_by_task: BTreeMap<TaskId, Vec<usize>>,
}

impl Timeline {
    /// Pairs up a trace's events.
    pub fn new(trace: &Trace) -> Self {
        let mut timeline = Timeline {
            end_us: trace.span_us(),
            ..Timeline::default()
        };
        for cpu in 0..trace.cpus() {
            timeline.add_runs(trace, cpu);
            timeline.add_halts(trace, cpu);
        }
        timeline.add_polls(trace);
        timeline.polls_by_task = timeline
            .poll_starts_by_task(false)
            .into_iter()
            .map(|(task, starts)| (task, starts.into_iter().map(|(_, index)| index).collect()))
            .collect();
        timeline.add_point_events(trace);
        timeline.add_wakes(trace);
        timeline
    }

    /// The run on `cpu` at time `us` (the later one where two meet).
    pub fn run_at(&self, cpu: u16, us: f64) -> Option<&Run> {
        self.run_index_at(cpu, us).map(|index| &self.runs[index])
    }

    fn run_index_at(&self, cpu: u16, us: f64) -> Option<usize> {
        let first = self.runs.partition_point(|r| r.cpu < cpu);
        let past = self.runs.partition_point(|r| r.cpu <= cpu);
        let cpu_runs = &self.runs[first..past];
        let after = cpu_runs.partition_point(|r| r.start_us <= us);
        let index = after.checked_sub(1)?;
        (cpu_runs[index].end_us >= us).then_some(first + index)
    }

    /// The poll of `task` going on at `us`, if any.
    pub fn poll_at(&self, task: TaskId, us: f64) -> Option<&Poll> {
        let indexes = self.polls_by_task.get(&task)?;
        let after = indexes.partition_point(|&i| self.polls[i].start_us <= us);
        let poll = &self.polls[indexes[after.checked_sub(1)?]];
        (us <= poll.end_us).then_some(poll)
    }

    fn add_runs(&mut self, trace: &Trace, cpu: u16) {
        let mut builder = RunBuilder::new(cpu);
        for event in trace.cpu_events(cpu) {
            builder.event(event, &mut self.runs);
        }
        builder.finish(self.end_us, &mut self.runs);
    }

    /// A halt lasts from an idle entry to the CPU's next event of any kind: a halted CPU
    /// records nothing, so whatever it records next (the interrupt that woke it, often a
    /// switch made inside that interrupt, before the idle loop's own exit record) means
    /// it runs again.
    fn add_halts(&mut self, trace: &Trace, cpu: u16) {
        let mut since: Option<f64> = None;
        let mut first_us = None;
        let mut ran = false; // a switch or a halt seen on this CPU
        for event in trace.cpu_events(cpu) {
            let first_us = *first_us.get_or_insert(event.us);
            let start_us = match (&event.what, since.take()) {
                (What::IdleEnter, _) => {
                    since = Some(event.us);
                    continue;
                }
                (_, Some(start_us)) => start_us,
                // Halted since before the trace began.
                (What::IdleExit, None) if !ran => first_us,
                (What::Switch { .. }, None) => {
                    ran = true;
                    continue;
                }
                (_, None) => continue,
            };
            ran = true;
            self.halts.push(Halt {
                cpu,
                start_us,
                end_us: event.us,
            });
        }
        if let Some(start_us) = since {
            let end_us = self.end_us;
            self.halts.push(Halt {
                cpu,
                start_us,
                end_us,
            });
        }
    }

    fn host(&self, event: &Event) -> Option<ThreadId> {
        self.run_at(event.cpu, event.us).map(|r| r.thread)
    }

    /// Pairs poll begins and ends on the same host thread (a host can be switched out
    /// mid-poll and resumed on another CPU; polls can nest when a task blocks on an
    /// inner executor).
    fn add_polls(&mut self, trace: &Trace) {
        let mut open: BTreeMap<HostKey, Vec<Poll>> = BTreeMap::new();
        let polls = trace
            .events()
            .iter()
            .filter(|e| matches!(e.what, What::PollBegin { .. } | What::PollEnd { .. }));
        for event in polls {
            let host = self.host(event);
            let key = host.map_or(HostKey::Cpu(event.cpu), HostKey::Thread);
            match event.what {
                What::PollBegin { task, executor } => {
                    open.entry(key).or_default().push(Poll {
                        cpu: event.cpu,
                        task,
                        executor: Some(executor),
                        host,
                        start_us: event.us,
                        end_us: event.us,
                        finished: false,
                        open_start: false,
                        open_end: true,
                    });
                }
                What::PollEnd { task, finished } => {
                    let stack = open.entry(key).or_default();
                    let poll = self.end_poll(stack, event, host, task, finished);
                    self.polls.push(poll);
                }
                _ => {}
            }
        }
        let end_us = self.end_us;
        self.polls.extend(open.into_values().flatten().map(|mut p| {
            p.end_us = end_us;
            p
        }));
        self.polls.sort_by(|a, b| a.start_us.total_cmp(&b.start_us));
    }

    /// Closes the innermost open poll of `task` on this host, or makes one that began
    /// before the trace did (from the host's current run).
    fn end_poll(
        &self,
        stack: &mut Vec<Poll>,
        event: &Event,
        host: Option<ThreadId>,
        task: TaskId,
        finished: bool,
    ) -> Poll {
        let found = stack.iter().rposition(|p| p.task == task);
        let mut poll = match found {
            Some(index) => stack.remove(index),
            None => Poll {
                cpu: event.cpu,
                task,
                executor: None,
                host,
                start_us: self
                    .run_at(event.cpu, event.us)
                    .map_or(event.us, |r| r.start_us),
                end_us: event.us,
                finished,
                open_start: true,
                open_end: false,
            },
        };
        poll.end_us = event.us;
        poll.finished = finished;
        poll.open_end = false;
        poll
    }

    fn add_point_events(&mut self, trace: &Trace) {
        let mut irqs = IrqPairs::default();
        for event in trace.events() {
            let kind = match event.what {
                What::IrqEnter { vector } => {
                    irqs.enter(event, vector, &mut self.irqs);
                    continue;
                }
                What::IrqExit { vector } => {
                    irqs.exit(event, vector, &mut self.irqs);
                    continue;
                }
                What::Mark { ref text } => InstantKind::Mark(text.clone()),
                What::Dropped { lost } => InstantKind::Dropped(lost),
                What::Spawn { thread, .. } => InstantKind::Spawn(thread),
                What::Exit { thread } => InstantKind::Exit(thread),
                What::Panic { thread, task } => InstantKind::Panic { thread, task },
                What::TimerArmed { at } => InstantKind::TimerArmed(at),
                _ => continue,
            };
            let thread = self.host(event);
            self.instants.push(Instant {
                cpu: event.cpu,
                at_us: event.us,
                thread,
                what: kind,
            });
        }
    }

    fn add_wakes(&mut self, trace: &Trace) {
        let thread_starts = self.switch_ins_by_thread();
        let task_starts = self.poll_starts_by_task(true);
        for event in trace.events() {
            let (target, by, landing) = match event.what {
                What::WakeThread { thread, by } => (
                    WakeTarget::Thread(thread),
                    by,
                    next_at(&thread_starts, thread, event.us),
                ),
                What::WakeTask { task, by } => (
                    WakeTarget::Task(task),
                    by,
                    next_at(&task_starts, task, event.us),
                ),
                _ => continue,
            };
            self.wakes.push(Wake {
                cpu: event.cpu,
                at_us: event.us,
                by,
                target,
                landing,
            });
        }
    }

    /// For each thread, (start, run index) of its switch-ins, by start.
    fn switch_ins_by_thread(&self) -> BTreeMap<u32, Vec<(f64, usize)>> {
        let mut starts: BTreeMap<u32, Vec<(f64, usize)>> = BTreeMap::new();
        for (index, run) in self.runs.iter().enumerate() {
            if !run.open_start {
                starts
                    .entry(run.thread)
                    .or_default()
                    .push((run.start_us, index));
            }
        }
        starts
            .values_mut()
            .for_each(|v| v.sort_by(|a, b| a.0.total_cmp(&b.0)));
        starts
    }

    /// For each task, (start, poll index) of its polls, by start; `traced_starts`
    /// leaves out polls whose begin is not in the trace.
    fn poll_starts_by_task(&self, traced_starts: bool) -> BTreeMap<u32, Vec<(f64, usize)>> {
        let mut starts: BTreeMap<u32, Vec<(f64, usize)>> = BTreeMap::new();
        for (index, poll) in self.polls.iter().enumerate() {
            if !(traced_starts && poll.open_start) {
                starts
                    .entry(poll.task)
                    .or_default()
                    .push((poll.start_us, index));
            }
        }
        starts
    }
}

/// The first entry of `id`'s list at or after `us`.
fn next_at(starts: &BTreeMap<u32, Vec<(f64, usize)>>, id: u32, us: f64) -> Option<usize> {
    let list = starts.get(&id)?;
    let at = list.partition_point(|&(start, _)| start < us);
    list.get(at).map(|&(_, index)| index)
}

/// Whose poll stack an event belongs to: the running thread, or the CPU when the
/// running thread is unknown.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum HostKey {
    Thread(ThreadId),
    Cpu(u16),
}

/// Follows one CPU's switches.
struct RunBuilder {
    cpu: u16,
    /// The thread running since when (`None`: unknown since `unknown_since`).
    current: Option<(ThreadId, f64)>,
    unknown_since: Option<f64>,
}

impl RunBuilder {
    fn new(cpu: u16) -> Self {
        RunBuilder {
            cpu,
            current: None,
            unknown_since: None,
        }
    }

    fn event(&mut self, event: &Event, runs: &mut Vec<Run>) {
        if self.current.is_none() {
            self.unknown_since.get_or_insert(event.us);
        }
        match event.what {
            What::Switch { from, to, reason } => {
                self.close(from, event.us, RunEnd::Switch(reason), runs);
                self.current = Some((to, event.us));
            }
            What::Dropped { .. } => {
                if let Some((thread, _)) = self.current {
                    self.close(thread, event.us, RunEnd::Dropped, runs);
                }
                self.unknown_since = Some(event.us);
            }
            _ => {}
        }
    }

    /// Ends the current run at `us`. When nothing was known to run, `from` (the thread
    /// the switch names) ran since the trace or the loss began.
    fn close(&mut self, from: ThreadId, us: f64, end: RunEnd, runs: &mut Vec<Run>) {
        let (thread, start_us, open_start) = match self.current.take() {
            Some((thread, start)) => (thread, start, false),
            None => (from, self.unknown_since.take().unwrap_or(us), true),
        };
        runs.push(Run {
            cpu: self.cpu,
            thread,
            start_us,
            end_us: us,
            open_start,
            end,
        });
    }

    fn finish(mut self, end_us: f64, runs: &mut Vec<Run>) {
        if let Some((thread, _)) = self.current {
            self.close(thread, end_us, RunEnd::TraceEnd, runs);
        }
    }
}

/// Pairs interrupt entries and exits per CPU (handlers can nest).
#[derive(Default)]
struct IrqPairs {
    open: BTreeMap<u16, Vec<usize>>,
}

impl IrqPairs {
    fn enter(&mut self, event: &Event, vector: u32, irqs: &mut Vec<Irq>) {
        self.open.entry(event.cpu).or_default().push(irqs.len());
        irqs.push(Irq {
            cpu: event.cpu,
            vector,
            start_us: event.us,
            end_us: None,
        });
    }

    fn exit(&mut self, event: &Event, vector: u32, irqs: &mut [Irq]) {
        let stack = self.open.entry(event.cpu).or_default();
        if let Some(at) = stack.iter().rposition(|&i| irqs[i].vector == vector) {
            let index = stack.remove(at);
            irqs[index].end_us = Some(event.us);
        }
    }
}

/// What Spindle uses an interrupt vector for (its `arch::x86_64::vectors` table), for
/// labels; `None` for vectors it does not assign.
pub fn vector_name(vector: u32) -> Option<&'static str> {
    Some(match vector {
        32 => "PIT",
        33 => "keyboard",
        36 => "serial",
        39 | 47 => "PIC spurious",
        48 => "timer",
        65 => "keyboard",
        68 => "serial",
        240 => "reschedule IPI",
        255 => "APIC spurious",
        _ => return None,
    })
}

/// An interrupt's label: `irq 48 (timer)`, or `irq 50`.
pub fn irq_label(vector: u32) -> String {
    match vector_name(vector) {
        Some(name) => format!("irq {vector} ({name})"),
        None => format!("irq {vector}"),
    }
}
