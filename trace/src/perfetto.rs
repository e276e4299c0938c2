//! The Chrome trace-event JSON that chrome://tracing and ui.perfetto.dev open.
//!
//! Layout: one process per CPU ("CPU 0", ...) whose thread tracks are the kernel
//! threads that ran there, one complete ("X") slice per run; one process per executor
//! ("executor console") with a track per task and a slice per poll; wakes as flow
//! arrows from the waker's slice to the woken thread's next run (or the task's next
//! poll); interrupts, losses and marks as instants.
//!
//! Track ids (`tid`) are allocated here rather than taken from kernel thread ids:
//! Perfetto keys thread names by `tid` alone, so a thread that ran on two CPUs (two
//! processes) under its own id would get one of its tracks misnamed. The kernel id is
//! in every track name and slice's `args` instead.

use std::{
    collections::{BTreeMap, BTreeSet},
    io::{self, BufWriter, Write},
};

use crate::{
    decode::{TaskId, Trace, Waker},
    json::Object,
    timeline::{InstantKind, Poll, Timeline, Wake, WakeTarget, irq_label},
};

/// Writes `trace` as Chrome/Perfetto trace-event JSON.
///
/// # Errors
/// Whatever writing to `out` fails with.
pub fn write_perfetto(trace: &Trace, out: impl Write) -> io::Result<()> {
    let timeline = Timeline::new(trace);
    let tracks = Tracks::new(trace, &timeline);
    let mut events = EventWriter::start(BufWriter::new(out))?;
    tracks.write_metadata(trace, &mut events)?;
    write_runs(trace, &timeline, &tracks, &mut events)?;
    write_halts(&timeline, &tracks, &mut events)?;
    write_polls(trace, &timeline, &tracks, &mut events)?;
    write_irqs(&timeline, &mut events)?;
    write_instants(trace, &timeline, &tracks, &mut events)?;
    write_wakes(trace, &timeline, &tracks, &mut events)?;
    events.finish(other_data(trace))
}

/// Streams the `traceEvents` array, so a long trace is never held as one string.
struct EventWriter<W: Write> {
    out: W,
    first: bool,
}

impl<W: Write> EventWriter<W> {
    fn start(mut out: W) -> io::Result<Self> {
        out.write_all(b"{\"traceEvents\":[\n")?;
        Ok(EventWriter { out, first: true })
    }

    fn push(&mut self, event: Object) -> io::Result<()> {
        if !self.first {
            self.out.write_all(b",\n")?;
        }
        self.first = false;
        self.out.write_all(event.finish().as_bytes())
    }

    fn finish(mut self, other: Object) -> io::Result<()> {
        self.out
            .write_all(b"\n],\"displayTimeUnit\":\"ns\",\"otherData\":")?;
        self.out.write_all(other.finish().as_bytes())?;
        self.out.write_all(b"}\n")?;
        self.out.flush()
    }
}

fn other_data(trace: &Trace) -> Object {
    Object::new()
        .str("generator", "spindle-trace")
        .num("tsc_hz", trace.tsc_hz())
        .num("cpus", trace.cpus())
        .num("segments", trace.segments())
        .num("dropped_records", trace.dropped_total())
        .num("unknown_records", trace.unknown_records())
}

/// Timestamps in µs, rounded to the nanosecond (what Perfetto keeps).
fn ts(us: f64) -> f64 {
    (us * 1000.0).round() / 1000.0
}

/// A moment just inside a slice that starts at `start_us`, for binding a flow's end
/// to it: at the very start, the flow event might be read before the slice.
fn just_inside(start_us: f64, end_us: f64) -> f64 {
    ts(start_us + ((end_us - start_us) / 2.0).min(0.001))
}

/// A place events can go: a process and one of its tracks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Track {
    pid: u32,
    tid: u32,
}

impl Track {
    /// An event of phase `ph` on this track.
    fn event(self, ph: &str) -> Object {
        Object::new()
            .str("ph", ph)
            .num("pid", self.pid)
            .num("tid", self.tid)
    }
}

/// The process and track numbering.
struct Tracks {
    cpus: u16,
    /// Executor (`None`: unknown) → pid.
    executors: BTreeMap<Option<u32>, u32>,
    /// Task → its executor.
    task_executor: BTreeMap<TaskId, Option<u32>>,
    /// (pid, thread or task id) → tid.
    tids: BTreeMap<(u32, u32), u32>,
}

impl Tracks {
    fn new(trace: &Trace, timeline: &Timeline) -> Self {
        let task_executor = executors_of_tasks(&timeline.polls);
        let executor_ids: BTreeSet<Option<u32>> = task_executor.values().copied().collect();
        let first_executor_pid = u32::from(trace.cpus()) + 1;
        let executors = executor_ids
            .into_iter()
            .zip(first_executor_pid..)
            .collect::<BTreeMap<_, _>>();
        let mut tracks = Tracks {
            cpus: trace.cpus(),
            executors,
            task_executor,
            tids: BTreeMap::new(),
        };
        tracks.allocate_tids(timeline);
        tracks
    }

    /// Tids after every pid, in a stable order: CPU tracks by (CPU, thread), then task
    /// tracks by (executor, task).
    fn allocate_tids(&mut self, timeline: &Timeline) {
        let mut keys: BTreeSet<(u32, u32)> = timeline
            .runs
            .iter()
            .map(|run| (cpu_pid(run.cpu), run.thread))
            .collect();
        keys.extend(self.task_executor.iter().map(|(&task, executor)| {
            let pid = self.executors[executor];
            (pid, task)
        }));
        let first_tid = u32::from(self.cpus) + self.executors.len() as u32 + 1;
        self.tids = keys.into_iter().zip(first_tid..).collect();
    }

    fn thread(&self, cpu: u16, thread: u32) -> Option<Track> {
        let pid = cpu_pid(cpu);
        let tid = *self.tids.get(&(pid, thread))?;
        Some(Track { pid, tid })
    }

    fn task(&self, task: TaskId) -> Option<Track> {
        let pid = self.executors[self.task_executor.get(&task)?];
        let tid = *self.tids.get(&(pid, task))?;
        Some(Track { pid, tid })
    }

    fn write_metadata(&self, trace: &Trace, out: &mut EventWriter<impl Write>) -> io::Result<()> {
        for cpu in 0..self.cpus {
            process_metadata(out, cpu_pid(cpu), &format!("CPU {cpu}"), u32::from(cpu))?;
        }
        for (executor, &pid) in &self.executors {
            let name = match executor {
                Some(id) => format!("executor {}", trace.executor_label(*id)),
                None => String::from("executor (unknown)"),
            };
            process_metadata(out, pid, &name, pid)?;
        }
        for (&(pid, id), &tid) in &self.tids {
            let (name, sort) = if pid <= u32::from(self.cpus) {
                let idle_last = if trace.is_idle(id) { 1 << 31 } else { 0 };
                (format!("{} ({id})", trace.thread_label(id)), idle_last | id)
            } else {
                (format!("{} (task {id})", trace.task_label(id)), id)
            };
            let track = Track { pid, tid };
            out.push(metadata(
                track,
                "thread_name",
                Object::new().str("name", &name),
            ))?;
            let sort = Object::new().num("sort_index", sort);
            out.push(metadata(track, "thread_sort_index", sort))?;
        }
        Ok(())
    }
}

fn cpu_pid(cpu: u16) -> u32 {
    u32::from(cpu) + 1
}

/// A CPU's process-level track (interrupts, losses: they belong to no thread).
fn cpu_track(cpu: u16) -> Track {
    Track {
        pid: cpu_pid(cpu),
        tid: cpu_pid(cpu),
    }
}

/// Each task's executor: the first its polls name (a poll whose begin was lost names
/// none).
fn executors_of_tasks(polls: &[Poll]) -> BTreeMap<TaskId, Option<u32>> {
    let mut map: BTreeMap<TaskId, Option<u32>> = BTreeMap::new();
    for poll in polls {
        let entry = map.entry(poll.task).or_insert(None);
        if entry.is_none() {
            *entry = poll.executor;
        }
    }
    map
}

fn process_metadata(
    out: &mut EventWriter<impl Write>,
    pid: u32,
    name: &str,
    sort: u32,
) -> io::Result<()> {
    let track = Track { pid, tid: pid };
    out.push(metadata(
        track,
        "process_name",
        Object::new().str("name", name),
    ))?;
    let sort = Object::new().num("sort_index", sort);
    out.push(metadata(track, "process_sort_index", sort))
}

fn metadata(track: Track, name: &str, args: Object) -> Object {
    track.event("M").str("name", name).obj("args", args)
}

/// A complete slice.
fn complete(
    track: Track,
    (name, cat): (&str, &str),
    (start_us, end_us): (f64, f64),
    args: Object,
) -> Object {
    let start = ts(start_us);
    track
        .event("X")
        .str("name", name)
        .str("cat", cat)
        .num("ts", start)
        .num("dur", ts(end_us) - start)
        .obj("args", args)
}

/// An instant on a thread track (`scope` "t") or its process's track ("p").
fn instant(track: Track, scope: &str, (name, cat): (&str, &str), at_us: f64) -> Object {
    track
        .event("i")
        .str("s", scope)
        .str("name", name)
        .str("cat", cat)
        .num("ts", ts(at_us))
}

fn write_runs(
    trace: &Trace,
    timeline: &Timeline,
    tracks: &Tracks,
    out: &mut EventWriter<impl Write>,
) -> io::Result<()> {
    for run in &timeline.runs {
        let Some(track) = tracks.thread(run.cpu, run.thread) else {
            continue;
        };
        let mut args = Object::new()
            .num("thread", run.thread)
            .num("cpu", run.cpu)
            .str("ended", run.end.describe());
        if run.open_start {
            args = args.str("started", "before the trace (or a loss)");
        }
        let name = trace.thread_label(run.thread);
        let span = (run.start_us, run.end_us);
        out.push(complete(track, (&name, "sched"), span, args))?;
    }
    Ok(())
}

/// Halts, nested in the idle thread's run they happen in.
fn write_halts(
    timeline: &Timeline,
    tracks: &Tracks,
    out: &mut EventWriter<impl Write>,
) -> io::Result<()> {
    for halt in &timeline.halts {
        let Some(run) = timeline.run_at(halt.cpu, halt.start_us) else {
            continue;
        };
        let Some(track) = tracks.thread(run.cpu, run.thread) else {
            continue;
        };
        let span = (halt.start_us.max(run.start_us), halt.end_us.min(run.end_us));
        out.push(complete(track, ("halted", "idle"), span, Object::new()))?;
    }
    Ok(())
}

fn write_polls(
    trace: &Trace,
    timeline: &Timeline,
    tracks: &Tracks,
    out: &mut EventWriter<impl Write>,
) -> io::Result<()> {
    for poll in &timeline.polls {
        let Some(track) = tracks.task(poll.task) else {
            continue;
        };
        let host = poll.host.map(|thread| trace.thread_label(thread));
        let args = Object::new()
            .num("task", poll.task)
            .opt_num("executor", poll.executor)
            .opt_str("host thread", host.as_deref())
            .num("cpu", poll.cpu)
            .bool("finished", poll.finished);
        let name = trace.task_label(poll.task);
        let span = (poll.start_us, poll.end_us);
        out.push(complete(track, (&name, "poll"), span, args))?;
    }
    Ok(())
}

/// Interrupts on their CPU's process track: they run on whatever thread's stack.
fn write_irqs(timeline: &Timeline, out: &mut EventWriter<impl Write>) -> io::Result<()> {
    for irq in &timeline.irqs {
        let duration = irq.end_us.map(|end| ts(end - irq.start_us));
        let args = Object::new()
            .num("vector", irq.vector)
            .opt_num("duration_us", duration);
        let name = irq_label(irq.vector);
        let event = instant(cpu_track(irq.cpu), "p", (&name, "irq"), irq.start_us);
        out.push(event.obj("args", args))?;
    }
    Ok(())
}

/// Marks, spawns, exits and panics on the running thread's track (a task's panic on the
/// task's); losses on the CPU's.
fn write_instants(
    trace: &Trace,
    timeline: &Timeline,
    tracks: &Tracks,
    out: &mut EventWriter<impl Write>,
) -> io::Result<()> {
    for point in &timeline.instants {
        let (name, cat) = instant_name(trace, &point.what);
        let on_task = match point.what {
            InstantKind::Panic {
                task: Some(task), ..
            } => tracks.task(task),
            _ => None,
        };
        let on_thread = point
            .thread
            .and_then(|thread| tracks.thread(point.cpu, thread))
            .filter(|_| {
                !matches!(
                    point.what,
                    InstantKind::Dropped(_) | InstantKind::TimerArmed(_)
                )
            });
        let (track, scope) = match on_task.or(on_thread) {
            Some(track) => (track, "t"),
            None => (cpu_track(point.cpu), "p"),
        };
        out.push(instant(track, scope, (&name, cat), point.at_us))?;
    }
    Ok(())
}

/// An instant's name and category.
fn instant_name(trace: &Trace, what: &InstantKind) -> (String, &'static str) {
    match what {
        InstantKind::Mark(text) => (text.clone(), "mark"),
        InstantKind::Dropped(lost) => (format!("{lost} records lost"), "dropped"),
        InstantKind::Spawn(thread) => (format!("spawn {}", trace.thread_label(*thread)), "thread"),
        InstantKind::Exit(thread) => (format!("exit {}", trace.thread_label(*thread)), "thread"),
        InstantKind::Panic { thread, task } => (
            match task {
                Some(task) => format!(
                    "panic in {} (on {})",
                    trace.task_label(*task),
                    trace.thread_label(*thread)
                ),
                None => format!("panic in {}", trace.thread_label(*thread)),
            },
            "panic",
        ),
        InstantKind::TimerArmed(Some(at)) => (
            format!(
                "timer armed for {}.{:09} s",
                at / 1_000_000_000,
                at % 1_000_000_000
            ),
            "timer",
        ),
        InstantKind::TimerArmed(None) => ("timer stopped".into(), "timer"),
    }
}

/// Each wake as a flow from the slice enclosing the waker to the slice it enabled.
fn write_wakes(
    trace: &Trace,
    timeline: &Timeline,
    tracks: &Tracks,
    out: &mut EventWriter<impl Write>,
) -> io::Result<()> {
    for (id, wake) in timeline.wakes.iter().enumerate() {
        let Some(source) = wake_source(timeline, tracks, wake) else {
            continue;
        };
        let name = format!("wake {}", target_label(trace, wake.target));
        match wake_landing(timeline, tracks, wake) {
            Some((target, at_us)) => {
                let flow = |track: Track, ph: &str, ts: f64| {
                    track
                        .event(ph)
                        .num("id", id)
                        .str("name", &name)
                        .str("cat", "wake")
                        .num("ts", ts)
                };
                out.push(flow(source, "s", ts(wake.at_us)))?;
                out.push(flow(target, "f", at_us).str("bp", "e"))?;
            }
            None => {
                let name = format!("{name} (not run before the trace ends)");
                out.push(instant(source, "t", (&name, "wake"), wake.at_us))?;
            }
        }
    }
    Ok(())
}

fn target_label(trace: &Trace, target: WakeTarget) -> String {
    match target {
        WakeTarget::Thread(thread) => trace.thread_label(thread),
        WakeTarget::Task(task) => trace.task_label(task),
    }
}

/// The track whose slice encloses the waker: the waking task's poll, else the thread
/// running on the wake's CPU (interrupts included: they run on its stack).
fn wake_source(timeline: &Timeline, tracks: &Tracks, wake: &Wake) -> Option<Track> {
    if let Waker::Task(task) = wake.by
        && timeline.poll_at(task, wake.at_us).is_some()
    {
        return tracks.task(task);
    }
    let run = timeline.run_at(wake.cpu, wake.at_us)?;
    tracks.thread(run.cpu, run.thread)
}

/// The track and time (just inside the slice) where the wake lands.
fn wake_landing(timeline: &Timeline, tracks: &Tracks, wake: &Wake) -> Option<(Track, f64)> {
    let landing = wake.landing?;
    match wake.target {
        WakeTarget::Thread(thread) => {
            let run = &timeline.runs[landing];
            let track = tracks.thread(run.cpu, thread)?;
            Some((track, just_inside(run.start_us, run.end_us)))
        }
        WakeTarget::Task(task) => {
            let poll = &timeline.polls[landing];
            Some((tracks.task(task)?, just_inside(poll.start_us, poll.end_us)))
        }
    }
}
