//! Invariants a correct scheduler's trace keeps, checked over a decoded [`Trace`].
//!
//! Each rule is one the kernel's scheduler relies on; a trace that breaks one shows a
//! scheduler bug or a trace-point bug, and either way the pictures drawn from it would
//! lie. Rules are checked where the trace can tell: before a CPU's first switch (and
//! after records were lost) what ran is unknown, and a wake lost with dropped records
//! is not held against the thread it woke.

use std::{collections::BTreeMap, fmt};

use crate::{
    SwitchReason,
    decode::{Event, ThreadId, Trace, Waker, What},
};

/// Which rule a [`Violation`] breaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Rule {
    /// (a) A thread switched out or exited on a CPU where another thread was switched in.
    NotRunning,
    /// (b) A thread that blocked or slept was switched in again with no wake since.
    RanWithoutWake,
    /// (c) A thread mentioned after it exited.
    AfterExit,
    /// (d) A CPU's timestamps went backwards.
    TimeBackwards,
}

impl fmt::Display for Rule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Rule::NotRunning => "not running",
            Rule::RanWithoutWake => "ran without wake",
            Rule::AfterExit => "after exit",
            Rule::TimeBackwards => "time backwards",
        })
    }
}

/// One broken invariant.
#[derive(Debug, Clone, PartialEq)]
pub struct Violation {
    /// The rule.
    pub rule: Rule,
    /// The CPU of the offending event.
    pub cpu: u16,
    /// Its time, µs.
    pub us: f64,
    /// The thread concerned, if one is.
    pub thread: Option<ThreadId>,
    /// A sentence naming the CPU, the time and the thread.
    pub message: String,
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.rule, self.message)
    }
}

/// Checks a trace's invariants; returns the violations in time order (rule (d) by CPU).
///
/// - (a) A thread switched out, or exiting, on a CPU is the one last switched in there.
///   The first switch on each CPU (and the first after a loss) establishes what ran.
/// - (b) A thread switched out to block or sleep runs again only after a wake for it.
///   A wake that arrived since its last switch-in counts (it may race the switch-out
///   record); a wake in a loss window is assumed.
/// - (c) No event names a thread after its exit, except its own exit switch-out.
/// - (d) Each CPU's timestamps never decrease.
pub fn check(trace: &Trace) -> Vec<Violation> {
    let mut checker = Checker::new(trace);
    trace.events().iter().for_each(|event| checker.event(event));
    let mut violations = checker.violations;
    violations.extend(time_backwards(trace));
    violations
}

/// What the checker knows about a thread.
#[derive(Debug, Clone, Copy, PartialEq)]
enum State {
    Unknown,
    Running,
    Runnable,
    Blocked { since_us: f64, cpu: u16 },
    Exited { at_us: f64, exit_switch_left: bool },
}

struct Checker<'t> {
    trace: &'t Trace,
    /// Per CPU: the thread last switched in (`None` at first and after a loss).
    running: Vec<Option<(ThreadId, f64)>>,
    threads: BTreeMap<ThreadId, State>,
    /// A wake since the thread's last switch-in, by thread.
    woken: BTreeMap<ThreadId, f64>,
    /// Every wake's time, by thread (to name the late wake in a message).
    wakes: BTreeMap<ThreadId, Vec<(f64, u16)>>,
    /// Windows (from, to] in which a CPU lost records.
    losses: Vec<(f64, f64)>,
    violations: Vec<Violation>,
}

impl<'t> Checker<'t> {
    fn new(trace: &'t Trace) -> Self {
        Checker {
            trace,
            running: vec![None; usize::from(trace.cpus())],
            threads: BTreeMap::new(),
            woken: BTreeMap::new(),
            wakes: wakes_by_thread(trace),
            losses: loss_windows(trace),
            violations: Vec::new(),
        }
    }

    fn event(&mut self, event: &Event) {
        self.after_exit(event);
        match event.what {
            What::Switch { from, to, reason } => {
                self.switch_out(event, from, reason);
                self.switch_in(event, to);
            }
            What::Exit { thread } => {
                self.expect_running(event, thread, "exits");
                self.threads.insert(
                    thread,
                    State::Exited {
                        at_us: event.us,
                        exit_switch_left: true,
                    },
                );
            }
            What::WakeThread { thread, .. } => {
                self.woken.insert(thread, event.us);
            }
            What::Panic { thread, .. } => self.expect_running(event, thread, "panics"),
            What::Dropped { .. } => self.running[usize::from(event.cpu)] = None,
            _ => {}
        }
    }

    fn state(&self, thread: ThreadId) -> State {
        self.threads.get(&thread).copied().unwrap_or(State::Unknown)
    }

    /// Rule (a).
    fn expect_running(&mut self, event: &Event, thread: ThreadId, doing: &str) {
        let Some((running, since)) = self.running[usize::from(event.cpu)] else {
            return;
        };
        if running != thread {
            let message = format!(
                "CPU {} at {:.3} µs: {} {doing}, but {} was switched in there (at {since:.3} µs)",
                event.cpu,
                event.us,
                self.trace.describe_thread(thread),
                self.trace.describe_thread(running),
            );
            self.report(Rule::NotRunning, event, Some(thread), message);
        }
    }

    fn switch_out(&mut self, event: &Event, from: ThreadId, reason: Option<SwitchReason>) {
        self.expect_running(event, from, "is switched out");
        let state = match (self.state(from), reason) {
            (State::Exited { .. }, _) => return,
            (_, Some(SwitchReason::Block | SwitchReason::Sleep)) => State::Blocked {
                since_us: event.us,
                cpu: event.cpu,
            },
            (_, Some(SwitchReason::Exit)) => State::Exited {
                at_us: event.us,
                exit_switch_left: false,
            },
            _ => State::Runnable,
        };
        self.threads.insert(from, state);
    }

    /// Rule (b), at a switch-in.
    fn switch_in(&mut self, event: &Event, to: ThreadId) {
        self.running[usize::from(event.cpu)] = Some((to, event.us));
        let woken = self.woken.remove(&to).is_some();
        if let State::Blocked { since_us, cpu } = self.state(to)
            && !woken
            && !self.lost_between(since_us, event.us)
        {
            let message = self.no_wake_message(event, to, since_us, cpu);
            self.report(Rule::RanWithoutWake, event, Some(to), message);
        }
        if !matches!(self.state(to), State::Exited { .. }) {
            self.threads.insert(to, State::Running);
        }
    }

    fn no_wake_message(&self, event: &Event, to: ThreadId, since_us: f64, cpu: u16) -> String {
        let late = self.wakes.get(&to).and_then(|wakes| {
            let at = wakes.partition_point(|&(us, _)| us < event.us);
            wakes.get(at)
        });
        let late = match late {
            Some((us, wake_cpu)) => format!("; its next wake is at {us:.3} µs on CPU {wake_cpu}"),
            None => String::from("; no later wake either"),
        };
        format!(
            "CPU {} at {:.3} µs: {} is switched in, but it blocked at {since_us:.3} µs on CPU {cpu} and was not woken since{late}",
            event.cpu,
            event.us,
            self.trace.describe_thread(to),
        )
    }

    fn lost_between(&self, from_us: f64, to_us: f64) -> bool {
        self.losses
            .iter()
            .any(|&(start, end)| start < to_us && end >= from_us)
    }

    /// Rule (c): every thread the event names must not have exited (its own exit
    /// switch-out aside, once).
    fn after_exit(&mut self, event: &Event) {
        for (thread, role) in mentions(event) {
            let State::Exited {
                at_us,
                exit_switch_left,
            } = self.state(thread)
            else {
                continue;
            };
            if role == Role::ExitSwitchOut && exit_switch_left {
                self.threads.insert(
                    thread,
                    State::Exited {
                        at_us,
                        exit_switch_left: false,
                    },
                );
                continue;
            }
            let message = format!(
                "CPU {} at {:.3} µs: {} {} after it exited at {at_us:.3} µs",
                event.cpu,
                event.us,
                self.trace.describe_thread(thread),
                role.describe(),
            );
            self.report(Rule::AfterExit, event, Some(thread), message);
        }
    }

    fn report(&mut self, rule: Rule, event: &Event, thread: Option<ThreadId>, message: String) {
        self.violations.push(Violation {
            rule,
            cpu: event.cpu,
            us: event.us,
            thread,
            message,
        });
    }
}

/// How an event names a thread.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Role {
    SwitchOut,
    ExitSwitchOut,
    SwitchIn,
    Woken,
    Waker,
    Spawned,
    Spawner,
    Exits,
    Panics,
}

impl Role {
    fn describe(self) -> &'static str {
        match self {
            Role::SwitchOut | Role::ExitSwitchOut => "is switched out",
            Role::SwitchIn => "is switched in",
            Role::Woken => "is woken",
            Role::Waker => "wakes something",
            Role::Spawned => "is spawned",
            Role::Spawner => "spawns a thread",
            Role::Exits => "exits again",
            Role::Panics => "panics",
        }
    }
}

/// The threads an event names, and how.
fn mentions(event: &Event) -> Vec<(ThreadId, Role)> {
    let waker = |by: Waker| match by {
        Waker::Thread(thread) => vec![(thread, Role::Waker)],
        _ => Vec::new(),
    };
    match event.what {
        What::Switch { from, to, reason } => {
            let out = if reason == Some(SwitchReason::Exit) {
                Role::ExitSwitchOut
            } else {
                Role::SwitchOut
            };
            vec![(from, out), (to, Role::SwitchIn)]
        }
        What::WakeThread { thread, by } => {
            let mut named = vec![(thread, Role::Woken)];
            named.extend(waker(by));
            named
        }
        What::WakeTask { by, .. } => waker(by),
        What::Spawn { thread, parent } => vec![(thread, Role::Spawned), (parent, Role::Spawner)],
        What::Exit { thread } => vec![(thread, Role::Exits)],
        What::Panic { thread, .. } => vec![(thread, Role::Panics)],
        _ => Vec::new(),
    }
}

fn wakes_by_thread(trace: &Trace) -> BTreeMap<ThreadId, Vec<(f64, u16)>> {
    let mut wakes: BTreeMap<ThreadId, Vec<(f64, u16)>> = BTreeMap::new();
    for event in trace.events() {
        if let What::WakeThread { thread, .. } = event.what {
            wakes.entry(thread).or_default().push((event.us, event.cpu));
        }
    }
    wakes
}

/// For each `Dropped` event: from the CPU's previous event (or the trace's start) to
/// the drop, the window in which the lost records were made.
fn loss_windows(trace: &Trace) -> Vec<(f64, f64)> {
    let mut windows = Vec::new();
    for cpu in 0..trace.cpus() {
        let mut previous = f64::NEG_INFINITY;
        for event in trace.cpu_events(cpu) {
            if matches!(event.what, What::Dropped { .. }) {
                windows.push((previous, event.us));
            }
            previous = event.us;
        }
    }
    windows
}

/// Rule (d), per CPU in the order the CPU recorded.
fn time_backwards(trace: &Trace) -> Vec<Violation> {
    (0..trace.cpus())
        .flat_map(|cpu| cpu_time_backwards(trace, cpu))
        .collect()
}

fn cpu_time_backwards(trace: &Trace, cpu: u16) -> Vec<Violation> {
    let mut violations = Vec::new();
    let mut previous: Option<&Event> = None;
    let mut running = None;
    for (index, event) in trace.cpu_events(cpu).enumerate() {
        if let What::Switch { to, .. } = event.what {
            running = Some(to);
        }
        if let Some(before) = previous.filter(|before| event.tsc < before.tsc) {
            let on = running.map_or_else(
                || String::from("no thread known to run"),
                |thread| format!("{} running", trace.describe_thread(thread)),
            );
            violations.push(Violation {
                rule: Rule::TimeBackwards,
                cpu,
                us: event.us,
                thread: running,
                message: format!(
                    "CPU {cpu} at {:.3} µs: time goes back from {:.3} µs at its event #{index} ({}, {on})",
                    event.us,
                    before.us,
                    kind_name(&event.what),
                ),
            });
        }
        previous = Some(event);
    }
    violations
}

/// A short name of an event's kind, for messages (and for a test kernel's
/// `//@ trace-holds:` directive).
pub fn kind_name(what: &What) -> &'static str {
    match what {
        What::Switch { .. } => "switch",
        What::WakeThread { .. } => "thread wake",
        What::WakeTask { .. } => "task wake",
        What::IrqEnter { .. } => "interrupt entry",
        What::IrqExit { .. } => "interrupt exit",
        What::PollBegin { .. } => "poll begin",
        What::PollEnd { .. } => "poll end",
        What::Spawn { .. } => "spawn",
        What::Exit { .. } => "exit",
        What::IdleEnter => "idle entry",
        What::IdleExit => "idle exit",
        What::Mark { .. } => "mark",
        What::Panic { .. } => "panic",
        What::Dropped { .. } => "dropped",
        What::TimerArmed { .. } => "timer",
    }
}
