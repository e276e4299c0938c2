//! Helpers shared by the integration tests: a stream builder on the format's own
//! encoders, and a small scheduler simulation that records a realistic trace.

#![allow(dead_code)] // each test file uses its own part of these helpers

pub(crate) mod sim;

use spindle_trace::{Header, Kind, Record, SwitchReason, VERSION, WakeSource};

/// 1 GHz: one tick per nanosecond, so times in tests read as ns.
pub(crate) const HZ: u64 = 1_000_000_000;

/// Builds a stream: a header, then records, with more segments on demand.
#[derive(Debug, Clone)]
pub(crate) struct Stream {
    bytes: Vec<u8>,
}

impl Stream {
    /// A stream whose first segment declares `cpus` CPUs at [`HZ`].
    pub(crate) fn new(cpus: u16) -> Self {
        Self::with_hz(cpus, HZ)
    }

    pub(crate) fn with_hz(cpus: u16, tsc_hz: u64) -> Self {
        let mut stream = Stream { bytes: Vec::new() };
        stream.segment(cpus, tsc_hz);
        stream
    }

    /// Starts a new segment.
    pub(crate) fn segment(&mut self, cpus: u16, tsc_hz: u64) -> &mut Self {
        let header = Header {
            version: VERSION,
            cpus,
            tsc_hz,
        };
        self.bytes.extend_from_slice(&header.encode());
        self
    }

    pub(crate) fn record(&mut self, record: Record) -> &mut Self {
        self.bytes.extend_from_slice(&record.encode());
        self
    }

    pub(crate) fn bytes(&self) -> Vec<u8> {
        self.bytes.clone()
    }

    fn event(&mut self, cpu: u8, tsc: u64, kind: Kind, id: u32, small: u8, a: u64) -> &mut Self {
        self.record(Record {
            tsc,
            kind: kind as u8,
            cpu,
            small,
            id,
            a,
            b: 0,
        })
    }

    pub(crate) fn switch(
        &mut self,
        cpu: u8,
        tsc: u64,
        from: u32,
        to: u32,
        reason: SwitchReason,
    ) -> &mut Self {
        self.event(cpu, tsc, Kind::Switch, from, reason as u8, u64::from(to))
    }

    pub(crate) fn wake_thread(
        &mut self,
        cpu: u8,
        tsc: u64,
        thread: u32,
        source: WakeSource,
        by: u64,
    ) -> &mut Self {
        self.event(cpu, tsc, Kind::WakeThread, thread, source as u8, by)
    }

    pub(crate) fn wake_task(
        &mut self,
        cpu: u8,
        tsc: u64,
        task: u32,
        source: WakeSource,
        by: u64,
    ) -> &mut Self {
        self.event(cpu, tsc, Kind::WakeTask, task, source as u8, by)
    }

    pub(crate) fn irq(&mut self, cpu: u8, enter: u64, exit: u64, vector: u32) -> &mut Self {
        self.event(cpu, enter, Kind::IrqEnter, vector, 0, 0);
        self.event(cpu, exit, Kind::IrqExit, vector, 0, 0)
    }

    pub(crate) fn poll_begin(&mut self, cpu: u8, tsc: u64, task: u32, executor: u32) -> &mut Self {
        self.event(cpu, tsc, Kind::PollBegin, task, 0, u64::from(executor))
    }

    pub(crate) fn poll_end(&mut self, cpu: u8, tsc: u64, task: u32, finished: bool) -> &mut Self {
        self.event(cpu, tsc, Kind::PollEnd, task, u8::from(finished), 0)
    }

    pub(crate) fn spawn(&mut self, cpu: u8, tsc: u64, thread: u32, parent: u32) -> &mut Self {
        self.event(cpu, tsc, Kind::Spawn, thread, 0, u64::from(parent))
    }

    pub(crate) fn exit(&mut self, cpu: u8, tsc: u64, thread: u32) -> &mut Self {
        self.event(cpu, tsc, Kind::Exit, thread, 0, 0)
    }

    /// A contained panic of `thread`, polling `task` if any.
    pub(crate) fn panic(&mut self, cpu: u8, tsc: u64, thread: u32, task: Option<u32>) -> &mut Self {
        let (small, a) = task.map_or((0, 0), |task| (1, u64::from(task)));
        self.event(cpu, tsc, Kind::Panic, thread, small, a)
    }

    pub(crate) fn irq_enter(&mut self, cpu: u8, tsc: u64, vector: u32) -> &mut Self {
        self.event(cpu, tsc, Kind::IrqEnter, vector, 0, 0)
    }

    pub(crate) fn irq_exit(&mut self, cpu: u8, tsc: u64, vector: u32) -> &mut Self {
        self.event(cpu, tsc, Kind::IrqExit, vector, 0, 0)
    }

    pub(crate) fn idle_enter(&mut self, cpu: u8, tsc: u64) -> &mut Self {
        self.event(cpu, tsc, Kind::IdleEnter, 0, 0, 0)
    }

    pub(crate) fn idle_exit(&mut self, cpu: u8, tsc: u64) -> &mut Self {
        self.event(cpu, tsc, Kind::IdleExit, 0, 0, 0)
    }

    pub(crate) fn dropped(&mut self, cpu: u8, tsc: u64, lost: u64) -> &mut Self {
        self.event(cpu, tsc, Kind::Dropped, 0, 0, lost)
    }

    fn text(&mut self, cpu: u8, tsc: u64, kind: Kind, id: u32, text: &str) -> &mut Self {
        let record = Record {
            tsc,
            kind: kind as u8,
            cpu,
            id,
            ..Record::default()
        };
        self.record(record.with_text(text))
    }

    pub(crate) fn mark(&mut self, cpu: u8, tsc: u64, text: &str) -> &mut Self {
        self.text(cpu, tsc, Kind::Mark, 0, text)
    }

    pub(crate) fn thread_name(&mut self, cpu: u8, tsc: u64, thread: u32, name: &str) -> &mut Self {
        self.text(cpu, tsc, Kind::ThreadName, thread, name)
    }

    pub(crate) fn task_name(&mut self, cpu: u8, tsc: u64, task: u32, name: &str) -> &mut Self {
        self.text(cpu, tsc, Kind::TaskName, task, name)
    }

    pub(crate) fn executor_name(
        &mut self,
        cpu: u8,
        tsc: u64,
        executor: u32,
        name: &str,
    ) -> &mut Self {
        self.text(cpu, tsc, Kind::ExecutorName, executor, name)
    }
}

/// Thread ids of [`two_cpu_stream`].
pub(crate) const IDLE0: u32 = 1;
pub(crate) const IDLE1: u32 = 2;
pub(crate) const CONSOLE: u32 = 3;
pub(crate) const WORKER: u32 = 4;
pub(crate) const HELPER: u32 = 5;
pub(crate) const JOB: u32 = 6;
/// Task and executor ids of [`two_cpu_stream`].
pub(crate) const SHELL: u32 = 10;
pub(crate) const BLINK: u32 = 11;
pub(crate) const EXECUTOR: u32 = 1;

/// A small, correct two-CPU trace (times in ns) covering every kind of event and every
/// switch reason, with names arriving late, a loss and two segments:
///
/// ```text
/// CPU 0: console ..1000 (polls shell, which wakes blink; polls blink, which panics) blocks
///        | worker 1000-3000 preempted | console 3000-4000 (woken by serial at 2550) blocks
///        | worker 4000-5000 (wakes helper at 4500) sleeps | idle 5000-7000 (halted
///        5100-6900; timer wakes worker at 6820) | worker 7000..
/// CPU 1: 37 records lost | helper ..2000 (spawns job) yields | job 2000-2500 panics, exits
///        | helper 2500-2700 blocks | idle 2700-4600 | helper 4600-5500 sleeps | idle 5500..
/// ```
pub(crate) fn two_cpu_stream() -> Stream {
    let mut s = Stream::new(2);
    s.thread_name(0, 0, IDLE0, "idle/0")
        .thread_name(0, 0, CONSOLE, "console")
        .executor_name(0, 0, EXECUTOR, "console")
        .task_name(0, 0, SHELL, "shell")
        .task_name(0, 0, BLINK, "blink")
        // CPU 0, first segment.
        .mark(0, 50, "start")
        .poll_begin(0, 100, SHELL, EXECUTOR)
        .wake_task(0, 200, BLINK, WakeSource::Task, u64::from(SHELL))
        .poll_end(0, 300, SHELL, false)
        .poll_begin(0, 400, BLINK, EXECUTOR)
        .panic(0, 450, CONSOLE, Some(BLINK))
        .poll_end(0, 500, BLINK, true)
        .switch(0, 1000, CONSOLE, WORKER, SwitchReason::Block)
        .irq_enter(0, 2500, 36)
        .wake_thread(0, 2550, CONSOLE, WakeSource::Interrupt, 36)
        .wake_task(0, 2560, SHELL, WakeSource::Interrupt, 36)
        .irq_exit(0, 2600, 36)
        // CPU 1, first segment: the ring overflowed before what it kept; the kernel
        // stamps the loss when it reads the ring out.
        .dropped(1, 9000, 37)
        .spawn(1, 1800, JOB, HELPER)
        .switch(1, 2000, HELPER, JOB, SwitchReason::Yield)
        .panic(1, 2300, JOB, None)
        .exit(1, 2400, JOB)
        .switch(1, 2500, JOB, HELPER, SwitchReason::Exit)
        .switch(1, 2700, HELPER, IDLE1, SwitchReason::Block);
    // Second segment, from the next dump.
    s.segment(2, HZ)
        .irq(0, 2990, 2995, 48)
        .switch(0, 3000, WORKER, CONSOLE, SwitchReason::Preempt)
        .poll_begin(0, 3100, SHELL, EXECUTOR)
        .poll_end(0, 3400, SHELL, true)
        .switch(0, 4000, CONSOLE, WORKER, SwitchReason::Block)
        .wake_thread(0, 4500, HELPER, WakeSource::Thread, u64::from(WORKER))
        .switch(0, 5000, WORKER, IDLE0, SwitchReason::Sleep)
        .idle_enter(0, 5100)
        .irq_enter(0, 6800, 48)
        .wake_thread(0, 6820, WORKER, WakeSource::Interrupt, 48)
        .irq_exit(0, 6850, 48)
        .idle_exit(0, 6900)
        .switch(0, 7000, IDLE0, WORKER, SwitchReason::Preempt)
        .mark(0, 7500, "done")
        .switch(1, 4600, IDLE1, HELPER, SwitchReason::Preempt)
        .switch(1, 5500, HELPER, IDLE1, SwitchReason::Sleep)
        .thread_name(1, 7600, WORKER, "worker")
        .thread_name(1, 7600, HELPER, "helper")
        .thread_name(1, 7600, JOB, "job")
        .thread_name(1, 7600, IDLE1, "idle/1")
        .irq(1, 7700, 7710, 48);
    s
}
