//! Decoding a stream into a [`Trace`]: typed events, per CPU and merged, plus names.
//!
//! The decoder is strict about the framing (a stream it cannot frame cannot be trusted
//! anywhere after the fault) and lenient about the contents (a record of a kind it does
//! not know is counted and skipped, so a newer kernel does not break an older host).

use std::{
    cmp::Reverse,
    collections::{BTreeMap, BinaryHeap},
    fmt,
};

use crate::format::{HEADER_SIZE, Header, Kind, MAGIC, RECORD_SIZE, Record, SwitchReason, VERSION};

/// A kernel thread's id (the `Switch` and `WakeThread` records' ids).
pub type ThreadId = u32;
/// An async task's id.
pub type TaskId = u32;
/// An executor's id.
pub type ExecutorId = u32;

/// Why a stream could not be decoded. Offsets are byte offsets into the stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DecodeError {
    /// No bytes at all: the kernel wrote nothing (or tracing was never enabled).
    Empty,
    /// The bytes at `offset` are not a header (wrong magic): not a Spindle trace, or
    /// the stream lost bytes and records no longer line up.
    BadMagic {
        /// Where the header was expected.
        offset: usize,
    },
    /// The stream ends inside a header.
    TruncatedHeader {
        /// Where the header starts.
        offset: usize,
        /// The bytes that remain (fewer than a header's).
        left: usize,
    },
    /// A header of a format version this decoder does not read.
    UnsupportedVersion {
        /// Where the header starts.
        offset: usize,
        /// The version it claims.
        version: u16,
    },
    /// A header announcing records of another size than [`RECORD_SIZE`].
    UnsupportedRecordSize {
        /// Where the header starts.
        offset: usize,
        /// The size it claims.
        size: u16,
    },
    /// A header with a TSC frequency of 0: no timestamp could be turned into time.
    ZeroTscHz {
        /// Where the header starts.
        offset: usize,
    },
    /// A header that declares no CPUs.
    ZeroCpus {
        /// Where the header starts.
        offset: usize,
    },
    /// A later segment's TSC frequency differs from the first one's, so the two cannot
    /// share one time axis.
    TscHzChanged {
        /// Where the later header starts.
        offset: usize,
        /// The first segment's frequency.
        first: u64,
        /// This segment's frequency.
        now: u64,
    },
    /// The stream ends inside a record.
    TruncatedRecord {
        /// Where the record starts.
        offset: usize,
        /// The bytes that remain (fewer than a record's).
        left: usize,
    },
    /// A record from a CPU its segment's header does not have.
    CpuOutOfRange {
        /// Where the record starts.
        offset: usize,
        /// The record's CPU.
        cpu: u8,
        /// The CPUs the header declares.
        cpus: u16,
    },
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        use DecodeError::*;
        match *self {
            Empty => write!(f, "empty input: no trace header"),
            BadMagic { offset } => write!(
                f,
                "bad magic at offset {offset}: not a Spindle trace header (expected \"SPINTRC\\0\")"
            ),
            TruncatedHeader { offset, left } => write!(
                f,
                "truncated header at offset {offset}: {left} bytes left of {HEADER_SIZE}"
            ),
            UnsupportedVersion { offset, version } => write!(
                f,
                "unsupported version {version} at offset {offset} (this decoder reads version {VERSION})"
            ),
            UnsupportedRecordSize { offset, size } => write!(
                f,
                "unsupported record size {size} at offset {offset} (this decoder reads {RECORD_SIZE}-byte records)"
            ),
            ZeroTscHz { offset } => write!(f, "TSC frequency 0 in the header at offset {offset}"),
            ZeroCpus { offset } => write!(f, "0 CPUs in the header at offset {offset}"),
            TscHzChanged { offset, first, now } => write!(
                f,
                "TSC frequency changes from {first} Hz to {now} Hz in the header at offset {offset}"
            ),
            TruncatedRecord { offset, left } => write!(
                f,
                "truncated record at offset {offset}: {left} bytes left of {RECORD_SIZE}"
            ),
            CpuOutOfRange { offset, cpu, cpus } => write!(
                f,
                "record at offset {offset} is from CPU {cpu} but its header declares {cpus} CPUs"
            ),
        }
    }
}

impl std::error::Error for DecodeError {}

/// Who woke a thread or queued a task.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Waker {
    /// Code running on this thread.
    Thread(ThreadId),
    /// The handler of this interrupt vector.
    Interrupt(u32),
    /// This task, while being polled.
    Task(TaskId),
    /// A source code this decoder does not know (from a newer kernel).
    Unknown {
        /// The source code (`small`).
        code: u8,
        /// The source's id (`a`).
        id: u64,
    },
}

/// What happened, with the record's fields given their meaning.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum What {
    /// Thread `from` stopped running and thread `to` started.
    Switch {
        /// The thread switched out.
        from: ThreadId,
        /// The thread switched in.
        to: ThreadId,
        /// Why `from` stopped; `None` for a reason code this decoder does not know.
        reason: Option<SwitchReason>,
    },
    /// A thread was made runnable.
    WakeThread {
        /// The thread.
        thread: ThreadId,
        /// Who woke it.
        by: Waker,
    },
    /// A task was queued for polling.
    WakeTask {
        /// The task.
        task: TaskId,
        /// Who queued it.
        by: Waker,
    },
    /// An interrupt handler started.
    IrqEnter {
        /// Its vector.
        vector: u32,
    },
    /// An interrupt handler ended.
    IrqExit {
        /// Its vector.
        vector: u32,
    },
    /// An executor started polling a task (on the thread running on this CPU).
    PollBegin {
        /// The task.
        task: TaskId,
        /// The executor.
        executor: ExecutorId,
    },
    /// The poll returned.
    PollEnd {
        /// The task.
        task: TaskId,
        /// Whether the task completed.
        finished: bool,
    },
    /// A thread was created.
    Spawn {
        /// The new thread.
        thread: ThreadId,
        /// The thread that created it.
        parent: ThreadId,
    },
    /// A thread ended (its switch-out with [`SwitchReason::Exit`] follows).
    Exit {
        /// The thread.
        thread: ThreadId,
    },
    /// The CPU halted.
    IdleEnter,
    /// An interrupt ended the halt.
    IdleExit,
    /// A mark from kernel code.
    Mark {
        /// Its text (invalid UTF-8 replaced).
        text: String,
    },
    /// A panic was contained: the thread unwinds to its catch frame (the task's poll, or
    /// the thread's entry).
    Panic {
        /// The thread that panicked (running on this CPU).
        thread: ThreadId,
        /// The task it was polling, if any.
        task: Option<TaskId>,
    },
    /// This CPU's timer was armed to fire at `at` (nanoseconds since boot), or stopped
    /// (`None`: nothing due on this CPU).
    TimerArmed {
        /// When it is due.
        at: Option<u64>,
    },
    /// This CPU lost `lost` records just before this point.
    Dropped {
        /// How many.
        lost: u64,
    },
}

/// One decoded event.
#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    /// When, in TSC ticks. A `Dropped` record is moved to its CPU's next record's time
    /// (see [`decode`]).
    pub tsc: u64,
    /// When, in microseconds since the trace's first event.
    pub us: f64,
    /// The CPU it happened on.
    pub cpu: u16,
    /// What happened.
    pub what: What,
}

/// A decoded trace: events in time order (per CPU and merged), names, losses.
#[derive(Debug, Clone)]
pub struct Trace {
    tsc_hz: u64,
    cpus: u16,
    segments: usize,
    events: Vec<Event>,
    by_cpu: Vec<Vec<usize>>,
    threads: BTreeMap<ThreadId, String>,
    tasks: BTreeMap<TaskId, String>,
    executors: BTreeMap<ExecutorId, String>,
    dropped: Vec<u64>,
    unknown: u64,
    first_tsc: u64,
}

/// Decodes a stream: one or more segments, each a header then records.
///
/// A new segment is recognised by the magic at a record boundary (the format has no
/// segment lengths; a record whose TSC spells the magic would be misread, which needs
/// a TSC of about 2^54). Names are collected wherever they appear, so a thread named
/// after its first switch is still labelled everywhere. A `Dropped` record is stamped
/// when the ring is read out, after the records it precedes, so its timestamp is moved
/// back to its CPU's next record: that is where the gap is.
///
/// # Errors
/// A stream that does not start with a valid header, has a header this decoder does
/// not read, ends inside a record or names a CPU its header does not declare; see
/// [`DecodeError`].
pub fn decode(bytes: &[u8]) -> Result<Trace, DecodeError> {
    let stream = frame(bytes)?;
    Ok(Trace::build(stream))
}

/// The stream cut into headers and records, before interpretation.
struct Framed {
    tsc_hz: u64,
    cpus: u16,
    segments: usize,
    records: Vec<Record>,
}

fn frame(bytes: &[u8]) -> Result<Framed, DecodeError> {
    if bytes.is_empty() {
        return Err(DecodeError::Empty);
    }
    let first = read_header(bytes, 0)?;
    let mut framed = Framed {
        tsc_hz: first.tsc_hz,
        cpus: first.cpus,
        segments: 1,
        records: Vec::with_capacity(bytes.len() / RECORD_SIZE),
    };
    let mut cpus = first.cpus;
    let mut offset = HEADER_SIZE;
    while offset < bytes.len() {
        let rest = &bytes[offset..];
        if rest.len() >= MAGIC.len() && rest[..MAGIC.len()] == MAGIC {
            cpus = next_segment(&mut framed, bytes, offset)?;
        } else {
            framed.records.push(read_record(rest, offset, cpus)?);
        }
        offset += RECORD_SIZE;
    }
    Ok(framed)
}

/// Reads a later segment's header into `framed`; returns its CPU count.
fn next_segment(framed: &mut Framed, bytes: &[u8], offset: usize) -> Result<u16, DecodeError> {
    let header = read_header(bytes, offset)?;
    if header.tsc_hz != framed.tsc_hz {
        return Err(DecodeError::TscHzChanged {
            offset,
            first: framed.tsc_hz,
            now: header.tsc_hz,
        });
    }
    framed.segments += 1;
    framed.cpus = framed.cpus.max(header.cpus);
    Ok(header.cpus)
}

fn read_header(bytes: &[u8], offset: usize) -> Result<Header, DecodeError> {
    let rest = &bytes[offset..];
    let magic_len = rest.len().min(MAGIC.len());
    if rest[..magic_len] != MAGIC[..magic_len] {
        return Err(DecodeError::BadMagic { offset });
    }
    let Some(raw) = rest.get(..HEADER_SIZE) else {
        return Err(DecodeError::TruncatedHeader {
            offset,
            left: rest.len(),
        });
    };
    let raw: &[u8; HEADER_SIZE] = raw.try_into().expect("a header's length");
    let header = Header::decode(raw).ok_or(DecodeError::UnsupportedRecordSize {
        offset,
        size: u16::from_le_bytes([raw[10], raw[11]]),
    })?;
    validate_header(&header, offset)?;
    Ok(header)
}

fn validate_header(header: &Header, offset: usize) -> Result<(), DecodeError> {
    if header.version != VERSION {
        return Err(DecodeError::UnsupportedVersion {
            offset,
            version: header.version,
        });
    }
    if header.tsc_hz == 0 {
        return Err(DecodeError::ZeroTscHz { offset });
    }
    if header.cpus == 0 {
        return Err(DecodeError::ZeroCpus { offset });
    }
    Ok(())
}

fn read_record(rest: &[u8], offset: usize, cpus: u16) -> Result<Record, DecodeError> {
    let Some(raw) = rest.get(..RECORD_SIZE) else {
        return Err(DecodeError::TruncatedRecord {
            offset,
            left: rest.len(),
        });
    };
    let record = Record::decode(raw.try_into().expect("a record's length"));
    if u16::from(record.cpu) >= cpus {
        return Err(DecodeError::CpuOutOfRange {
            offset,
            cpu: record.cpu,
            cpus,
        });
    }
    Ok(record)
}

/// How a record is interpreted.
enum Interpreted {
    Event(What),
    Name(Kind, u32, String),
    Unknown,
}

/// Gives a record its meaning; `Unknown` for kinds (or field values) this decoder does
/// not understand.
fn interpret(record: &Record) -> Interpreted {
    let Some(kind) = record.kind() else {
        return Interpreted::Unknown;
    };
    let id = record.id;
    let what = match kind {
        Kind::Switch => match u32::try_from(record.a) {
            Ok(to) => What::Switch {
                from: id,
                to,
                reason: SwitchReason::from_code(record.small),
            },
            Err(_) => return Interpreted::Unknown,
        },
        Kind::WakeThread => What::WakeThread {
            thread: id,
            by: waker(record),
        },
        Kind::WakeTask => What::WakeTask {
            task: id,
            by: waker(record),
        },
        Kind::IrqEnter => What::IrqEnter { vector: id },
        Kind::IrqExit => What::IrqExit { vector: id },
        Kind::PollBegin => match u32::try_from(record.a) {
            Ok(executor) => What::PollBegin { task: id, executor },
            Err(_) => return Interpreted::Unknown,
        },
        Kind::PollEnd => What::PollEnd {
            task: id,
            finished: record.small != 0,
        },
        Kind::Spawn => match u32::try_from(record.a) {
            Ok(parent) => What::Spawn { thread: id, parent },
            Err(_) => return Interpreted::Unknown,
        },
        Kind::Exit => What::Exit { thread: id },
        Kind::IdleEnter => What::IdleEnter,
        Kind::IdleExit => What::IdleExit,
        Kind::Dropped => What::Dropped { lost: record.a },
        Kind::TimerArmed => What::TimerArmed {
            at: (record.small != 0).then_some(record.a),
        },
        Kind::Panic => match (record.small, u32::try_from(record.a)) {
            (0, _) => What::Panic {
                thread: id,
                task: None,
            },
            (1, Ok(task)) => What::Panic {
                thread: id,
                task: Some(task),
            },
            _ => return Interpreted::Unknown,
        },
        Kind::Mark => match text(record) {
            Some(text) => What::Mark { text },
            None => return Interpreted::Unknown,
        },
        Kind::ThreadName | Kind::TaskName | Kind::ExecutorName => {
            return match text(record) {
                Some(text) => Interpreted::Name(kind, id, text),
                None => Interpreted::Unknown,
            };
        }
    };
    Interpreted::Event(what)
}

/// A record's text; bad UTF-8 is replaced rather than refused (a cut name is still a
/// useful label), but a length beyond the field is not text at all.
fn text(record: &Record) -> Option<String> {
    let (bytes, len) = record.text_bytes()?;
    Some(String::from_utf8_lossy(&bytes[..len]).into_owned())
}

fn waker(record: &Record) -> Waker {
    let id = record.a;
    let narrow = u32::try_from(id);
    match (record.small, narrow) {
        (0, Ok(thread)) => Waker::Thread(thread),
        (1, Ok(vector)) => Waker::Interrupt(vector),
        (2, Ok(task)) => Waker::Task(task),
        (code, _) => Waker::Unknown { code, id },
    }
}

/// An event before time conversion and merging: `seq` is its place in the stream.
struct Pending {
    seq: usize,
    record_tsc: u64,
    cpu: u16,
    what: What,
}

impl Trace {
    fn build(stream: Framed) -> Self {
        let mut trace = Trace {
            tsc_hz: stream.tsc_hz,
            cpus: stream.cpus,
            segments: stream.segments,
            events: Vec::new(),
            by_cpu: vec![Vec::new(); usize::from(stream.cpus)],
            threads: BTreeMap::new(),
            tasks: BTreeMap::new(),
            executors: BTreeMap::new(),
            dropped: vec![0; usize::from(stream.cpus)],
            unknown: 0,
            first_tsc: 0,
        };
        let mut per_cpu = trace.sort_records(stream.records);
        per_cpu
            .iter_mut()
            .for_each(|events| move_drops_to_gap(events));
        trace.first_tsc = per_cpu
            .iter()
            .flatten()
            .map(|e| e.record_tsc)
            .min()
            .unwrap_or(0);
        trace.merge(per_cpu);
        trace
    }

    /// Splits the records by CPU (stream order kept), taking the names and counting
    /// drops and unknown records on the way.
    fn sort_records(&mut self, records: Vec<Record>) -> Vec<Vec<Pending>> {
        let mut per_cpu: Vec<Vec<Pending>> = (0..self.cpus).map(|_| Vec::new()).collect();
        for (seq, record) in records.iter().enumerate() {
            match interpret(record) {
                Interpreted::Unknown => self.unknown += 1,
                Interpreted::Name(kind, id, text) => self.name(kind, id, text),
                Interpreted::Event(what) => {
                    let cpu = u16::from(record.cpu);
                    if let What::Dropped { lost } = what {
                        self.dropped[usize::from(cpu)] += lost;
                    }
                    per_cpu[usize::from(cpu)].push(Pending {
                        seq,
                        record_tsc: record.tsc,
                        cpu,
                        what,
                    });
                }
            }
        }
        per_cpu
    }

    /// Keeps the last name given (a later record is the newer truth).
    fn name(&mut self, kind: Kind, id: u32, text: String) {
        let names = match kind {
            Kind::ThreadName => &mut self.threads,
            Kind::TaskName => &mut self.tasks,
            _ => &mut self.executors,
        };
        names.insert(id, text);
    }

    /// Merges the per-CPU sequences by timestamp, keeping each CPU's own order (even
    /// where its timestamps go backwards, which [`check`](crate::check()) reports) and,
    /// between equal timestamps, the stream's order.
    fn merge(&mut self, per_cpu: Vec<Vec<Pending>>) {
        let mut queues: Vec<std::vec::IntoIter<Pending>> =
            per_cpu.into_iter().map(Vec::into_iter).collect();
        let mut heads: Vec<Option<Pending>> = queues.iter_mut().map(Iterator::next).collect();
        let mut heap: BinaryHeap<Reverse<(u64, usize, usize)>> = heads
            .iter()
            .enumerate()
            .filter_map(|(cpu, head)| head.as_ref().map(|e| Reverse((e.record_tsc, e.seq, cpu))))
            .collect();
        while let Some(Reverse((_, _, cpu))) = heap.pop() {
            let pending = heads[cpu].take().expect("a queued head");
            self.push(pending);
            heads[cpu] = queues[cpu].next();
            if let Some(e) = &heads[cpu] {
                heap.push(Reverse((e.record_tsc, e.seq, cpu)));
            }
        }
    }

    fn push(&mut self, pending: Pending) {
        self.by_cpu[usize::from(pending.cpu)].push(self.events.len());
        self.events.push(Event {
            tsc: pending.record_tsc,
            us: self.micros(pending.record_tsc),
            cpu: pending.cpu,
            what: pending.what,
        });
    }

    /// TSC ticks per second.
    pub fn tsc_hz(&self) -> u64 {
        self.tsc_hz
    }

    /// CPUs (the most any segment's header declares).
    pub fn cpus(&self) -> u16 {
        self.cpus
    }

    /// Segments (headers) in the stream.
    pub fn segments(&self) -> usize {
        self.segments
    }

    /// Every event, in time order (ties in stream order; each CPU's own order is kept).
    pub fn events(&self) -> &[Event] {
        &self.events
    }

    /// One CPU's events, in the order the CPU recorded them.
    pub fn cpu_events(&self, cpu: u16) -> impl Iterator<Item = &Event> + '_ {
        self.by_cpu
            .get(usize::from(cpu))
            .into_iter()
            .flatten()
            .map(|&index| &self.events[index])
    }

    /// Microseconds from the trace's first event to TSC value `tsc` (negative before it).
    pub fn micros(&self, tsc: u64) -> f64 {
        let ticks = i128::from(tsc) - i128::from(self.first_tsc);
        ticks as f64 * 1e6 / self.tsc_hz as f64
    }

    /// Microseconds from the first event to the last.
    pub fn span_us(&self) -> f64 {
        self.events.iter().map(|e| e.us).fold(0.0, f64::max)
    }

    /// A thread's name, if the trace gave one.
    pub fn thread_name(&self, thread: ThreadId) -> Option<&str> {
        self.threads.get(&thread).map(String::as_str)
    }

    /// A task's name, if the trace gave one.
    pub fn task_name(&self, task: TaskId) -> Option<&str> {
        self.tasks.get(&task).map(String::as_str)
    }

    /// An executor's name, if the trace gave one.
    pub fn executor_name(&self, executor: ExecutorId) -> Option<&str> {
        self.executors.get(&executor).map(String::as_str)
    }

    /// Every named thread.
    pub fn thread_names(&self) -> &BTreeMap<ThreadId, String> {
        &self.threads
    }

    /// Every named task.
    pub fn task_names(&self) -> &BTreeMap<TaskId, String> {
        &self.tasks
    }

    /// Every named executor.
    pub fn executor_names(&self) -> &BTreeMap<ExecutorId, String> {
        &self.executors
    }

    /// A thread's short label: its name, else `thread N`.
    pub fn thread_label(&self, thread: ThreadId) -> String {
        self.thread_name(thread)
            .map_or_else(|| format!("thread {thread}"), str::to_owned)
    }

    /// A task's short label: its name, else `task N`.
    pub fn task_label(&self, task: TaskId) -> String {
        self.task_name(task)
            .map_or_else(|| format!("task {task}"), str::to_owned)
    }

    /// An executor's short label: its name, else `executor N`.
    pub fn executor_label(&self, executor: ExecutorId) -> String {
        self.executor_name(executor)
            .map_or_else(|| format!("executor {executor}"), str::to_owned)
    }

    /// A thread for messages: `thread 7 "console"` (or `thread 7`).
    pub fn describe_thread(&self, thread: ThreadId) -> String {
        match self.thread_name(thread) {
            Some(name) => format!("thread {thread} {name:?}"),
            None => format!("thread {thread}"),
        }
    }

    /// Whether a thread is a CPU's idle thread (named `idle...` by the kernel).
    pub fn is_idle(&self, thread: ThreadId) -> bool {
        self.thread_name(thread)
            .is_some_and(|name| name.starts_with("idle"))
    }

    /// Records one CPU lost to ring overflow.
    pub fn dropped(&self, cpu: u16) -> u64 {
        self.dropped.get(usize::from(cpu)).copied().unwrap_or(0)
    }

    /// Records lost on all CPUs.
    pub fn dropped_total(&self) -> u64 {
        self.dropped.iter().sum()
    }

    /// Records skipped because this decoder does not understand them: unknown kinds, or
    /// known kinds whose fields are out of range (both come from a newer kernel).
    pub fn unknown_records(&self) -> u64 {
        self.unknown
    }
}

/// Moves each `Dropped` event back to the time of the CPU's next event: the kernel
/// stamps it when it reads the ring out, after the older records it precedes.
fn move_drops_to_gap(events: &mut [Pending]) {
    for index in (0..events.len()).rev() {
        if !matches!(events[index].what, What::Dropped { .. }) {
            continue;
        }
        if let Some(next) = events.get(index + 1).map(|e| e.record_tsc) {
            events[index].record_tsc = events[index].record_tsc.min(next);
        }
    }
}
