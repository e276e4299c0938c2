//! The derived view: runs, polls, wakes and their landings.

mod common;

use common::{CONSOLE, HELPER, IDLE0, SHELL, Stream, WORKER, two_cpu_stream};
use spindle_trace::{
    RunEnd, SvgOptions, SwitchReason, Timeline, WakeSource, WakeTarget, Waker, decode, write_svg,
};

#[test]
fn runs_cover_each_cpu_from_its_first_switch_and_loss() {
    let trace = decode(&two_cpu_stream().bytes()).unwrap();
    let timeline = Timeline::new(&trace);
    let cpu0: Vec<_> = timeline.runs.iter().filter(|r| r.cpu == 0).collect();
    // console (from the trace start), worker, console, worker, idle, worker.
    let threads: Vec<u32> = cpu0.iter().map(|r| r.thread).collect();
    assert_eq!(threads, [CONSOLE, WORKER, CONSOLE, WORKER, IDLE0, WORKER]);
    assert!(cpu0[0].open_start && !cpu0[1].open_start);
    assert_eq!(cpu0[0].end, RunEnd::Switch(Some(SwitchReason::Block)));
    assert_eq!(cpu0[5].end, RunEnd::TraceEnd);
    assert!(cpu0.windows(2).all(|w| w[0].end_us == w[1].start_us));
    // CPU 1 is known only from its loss (moved back to 1800 ns, 1.75 µs in).
    let first = timeline.runs.iter().find(|r| r.cpu == 1).unwrap();
    assert_eq!((first.thread, first.open_start), (HELPER, true));
    assert!((first.start_us - 1.75).abs() < 1e-9);
    assert_eq!(timeline.run_at(0, 2.0).map(|r| r.thread), Some(WORKER));
}

#[test]
fn wakes_land_on_the_next_switch_in_or_poll() {
    let trace = decode(&two_cpu_stream().bytes()).unwrap();
    let timeline = Timeline::new(&trace);
    let wake = timeline
        .wakes
        .iter()
        .find(|w| w.target == WakeTarget::Thread(HELPER))
        .unwrap();
    assert_eq!((wake.cpu, wake.by), (0, Waker::Thread(WORKER)));
    let run = &timeline.runs[wake.landing.unwrap()];
    assert_eq!((run.cpu, run.thread), (1, HELPER));
    assert!((run.start_us - 4.55).abs() < 1e-9);
    let task_wake = timeline
        .wakes
        .iter()
        .find(|w| w.target == WakeTarget::Task(SHELL))
        .unwrap();
    let poll = &timeline.polls[task_wake.landing.unwrap()];
    assert_eq!((poll.task, poll.finished), (SHELL, true));
    assert!(poll.start_us >= task_wake.at_us);
}

#[test]
fn halts_and_interrupts_pair_up() {
    let trace = decode(&two_cpu_stream().bytes()).unwrap();
    let timeline = Timeline::new(&trace);
    assert_eq!(timeline.halts.len(), 1);
    assert!((timeline.halts[0].start_us - 5.05).abs() < 1e-9);
    // Until the timer interrupt that woke the CPU (not the idle loop's exit record after it).
    assert!((timeline.halts[0].end_us - 6.75).abs() < 1e-9);
    assert_eq!(timeline.irqs.len(), 4);
    assert!(timeline.irqs.iter().all(|irq| irq.end_us.is_some()));
}

/// A CPU woken from its halt by an interrupt whose handler switches to another thread
/// records no idle exit until the idle thread runs again: the halt ends at the interrupt.
#[test]
fn a_halt_ends_at_the_interrupt_that_woke_the_cpu() {
    let mut s = Stream::new(1);
    s.switch(0, 1_000, WORKER, IDLE0, SwitchReason::Block)
        .idle_enter(0, 2_000)
        .irq_enter(0, 9_000, 240)
        .switch(0, 9_500, IDLE0, WORKER, SwitchReason::Preempt)
        .irq_exit(0, 9_800, 240)
        .switch(0, 20_000, WORKER, IDLE0, SwitchReason::Block)
        .idle_exit(0, 20_500);
    let timeline = Timeline::new(&decode(&s.bytes()).unwrap());
    assert_eq!(timeline.halts.len(), 1, "{:?}", timeline.halts);
    // In µs from the first event (at 1 µs).
    assert!((timeline.halts[0].start_us - 1.0).abs() < 1e-9);
    assert!((timeline.halts[0].end_us - 8.0).abs() < 1e-9);
}

/// A host preempted mid-poll and resumed on the other CPU: one poll, drawn in two
/// pieces, one under each lane, only where the host ran.
fn migrating_poll() -> Stream {
    let mut s = Stream::new(2);
    s.thread_name(0, 0, 3, "console")
        .task_name(0, 0, 10, "shell")
        .switch(0, 0, 1, 3, SwitchReason::Yield)
        .poll_begin(0, 1_000, 10, 1)
        .switch(0, 2_000, 3, 1, SwitchReason::Preempt)
        .switch(1, 0, 2, 4, SwitchReason::Yield)
        .switch(1, 3_000, 4, 3, SwitchReason::Yield)
        .poll_end(1, 4_000, 10, false)
        .switch(1, 5_000, 3, 2, SwitchReason::Block);
    s
}

#[test]
fn a_poll_follows_its_host_thread_across_cpus() {
    let trace = decode(&migrating_poll().bytes()).unwrap();
    let timeline = Timeline::new(&trace);
    assert_eq!(timeline.polls.len(), 1);
    let poll = &timeline.polls[0];
    assert_eq!(
        (poll.host, poll.cpu, poll.open_start, poll.open_end),
        (Some(3), 0, false, false)
    );
    assert_eq!((poll.start_us, poll.end_us), (1.0, 4.0));

    let mut svg = Vec::new();
    write_svg(&trace, &SvgOptions::default(), &mut svg).unwrap();
    let svg = String::from_utf8(svg).unwrap();
    let pieces = svg.matches("<title>task shell (id 10)").count();
    assert_eq!(pieces, 2, "one piece per stretch the host ran");
}

#[test]
fn a_poll_whose_begin_was_not_traced_starts_with_its_host_run() {
    let mut s = Stream::new(1);
    s.switch(0, 1_000, 1, 3, SwitchReason::Yield)
        .poll_end(0, 2_000, 10, true)
        .wake_thread(0, 2_500, 3, WakeSource::Thread, 3);
    let trace = decode(&s.bytes()).unwrap();
    let timeline = Timeline::new(&trace);
    let poll = &timeline.polls[0];
    assert!(poll.open_start && poll.finished);
    assert_eq!(
        (poll.start_us, poll.end_us, poll.executor),
        (0.0, 1.0, None)
    );
    // A wake whose thread never runs again has no landing.
    assert_eq!(timeline.wakes[0].landing, None);
}
